/**
 * Running a loaded scenario in the simulator: build the network, services, workloads and fault
 * timeline it describes, run it to its duration, and judge its expectations over the trace.
 */

import { seconds, type Duration, type Instant } from '../src/time.ts';
import { Evaluator, EvaluatingTrace } from '../src/scenario/expect.ts';
import type { SgNode } from '../src/engine/sg-node.ts';
import type { RunResult, WorkloadSummary } from '../src/scenario/result.ts';
import type { HostModel, RequestModel, RpcPartitionModel, RpcRecoveryModel, Scenario, ServiceTimeModel } from '../src/scenario/load.ts';
import { CTL_PORT_DEFAULT } from '../src/ctl/types.ts';
import type { TraceSink } from '../src/trace.ts';
import type { Ipv4Addr } from '../src/wire/addr.ts';
import { assert, assertNever } from '../src/assert.ts';
import { Network } from './network.ts';
import { RpcService, type RpcPartition, type RpcRecovery, type ServiceTime } from './services.ts';
import type { RequestSpec } from './workload.ts';
import type { Switch } from './net/switch.ts';
import { buildCluster } from './cluster.ts';
import type { Analyzer } from '../src/rw/analyzer.ts';
import { scheduleControl } from './control.ts';

export type { RunResult, WorkloadSummary } from '../src/scenario/result.ts';

export interface RunOptions {
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Stop here instead of at the scenario's duration. */
  readonly until?: Duration;
  /** Where every trace event goes besides the evaluator (e.g. a JSON Lines file). */
  readonly trace?: TraceSink;
  /** pcapng bytes, one interface per link. */
  readonly pcap?: (chunk: Uint8Array) => void;
  /** Trace every frame (default: when a trace sink or pcap is given, or an expectation looks at frames). */
  readonly traceFrames?: boolean;
  /** Called about every simulated `progressEvery` with the current time (for progress bars). */
  readonly onProgress?: (now: Instant, end: Instant) => void;
  readonly progressEvery?: Duration;
  /** Kernel events at most (a guard against runaway scenarios). */
  readonly maxEvents?: number;
  /**
   * Called after every frame and timeout an SG node's engine handles (`sg fuzz` checks the
   * node's invariants there; what it throws ends the run).
   */
  readonly checkEngine?: (node: SgNode) => void;
  /**
   * Per group, what makes its analyzer when the group names a module (the CLI loads modules
   * before the run: src/real/load-analyzer.ts `loadGroupAnalyzers`); built-ins need none.
   */
  readonly analyzers?: readonly ((() => Analyzer) | undefined)[];
}

/** Default event budget: a scenario that needs more is almost certainly runaway. */
export const SCENARIO_EVENTS_MAX = 2_000_000_000;

function serviceTime(s: ServiceTimeModel | undefined): ServiceTime | undefined {
  return s;
}

function requestSpec(r: RequestModel): RequestSpec {
  switch (r.kind) {
    case 'http':
      return r.path !== undefined ? { kind: 'http', size: r.size, path: r.path } : { kind: 'http', size: r.size };
    case 'bulk':
      return { kind: 'bulk', size: r.size };
    case 'udp-echo':
      return { kind: 'udp-echo', size: r.size };
    case 'multicast':
      return { kind: 'multicast', size: r.size };
    case 'tcp-echo':
      return r.hold !== undefined ? { kind: 'tcp-echo', size: r.size, hold: r.hold } : { kind: 'tcp-echo', size: r.size };
    case 'rpc':
      return { kind: 'rpc', writeRatio: r.writeRatio, keys: r.keys, ...(r.retry !== undefined ? { retry: r.retry } : {}), ...(r.recordValues === true ? { recordValues: true } : {}) };
    case 'ping':
      return { kind: 'ping', size: r.size };
    case 'dns':
      return { kind: 'dns', zone: r.zone, names: r.names, updateRatio: r.updateRatio, ...(r.retry !== undefined ? { retry: r.retry } : {}) };
    default:
      return assertNever(r, 'request');
  }
}

/** Build the scenario's network (without running it). */
export function buildScenario(sc: Scenario, opts: RunOptions = {}): { net: Network; evaluator: Evaluator } {
  const evaluator = new Evaluator(sc.expectations);
  const wantsFrames = sc.expectations.some((e) => (e.model.kind === 'count' || e.model.kind === 'never') && e.model.match.kind === 'frame');
  const net = new Network({
    seed: opts.seed ?? sc.seed,
    trace: new EvaluatingTrace(evaluator, opts.trace),
    traceFrames: opts.traceFrames ?? (opts.trace !== undefined || opts.pcap !== undefined || wantsFrames),
    ...(opts.pcap ? { pcap: opts.pcap } : {}),
  });
  const switches = new Map<string, Switch>();
  for (const s of sc.segments) {
    switches.set(s.name, net.switch(s.name, {
      ...(s.snooping ? { igmpSnooping: true } : {}),
      ...(s.querier !== undefined ? { querier: { source: s.querier } } : {}),
    }));
  }
  for (const h of sc.hosts) buildHost(net, h, switches, sc);
  if (sc.cluster !== undefined) buildCluster(net, sc.cluster, sc.segments, switches, opts.checkEngine, opts.analyzers);
  for (const [index, w] of sc.workloads.entries()) {
    const from = net.getHost(w.from);
    const think = w.arrival.kind === 'closed' ? serviceTime(w.arrival.think) : undefined;
    net.workload({
      name: w.name,
      host: from,
      target: w.port !== undefined ? { addr: w.to, port: w.port } : { addr: w.to },
      request: requestSpec(w.request),
      arrival: w.arrival.kind === 'poisson' ? { kind: 'poisson', rate: w.arrival.rate } : { kind: 'closed', users: w.arrival.users, ...(think ? { think } : {}) },
      ...(w.start !== undefined ? { start: w.start } : {}),
      ...(w.stop !== undefined ? { stop: w.stop } : {}),
      ...(w.timeout !== undefined ? { timeout: w.timeout } : {}),
      ...(w.request.kind === 'rpc' && w.request.recordValues === true ? { valueTag: { index, of: sc.workloads.length } } : {}),
    });
  }
  for (const f of sc.faults) net.fault(f.at, f.action);
  scheduleControl(net, sc);
  return { net, evaluator };
}

/** A partitioned rpc service's membership source: its key, and the node it asks (the loader checked both exist). */
function rpcPartition(p: RpcPartitionModel, h: HostModel, sc: Scenario): RpcPartition {
  const key = sc.cluster?.keys.find((k) => k.name === p.keyName)?.key;
  const node = p.node ?? h.gateway;
  assert(key !== undefined && node !== undefined, `rpc partition on ${h.name}: key ${p.keyName} or node missing`);
  return { replicas: p.replicas, key, node, port: sc.cluster?.controlPort ?? CTL_PORT_DEFAULT, refresh: p.refresh };
}

/** A recovering rpc service's node, key, and the services of its port on the other hosts to copy from. */
function rpcRecovery(r: RpcRecoveryModel, port: number, h: HostModel, sc: Scenario, net: Network): RpcRecovery {
  const key = sc.cluster?.keys.find((k) => k.name === r.keyName)?.key;
  const node = r.node ?? h.gateway;
  assert(key !== undefined && node !== undefined, `rpc recovery on ${h.name}: key ${r.keyName} or node missing`);
  const peer = (name: string): RpcService | undefined => {
    if (!net.hosts.has(name)) return undefined;
    const found = net.getHost(name).services.find((x) => x instanceof RpcService && x.port === port);
    return found instanceof RpcService ? found : undefined;
  };
  return { key, node, port: sc.cluster?.controlPort ?? CTL_PORT_DEFAULT, settle: r.settle, peer };
}

function buildHost(net: Network, h: HostModel, switches: Map<string, Switch>, sc: Scenario): void {
  const ifaces = h.ifaces.map((i) => ({
    name: i.name,
    ip: i.addrs.map((a) => `${fmt(a.addr)}/${a.prefixLen}`),
    on: switches.get(i.segment)!,
    link: {
      ...(i.link.latency !== undefined ? { latency: i.link.latency } : {}),
      ...(i.link.bandwidthBps !== undefined ? { bandwidthBps: i.link.bandwidthBps } : {}),
      ...(i.link.loss !== undefined ? { loss: i.link.loss } : {}),
      ...(i.link.jitter !== undefined ? { jitter: i.link.jitter } : {}),
      ...(i.link.queueLimitFrames !== undefined ? { queueLimitFrames: i.link.queueLimitFrames } : {}),
    },
  }));
  const spec = {
    ifaces,
    ...(h.gateway !== undefined ? { gateway: fmt(h.gateway) } : {}),
    routes: h.routes.map((r) => ({ dst: `${fmt(r.dst)}/${r.prefixLen}`, ...(r.via !== undefined ? { via: fmt(r.via) } : {}) })),
    mrouter: h.mrouter,
    ...(h.mrouterQueryInterval !== undefined ? { mrouterQueryInterval: h.mrouterQueryInterval } : {}),
  };
  const sh = h.router ? net.router(h.name, spec) : net.host(h.name, spec);
  for (const s of h.services) {
    switch (s.kind) {
      case 'http':
        net.http(sh, { port: s.port, name: s.name, ...(s.serviceTime ? { serviceTime: s.serviceTime } : {}), ...(s.concurrency !== undefined ? { concurrency: s.concurrency } : {}), ...(s.queue !== undefined ? { queueMax: s.queue } : {}), ...(s.backlog !== undefined ? { backlog: s.backlog } : {}) });
        break;
      case 'bulk':
        net.bulk(sh, { port: s.port, name: s.name });
        break;
      case 'tcp-echo':
        net.tcpEcho(sh, { port: s.port, name: s.name });
        break;
      case 'udp-echo':
        net.udpEcho(sh, { port: s.port, name: s.name });
        break;
      case 'rpc':
        net.rpc(sh, {
          port: s.port, name: s.name, ...(s.serviceTime ? { serviceTime: s.serviceTime } : {}), ...(s.group !== undefined ? { group: s.group } : {}),
          ...(s.failWrites === true ? { failWrites: true } : {}), ...(s.diverge === true ? { diverge: true } : {}),
          ...(s.partition !== undefined ? { partition: rpcPartition(s.partition, h, sc) } : {}),
          ...(s.recover !== undefined ? { recover: rpcRecovery(s.recover, s.port, h, sc, net) } : {}),
        });
        break;
      case 'multicast-sink':
        net.multicastSink(sh, { port: s.port, group: s.group, name: s.name });
        break;
      case 'dns':
        net.dns(sh, { port: s.port, name: s.name, zone: s.zone, records: s.records, refuseUpdates: s.refuseUpdates, ...(s.group !== undefined ? { group: s.group } : {}), ...(s.serviceTime ? { serviceTime: s.serviceTime } : {}) });
        break;
      default:
        assertNever(s, 'service');
    }
  }
}

function fmt(a: Ipv4Addr): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Run a scenario to its end and judge its expectations. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  const { net, evaluator } = buildScenario(sc, opts);
  const end = (opts.until ?? sc.duration) as number as Instant;
  const step = opts.progressEvery ?? seconds(1);
  const maxEvents = opts.maxEvents ?? SCENARIO_EVENTS_MAX;
  let aborted: string | undefined;
  const k = net.world.kernel;
  const sample = (): void => {
    // Metric samples every second of simulated time: cumulative outcomes per workload, for
    // `value:` expectations and the visualizer's metric lanes.
    for (const w of net.workloads) {
      const t = net.world.now;
      const failed = w.log.total - w.log.byStatus.ok;
      net.world.emit({ kind: 'metric', t, name: `workload.${w.opts.name}.ok`, value: w.log.byStatus.ok });
      net.world.emit({ kind: 'metric', t, name: `workload.${w.opts.name}.failed`, value: failed });
    }
  };
  while (k.now < end) {
    const next = Math.min(end, Math.floor(k.now / step) * step + step) as Instant;
    const r = k.run({ until: next, maxEvents: maxEvents - k.handled });
    if (r.reason === 'budget') {
      aborted = `stopped after ${maxEvents} events at ${k.now}us`;
      break;
    }
    sample();
    opts.onProgress?.(k.now, end);
  }
  // Pending drop summaries belong to the run (src/engine/drop-trace.ts).
  for (const e of net.engines()) e.finishTrace(k.now);
  const expectations = evaluator.finish(k.now);
  const workloads = net.workloads.map((w) => {
    const p50 = w.log.latencyPercentile(50);
    const p99 = w.log.latencyPercentile(99);
    return { name: w.opts.name, requests: w.log.total, ok: w.log.byStatus.ok, byStatus: { ...w.log.byStatus }, ...(p50 !== undefined ? { p50 } : {}), ...(p99 !== undefined ? { p99 } : {}) };
  });
  return {
    scenario: sc.name,
    seed: opts.seed ?? sc.seed,
    end: k.now,
    events: k.handled,
    expectations,
    passed: aborted === undefined && expectations.every((e) => e.pass),
    workloads,
    ...(aborted !== undefined ? { aborted } : {}),
  };
}
