/**
 * A run's decisions in a form a reviewer can read, beside its trace hash in each scenario's golden
 * (scenarios/<name>.golden.json): mastership changes (bidd transitions into and out of master),
 * each SG node's server state transitions, new links per node, group and server, and what each
 * expectation measured. Two summaries diff into one line per decision that moved ("sg2
 * bid->master at 9.000228 s -> 10.000228 s"), so a change of behaviour says what it changed.
 *
 * Pure: events are fed one at a time as the run emits them (no stored trace). The event
 * selectors are the ones `sg diff` (diff.ts) compares traces by.
 */

import type { Machine, TraceEventInput, TraceSink } from '../trace.ts';
import type { ExpectationResult } from './expect.ts';

/**
 * The summary, as stored in a golden. A timed entry is `"<seconds, 6 decimals> s <what>"`, e.g.
 * `"4.000000 s sg1 bid->master"`; records are keyed in sorted order so the JSON is deterministic.
 */
export interface DecisionSummary {
  /** Every bidd transition into or out of master, in order: `"T s NODE FROM->TO"`. */
  readonly mastership: readonly string[];
  /** Per `"NODE GROUP/SERVER"`, the server's state transitions there: `"T s FROM->TO"`. */
  readonly servers: Readonly<Record<string, readonly string[]>>;
  /** Per `"NODE GROUP"`, how many new links went to each server. */
  readonly newLinks: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Per expectation (`expect[2]`, or `safety: ...` for the built-in ones), what it measured. */
  readonly expectations: Readonly<Record<string, string>>;
}

/**
 * The fields the decision selectors read: any trace event has this shape (so does `sg diff`'s
 * `DiffEvent`), whether it came from a sink or was parsed from a file.
 */
export interface SummaryEvent {
  readonly kind: string;
  readonly t: number;
  readonly node?: string;
  readonly entity?: string;
  readonly machine?: Machine;
  readonly from?: string;
  readonly to?: string;
  readonly what?: string;
  readonly detail?: unknown;
}

/** A bidd transition into or out of master: `node` is the bidd entity (the SG node). */
export function masterChange(ev: SummaryEvent): { readonly t: number; readonly node: string; readonly from: string; readonly to: string } | undefined {
  if (ev.kind !== 'state' || ev.machine !== 'bidd' || (ev.to !== 'master' && ev.from !== 'master')) return undefined;
  return { t: ev.t, node: String(ev.entity), from: String(ev.from), to: String(ev.to) };
}

/** A server state transition (entity `GROUP/SERVER`) as the SG node `node` saw it. */
export function serverChange(ev: SummaryEvent): { readonly t: number; readonly node: string; readonly entity: string; readonly from: string; readonly to: string } | undefined {
  if (ev.kind !== 'state' || ev.machine !== 'server') return undefined;
  return { t: ev.t, node: String(ev.node), entity: String(ev.entity), from: String(ev.from), to: String(ev.to) };
}

/** A new link: which node opened it, for which group, to which server. */
export function linkPick(ev: SummaryEvent): { readonly t: number; readonly node: string; readonly group: string; readonly server: string } | undefined {
  if (ev.kind !== 'decision' || ev.what !== 'link-new') return undefined;
  const d = ev.detail as { readonly group?: unknown; readonly server?: unknown } | undefined;
  return { t: ev.t, node: String(ev.node), group: String(d?.group), server: String(d?.server) };
}

/** `t` µs as `"S.UUUUUU s"`, exact (integer arithmetic). */
export function formatSeconds(t: number): string {
  const us = Math.round(t);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')} s`;
}

const sortedRecord = <V>(m: ReadonlyMap<string, V>): Record<string, V> => Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The key an expectation's measurement is stored under: its path, or for a built-in one its text. */
function expectationKey(e: ExpectationResult): string {
  return e.path === 'safety' ? `safety: ${e.text.replace(/^built-in: /, '')}` : e.path;
}

/** Builds a summary from a run's events, fed one at a time. */
export class SummaryBuilder {
  readonly #mastership: string[] = [];
  readonly #servers = new Map<string, string[]>();
  readonly #links = new Map<string, Map<string, number>>();

  observe(ev: SummaryEvent): void {
    const m = masterChange(ev);
    if (m !== undefined) {
      this.#mastership.push(`${formatSeconds(m.t)} ${m.node} ${m.from}->${m.to}`);
      return;
    }
    const s = serverChange(ev);
    if (s !== undefined) {
      const k = `${s.node} ${s.entity}`;
      let xs = this.#servers.get(k);
      if (xs === undefined) this.#servers.set(k, (xs = []));
      xs.push(`${formatSeconds(s.t)} ${s.from}->${s.to}`);
      return;
    }
    const l = linkPick(ev);
    if (l !== undefined) {
      const k = `${l.node} ${l.group}`;
      let per = this.#links.get(k);
      if (per === undefined) this.#links.set(k, (per = new Map()));
      per.set(l.server, (per.get(l.server) ?? 0) + 1);
    }
  }

  /** The summary of everything observed, with the run's expectation results. */
  finish(expectations: readonly ExpectationResult[]): DecisionSummary {
    const exp = new Map<string, string>();
    for (const e of expectations) {
      const base = expectationKey(e);
      let k = base;
      for (let n = 2; exp.has(k); n++) k = `${base} #${n}`;
      exp.set(k, e.measured);
    }
    return {
      mastership: [...this.#mastership],
      servers: sortedRecord(new Map([...this.#servers].map(([k, v]) => [k, [...v]]))),
      newLinks: sortedRecord(new Map([...this.#links].map(([k, per]) => [k, sortedRecord(per)]))),
      // In the scenario's order (expect[0], expect[1], ..., then the built-in safety checks).
      expectations: Object.fromEntries(exp),
    };
  }
}

/** A sink that hands each event to a summary builder and forwards it to `next` (which assigns ids). */
export class SummarizingTrace implements TraceSink {
  #lastId = 0;
  constructor(
    readonly builder: SummaryBuilder,
    readonly next?: TraceSink,
  ) {}
  emit(ev: TraceEventInput): number {
    const id = this.next ? this.next.emit(ev) : ++this.#lastId;
    this.builder.observe(ev);
    return id;
  }
}

/** The summary of a whole trace held in memory. */
export function summarize(events: Iterable<SummaryEvent>, expectations: readonly ExpectationResult[]): DecisionSummary {
  const b = new SummaryBuilder();
  for (const e of events) b.observe(e);
  return b.finish(expectations);
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');

/** A summary read from a golden file, or why it is not one (an old golden has none). */
export function readSummary(x: unknown): { readonly ok: true; readonly value: DecisionSummary } | { readonly ok: false; readonly message: string } {
  if (x === undefined) return { ok: false, message: 'the golden has no decision summary' };
  if (!isRecord(x)) return { ok: false, message: 'the summary is not an object' };
  const { mastership, servers, newLinks, expectations } = x;
  if (!isStrings(mastership)) return { ok: false, message: 'summary.mastership is not a list of strings' };
  if (!isRecord(servers) || !Object.values(servers).every(isStrings)) return { ok: false, message: 'summary.servers is not a record of string lists' };
  if (!isRecord(newLinks) || !Object.values(newLinks).every((per) => isRecord(per) && Object.values(per).every((n) => typeof n === 'number'))) {
    return { ok: false, message: 'summary.newLinks is not a record of counts per server' };
  }
  if (!isRecord(expectations) || !Object.values(expectations).every((s) => typeof s === 'string')) return { ok: false, message: 'summary.expectations is not a record of strings' };
  return { ok: true, value: x as unknown as DecisionSummary };
}

// ---- diff ----

/** The time prefix and the decision of a timed entry (`"4.000000 s sg1 bid->master"`). */
function splitTimed(entry: string): { readonly at: string; readonly what: string } {
  const m = /^(\d+\.\d+ s) (.*)$/.exec(entry);
  return m ? { at: m[1]!, what: m[2]! } : { at: '', what: entry };
}

/** Largest product of two sequence lengths aligned by longest common subsequence; beyond, by position. */
const ALIGN_CELLS_MAX = 4_000_000;

/** Pairs of indexes (into a, into b; -1 for none) aligning the decisions of two timed sequences. */
function align(a: readonly string[], b: readonly string[]): [number, number][] {
  const n = a.length;
  const m = b.length;
  const out: [number, number][] = [];
  if (n * m > ALIGN_CELLS_MAX) {
    for (let i = 0; i < Math.max(n, m); i++) out.push([i < n ? i : -1, i < m ? i : -1]);
    return out;
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) out.push([i++, j++]);
    else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push([i++, -1]);
    else out.push([-1, j++]);
  }
  return out;
}

/** One line per decision of a timed sequence that moved, appeared or went away. */
function diffTimed(label: string, want: readonly string[], got: readonly string[]): string[] {
  const w = want.map(splitTimed);
  const g = got.map(splitTimed);
  const out: string[] = [];
  for (const [i, j] of align(w.map((x) => x.what), g.map((x) => x.what))) {
    const x = i >= 0 ? w[i]! : undefined;
    const y = j >= 0 ? g[j]! : undefined;
    const at = (i >= 0 ? i : j) + 1;
    if (x !== undefined && y !== undefined) {
      if (x.at !== y.at) out.push(`${label}${x.what} at ${x.at} -> ${y.at}`);
    } else if (x !== undefined) out.push(`${label}${x.what} at ${x.at} -> (gone; #${at} in the golden)`);
    else if (y !== undefined) out.push(`${label}${y.what} at ${y.at} (new; #${at} in this run)`);
  }
  return out;
}

const keysOf = (a: object, b: object): string[] => [...new Set([...Object.keys(a), ...Object.keys(b)])];

/**
 * Which decisions moved from `want` (the golden) to `got` (this run), one line each, in the
 * summary's order: mastership, server transitions, new links, expectations. Empty when the
 * summaries are equal.
 */
export function diffSummaries(want: DecisionSummary, got: DecisionSummary): string[] {
  const out = diffTimed('', want.mastership, got.mastership);
  for (const k of keysOf(want.servers, got.servers).sort()) out.push(...diffTimed(`${k} `, want.servers[k] ?? [], got.servers[k] ?? []));
  for (const k of keysOf(want.newLinks, got.newLinks).sort()) {
    const w = want.newLinks[k] ?? {};
    const g = got.newLinks[k] ?? {};
    for (const s of keysOf(w, g).sort()) {
      if (w[s] !== g[s]) out.push(`${k}/${s} new links ${w[s] ?? 0} -> ${g[s] ?? 0}`);
    }
  }
  for (const k of keysOf(want.expectations, got.expectations)) {
    const w = want.expectations[k];
    const g = got.expectations[k];
    if (w !== g) out.push(`${k} measured ${w === undefined ? '(none)' : JSON.stringify(w)} -> ${g === undefined ? '(none)' : JSON.stringify(g)}`);
  }
  return out;
}

/** Lines of a summary diff printed at most; the rest are counted. */
export const SUMMARY_DIFF_LINES_MAX = 40;

/** `diffSummaries` as a block of text for a test failure or `npm run goldens`. */
export function formatSummaryDiff(lines: readonly string[], max: number = SUMMARY_DIFF_LINES_MAX): string {
  if (lines.length === 0) return 'no decision in the summary moved (the trace differs elsewhere: frames, timers, requests)';
  const shown = lines.slice(0, max).map((l) => `  ${l}`);
  if (lines.length > max) shown.push(`  ... and ${lines.length - max} more`);
  return [`${lines.length} decision(s) moved (golden -> this run):`, ...shown].join('\n');
}
