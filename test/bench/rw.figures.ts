/**
 * Read/write model figures, measured in the simulator over seeds 1..N; a run
 * is deterministic, so the same N gives the same tables on any machine.
 *
 *   npm run bench -- rw                     (N = 5; with the vote microbenchmark, rw.bench.ts)
 *   RW_SEEDS=10 npm run bench -- 'rw figures'  (these figures only)
 *   node --import tsx test/bench/rw.figures.ts [N]
 *
 * 1. WriteAll writes (write-ratio 100%) with 1, 2 and 3 servers, multicast and unicast fan-out,
 *    against two peers measured in the same process at the same seed:
 *    - "via SG": the same client, the same SG node and the same rpc server (rs1) behind a plain
 *      read-any group (UDP NAT through the link table) with that one server, so the only
 *      difference is WriteAll's fan-out and vote;
 *    - "direct": a client on the servers' own segment sending straight to rs1:2049 (no SG, one
 *      segment instead of two, so a shorter path than any VIP can have).
 * 2. ReadFirst against ReadOne on the same three servers, exponential service time, reads only.
 *
 * Closed loop: USERS users, no think time, from START_S; a one-user warm-up before it fills the
 * ARP caches on the way (a host queues only a few datagrams while it resolves an address, so
 * without it most users' first datagrams are lost and those users sit out the window). The simulator's rpc service serves every request on
 * its own timer (no queue, no worker limit: an infinite-server station), so a server cannot
 * saturate and a closed loop's throughput is users / mean latency: throughput and latency ratios
 * say the same thing here, and "server-bound" means bound by the service time, not by a queue.
 */
import { stat, type Stat } from './harness.ts';
import { runScenario } from '../../sim/scenario.ts';
import { loadScenario } from '../../src/scenario/load.ts';

/** Users per workload (closed loop, no think time). */
const USERS = 8;
/** Measured window: the workload runs from START_S to STOP_S (simulated seconds). */
const START_S = 0.3;
const STOP_S = 1.3;

type ServiceTimeKind = 'fixed' | 'exp';
type Setup =
  | { readonly kind: 'write-all'; readonly servers: 1 | 2 | 3; readonly fanout: 'multicast' | 'unicast'; readonly st: ServiceTimeKind }
  | { readonly kind: 'via-sg'; readonly st: ServiceTimeKind }
  | { readonly kind: 'direct'; readonly st: ServiceTimeKind }
  | { readonly kind: 'read-one' | 'read-first'; readonly st: ServiceTimeKind };

const SERVICE_TIME: Record<ServiceTimeKind, string> = { fixed: '1ms', exp: '{ exponential: 1ms }' };

/** The scenario of one setup: three rpc servers on the pool, a client on the public segment and one on the pool. */
function scenarioText(s: Setup): string {
  const st = SERVICE_TIME[s.st];
  const rs = (i: number): string =>
    `    rs${i}: { ifaces: [{ segment: pool, ip: 192.168.1.${i} }], gateway: 192.168.1.254, services: [{ kind: rpc, port: 2049, group: 239.1.1.1, service-time: ${st} }] }`;
  const health = '{ keyports: [2049], udp-keyports: [2049], mcast: { M: 2 } }';
  const servers = (n: number): string => `[${Array.from({ length: n }, (_, i) => `{ host: rs${i + 1} }`).join(', ')}]`;
  let group: string;
  let writeRatio = '100%';
  let from = 'c1';
  let to = '140.116.72.114:2049';
  switch (s.kind) {
    case 'write-all': {
      const fan = s.fanout === 'multicast' ? 'write-group: 239.1.1.1' : 'write-fanout: unicast';
      group = `{ name: store, vip: 140.116.72.114, port: 2049, model: read-one-write-all, analyzer: rpc, ${fan}, health: ${health}, servers: ${servers(s.servers)} }`;
      break;
    }
    case 'via-sg':
      group = `{ name: store, vip: 140.116.72.114, port: 2049, health: { keyports: [2049], udp-keyports: [2049] }, servers: ${servers(1)} }`;
      break;
    case 'direct':
      // The group exists (the SG node runs as in every other setup) but the client bypasses it.
      group = `{ name: store, vip: 140.116.72.114, port: 2049, health: { keyports: [2049], udp-keyports: [2049] }, servers: ${servers(1)} }`;
      from = 'c0';
      to = '192.168.1.1:2049';
      break;
    case 'read-one':
    case 'read-first':
      writeRatio = '0%';
      group = `{ name: store, vip: 140.116.72.114, port: 2049, model: ${s.kind === 'read-one' ? 'read-one-write-all' : 'read-first-write-all'}, analyzer: rpc, write-group: 239.1.1.1, health: ${health}, servers: ${servers(3)} }`;
      break;
  }
  return `name: rw-figure
seed: 1
duration: ${STOP_S + 0.5}s
topology:
  segments:
    public: { subnet: 140.116.72.0/24, link: { latency: 0.1ms, bandwidth: 100Mbit } }
    pool: { subnet: 192.168.1.0/24, link: { latency: 0.05ms, bandwidth: 1Gbit } }
  hosts:
${rs(1)}
${rs(2)}
${rs(3)}
    c1: { ifaces: [{ segment: public, ip: 140.116.72.101 }] }
    c0: { ifaces: [{ segment: pool, ip: 192.168.1.101 }] }
cluster:
  nodes:
    sg1: { public: { segment: public, ip: 140.116.72.211 }, private: { segment: pool, ip: 192.168.1.254 } }
  groups:
    - ${group}
workload:
  - { name: warm, from: ${from}, to: ${to}, request: { kind: rpc, write-ratio: ${writeRatio} }, users: 1, think: 5ms, start: 0.1s, stop: 0.25s }
  - { name: w, from: ${from}, to: ${to}, request: { kind: rpc, write-ratio: ${writeRatio} }, users: ${USERS}, start: ${START_S}s, stop: ${STOP_S}s }
`;
}

interface Measured {
  /** Successful requests per simulated second over the window. */
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
  /** Requests that did not succeed. */
  readonly failed: number;
}

function measureSetup(s: Setup, seed: number): Measured {
  const text = scenarioText(s);
  const r = loadScenario(text, `rw-figure(${JSON.stringify(s)})`);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  const res = runScenario(r.scenario, { seed, traceFrames: false });
  const w = res.workloads.find((x) => x.name === 'w')!;
  return { perSec: w.ok / (STOP_S - START_S), p50: w.p50 ?? NaN, p99: w.p99 ?? NaN, failed: w.requests - w.ok };
}


const ms = (us: number): string => (us / 1000).toFixed(3);
const rate = (x: number): string => x.toFixed(0);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
/** "median (min-max)", or just the value when every seed gave the same. */
function fmt(s: Stat, f: (x: number) => string): string {
  const a = f(s.min);
  const b = f(s.max);
  return a === b ? f(s.median) : `${f(s.median)} (${a}-${b})`;
}

function runAll(s: Setup, seeds: readonly number[]): Measured[] {
  return seeds.map((seed) => measureSetup(s, seed));
}

function row(label: string, m: readonly Measured[], peers: readonly (readonly Measured[])[]): string {
  const cells = [
    label,
    fmt(stat(m.map((x) => x.perSec)), rate),
    fmt(stat(m.map((x) => x.p50)), ms),
    fmt(stat(m.map((x) => x.p99)), ms),
    String(m.reduce((a, x) => a + x.failed, 0)),
    ...peers.map((p) => fmt(stat(m.map((x, i) => x.perSec / p[i]!.perSec)), pct)),
  ];
  return `| ${cells.join(' | ')} |`;
}

export function rwFigures(n = Number(process.env['RW_SEEDS'] ?? 5)): void {
  const seeds = Array.from({ length: n }, (_, i) => i + 1);
  const t0 = performance.now();
  console.log(`read/write model figures over seeds 1..${n}: median (min-max) over seeds; ${USERS} closed-loop users, no think time, ${STOP_S - START_S} s window`);
  for (const st of ['fixed', 'exp'] as const) {
    const via = runAll({ kind: 'via-sg', st }, seeds);
    const direct = runAll({ kind: 'direct', st }, seeds);
    console.log('');
    console.log(`WriteAll writes, rpc service time ${SERVICE_TIME[st]}, write-ratio 100% (ratio: writes/s over the peer's, per seed)`);
    console.log('| setup | writes/s | p50 ms | p99 ms | failed | ratio to via-SG read-any | ratio to direct |');
    console.log('|---|---|---|---|---|---|---|');
    console.log(row('peer: read-any UDP NAT group, 1 server (rs1), via SG', via, [via, direct]));
    console.log(row('peer: client on the pool straight to rs1 (no SG)', direct, [via, direct]));
    for (const fanout of ['multicast', 'unicast'] as const) {
      for (const servers of [1, 2, 3] as const) {
        console.log(row(`WriteAll, ${servers} server${servers > 1 ? 's' : ''}, ${fanout}`, runAll({ kind: 'write-all', servers, fanout, st }, seeds), [via, direct]));
      }
    }
  }
  const one = runAll({ kind: 'read-one', st: 'exp' }, seeds);
  const first = runAll({ kind: 'read-first', st: 'exp' }, seeds);
  console.log('');
  console.log(`ReadFirst against ReadOne, 3 servers, rpc service time ${SERVICE_TIME.exp}, reads only (ratio: ReadFirst's over ReadOne's, per seed)`);
  console.log('| setup | reads/s | p50 ms | p99 ms | failed |');
  console.log('|---|---|---|---|---|');
  console.log(row('ReadOne (read-one-write-all)', one, []));
  console.log(row('ReadFirst (read-first-write-all)', first, []));
  const ratio = (f: (m: Measured) => number): string => fmt(stat(first.map((x, i) => f(x) / f(one[i]!))), pct);
  console.log(`| ReadFirst / ReadOne | ${ratio((m) => m.perSec)} | ${ratio((m) => m.p50)} | ${ratio((m) => m.p99)} | |`);
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s wall)`);
}

if (import.meta.url === `file://${process.argv[1]}`) rwFigures(process.argv[2] !== undefined ? Number(process.argv[2]) : undefined);
