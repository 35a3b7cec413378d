/**
 * An SG node: the virtual server's data plane (slides 4, 12, 14, 29) as a sans-IO `Endpoint`.
 *
 * The node owns its public address and the VIPs on its public interface, and its private address
 * (the real servers' default gateway) on its private interface. This file wires the parts around
 * the shared core (core.ts): ingress names what a frame is and the node hands it to its part
 * (nat, failover, multicast, health, local, egress for ARP); timers go to the part that set them.
 * It keeps the `Endpoint` methods and the admin calls.
 */

import type { GroupBalancer } from '../balance/balancer.ts';
import type { ServerState } from '../balance/types.ts';
import { Ctld } from '../ctl/ctld.ts';
import type { Bidd } from '../failover/bidd.ts';
import type { StateSync } from '../failover/sync.ts';
import type { HealthMonitor } from '../health/monitor.ts';
import type { LinkTable } from '../nat/linktable.ts';
import type { Endpoint, IfaceName, TxFrame } from '../port.ts';
import type { Duration, Instant } from '../time.ts';
import type { TraceSink } from '../trace.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import { assertNever } from '../assert.ts';
import type { ScriptCall, SgNodeConfig } from './config.ts';
import { NodeCore, type SgCounters } from './core.ts';
import { SgNodeTarget } from './ctl-target.ts';
import { Egress } from './egress.ts';
import { Failover } from './failover.ts';
import { Health } from './health.ts';
import type { IgmpHost } from './igmp-host.ts';
import { Ingress } from './ingress.ts';
import { Local } from './local.ts';
import { Multicast } from './multicast.ts';
import { NatPath } from './nat.ts';
import { Rw } from './rw.ts';
import { nodeStreams } from './streams.ts';
import type { Analyzer } from '../rw/analyzer.ts';
import { builtinAnalyzer } from '../rw/analyzers/index.ts';

export { SYNC_SNAPSHOT_BURST } from './failover.ts';
export { PROBES_PENDING_MAX } from './health.ts';
export { TX_QUEUE_MAX, type SgCounters } from './core.ts';

/** How often the link table's idle sweep runs, and how many entries it visits per run. */
export const SWEEP_INTERVAL_US = 100_000;
export const SWEEP_BUDGET = 20_000;

export class SgNode implements Endpoint {
  readonly cfg: SgNodeConfig;
  readonly #core: NodeCore;
  readonly #ingress: Ingress;
  readonly #egress: Egress;
  readonly #nat: NatPath;
  readonly #failover: Failover;
  readonly #multicast: Multicast;
  readonly #health: Health;
  readonly #local: Local;
  readonly #rw: Rw;
  /** SGctrld, when the config has a control port; `ctlTarget` also holds read-only flags and heartbeats. */
  readonly ctld: Ctld | undefined;
  readonly ctlTarget: SgNodeTarget | undefined;
  /** Balancer per group. */
  readonly balancers: readonly GroupBalancer[];
  /** Health monitor per group (undefined: no health checks for that group). */
  readonly monitors: readonly (HealthMonitor | undefined)[];

  /**
   * `incarnation` draws this process's incarnation on the group (a non-zero random u32; real mode
   * passes a cryptographic source, the simulator a generator split per boot); by default it comes
   * from the config's seed. `hashSeed` overrides the link table's hash seed (real mode passes a
   * random one); every other random stream is a named split of the config's seed (`streams.ts`).
   */
  /**
   * `analyzers[gi]`: the packet analyzer of a read/write group whose configuration names a
   * module (the caller loads it, src/real/load-analyzer.ts); a built-in one is made here. Each
   * is initialised here; an analyzer that refuses its group's configuration is an Error.
   */
  constructor(
    cfg: SgNodeConfig,
    opts: { trace?: TraceSink; now?: Instant; onScript?: (call: ScriptCall) => void; wallClockUs?: () => number; incarnation?: () => number; hashSeed?: number; analyzers?: readonly (Analyzer | undefined)[] } = {},
  ) {
    this.cfg = cfg;
    const streams = nodeStreams(cfg);
    const core = (this.#core = new NodeCore(cfg, opts.trace, opts.now ?? (0 as Instant), streams, opts.hashSeed));
    this.balancers = core.groups.map((g) => g.balancer);
    this.monitors = core.groups.map((g) => g.monitor);
    if (cfg.ctl !== undefined) {
      this.ctlTarget = new SgNodeTarget(this);
      this.ctld = new Ctld({ keys: cfg.ctl.keys, target: this.ctlTarget });
    } else {
      this.ctlTarget = undefined;
      this.ctld = undefined;
    }
    const egress = (this.#egress = new Egress(core));
    const multicast = (this.#multicast = new Multicast(core, egress, streams.igmp));
    const rw = (this.#rw = new Rw(
      core,
      egress,
      {
        readOnly: (gi) => this.ctlTarget?.readOnly(gi) ?? false,
        turnOff: (gi, k) => this.#writeFailed(gi, k),
        mismatch: (gi, k) => {
          const mon = core.groups[gi]!.monitor;
          if (mon === undefined) return;
          mon.writeMismatch(k, core.now);
          core.healthDirty = true;
        },
      },
      groupAnalyzers(cfg, opts.analyzers),
    ));
    const nat = (this.#nat = new NatPath(core, egress, rw));
    const failover = (this.#failover = new Failover(
      core,
      { egress, multicast, nat, ctlTarget: this.ctlTarget, setServerState: (g, s, st, now) => this.setServerState(g, s, st, now), onScript: opts.onScript },
      opts.incarnation ?? (() => streams.incarnation.u32()),
    ));
    const health = (this.#health = new Health(core, egress, (g, s) => failover.syncServer(g, s)));
    this.#local = new Local(core, egress, opts.wallClockUs);
    this.#ingress = new Ingress(core, {
      pubMacs: multicast.pubMacs,
      writeGroups: multicast.groups,
      vips: egress.vips,
      syncOn: failover.sync !== undefined,
      ctlPort: cfg.ctl?.port,
      probesPending: () => health.pending,
      probeMatch: (f, ihl, end, proto, src) => health.match(f, ihl, end, proto, src),
    });
    failover.start();
    if (core.active) multicast.join(true);
    if (egress.garpLeft > 0) core.timers.set('garp', core.now);
    core.timers.set('sweep', (core.now + SWEEP_INTERVAL_US) as Instant);
  }

  // ---- what the node shows ----

  get links(): LinkTable {
    return this.#core.links;
  }
  get counters(): SgCounters {
    return this.#core.counters;
  }
  /** The failover election (undefined: the node always serves). */
  get bidd(): Bidd | undefined {
    return this.#failover.bidd;
  }
  /** Stateful failover (undefined: off, or no failover). */
  get sync(): StateSync | undefined {
    return this.#failover.sync;
  }
  /** IGMPv2 membership on the public interface: the failover group always, the write groups while serving. */
  get igmp(): IgmpHost {
    return this.#multicast.igmp;
  }
  /** Whether this node serves the VIPs now: always without failover, else only while master. */
  get active(): boolean {
    return this.#core.active;
  }

  // ---- Endpoint ----

  handleFrame(now: Instant, iface: IfaceName, f: Uint8Array): void {
    const core = this.#core;
    core.advance(now);
    this.#failover.checkStall(now);
    core.counters.framesIn++;
    this.#frame(iface, f);
    if (core.healthDirty) this.#health.run(now);
  }

  #frame(iface: IfaceName, f: Uint8Array): void {
    const ing = this.#ingress;
    const kind = ing.classify(iface, f);
    switch (kind) {
      case 'client-to-vip':
        if (!this.#nat.inbound(f, ing.ihl, ing.end, ing.proto, ing.src, ing.dst)) this.#local.ping(ing.ifc, f, ing.ihl, ing.end, ing.proto, ing.src, ing.dst);
        return;
      case 'server-reply':
        if (this.#nat.outbound(f, ing.ihl, ing.end, ing.proto, ing.src, ing.dst)) return;
        // No link: a read/write group's reply (those groups keep requests, not links), or none.
        if (!(ing.proto === IP_PROTO.udp && this.#rw.outbound(f, ing.ihl, ing.end, ing.src, ing.dst))) this.#core.drop('nat', 'no-link');
        return;
      case 'arp':
        return this.#egress.arpIn(ing.ifc, f);
      case 'bidd':
        return this.#failover.biddIn(f, ing.ihl, ing.end);
      case 'sync':
        return this.#failover.syncIn(f, ing.ihl, ing.end);
      case 'igmp':
        return this.#multicast.igmpIn(f, ing.ihl, ing.end);
      case 'mcast-write':
        return this.#multicast.relay(f, ing.end, ing.proto);
      case 'probe-answer':
        return this.#health.answer(ing.probeKey, f, ing.ihl, ing.proto, ing.src);
      case 'control':
        return this.#local.control(this.ctld!, ing.ifc, f, ing.ihl, ing.end, ing.src, ing.dst);
      case 'local':
        return this.#local.ping(ing.ifc, f, ing.ihl, ing.end, ing.proto, ing.src, ing.dst);
      case 'standby':
        return this.#core.drop('nat', 'standby');
      case 'dropped':
        return;
      default:
        return assertNever(kind, 'frame kind');
    }
  }

  handleTimeout(now: Instant): void {
    const core = this.#core;
    core.advance(now);
    for (const t of core.timers.expired(now)) {
      switch (t) {
        case 'garp':
          this.#egress.garpTimeout(now);
          break;
        case 'arp':
          this.#egress.arpTimeout(now);
          break;
        case 'sweep':
          this.checkBounds();
          this.#sweep(now);
          core.timers.set('sweep', (now + SWEEP_INTERVAL_US) as Instant);
          break;
        case 'health':
          this.#health.timeout(now);
          break;
        case 'bidd':
          this.#failover.biddTimeout(now);
          break;
        case 'sync':
          this.#failover.syncTimeout(now);
          break;
        case 'igmp':
          this.#multicast.run(now);
          break;
        case 'drops':
          core.dropSummaries(now, false);
          break;
        case 'rw':
          this.#rw.timeout(now);
          break;
        default:
          assertNever(t, 'timer');
      }
    }
    this.#health.run(now);
    this.#egress.armArp();
  }

  pollTransmit(): TxFrame | undefined {
    return this.#core.poll();
  }

  pollTimeout(): Instant | undefined {
    return this.#core.timers.next()?.at;
  }

  /** The idle sweep (slide 29's timeouts), a bounded slice of the table per run. */
  #sweep(now: Instant): void {
    // A slave keeps the master's links until the master says they are gone (it sees none of
    // their packets); the links' idle clocks restart when it takes over.
    if (this.#failover.sync !== undefined && !this.#core.active) return;
    const idle = this.cfg.idle;
    this.#core.links.expire(
      now,
      (proto, state) => (state === 'closing' ? idle.tcpClosing : state === 'new' ? idle.unanswered : proto === IP_PROTO.tcp ? idle.tcp : proto === IP_PROTO.udp ? idle.udp : idle.icmp) as Duration,
      SWEEP_BUDGET,
      (info) => this.#nat.expired(info),
    );
  }

  /** Asserts every queue of the node is under its bound (the sweep checks it every run). */
  checkBounds(): void {
    this.#core.checkBounds();
    this.#egress.checkBounds();
    this.#health.checkBounds();
    this.#failover.sync?.checkBounds();
    this.#rw.checkBounds();
  }

  /** The read/write part (its pending writes and reads, which servers are behind). */
  get rw(): Rw {
    return this.#rw;
  }

  /** A member replied failure to a write (slide 15): turned off at once, until an admin or its own state request. */
  #writeFailed(gi: number, k: number): void {
    const core = this.#core;
    const g = core.groups[gi]!;
    if (g.monitor !== undefined) {
      g.monitor.writeFailed(k, core.now);
      core.healthDirty = true;
      return;
    }
    const from = g.balancer.state(k);
    if (from === 'dead') return;
    g.balancer.setState(k, 'dead', core.now);
    this.syncServer(gi, k);
    core.emit({ kind: 'state', t: core.now, node: this.cfg.name, entity: `${g.cfg.name}/${g.cfg.servers[k]!.name}`, machine: 'server', from, to: 'dead', reason: 'mcast: replied failure to a write' });
  }

  // ---- admin calls (the control plane and scenarios use these) ----

  /** `now`: the caller's time when it is ahead of the last frame's (an admin call between frames). */
  setServerState(group: number, server: number, state: ServerState, now?: Instant): void {
    const core = this.#core;
    const t = core.catchUp(now);
    const g = core.groups[group];
    if (g === undefined || server < 0 || server >= g.cfg.servers.length) return;
    // 'alive' from the server itself or an admin also says its data is whole (a read/write group's recovery, slide 45).
    if (state === 'alive') this.#rw.caughtUp(group, server);
    const from = g.balancer.state(server);
    if (from === state) return;
    if (g.monitor !== undefined) {
      // The monitor decides states from now on: an admin call is its latest event.
      this.#health.admin(group, server, state);
      return;
    }
    g.balancer.setState(server, state, t);
    this.syncServer(group, server);
    core.emit({ kind: 'state', t, node: this.cfg.name, entity: `${g.cfg.name}/${g.cfg.servers[server]!.name}`, machine: 'server', from, to: state, reason: 'admin' });
  }

  /**
   * Master: stream server `server` of `group` as it is now (state, and whether an admin holds
   * it) to the slaves. Called on every state change and by SGctrld when a hold changes.
   */
  syncServer(group: number, server: number): void {
    this.#failover.syncServer(group, server);
  }

  /** A heartbeat from a server (feedback protocol, slide 41). */
  heartbeat(group: number, server: number, now?: Instant): void {
    const t = this.#core.catchUp(now);
    const mon = this.#core.groups[group]?.monitor;
    if (mon === undefined) return;
    mon.heartbeat(server, t);
    this.#health.run(t);
  }

  reportCounter(group: number, server: number, value: number): void {
    this.#core.groups[group]?.balancer.counter(server, value, this.#core.now);
  }

  /** SIGHUP/SIGINT (slide 9): a graceful step-down that tells the others at once; the node then stays out. */
  resign(now: Instant): void {
    this.#failover.resign(this.#core.catchUp(now));
  }

  /** An interface's carrier went down or came back: a watched resource (keepalived's track_interface). */
  handleLinkState(now: Instant, iface: IfaceName, up: boolean): void {
    const t = this.#core.catchUp(now);
    const b = this.#failover.bidd;
    if (b === undefined || (iface !== this.cfg.public.name && iface !== this.cfg.private.name)) return;
    this.#core.emit({ kind: 'decision', t, node: this.cfg.name, what: up ? 'carrier-up' : 'carrier-down', detail: { iface, state: b.state } });
    this.#failover.watched(t, up, `link:${iface}`);
  }

  /** The watched service process (slide 6) died (`up` false) or runs again (`up` true). */
  watchedProcess(now: Instant, up: boolean): void {
    const t = this.#core.catchUp(now);
    const b = this.#failover.bidd;
    if (b === undefined) return;
    this.#core.emit({ kind: 'decision', t, node: this.cfg.name, what: up ? 'watched-up' : 'watched-down', detail: { state: b.state } });
    this.#failover.watched(t, up);
  }

  /**
   * Emit the drop summaries still pending (call at the end of a run or before stopping, at the
   * node's current time or later), so every drop the trace counts is in it.
   */
  finishTrace(now: Instant): void {
    const core = this.#core;
    core.dropSummaries(core.catchUp(now), true);
  }

  /** Group index by name (for admin calls), or -1. */
  groupIndex(name: string): number {
    return this.cfg.groups.findIndex((g) => g.name === name);
  }
}

/** Each read/write group's analyzer, initialised with the group's ports (undefined for read-any groups). */
function groupAnalyzers(cfg: SgNodeConfig, given: readonly (Analyzer | undefined)[] | undefined): (Analyzer | undefined)[] {
  return cfg.groups.map((g, gi) => {
    const m = g.model;
    if (m === undefined || m.kind === 'read-any') return undefined;
    const ref = m.writeAll.analyzer;
    const a = given?.[gi] ?? (ref.kind === 'builtin' ? builtinAnalyzer(ref.name) : undefined);
    if (a === undefined) throw new Error(`group ${g.name}: analyzer module ${ref.kind === 'module' ? ref.path : ref.name} was not loaded (the caller loads a module analyzer and passes it in)`);
    if (g.port === 'all') throw new Error(`group ${g.name}: model ${m.kind} needs one UDP port, not all`);
    const ports = [...new Set([g.port, ...g.servers.map((s) => s.port ?? (g.port as number))])];
    const init = a.init({ group: g.name, ports, options: {} });
    if (!init.ok) throw new Error(init.error);
    return a;
  });
}
