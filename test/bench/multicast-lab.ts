/**
 * The multicast stall in the lab against the simulator (slides 21-22): for each
 * multicast scenario, the gap in the stream at the members around its crash (the last datagram
 * received at or before the crash to the next one after it, as `failover.figures.ts` measures
 * it), in the simulator at seed 1 and at seeds 1..RUNS, and in the namespace lab (`sg run --real`:
 * the userspace mrouter, Linux bridge snooping, the members' Linux IGMP) RUNS times at seed 1, the
 * scenario's. Needs root.
 *
 *   node --import tsx test/bench/multicast-lab.ts [runs]
 */
import { readFileSync } from 'node:fs';
import { runScenario } from '../../sim/scenario.ts';
import { runReal } from '../../src/real/run.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { JsonlTrace } from '../../src/trace.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.argv[2] ?? 3);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('usage: multicast-lab.ts [runs >= 1]');
const SCENARIOS = ['failover-multicast', 'failover-multicast-stall', 'multicast-igmp'];

type Ev = { kind: string; t: number; what?: string; op?: string };

function gap(events: readonly Ev[]): number {
  const crash = events.find((e) => e.kind === 'fault' && e.what === 'crash')?.t;
  if (crash === undefined) throw new Error('no crash fault');
  const recv = events.filter((e) => e.kind === 'request' && e.op === 'mcast-recv').map((e) => e.t).sort((a, b) => a - b);
  // The largest gap from the last reception before the crash on (a datagram in flight as the
  // lab's SIGKILL lands may still arrive just after it).
  const from = recv.filter((t) => t <= crash).at(-1) ?? 0;
  const win = [from, ...recv.filter((t) => t > crash)];
  let g = 0;
  for (let i = 1; i < win.length; i++) g = Math.max(g, win[i]! - win[i - 1]!);
  return g;
}

const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (us: number) => (us >= 1e6 ? `${(us / 1e6).toFixed(2)} s` : `${(us / 1e3).toFixed(0)} ms`);
  return `${f(s[0]!)} / ${f(s[Math.floor((s.length - 1) / 2)]!)} / ${f(s.at(-1)!)}`;
};

const dir = mkdtempSync(join(tmpdir(), 'sg-mcast-bench-'));
console.log(`multicast stall at the members around the crash, min / median / max (${RUNS} runs each)`);
for (const name of SCENARIOS) {
  const file = new URL(`../../scenarios/${name}.yaml`, import.meta.url).pathname;
  const loaded = loadScenario(readFileSync(file, 'utf8'), file);
  if (!loaded.ok) throw new Error(`${name} does not load`);
  const sim: number[] = [];
  for (let seed = 1; seed <= RUNS; seed++) {
    const ev: Ev[] = [];
    runScenario({ ...loaded.scenario, seed }, { trace: new JsonlTrace((l) => ev.push(JSON.parse(l) as Ev)), traceFrames: false });
    sim.push(gap(ev));
  }
  const real: number[] = [];
  let passed = 0;
  for (let i = 0; i < RUNS; i++) {
    const out = join(dir, `${name}-${i}.jsonl`);
    const r = await runReal(file, { trace: out });
    if (r.passed) passed++;
    real.push(gap(readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev)));
  }
  // The lab runs the scenario's seed (1): the daemons take the simulator's per-node seeds, so the
  // engines draw what the simulator draws at seed 1; the members' Linux kernels draw their own.
  const one = (us: number) => (us >= 1e6 ? `${(us / 1e6).toFixed(2)} s` : `${(us / 1e3).toFixed(0)} ms`);
  console.log(`  ${name.padEnd(26)} simulator seed 1 ${one(sim[0]!).padEnd(9)} seeds 1-${RUNS} ${fmt(sim).padEnd(26)} lab (seed 1) ${fmt(real).padEnd(26)} expectations held in ${passed}/${RUNS} lab runs`);
}
