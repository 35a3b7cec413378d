/**
 * `sg diff A.jsonl B.jsonl`: where two runs of one scenario made different decisions; made for a
 * simulator trace against a lab trace (the sim-vs-real agreement of test/real/agreement.test.ts), but any two traces do.
 * The decisions are picked out of the trace by summary.ts's selectors, as the goldens' summaries are.
 *
 * Three kinds of decision are compared, each as an ordered sequence:
 * - **mastership**: the order in which nodes became master (bidd `state` events to master), each
 *   at a time that must agree within `toleranceUs`;
 * - **server states**: per server (entity group/server) the order of states it went through,
 *   each transition within the tolerance;
 * - **link targets**: per SG node and group, the servers its new links went to, in order, split
 *   into segments at that node's server state changes (links within the tolerance of a change
 *   are left out). The runs need not open the same number of links (real clients are real), so
 *   each segment must use the same servers and, when the choices cycle (round robin), the same
 *   cycle whatever server it starts at.
 */

import { parseTraceLine } from '../trace.ts';
import { linkPick, masterChange, serverChange, type SummaryEvent } from './summary.ts';

/** A trace event as `sg diff` reads it: the fields the decision selectors read. */
export type DiffEvent = SummaryEvent;

export interface DiffCheck {
  readonly name: string;
  readonly agree: boolean;
  /** What each side did (short), and where they part. */
  readonly a: string;
  readonly b: string;
  readonly where?: string;
}

/** A trace read for diffing, or where it is not one: the 1-based line and what is wrong. */
export type ReadTrace = { readonly ok: true; readonly events: DiffEvent[] } | { readonly ok: false; readonly line: number; readonly message: string };

/**
 * Parse a JSON Lines trace: the first line must be the `sg-trace` header and every other line a
 * trace event (src/trace.ts `parseTraceLine`); blank lines are skipped. Never throws.
 */
export function readTrace(text: string): ReadTrace {
  const out: DiffEvent[] = [];
  const lines = text.split('\n');
  let header = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const r = parseTraceLine(line);
    if (!r.ok) {
      const why = `${r.error.reason}${r.error.detail !== undefined ? `: ${r.error.detail}` : ''}`;
      return { ok: false, line: i + 1, message: header ? `not a trace event (${why})` : `not an sg trace: the first line must be its header (${why})` };
    }
    if (!header) {
      if (r.value.kind !== 'header') return { ok: false, line: i + 1, message: 'not an sg trace: the first line must be its header {"kind":"header","format":"sg-trace",...}' };
      header = true;
      continue;
    }
    if (r.value.kind === 'header') return { ok: false, line: i + 1, message: 'a second header' };
    out.push(r.value as unknown as DiffEvent);
  }
  if (!header) return { ok: false, line: 1, message: 'not an sg trace: empty (no header line)' };
  return { ok: true, events: out };
}

interface Timed {
  readonly v: string;
  readonly t: number;
}

function masters(evs: readonly DiffEvent[]): Timed[] {
  const out: Timed[] = [];
  for (const e of evs) {
    const m = masterChange(e);
    if (m !== undefined && m.to === 'master') out.push({ v: m.node, t: m.t });
  }
  return out;
}

function serverStates(evs: readonly DiffEvent[]): Map<string, Timed[]> {
  const m = new Map<string, Timed[]>();
  for (const e of evs) {
    const s = serverChange(e);
    if (s === undefined) continue;
    // Every node with health checks reports the same server: key by node too.
    const k = `${s.node}:${s.entity}`;
    m.set(k, [...(m.get(k) ?? []), { v: `${s.from}->${s.to}`, t: s.t }]);
  }
  return m;
}

interface LinkPick {
  readonly t: number;
  readonly server: string;
}

function linkTargets(evs: readonly DiffEvent[]): Map<string, LinkPick[]> {
  const m = new Map<string, LinkPick[]>();
  for (const e of evs) {
    const l = linkPick(e);
    if (l === undefined) continue;
    const k = `${l.node}:${l.group}`;
    m.set(k, [...(m.get(k) ?? []), { t: l.t, server: l.server }]);
  }
  return m;
}

/** Times at which node `node` saw a server of `group` change state (segment boundaries). */
function boundaries(evs: readonly DiffEvent[], node: string, group: string): number[] {
  const out: number[] = [];
  for (const e of evs) {
    const s = serverChange(e);
    if (s !== undefined && s.node === node && s.entity.startsWith(`${group}/`)) out.push(s.t);
  }
  return out;
}

/** Split picks at the boundaries, dropping picks within `tol` of one (the two runs' clocks differ by that much). */
function segments(picks: readonly LinkPick[], cuts: readonly number[], tol: number): string[][] {
  const out: string[][] = Array.from({ length: cuts.length + 1 }, () => []);
  for (const p of picks) {
    if (cuts.some((c) => Math.abs(p.t - c) <= tol)) continue;
    let k = 0;
    while (k < cuts.length && p.t > cuts[k]!) k++;
    out[k]!.push(p.server);
  }
  return out;
}

/**
 * Whether two runs of one deterministic policy made the same choices in a segment: the same
 * servers, and (for round robin and other cyclic policies) the same cycle, whatever server it
 * happened to start at: the two runs open different numbers of links before a segment begins.
 */
function sameChoices(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === 0 || b.length === 0) return a.length === b.length;
  const sa = [...new Set(a)].sort();
  const sb = [...new Set(b)].sort();
  if (sa.join() !== sb.join()) return false;
  const cycle = (xs: readonly string[]): string[] | undefined => {
    const n = new Set(xs).size;
    const p = xs.slice(0, n);
    return xs.every((x, i) => x === p[i % n]) ? p : undefined;
  };
  const ca = cycle(a);
  const cb = cycle(b);
  if (ca === undefined || cb === undefined) return ca === cb; // neither cyclic: the sets agree
  const i = cb.indexOf(ca[0]!);
  return ca.every((x, k) => x === cb[(i + k) % cb.length]);
}

const fmtT = (us: number) => `${(us / 1e6).toFixed(3)}s`;
const show = (xs: readonly Timed[]) => xs.map((x) => `${x.v}@${fmtT(x.t)}`).join(' ') || '(none)';

function compareTimed(name: string, a: readonly Timed[], b: readonly Timed[], tol: number): DiffCheck {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || x.v !== y.v) return { name, agree: false, a: show(a), b: show(b), where: `#${i + 1}: ${x ? x.v : '(nothing)'} vs ${y ? y.v : '(nothing)'}` };
    if (Math.abs(x.t - y.t) > tol) return { name, agree: false, a: show(a), b: show(b), where: `#${i + 1} ${x.v}: ${fmtT(x.t)} vs ${fmtT(y.t)}, more than ${fmtT(tol)} apart` };
  }
  return { name, agree: true, a: show(a), b: show(b) };
}

/** Compare two traces; every check agrees when the decisions do. */
export function diffTraces(a: readonly DiffEvent[], b: readonly DiffEvent[], toleranceUs: number): DiffCheck[] {
  const checks: DiffCheck[] = [compareTimed('mastership', masters(a), masters(b), toleranceUs)];
  const sa = serverStates(a);
  const sb = serverStates(b);
  for (const k of [...new Set([...sa.keys(), ...sb.keys()])].sort()) checks.push(compareTimed(`server ${k}`, sa.get(k) ?? [], sb.get(k) ?? [], toleranceUs));
  const la = linkTargets(a);
  const lb = linkTargets(b);
  for (const k of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
    const [node, group] = k.split(':') as [string, string];
    const x = la.get(k) ?? [];
    const y = lb.get(k) ?? [];
    const segA = segments(x, boundaries(a, node, group), toleranceUs);
    const segB = segments(y, boundaries(b, node, group), toleranceUs);
    const sum = (s: readonly LinkPick[]) => `${s.length} links: ${s.slice(0, 8).map((p) => p.server).join(' ')}${s.length > 8 ? ' ...' : ''}`;
    let where: string | undefined;
    if ((x.length > 0) !== (y.length > 0)) where = 'one side opened no links';
    else if (segA.length !== segB.length) where = `${segA.length} vs ${segB.length} segments between server state changes`;
    else {
      const bad = segA.findIndex((s, i) => !sameChoices(s, segB[i]!));
      if (bad >= 0) where = `segment ${bad + 1} (between server state changes): ${segA[bad]!.slice(0, 6).join(' ')} vs ${segB[bad]!.slice(0, 6).join(' ')}`;
    }
    checks.push({ name: `links ${k}`, agree: where === undefined, a: sum(x), b: sum(y), ...(where !== undefined ? { where } : {}) });
  }
  return checks;
}

export function formatDiff(checks: readonly DiffCheck[], nameA: string, nameB: string): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.agree ? 'agree ' : 'DIFFER'}  ${c.name}`);
    if (!c.agree) {
      lines.push(`        ${nameA}: ${c.a}`, `        ${nameB}: ${c.b}`);
      if (c.where) lines.push(`        first difference: ${c.where}`);
    }
  }
  const bad = checks.filter((c) => !c.agree).length;
  lines.push('', bad === 0 ? `AGREE: ${checks.length} decision sequence(s)` : `DIFFER: ${bad} of ${checks.length} decision sequence(s)`);
  return lines.join('\n') + '\n';
}
