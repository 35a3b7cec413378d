/**
 * Expectations, evaluated online over the trace: each one watches the events as they are emitted
 * (so a run of any length needs no stored trace) and, at the end, reports pass or fail with the
 * measured value beside the bound. The same evaluator reads simulator and real-mode traces.
 *
 * Vocabulary:
 * - success: the fraction of a workload's requests, started in a window, that succeeded >= min;
 * - latency: the p-th percentile latency of a workload's successful requests <= max;
 * - count: events matching a filter, in a window, within [min, max] (a drop summary counts as
 *   its `count` drops);
 * - value: the last `metric` sample at or before T within [min, max];
 * - never: no event matches the filter, over the whole run (safety);
 * - within: every event matching `after` is followed by one matching `then` within D (liveness);
 * - share: the fraction of a group's new links that went to one server, in a window;
 * - consistent: over the rpc requests of some workloads, per key, no read returns a value older
 *   than a write acknowledged before the read started (register-check.ts says how);
 * - safety-no-link-to-dead, safety-one-master: the built-in checks the loader adds to every
 *   scenario with a cluster (with failover, for the second).
 */

import { formatDuration, type Duration, type Instant } from '../time.ts';
import type { TraceEvent, TraceEventInput, TraceSink } from '../trace.ts';
import type { ExpectationEntry, ExpectationModel, Match } from './load.ts';
import { checkRegisters, type HistoryOp, type Violation } from './register-check.ts';

export interface ExpectationResult {
  readonly path: string;
  readonly line: number;
  readonly text: string;
  readonly pass: boolean;
  /** What was measured, e.g. '99.95% (1999/2000)'. */
  readonly measured: string;
  /** The bound, e.g. '>= 99.9%'. */
  readonly bound: string;
  /** For failures: where it went wrong (the first offending event, a missed deadline). */
  readonly detail?: string;
}

/**
 * Whether `ev` matches `m`: kind and every other listed field equal. A dotted key reaches into
 * nested fields, e.g. `detail.server: rs1` on a decision event.
 */
export function matches(m: Match, ev: TraceEvent | TraceEventInput): boolean {
  if (ev.kind !== m.kind) return false;
  const rec = ev as unknown as Record<string, unknown>;
  for (const k in m) {
    if (k === 'kind') continue;
    let v: unknown;
    if (k.includes('.')) {
      v = rec;
      for (const part of k.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
    } else v = rec[k];
    if (v !== m[k]) return false;
  }
  return true;
}

function pct(x: number): string {
  const v = Number((x * 100).toFixed(3));
  return `${v}%`;
}

function windowText(from: number, to: number): string {
  if (from === 0 && to === Number.POSITIVE_INFINITY) return '';
  return ` in [${formatDuration(from as Duration)}, ${to === Number.POSITIVE_INFINITY ? 'end' : formatDuration(to as Duration)})`;
}

function matchText(m: Match): string {
  return Object.entries(m).map(([k, v]) => `${k}=${String(v)}`).join(' ');
}

/** Latencies kept per latency expectation at most; beyond it a reservoir would be needed. */
export const LATENCY_SAMPLES_MAX = 5_000_000;
/** `within` obligations open at once at most (each `after` event opens one). */
export const WITHIN_PENDING_MAX = 1_000_000;
/** Reads and writes a `consistent` expectation keeps at most; a longer history fails it, unjudged. */
export const CONSISTENT_OPS_MAX = 2_000_000;
/** Violations a `consistent` result spells out. */
export const CONSISTENT_REPORTED = 3;

function span(o: HistoryOp): string {
  return `[${formatDuration(o.start as Duration)}, ${formatDuration(o.end as Duration)}]`;
}

/** One violation, in words: who read what when, and the write it should have seen at least. */
export function violationText(v: Violation, writeOf: (key: string, value: string) => HistoryOp | undefined): string {
  const r = v.read;
  const head = `${r.client ?? 'a client'} read key ${r.key} in ${span(r)} and got ${r.value}`;
  if (v.kind === 'unknown') return `${head}, a value no write stored`;
  const seen = writeOf(r.key, r.value);
  const from = seen === undefined ? ' (the initial value)' : ` (written by ${seen.client ?? 'a client'} in ${span(seen)}${seen.acked ? '' : ', unacknowledged'})`;
  const n = v.newer!;
  return `${head}${from}, but ${n.client ?? 'a client'} had written ${n.value} in ${span(n)}, acknowledged before the read started`;
}

/** Keys' value before any write: the simulated RPC service answers 0 for a key never written. */
export const RPC_INITIAL_VALUE = '0';

interface Check {
  observe(ev: TraceEvent): void;
  finish(end: Instant): Omit<ExpectationResult, 'path' | 'line' | 'text'>;
}

function check(m: ExpectationModel): Check {
  switch (m.kind) {
    case 'success': {
      let ok = 0;
      let total = 0;
      return {
        observe(ev) {
          if (ev.kind !== 'request' || ev.service !== m.workload || ev.start < m.from || ev.start >= m.to) return;
          total++;
          if (ev.status === 'ok') ok++;
        },
        finish() {
          const ratio = total === 0 ? 1 : ok / total;
          return { pass: total > 0 && ratio >= m.min, measured: total === 0 ? 'no requests' : `${pct(ratio)} (${ok}/${total})${windowText(m.from, m.to)}`, bound: `>= ${pct(m.min)}` };
        },
      };
    }
    case 'latency': {
      const lat: number[] = [];
      return {
        observe(ev) {
          if (ev.kind !== 'request' || ev.service !== m.workload || ev.status !== 'ok' || ev.start < m.from || ev.start >= m.to) return;
          if (lat.length < LATENCY_SAMPLES_MAX) lat.push(ev.latency);
        },
        finish() {
          if (lat.length === 0) return { pass: false, measured: 'no successful requests', bound: `p${m.p} <= ${formatDuration(m.max)}` };
          lat.sort((a, b) => a - b);
          const v = lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((m.p / 100) * lat.length) - 1))]!;
          return { pass: v <= m.max, measured: `p${m.p} = ${formatDuration(v as Duration)} over ${lat.length} requests${windowText(m.from, m.to)}`, bound: `<= ${formatDuration(m.max)}` };
        },
      };
    }
    case 'count': {
      let n = 0;
      return {
        observe(ev) {
          // A drop summary (src/engine/drop-trace.ts) counts as the drops it stands for.
          if (ev.t >= m.from && ev.t < m.to && matches(m.match, ev)) n += ev.kind === 'drop' && ev.count !== undefined ? ev.count : 1;
        },
        finish() {
          const lo = m.min ?? 0;
          const hi = m.max ?? Number.POSITIVE_INFINITY;
          const bound = m.min !== undefined && m.max !== undefined ? `in [${m.min}, ${m.max}]` : m.min !== undefined ? `>= ${m.min}` : `<= ${m.max}`;
          return { pass: n >= lo && n <= hi, measured: `${n} × ${matchText(m.match)}${windowText(m.from, m.to)}`, bound };
        },
      };
    }
    case 'value': {
      let last: number | undefined;
      return {
        observe(ev) {
          if (ev.kind === 'metric' && ev.name === m.metric && ev.t <= m.at) last = ev.value;
        },
        finish() {
          const lo = m.min ?? Number.NEGATIVE_INFINITY;
          const hi = m.max ?? Number.POSITIVE_INFINITY;
          const bound = m.min !== undefined && m.max !== undefined ? `in [${m.min}, ${m.max}]` : m.min !== undefined ? `>= ${m.min}` : `<= ${m.max}`;
          if (last === undefined) return { pass: false, measured: `no sample of ${m.metric} by ${formatDuration(m.at)}`, bound };
          return { pass: last >= lo && last <= hi, measured: `${m.metric} = ${last} at ${formatDuration(m.at)}`, bound };
        },
      };
    }
    case 'never': {
      let n = 0;
      let first: TraceEvent | undefined;
      return {
        observe(ev) {
          if (!matches(m.match, ev)) return;
          n++;
          first ??= ev;
        },
        finish() {
          return {
            pass: n === 0,
            measured: n === 0 ? 'none' : `${n} × ${matchText(m.match)}`,
            bound: 'never',
            ...(first ? { detail: `first at ${formatDuration(first.t as number as Duration)} (event ${first.id})` } : {}),
          };
        },
      };
    }
    case 'share': {
      // New links of the group by server, with remaps moving a link from one server to another.
      const by = new Map<string, number>();
      let total = 0;
      return {
        observe(ev) {
          if (ev.kind !== 'decision' || ev.t < m.from || ev.t >= m.to) return;
          if (ev.what === 'link-new' && ev.detail.group === m.group) {
            const s = ev.detail.server;
            by.set(s, (by.get(s) ?? 0) + 1);
            total++;
          } else if (ev.what === 'link-remap' && ev.detail.group === m.group) {
            const { from, to } = ev.detail;
            by.set(from, (by.get(from) ?? 0) - 1);
            by.set(to, (by.get(to) ?? 0) + 1);
          }
        },
        finish() {
          const n = by.get(m.server) ?? 0;
          const f = total === 0 ? 0 : n / total;
          const lo = m.min ?? 0;
          const hi = m.max ?? 1;
          const bound = m.min !== undefined && m.max !== undefined ? `in [${pct(m.min)}, ${pct(m.max)}]` : m.min !== undefined ? `>= ${pct(m.min)}` : `<= ${pct(hi)}`;
          if (total === 0) return { pass: false, measured: `no new links in group ${m.group}`, bound };
          const all = [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k} ${v}`).join(', ');
          return { pass: f >= lo && f <= hi, measured: `${m.server} ${pct(f)} (${n}/${total}; ${all})${windowText(m.from, m.to)}`, bound };
        },
      };
    }
    case 'safety-no-link-to-dead': {
      // Per node: group -> server -> state, from the scenario's initial states and 'server' state
      // events. The view belongs to one incarnation of the node: a crash or restart forgets it (the
      // restarted engine starts again from the scenario's initial states).
      const states = new Map<string, Map<string, Map<string, string>>>();
      const groupsOf = (node: string): Map<string, Map<string, string>> => {
        let g = states.get(node);
        if (g === undefined) {
          g = new Map(Object.entries(m.initial).map(([group, servers]) => [group, new Map(servers.map((s) => [s.server, s.state]))]));
          states.set(node, g);
        }
        return g;
      };
      let violations = 0;
      let first: string | undefined;
      let links = 0;
      return {
        observe(ev) {
          if (ev.kind === 'state' && ev.machine === 'server' && ev.node !== undefined) {
            const slash = ev.entity.indexOf('/');
            groupsOf(ev.node).get(ev.entity.slice(0, slash))?.set(ev.entity.slice(slash + 1), ev.to);
          } else if (ev.kind === 'fault' && (ev.what === 'crash' || ev.what === 'restart')) {
            states.delete(ev.target);
          } else if (ev.kind === 'decision' && ev.what === 'link-new' && ev.node !== undefined) {
            links++;
            const g = groupsOf(ev.node).get(ev.detail.group);
            if (g === undefined || g.get(ev.detail.server) !== 'dead') return;
            if (![...g.values()].includes('alive')) return;
            violations++;
            first ??= `${ev.node}: link to ${ev.detail.group}/${ev.detail.server} (Dead) at ${formatDuration(ev.t as number as Duration)} (event ${ev.id})`;
          }
        },
        finish() {
          return { pass: violations === 0, measured: `${violations} of ${links} new links to a Dead server`, bound: 'none while an Alive one exists', ...(first ? { detail: `first: ${first}` } : {}) };
        },
      };
    }
    case 'safety-one-master': {
      const masters = new Set<string>();
      /**
       * Frozen processes (stall faults): a stalled master cannot answer ARP or forward (the
       * engine owns the VIP, not the kernel), and on waking it demotes itself before it handles
       * anything, so it holds no VIP while frozen.
       */
      const stalled = new Set<string>();
      const holding = (): number => {
        let n = 0;
        for (const x of masters) if (!stalled.has(x)) n++;
        return n;
      };
      /** Links down now: a node behind one is cut off, as in a partition. */
      const down = new Set<string>();
      let partition = false;
      let partitioned = false;
      /** A loss burst or delay spike cuts heartbeats too: degraded until this instant. */
      let degradedUntil = -Infinity;
      let healedAt = -Infinity;
      let overlapSince: number | undefined;
      let worst = 0;
      let first: string | undefined;
      const judge = (t: number) => {
        if (overlapSince === undefined) return;
        // The overlap counts from the later of its start and the last heal.
        const from = Math.max(overlapSince, healedAt);
        const d = t - from;
        if (d > m.graceUs && d > worst) {
          worst = d;
          first ??= `masters ${[...masters].join(', ')} since ${formatDuration(from as Duration)}`;
        }
      };
      return {
        observe(ev) {
          if (ev.kind === 'fault' && ev.what === 'partition') partition = true;
          else if (ev.kind === 'fault' && ev.what === 'heal') {
            partition = false;
            healedAt = ev.t;
          } else if (ev.kind === 'state' && ev.machine === 'link') {
            if (ev.to === 'down') down.add(ev.entity);
            else if (down.delete(ev.entity)) healedAt = ev.t;
          } else if (ev.kind === 'fault' && (ev.what === 'loss' || ev.what === 'delay')) {
            const d = /for (\d+)us/.exec(ev.detail ?? '');
            // A delay spike's last frames arrive its extra delay after it ends.
            const extra = ev.what === 'delay' ? Number(/\+(\d+)us/.exec(ev.detail ?? '')?.[1] ?? 0) : 0;
            if (d) degradedUntil = Math.max(degradedUntil, ev.t + Number(d[1]) + extra);
          } else if (ev.kind === 'fault' && ev.what === 'crash') {
            masters.delete(ev.target);
            stalled.delete(ev.target);
          } else if (ev.kind === 'fault' && ev.what === 'stall') stalled.add(ev.target);
          else if (ev.kind === 'fault' && ev.what === 'resume') stalled.delete(ev.target);
          else if (ev.kind === 'state' && ev.machine === 'bidd') {
            if (ev.to === 'master') masters.add(ev.entity);
            else masters.delete(ev.entity);
          } else return;
          if (ev.t >= degradedUntil && degradedUntil > healedAt) healedAt = degradedUntil;
          partitioned = partition || down.size > 0 || ev.t < degradedUntil;
          if (holding() > 1 && !partitioned) {
            judge(ev.t);
            overlapSince ??= ev.t;
          } else {
            judge(ev.t);
            overlapSince = undefined;
          }
        },
        finish(end) {
          if (end >= degradedUntil && degradedUntil > healedAt) healedAt = degradedUntil;
          if (holding() > 1 && !partitioned) judge(end);
          return {
            pass: worst === 0,
            measured: worst === 0 ? 'never two masters beyond convergence' : `two masters for ${formatDuration(worst as Duration)}`,
            bound: `one master (overlaps up to ${formatDuration(m.graceUs as Duration)} allowed)`,
            ...(first ? { detail: first } : {}),
          };
        },
      };
    }
    case 'consistent': {
      const names = new Set(m.workloads);
      const ops: HistoryOp[] = [];
      let over = false;
      let reads = 0;
      let writes = 0;
      let maybe = 0;
      let unanswered = 0;
      return {
        observe(ev) {
          if (ev.kind !== 'request' || !names.has(ev.service) || ev.rw === undefined || ev.key === undefined) return;
          if (ev.rw === 'read' && (ev.status !== 'ok' || ev.value === undefined)) {
            unanswered++; // a read with no answer saw nothing
            return;
          }
          if (ev.value === undefined) return;
          if (ops.length >= CONSISTENT_OPS_MAX) {
            over = true;
            return;
          }
          const acked = ev.rw === 'write' && ev.status === 'ok';
          if (ev.rw === 'read') reads++;
          else if (acked) writes++;
          else maybe++;
          // In the run's time (`since` to the event's `t`): a client's own clock may be skewed.
          const start = ev.since ?? ev.start;
          const end = ev.since !== undefined ? ev.t : ev.start + ev.latency;
          ops.push({ op: ev.rw, key: String(ev.key), value: String(ev.value), start, end, acked, client: ev.service });
        },
        finish() {
          const bound = 'per key, no read older than a write acknowledged before it started';
          if (over) return { pass: false, measured: `more than ${CONSISTENT_OPS_MAX} reads and writes: not judged`, bound };
          if (reads === 0) return { pass: false, measured: `no answered rpc reads recorded for ${m.workloads.join(', ')}`, bound };
          const initial = new Map<string, string>();
          const written = new Map<string, HistoryOp>();
          for (const o of ops) {
            initial.set(o.key, RPC_INITIAL_VALUE);
            if (o.op === 'write') written.set(`${o.key}=${o.value}`, o);
          }
          const v = checkRegisters(ops, initial);
          const stale = v.filter((x) => x.kind === 'stale').length;
          const keys = initial.size;
          const counts = `${reads} reads, ${writes} acknowledged writes, ${maybe} maybe applied (failed or timed out), ${unanswered} unanswered reads, over ${keys} keys`;
          if (v.length === 0) return { pass: true, measured: `consistent: ${counts}`, bound };
          // The earliest reads first.
          const first = [...v].sort((a, b) => a.read.start - b.read.start || a.read.end - b.read.end).slice(0, CONSISTENT_REPORTED);
          return {
            pass: false,
            measured: `${stale} stale and ${v.length - stale} unknown-value reads of ${counts}`,
            bound,
            detail: first.map((x) => violationText(x, (key, value) => written.get(`${key}=${value}`))).join('; '),
          };
        },
      };
    }
    case 'within': {
      // Deadlines of `after` events not yet answered, oldest first.
      const open: { t: number; id: number }[] = [];
      let head = 0;
      let satisfied = 0;
      let total = 0;
      let missed: { t: number; id: number } | undefined;
      let worst = 0;
      return {
        observe(ev) {
          // Expire obligations whose deadline passed before this event.
          while (head < open.length && open[head]!.t + m.within < ev.t) {
            missed ??= open[head];
            head++;
          }
          if (matches(m.then, ev)) {
            for (; head < open.length; head++) {
              satisfied++;
              worst = Math.max(worst, ev.t - open[head]!.t);
            }
          }
          if (matches(m.after, ev) && open.length - head < WITHIN_PENDING_MAX) {
            total++;
            open.push({ t: ev.t, id: ev.id });
          }
          if (head > 4096 && head * 2 > open.length) {
            open.splice(0, head);
            head = 0;
          }
        },
        finish(end) {
          // Obligations whose deadline lies beyond the end of the run cannot be judged: not failures.
          for (; head < open.length; head++) if (open[head]!.t + m.within <= end) missed ??= open[head];
          const bound = `each within ${formatDuration(m.within)}`;
          if (total === 0) return { pass: false, measured: `no ${matchText(m.after)} happened`, bound };
          return {
            pass: missed === undefined,
            measured: `${satisfied}/${total} answered, slowest after ${formatDuration(worst as Duration)}`,
            bound,
            ...(missed ? { detail: `${matchText(m.after)} at ${formatDuration(missed.t as Duration)} (event ${missed.id}) got no ${matchText(m.then)} within ${formatDuration(m.within)}` } : {}),
          };
        },
      };
    }
  }
}

/** Watches a run's events and judges its expectations at the end. */
export class Evaluator {
  readonly #checks: { entry: ExpectationEntry; check: Check }[];

  constructor(entries: readonly ExpectationEntry[]) {
    this.#checks = entries.map((entry) => ({ entry, check: check(entry.model) }));
  }

  observe(ev: TraceEvent): void {
    for (const c of this.#checks) c.check.observe(ev);
  }

  finish(end: Instant): ExpectationResult[] {
    return this.#checks.map(({ entry, check: c }) => ({ path: entry.path, line: entry.line, text: entry.text, ...c.finish(end) }));
  }
}

/**
 * A sink that assigns ids, hands each event to an evaluator, and forwards it to another sink
 * (a file, memory) if given.
 */
export class EvaluatingTrace implements TraceSink {
  #lastId = 0;
  constructor(
    readonly evaluator: Evaluator,
    readonly next?: TraceSink,
  ) {}
  emit(ev: TraceEventInput): number {
    const id = this.next ? this.next.emit(ev) : ++this.#lastId;
    this.evaluator.observe({ ...ev, id } as TraceEvent);
    return id;
  }
}
