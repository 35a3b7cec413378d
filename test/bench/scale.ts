/**
 * Simulator scale (audit item 9): N long-lived idle TCP connections through one VIP, so that N
 * links sit in the SG node's link table at once. `scaleScenario(n)` writes the scenario as YAML
 * (open-loop `tcp-echo` requests with `hold:` longer than the run, spread over enough clients for
 * their ephemeral ports and enough servers for their TCP tables); `runScale(n)` loads it, runs it
 * in the simulator and reports wall time, peak RSS and heap, events/s and the links held.
 *
 *   node --expose-gc --max-old-space-size=16384 --import tsx test/bench/scale.ts 10000 100000 1000000
 *
 * `npm run bench -- scale` runs N = 10^4 and 10^5 (10^6 takes minutes and a bigger heap: run it as above).
 */

import { performance } from 'node:perf_hooks';
import { loadScenario } from '../../src/scenario/load.ts';
import { buildScenario } from '../../sim/scenario.ts';
import { seconds, type Instant } from '../../src/time.ts';

/** Connections per client host: below its 16,384 ephemeral ports (49152-65535) with margin. */
export const SCALE_LINKS_PER_CLIENT = 15_000;
/** Connections per real server: below a simulated host's TCP `connectionsMax` (65,536). */
export const SCALE_LINKS_PER_SERVER = 40_000;
/** New connections per simulated second over all clients. */
export const SCALE_OPEN_RATE = 100_000;
/** Idle time after the last connection opened, before the run ends. */
const SCALE_IDLE_S = 2;

export function scaleScenario(n: number): string {
  const clients = Math.ceil(n / SCALE_LINKS_PER_CLIENT);
  const servers = Math.ceil(n / SCALE_LINKS_PER_SERVER);
  const openS = n / SCALE_OPEN_RATE;
  const endS = openS + SCALE_IDLE_S;
  const lines = [
    `name: scale-${n}`,
    `description: ${n} long-lived idle TCP connections through one VIP.`,
    'seed: 1',
    `duration: ${endS}s`,
    'topology:',
    '  segments:',
    '    public: { subnet: 10.1.0.0/16, link: { latency: 0.1ms, bandwidth: 10Gbit } }',
    '    pool: { subnet: 10.2.0.0/16, link: { latency: 0.05ms, bandwidth: 10Gbit } }',
    '  hosts:',
  ];
  for (let s = 0; s < servers; s++) {
    lines.push(`    rs${s}: { ifaces: [{ segment: pool, ip: 10.2.${s >> 8}.${(s & 255) + 1} }], gateway: 10.2.255.254, services: [{ kind: tcp-echo, port: 80 }] }`);
  }
  for (let c = 0; c < clients; c++) lines.push(`    c${c}: { ifaces: [{ segment: public, ip: 10.1.${1 + (c >> 8)}.${(c & 255) + 1} }] }`);
  lines.push(
    'cluster:',
    '  nodes:',
    '    sg1: { public: { segment: public, ip: 10.1.255.253 }, private: { segment: pool, ip: 10.2.255.254 } }',
    `  links-max: ${Math.max(1_000_000, 2 * n)}`,
    '  groups:',
    `    - { name: web, vip: 10.1.255.1, port: 80, policy: round-robin, servers: [${Array.from({ length: servers }, (_, s) => `{ host: rs${s} }`).join(', ')}] }`,
    'workload:',
  );
  const rate = SCALE_OPEN_RATE / clients;
  for (let c = 0; c < clients; c++) {
    lines.push(`  - { name: w${c}, from: c${c}, to: 10.1.255.1:80, request: { kind: tcp-echo, size: 64, hold: ${endS + 60}s }, rate: ${rate}/s, stop: ${openS}s, timeout: 5s }`);
  }
  lines.push('expect:', '  - never: { kind: request, status: timeout }');
  return lines.join('\n') + '\n';
}

export interface ScaleResult {
  readonly n: number;
  /** Links in the SG node's table at the end (all connections are still held open). */
  readonly links: number;
  readonly ok: number;
  readonly failed: number;
  readonly events: number;
  readonly wallS: number;
  /** CPU time of this process (user + system) during the run: the figure to trust on a shared machine. */
  readonly cpuS: number;
  /** Kernel events per CPU second. */
  readonly eventsPerS: number;
  readonly peakRssMB: number;
  readonly peakHeapMB: number;
  readonly simulatedS: number;
}

export function runScale(n: number, log: (line: string) => void = () => {}): ScaleResult {
  const loaded = loadScenario(scaleScenario(n), `scale-${n}.yaml`);
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.message).join('\n'));
  const sc = loaded.scenario;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const { net } = buildScenario(sc);
  const k = net.world.kernel;
  let peakRss = 0;
  let peakHeap = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const end = sc.duration as number;
  while (k.now < end) {
    k.run({ until: Math.min(end, k.now + seconds(1)) as Instant });
    sample();
    const links = net.engines()[0]?.links.size ?? 0;
    log(`  n=${n} t=${k.now / 1e6}s links=${links} events=${k.handled} wall=${((performance.now() - t0) / 1000).toFixed(1)}s cpu=${((process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6).toFixed(1)}s rss=${(peakRss / 2 ** 20).toFixed(0)}MiB`);
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  let ok = 0;
  let total = 0;
  for (const w of net.workloads) {
    ok += w.log.byStatus.ok;
    total += w.log.total;
  }
  return {
    n,
    links: net.engines()[0]?.links.size ?? 0,
    ok,
    failed: total - ok,
    events: k.handled,
    wallS,
    cpuS,
    eventsPerS: k.handled / cpuS,
    peakRssMB: peakRss / 2 ** 20,
    peakHeapMB: peakHeap / 2 ** 20,
    simulatedS: end / 1e6,
  };
}

export function formatScale(r: ScaleResult): string {
  return `simulator scale N=${r.n}: ${r.links} links held (${r.ok} ok, ${r.failed} failed), ${r.simulatedS}s simulated in ${r.wallS.toFixed(1)}s wall, ` +
    `${r.cpuS.toFixed(1)}s CPU, ${(r.eventsPerS / 1000).toFixed(0)}k events per CPU second (${r.events}), peak RSS ${r.peakRssMB.toFixed(0)} MiB, heap ${r.peakHeapMB.toFixed(0)} MiB`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const ns = process.argv.slice(2).map(Number);
  for (const n of ns.length > 0 ? ns : [10_000, 100_000]) {
    const r = runScale(n, (l) => console.error(l));
    console.log(formatScale(r));
    globalThis.gc?.();
  }
}
