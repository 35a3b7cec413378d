/**
 * Failover figures, measured in the simulator over seeds 1..N of the committed
 * scenarios: takeover time at 1 s and 100 ms heartbeats, requests failed during a takeover,
 * connections kept with and without the link-table sync, the multicast stall with and without the
 * membership refresh, and the partition heal. Each figure is a min / median / max over seeds (and
 * heartbeat phases, see `run`); a run is deterministic, so the same N gives the same table on any
 * machine.
 *
 *   npm run bench -- failover          (N = 10)
 *   FAILOVER_SEEDS=30 npm run bench -- failover
 */
import { stat, type Stat } from './harness.ts';
import { readFileSync } from 'node:fs';
import { runScenario } from '../../sim/scenario.ts';
import { loadScenario, type Scenario } from '../../src/scenario/load.ts';
import type { TraceEventInput, TraceSink } from '../../src/trace.ts';

type Ev = TraceEventInput & { readonly t: number };

/** Heartbeat phases the runs' faults are spread over. */
const PHASES = 10;

function load(name: string): Scenario {
  const path = `scenarios/${name}.yaml`;
  const r = loadScenario(readFileSync(path, 'utf8'), path);
  if (!r.ok) throw new Error(`${path}: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.scenario;
}

/**
 * Run one scenario at one seed, keeping the events `keep` selects (frames are not traced). Run k
 * of n shifts every fault by (k - 1) / n of a heartbeat interval: a crash lands at a different
 * phase of the heartbeat each time (the simulated network has no jitter of its own, so without
 * this every seed would crash at the same phase).
 */
function run(sc0: Scenario, seed: number, keep: (e: TraceEventInput) => boolean): Ev[] {
  const hb = sc0.cluster?.failover?.heartbeat ?? 0;
  const shift = Math.floor(((seed - 1) % PHASES) * (hb / PHASES));
  const sc: Scenario = { ...sc0, faults: sc0.faults.map((f) => ({ ...f, at: (f.at + shift) as typeof f.at })) };
  const out: Ev[] = [];
  let id = 0;
  const sink: TraceSink = {
    emit(e) {
      if (keep(e)) out.push(e as Ev);
      return ++id;
    },
  };
  runScenario(sc, { seed, trace: sink, traceFrames: false });
  return out;
}

const isFault = (e: TraceEventInput, what: string): boolean => e.kind === 'fault' && e.what === what;
const toMaster = (e: TraceEventInput): boolean => e.kind === 'state' && e.machine === 'bidd' && e.to === 'master';
const request = (e: TraceEventInput): e is Extract<TraceEventInput, { kind: 'request' }> => e.kind === 'request';


const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`;
const fmt = (s: Stat, f: (x: number) => string): string => `${f(s.min)} / ${f(s.median)} / ${f(s.max)}`;

/** Crash of the first master -> the next node's master transition, and requests that failed around it. */
function takeover(name: string, seeds: number[]): { takeover: Stat; failed: Stat } {
  const sc = load(name);
  const t: number[] = [];
  const failed: number[] = [];
  for (const seed of seeds) {
    const ev = run(sc, seed, (e) => e.kind === 'fault' || toMaster(e) || e.kind === 'request');
    const crash = ev.find((e) => isFault(e, 'crash'))!;
    const next = ev.find((e) => toMaster(e) && e.t > crash.t)!;
    t.push(next.t - crash.t);
    failed.push(ev.filter((e) => request(e) && e.status !== 'ok' && e.start >= crash.t - 3_000_000 && e.start < next.t + 1_000_000).length);
  }
  return { takeover: stat(t), failed: stat(failed) };
}

/** Requests open at the crash (started before, answered after) and how many of them succeeded. */
function kept(name: string, seeds: number[]): { open: Stat; ok: Stat } {
  const sc = load(name);
  const open: number[] = [];
  const ok: number[] = [];
  for (const seed of seeds) {
    const ev = run(sc, seed, (e) => isFault(e, 'crash') || e.kind === 'request');
    const crash = ev.find((e) => isFault(e, 'crash'))!.t;
    const across = ev.filter((e) => request(e) && e.start < crash && e.t > crash);
    open.push(across.length);
    ok.push(across.filter((e) => request(e) && e.status === 'ok').length);
  }
  return { open: stat(open), ok: stat(ok) };
}

/** The gap in the multicast stream at the servers around the master crash. */
function stall(name: string, seeds: number[]): Stat {
  const sc = load(name);
  const gaps: number[] = [];
  for (const seed of seeds) {
    const ev = run(sc, seed, (e) => isFault(e, 'crash') || (request(e) && e.op === 'mcast-recv'));
    const crash = ev.find((e) => isFault(e, 'crash'))!.t;
    const recv = ev.filter((e) => e.kind === 'request').map((e) => e.t);
    const before = recv.filter((t) => t <= crash).at(-1) ?? 0;
    const after = recv.find((t) => t > crash) ?? Infinity;
    gaps.push(after - before);
  }
  return stat(gaps);
}

/** Heal -> the lower master's step-down, and requests started after the heal that failed. */
function heal(seeds: number[]): { converge: Stat; failedAfter: Stat } {
  const sc = load('failover-partition');
  const conv: number[] = [];
  const failed: number[] = [];
  for (const seed of seeds) {
    const ev = run(sc, seed, (e) => e.kind === 'fault' || (e.kind === 'state' && e.machine === 'bidd') || e.kind === 'request');
    const healAt = ev.find((e) => isFault(e, 'heal'))!.t;
    const down = ev.find((e) => e.kind === 'state' && e.machine === 'bidd' && e.from === 'master' && e.t >= healAt);
    conv.push(down === undefined ? NaN : down.t - healAt);
    failed.push(ev.filter((e) => request(e) && e.start >= healAt && e.status !== 'ok').length);
  }
  return { converge: stat(conv), failedAfter: stat(failed) };
}

export function failoverFigures(): void {
  const n = Number(process.env['FAILOVER_SEEDS'] ?? 10);
  const seeds = Array.from({ length: n }, (_, i) => i + 1);
  const t0 = performance.now();
  console.log(`failover figures over seeds 1..${n} (min / median / max)`);
  const slow = takeover('failover', seeds);
  console.log(`  takeover after master crash, 1 s heartbeats (goal <= 4 s; keepalived 3.6 s):  ${fmt(slow.takeover, ms)}`);
  console.log(`    requests failed around it (50/s, 2 s timeout):                             ${fmt(slow.failed, String)}`);
  const fast = takeover('failover-fast', seeds);
  console.log(`  takeover after master crash, 100 ms heartbeats (goal <= 400 ms):            ${fmt(fast.takeover, ms)}`);
  console.log(`    requests failed around it (50/s, 2 s timeout):                             ${fmt(fast.failed, String)}`);
  const withSync = kept('failover-stateful', seeds);
  const noSync = kept('failover-stateless', seeds);
  console.log(`  connections open at the crash, kept with link-table sync:                   ${fmt(withSync.ok, String)} of ${fmt(withSync.open, String)}`);
  console.log(`  connections open at the crash, kept without it:                             ${fmt(noSync.ok, String)} of ${fmt(noSync.open, String)}`);
  console.log(`  multicast stall at the servers, membership refreshed at takeover:           ${fmt(stall('failover-multicast', seeds), ms)}`);
  console.log(`  multicast stall at the servers, waiting for the router's query (slide 22):  ${fmt(stall('failover-multicast-stall', seeds), ms)}`);
  const h = heal(seeds);
  console.log(`  partition heal -> lower master steps down:                                  ${fmt(h.converge, ms)}`);
  console.log(`    requests started after the heal that failed:                              ${fmt(h.failedAfter, String)}`);
  console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s wall)`);
}
