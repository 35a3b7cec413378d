/**
 * Building a simulated network from code: switches (segments), hosts and routers with TCP, links
 * with properties, services, workloads and a fault timeline, all looked up by name. The scenario
 * loader builds on this; tests and benchmarks use it directly.
 *
 *     const net = new Network({ seed: 7 });
 *     const lan = net.switch('lan');
 *     const server = net.host('server', { ifaces: [{ ip: '10.0.0.1/24', on: lan }] });
 *     const client = net.host('client', { ifaces: [{ ip: '10.0.0.2/24', on: lan }] });
 *     net.http(server, { port: 80 });
 *     const load = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.0.1'), port: 80 },
 *       request: { kind: 'http', size: 10_000 }, arrival: { kind: 'poisson', rate: 100 } });
 *     net.fault(seconds(5), { kind: 'crash', host: 'server' });
 *     net.run(seconds(10));
 *     load.log.successRatio(); // < 1: the server was down for the last 5 s
 */

import { ifaceName } from '../src/port.ts';
import { seconds, type Duration, type Instant } from '../src/time.ts';
import { ip as parseIp, parseIpv4Addr, type Ipv4Addr, type MacAddr } from '../src/wire/addr.ts';
import { faultEntry, faultTarget, faultWhat, type FaultAction, type FaultKind, type FaultOf } from '../src/scenario/faults.ts';
import { Host, type HostOptions } from './host/host.ts';
import { TcpStack, type TcpOptions } from './host/tcp.ts';
import { MulticastRouter } from './host/mrouter.ts';
import { Link, type LinkProps } from './net/link.ts';
import { RawNode } from './raw-node.ts';
import { Switch, type SwitchOptions } from './net/switch.ts';
import { BulkService, HttpService, MulticastSink, RpcService, TcpEchoService, UdpEchoService, type HttpServiceOptions, type RpcServiceOptions, type Service } from './services.ts';
import { Workload, type WorkloadOptions } from './workload.ts';
import { DnsService, type DnsServiceOptions } from './dns.ts';
import { World, type Device, type WorldOptions } from './world.ts';
import { EngineNode } from './engine-node.ts';
import { SgNode } from '../src/engine/sg-node.ts';

/** `10.0.0.1/24` */
export function parseCidr(text: string): { addr: Ipv4Addr; prefixLen: number } {
  const m = /^(.+)\/(\d+)$/.exec(text.trim());
  const addr = m ? parseIpv4Addr(m[1]!) : undefined;
  const prefixLen = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefixLen >= 0 && prefixLen <= 32)) throw new Error(`not an address/prefix: ${JSON.stringify(text)}`);
  return { addr, prefixLen };
}

export interface IfaceSpec {
  /** Interface name (default eth0, eth1, ...). */
  readonly name?: string;
  /** Addresses as `a.b.c.d/len`; the first is primary. */
  readonly ip: string | readonly string[];
  readonly mac?: MacAddr;
  readonly mtu?: number;
  /** The switch (segment) to plug into, or another device to cable directly to. */
  readonly on: Switch | Device;
  readonly link?: LinkProps;
}

export interface HostSpec extends HostOptions {
  readonly ifaces: readonly IfaceSpec[];
  /** Default gateway. */
  readonly gateway?: string;
  readonly routes?: readonly { readonly dst: string; readonly via?: string; readonly iface?: string }[];
  /** TCP options, or false for a host without TCP (segments answered with RST). */
  readonly tcp?: TcpOptions | false;
  /** Run an mrouted-like multicast router on this (forwarding) host. */
  readonly mrouter?: boolean;
  /** The mrouter's query interval (default 125 s). */
  readonly mrouterQueryInterval?: Duration;
}

/** A host with its TCP and services. */
export class SimHost {
  readonly services: Service[] = [];
  mrouter: MulticastRouter | undefined;
  constructor(
    readonly host: Host,
    readonly tcp: TcpStack | undefined,
  ) {}
  get name(): string {
    return this.host.name;
  }
  service(name: string): Service {
    const s = this.services.find((x) => x.name === name);
    if (s === undefined) throw new Error(`host ${this.name} has no service '${name}' (has ${this.services.map((x) => x.name).join(', ') || 'none'})`);
    return s;
  }
  /** Crash the host: its services die with it. */
  crash(): void {
    for (const s of this.services) s.hostCrashed();
    this.host.crash();
  }
  /** Restart the host and its autostart services. */
  restart(): void {
    this.host.restart();
    for (const s of this.services) if (s.autostart) s.start();
  }
}

/** An SG node in the simulator: its EngineNode and how to build a fresh engine on restart. */
export interface SimSgNode {
  readonly node: EngineNode;
  /** Builds a fresh engine at `now`, the node's local time. */
  readonly make: (now: Instant) => SgNode;
}

export class Network {
  readonly world: World;
  readonly hosts = new Map<string, SimHost>();
  readonly switches = new Map<string, Switch>();
  readonly links = new Map<string, Link>();
  readonly workloads: Workload[] = [];
  readonly sgNodes = new Map<string, SimSgNode>();
  #macSeq = 0;

  constructor(opts: WorldOptions = {}) {
    this.world = new World(opts);
  }

  get now(): Instant {
    return this.world.now;
  }

  /** A deterministic locally administered MAC: 02:00:00:00:xx:xx in creation order. */
  nextMac(): MacAddr {
    this.#macSeq++;
    return (0x020000000000 + this.#macSeq) as MacAddr;
  }

  switch(name: string, opts: SwitchOptions = {}): Switch {
    const sw = new Switch(this.world, name, opts);
    this.switches.set(name, sw);
    return sw;
  }

  /** Cable two devices (or a device to a new port of a switch). Host links are named `<host>.<iface>`. */
  link(name: string, a: Device, b: Device | Switch, props: LinkProps = {}): Link {
    const other = b instanceof Switch ? b.addPort() : b;
    const l = new Link(this.world, name, a, other, props);
    this.links.set(name, l);
    return l;
  }

  host(name: string, spec: HostSpec): SimHost {
    const host = new Host(this.world, name, spec);
    spec.ifaces.forEach((i, n) => {
      const addrs = (typeof i.ip === 'string' ? [i.ip] : i.ip).map(parseCidr);
      const ifname = i.name ?? `eth${n}`;
      const dev = host.addInterface({ name: ifname, mac: i.mac ?? this.nextMac(), mtu: i.mtu ?? 1500, addrs });
      this.link(`${name}.${ifname}`, dev, i.on, i.link ?? {});
    });
    if (spec.gateway !== undefined) {
      const via = parseIp(spec.gateway);
      const iface = this.#ifaceToward(host, via, name);
      host.addRoute({ dst: 0 as Ipv4Addr, prefixLen: 0, via, iface });
    }
    for (const r of spec.routes ?? []) {
      const { addr, prefixLen } = parseCidr(r.dst);
      const via = r.via !== undefined ? parseIp(r.via) : undefined;
      const iface = r.iface ?? this.#ifaceToward(host, via ?? addr, name);
      host.addRoute(via !== undefined ? { dst: addr, prefixLen, via, iface } : { dst: addr, prefixLen, iface });
    }
    const tcpOpts = spec.tcp;
    const tcp = tcpOpts === false ? undefined : host.setTcp((env) => new TcpStack(env, tcpOpts ?? {}));
    const sh = new SimHost(host, tcp);
    if (spec.mrouter) sh.mrouter = new MulticastRouter(host, spec.mrouterQueryInterval !== undefined ? { queryInterval: spec.mrouterQueryInterval } : {});
    this.hosts.set(name, sh);
    return sh;
  }

  /** A node that sends arbitrary frames (floods, forged messages), plugged into `on`. */
  raw(name: string, on: Switch | Device, link: LinkProps = {}): RawNode {
    const node = new RawNode(this.world, name, this.nextMac());
    this.link(`${name}.eth0`, node, on, link);
    return node;
  }

  /** A forwarding host. */
  router(name: string, spec: HostSpec): SimHost {
    return this.host(name, { ...spec, forwarding: true });
  }

  #ifaceToward(host: Host, addr: Ipv4Addr, name: string): string {
    const r = host.lookupRoute(addr);
    if (r === undefined) throw new Error(`host ${name}: ${JSON.stringify(addr)} is on none of its subnets`);
    return r.iface;
  }

  getHost(name: string): SimHost {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host '${name}' (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  getLink(name: string): Link {
    const l = this.links.get(name);
    if (l === undefined) throw new Error(`no link '${name}' (links: ${[...this.links.keys()].join(', ')})`);
    return l;
  }

  // ---- services ----

  #add<S extends Service>(h: SimHost, s: S): S {
    h.services.push(s);
    s.start();
    return s;
  }

  #tcpOf(h: SimHost): TcpStack {
    if (h.tcp === undefined) throw new Error(`host ${h.name} has no TCP`);
    return h.tcp;
  }

  http(h: SimHost, opts: HttpServiceOptions & { port?: number } = {}): HttpService {
    return this.#add(h, new HttpService(h.host, this.#tcpOf(h), opts.port ?? 80, opts));
  }
  bulk(h: SimHost, opts: { port?: number; name?: string } = {}): BulkService {
    return this.#add(h, new BulkService(h.host, this.#tcpOf(h), opts.port ?? 21, opts));
  }
  tcpEcho(h: SimHost, opts: { port?: number; name?: string } = {}): TcpEchoService {
    return this.#add(h, new TcpEchoService(h.host, this.#tcpOf(h), opts.port ?? 7, opts));
  }
  udpEcho(h: SimHost, opts: { port?: number; name?: string } = {}): UdpEchoService {
    return this.#add(h, new UdpEchoService(h.host, opts.port ?? 7, opts));
  }
  rpc(h: SimHost, opts: RpcServiceOptions & { port?: number } = {}): RpcService {
    return this.#add(h, new RpcService(h.host, opts.port ?? 2049, opts));
  }

  /** An authoritative DNS server (sim/dns.ts), port 53 unless given. */
  dns(h: SimHost, opts: DnsServiceOptions & { port?: number }): DnsService {
    return this.#add(h, new DnsService(h.host, opts.port ?? 53, opts));
  }

  multicastSink(h: SimHost, opts: { port: number; group: Ipv4Addr; name?: string }): MulticastSink {
    return this.#add(h, new MulticastSink(h.host, opts.port, opts.group, opts.name !== undefined ? { name: opts.name } : {}));
  }

  workload(opts: Omit<WorkloadOptions, 'host' | 'tcp'> & { host: SimHost }): Workload {
    const { host, ...rest } = opts;
    const w = new Workload({ ...rest, host: host.host, ...(host.tcp ? { tcp: host.tcp } : {}) });
    this.workloads.push(w);
    return w;
  }

  /**
   * An SG node on two segments: eth0 on `pub` (clients, VIPs), eth1 on `priv` (servers). `make`
   * builds its engine at `now`, the node's local time (not the world's: its clock may run fast or
   * slow); it is called again on restart (state is lost, as in a crash).
   */
  sgNode(name: string, pub: Switch, priv: Switch, make: (ifaces: { pubMac: MacAddr; privMac: MacAddr }, world: World, now: Instant) => SgNode, link: LinkProps = {}): SimSgNode {
    const pubMac = this.nextMac();
    const privMac = this.nextMac();
    const factory = (now: Instant) => make({ pubMac, privMac }, this.world, now);
    const node = new EngineNode(this.world, name, [
      { name: ifaceName('eth0'), mac: pubMac, mtu: 1500 },
      { name: ifaceName('eth1'), mac: privMac, mtu: 1500 },
    ], factory);
    this.link(`${name}.eth0`, node.device('eth0'), pub, link);
    this.link(`${name}.eth1`, node.device('eth1'), priv, link);
    const sg = { node, make: factory };
    this.sgNodes.set(name, sg);
    return sg;
  }

  /** Every SG node's engine that is running (not crashed). */
  engines(): SgNode[] {
    const out: SgNode[] = [];
    for (const s of this.sgNodes.values()) {
      const ep = s.node.endpoint;
      if (ep instanceof SgNode) out.push(ep);
    }
    return out;
  }

  // ---- faults ----

  /** Schedule a fault at world time `at`. */
  fault(at: Instant | Duration, f: FaultAction): void {
    // Resolve names now so a typo fails at build time, not mid-run.
    faultEntry<SimFault<FaultKind>>(SIM_FAULTS, f.kind).check(this, f);
    this.world.at(at as Instant, () => this.apply(f));
  }

  /** Apply a fault now. */
  apply(f: FaultAction): void {
    faultEntry<SimFault<FaultKind>>(SIM_FAULTS, f.kind).apply(this, f);
  }

  /** Run until world time `until` (an event budget guards against runaway runs). */
  run(until: Instant | Duration, maxEvents = 1e9): void {
    const r = this.world.kernel.run({ until: until as Instant, maxEvents });
    if (r.reason === 'budget') throw new Error(`simulation exceeded ${maxEvents} events before ${until}us`);
  }
}

/**
 * The simulator's executor of a fault kind: `check` resolves its names when it is scheduled (a
 * typo fails at build time, not mid-run), `apply` does it at its time. Most faults are traced by
 * the device they hit (an SG node's crash, a link's carrier as a 'state' event); the faults no
 * device traces are traced here, with the declaration's `what` and `target`.
 */
interface SimFault<K extends FaultKind> {
  check(net: Network, f: FaultOf<K>): void;
  apply(net: Network, f: FaultOf<K>): void;
}

const traced = (net: Network, f: FaultAction, detail?: string): void => {
  const w = net.world;
  w.emit({ kind: 'fault', t: w.now, what: faultWhat(f), target: faultTarget(f), ...(detail !== undefined ? { detail } : {}) });
};
const hostOrNode = (net: Network, f: { readonly host: string }): void => {
  if (!net.sgNodes.has(f.host)) net.getHost(f.host);
};
const sgNodeOnly = (net: Network, f: { readonly kind: string; readonly host: string }): void => {
  if (!net.sgNodes.has(f.host)) throw new Error(`${f.kind}: no SG node '${f.host}'`);
};
const service = (net: Network, f: { readonly host: string; readonly service: string }): void => {
  net.getHost(f.host).service(f.service);
};
const link = (net: Network, f: { readonly link: string }): void => {
  net.getLink(f.link);
};
const nothing = (): void => {};
/** Each SG node that has `group` with `server`: the group's and the server's indices there. */
const onServer = (net: Network, f: { readonly group: string; readonly server: string }, fn: (e: SgNode, gi: number, si: number) => void): void => {
  for (const e of net.engines()) {
    const gi = e.groupIndex(f.group);
    const si = gi < 0 ? -1 : e.cfg.groups[gi]!.servers.findIndex((s) => s.name === f.server);
    if (si >= 0) fn(e, gi, si);
  }
};
/** A service fault: traced here (real mode writes the same event), then done. */
const serviceFault = (act: (svc: Service) => void) => (net: Network, f: FaultOf<'kill' | 'hang' | 'start'>): void => {
  traced(net, f);
  act(net.getHost(f.host).service(f.service));
};

export const SIM_FAULTS = {
  crash: {
    check: hostOrNode,
    apply: (net, f) => {
      const sg = net.sgNodes.get(f.host);
      return sg ? sg.node.crash() : net.getHost(f.host).crash();
    },
  },
  restart: {
    check: hostOrNode,
    apply: (net, f) => {
      const sg = net.sgNodes.get(f.host);
      return sg ? sg.node.restart(sg.make) : net.getHost(f.host).restart();
    },
  },
  signal: { check: sgNodeOnly, apply: (net, f) => net.sgNodes.get(f.host)!.node.signal('signal', (ep, now) => (ep as SgNode).resign(now)) },
  'watched-down': { check: sgNodeOnly, apply: (net, f) => net.sgNodes.get(f.host)!.node.signal(f.kind, (ep, now) => (ep as SgNode).watchedProcess(now, false)) },
  'watched-up': { check: sgNodeOnly, apply: (net, f) => net.sgNodes.get(f.host)!.node.signal(f.kind, (ep, now) => (ep as SgNode).watchedProcess(now, true)) },
  kill: { check: service, apply: serviceFault((svc) => svc.kill()) },
  hang: { check: service, apply: serviceFault((svc) => svc.hang()) },
  start: { check: service, apply: serviceFault((svc) => svc.start()) },
  'link-down': { check: link, apply: (net, f) => net.getLink(f.link).setUp(false) },
  'link-up': { check: link, apply: (net, f) => net.getLink(f.link).setUp(true) },
  partition: {
    check: (net, f) => {
      for (const g of f.groups) for (const n of g) if (!net.hosts.has(n) && !net.switches.has(n) && !net.sgNodes.has(n)) throw new Error(`partition: no node '${n}'`);
    },
    apply: (net, f) => net.world.setPartition(f.groups),
  },
  heal: { check: nothing, apply: (net) => net.world.healPartition() },
  loss: {
    check: link,
    apply: (net, f) => {
      traced(net, f, `p=${f.p} for ${f.duration}us`);
      net.getLink(f.link).lossBurst(f.p, f.duration);
    },
  },
  delay: {
    check: link,
    apply: (net, f) => {
      traced(net, f, `+${f.extra}us for ${f.duration}us`);
      net.getLink(f.link).delaySpike(f.extra, f.duration);
    },
  },
  'clock-rate': {
    check: hostOrNode,
    apply: (net, f) => {
      const sg = net.sgNodes.get(f.host);
      return sg ? sg.node.setClockRate(f.rate) : net.getHost(f.host).host.setClockRate(f.rate);
    },
  },
  'clock-stall': {
    check: hostOrNode,
    apply: (net, f) => {
      const sg = net.sgNodes.get(f.host);
      // An SG node's stall is a process pause (its clock keeps running; a crash ends it).
      return sg ? sg.node.stall(f.duration) : net.getHost(f.host).host.stallClock(f.duration);
    },
  },
  // Every running engine that has the server, directly (real mode sends the feedback command).
  'server-state': { check: nothing, apply: (net, f) => onServer(net, f, (e, gi, si) => e.setServerState(gi, si, f.state)) },
  counter: { check: nothing, apply: (net, f) => onServer(net, f, (e, gi, si) => e.reportCounter(gi, si, f.value)) },
} satisfies { readonly [K in FaultKind]: SimFault<K> };

export { ifaceName, seconds };
