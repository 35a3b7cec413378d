/**
 * A multicast router in the manner of mrouted, as a module of a simulated host: IGMPv2 querier
 * (RFC 2236 section 7) on each of its interfaces ("vifs"), group membership learned per interface
 * from reports, and forwarding of multicast datagrams to every other vif with members. The vifs
 * are the host's interfaces when the router is made (or `config.vifs`).
 *
 * This is what slides 21-22 are about: after the router (re)starts it knows no members; it sends a
 * general query at once, but each member answers after a random delay of up to the query's Max
 * Response Time (10 s), so datagrams for a group are not forwarded until the first report
 * arrives. `MulticastRouter.restart()` (mrouted restart) or a host crash + restart both lose the
 * state and show that delay.
 *
 * No multicast routing protocol (no DVMRP/PIM): this is for topologies with one router between
 * subnets. The timers are at MrouterConfig, the forwarding rules at `forward`. The same module
 * runs the lab's router on real interfaces (`MrouterHost`, src/real/mrouter.ts).
 */

import type { IfaceName } from '../../src/port.ts';
import { seconds, type Duration, type Instant } from '../../src/time.ts';
import type { TraceEventInput } from '../../src/trace.ts';
import { formatIpv4, isMulticastIpv4, type Ipv4Addr } from '../../src/wire/addr.ts';
import { IGMP_ALL_SYSTEMS, IGMP_RECORD, type IgmpMessage } from '../../src/wire/igmp.ts';
import { Ipv4View, type Ipv4Header } from '../../src/wire/ipv4.ts';
import { assertNever } from '../../src/assert.ts';
import { isLinkLocalMulticast, type AddressSpec, type Cancel, type MulticastForwarder } from './host.ts';
import { inPrefix, type Route } from './route.ts';

export const MROUTER_QUERY_INTERVAL: Duration = seconds(125);
export const MROUTER_QUERY_RESPONSE_INTERVAL: Duration = seconds(10);
export const MROUTER_ROBUSTNESS = 2;
export const MROUTER_LAST_MEMBER_QUERY_INTERVAL: Duration = seconds(1);
/** Groups tracked per vif; reports for more are ignored (counted). */
export const MROUTER_GROUPS_PER_VIF_MAX = 4096;

/**
 * What the router needs of its host: a simulated `Host` is one; so is the lab's userspace router
 * over AF_PACKET (src/real/mrouter.ts), which runs this same module on real interfaces.
 */
export interface MrouterHost {
  readonly name: string;
  readonly up: boolean;
  readonly world: { readonly now: Instant; readonly cause: number | undefined; emit(ev: TraceEventInput): unknown };
  /** The host's local clock. */
  now(): Instant;
  timer(d: Duration, fn: () => void): Cancel;
  interface(name: string): { readonly name: IfaceName; readonly addrs: readonly AddressSpec[] } | undefined;
  interfaces(): readonly { readonly name: IfaceName }[];
  lookupRoute(dst: Ipv4Addr): Pick<Route, 'origin' | 'iface'> | undefined;
  setMulticastForwarder(fwd: MulticastForwarder | undefined): void;
  sendIgmp(iface: string, dst: Ipv4Addr, msg: IgmpMessage): void;
  /** A copy of a multicast datagram (IP bytes, TTL already set) out of `iface`. */
  sendMulticastCopy(iface: string, ip: Uint8Array): void;
}

/**
 * Timers (RFC 2236 8, defaults): Query Interval Q = 125 s; Query Response Interval 10 s;
 * Robustness 2; Startup Query Interval Q/4 and Startup Query Count 2 (queries at start,
 * +31.25 s, then every Q); Group Membership Interval = Robustness * Q + Query Response Interval
 * (260 s); Other Querier Present Interval = Robustness * Q + Query Response Interval / 2; Last
 * Member Query Interval 1 s, Count 2. Querier election: the lowest address on a link queries;
 * the others fall silent until they hear no query for the Other Querier Present Interval.
 * Non-queriers ignore leaves.
 */
export interface MrouterConfig {
  readonly queryInterval: Duration;
  /** Max Response Time carried in general queries (slide 21's 10 s). */
  readonly queryResponseInterval: Duration;
  readonly robustness: number;
  /** Default: queryInterval / 4. */
  readonly startupQueryInterval: Duration;
  /** Default: robustness. */
  readonly startupQueryCount: number;
  readonly lastMemberQueryInterval: Duration;
  /** Default: robustness. */
  readonly lastMemberQueryCount: number;
  /** Treat alias subnets as on the vif (mrouted `altnet`); default false, as slide 21. */
  readonly routeAliasSubnets: boolean;
  /** Minimum TTL a forwarded copy must keep (mrouted's vif threshold). */
  readonly ttlThreshold: number;
  /** Interfaces to run on (default: all of the host's interfaces at construction). */
  readonly vifs?: readonly string[];
}

export interface MrouterCounters {
  queriesSent: number;
  reportsHeard: number;
  leavesHeard: number;
  /** Copies sent. */
  forwarded: number;
  /** Datagrams with no member on any other vif. */
  noMembers: number;
  rpfFailed: number;
  ttlTooLow: number;
  notVif: number;
  groupsFull: number;
}

export interface MrouterMembershipView {
  readonly iface: IfaceName;
  readonly group: Ipv4Addr;
  /** Local-clock instant the membership times out. */
  readonly expiresAt: Instant;
  /** Last-member queries still to send (a leave is being processed). */
  readonly lastMemberQueriesLeft: number;
}

interface Vif {
  readonly name: IfaceName;
  querier: boolean;
  startupLeft: number;
  queryCancel: Cancel | undefined;
  otherQuerierCancel: Cancel | undefined;
}

interface Membership {
  readonly iface: IfaceName;
  readonly group: Ipv4Addr;
  expiresAt: Instant;
  cancel: Cancel | undefined;
  lmqLeft: number;
  lmqCancel: Cancel | undefined;
  /** A leave started the last-member queries (so an expiry is a leave, not a timeout). */
  leaving: boolean;
}

export class MulticastRouter implements MulticastForwarder {
  readonly host: MrouterHost;
  readonly config: MrouterConfig;
  readonly counters: MrouterCounters = {
    queriesSent: 0,
    reportsHeard: 0,
    leavesHeard: 0,
    forwarded: 0,
    noMembers: 0,
    rpfFailed: 0,
    ttlTooLow: 0,
    notVif: 0,
    groupsFull: 0,
  };
  readonly #vifs = new Map<IfaceName, Vif>();
  readonly #members = new Map<IfaceName, Map<Ipv4Addr, Membership>>();
  #running = false;

  constructor(host: MrouterHost, config: Partial<MrouterConfig> = {}) {
    this.host = host;
    const q = config.queryInterval ?? MROUTER_QUERY_INTERVAL;
    const robustness = config.robustness ?? MROUTER_ROBUSTNESS;
    this.config = {
      queryInterval: q,
      queryResponseInterval: MROUTER_QUERY_RESPONSE_INTERVAL,
      robustness,
      startupQueryInterval: Math.floor(q / 4) as Duration,
      startupQueryCount: robustness,
      lastMemberQueryInterval: MROUTER_LAST_MEMBER_QUERY_INTERVAL,
      lastMemberQueryCount: robustness,
      routeAliasSubnets: false,
      ttlThreshold: 1,
      ...config,
    };
    const names = this.config.vifs ?? host.interfaces().map((i) => i.name);
    for (const n of names) {
      const info = host.interface(n);
      if (info === undefined) throw new Error(`${host.name}: mrouter vif ${n} is not an interface`);
      this.#vifs.set(info.name, { name: info.name, querier: true, startupLeft: 0, queryCancel: undefined, otherQuerierCancel: undefined });
    }
    host.setMulticastForwarder(this);
    if (host.up) this.#start();
  }

  /** Group Membership Interval: Robustness * Q + Query Response Interval. */
  get membershipTimeout(): Duration {
    return (this.config.robustness * this.config.queryInterval + this.config.queryResponseInterval) as Duration;
  }

  /** Other Querier Present Interval: Robustness * Q + Query Response Interval / 2. */
  get otherQuerierPresentInterval(): Duration {
    return (this.config.robustness * this.config.queryInterval + Math.floor(this.config.queryResponseInterval / 2)) as Duration;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Restart the daemon (mrouted restart): all membership is lost; startup queries begin again. */
  restart(): void {
    this.#emit({ kind: 'fault', t: this.host.world.now, node: this.host.name, what: 'mrouter-restart', target: this.host.name });
    this.#stop();
    if (this.host.up) this.#start();
  }

  /** Stop routing and detach from the host. */
  detach(): void {
    this.#stop();
    this.host.setMulticastForwarder(undefined);
  }

  hasMembers(iface: string, group: Ipv4Addr): boolean {
    return this.#members.get(iface as IfaceName)?.has(group) === true;
  }

  memberships(): MrouterMembershipView[] {
    const out: MrouterMembershipView[] = [];
    for (const t of this.#members.values()) {
      for (const m of t.values()) out.push({ iface: m.iface, group: m.group, expiresAt: m.expiresAt, lastMemberQueriesLeft: m.lmqLeft });
    }
    return out;
  }

  isQuerier(iface: string): boolean {
    return this.#vifs.get(iface as IfaceName)?.querier === true;
  }

  // ---- MulticastForwarder ----

  hostCrashed(): void {
    this.#stop();
  }

  hostRestarted(): void {
    this.#start();
  }

  /**
   * An IGMP message heard on `iface`. IGMPv3 reports are understood as joins (any record but
   * TO_IN/IS_IN with no sources) or leaves.
   */
  igmpInput(iface: IfaceName, src: Ipv4Addr, _dst: Ipv4Addr, msg: IgmpMessage): void {
    if (!this.#running) return;
    const vif = this.#vifs.get(iface);
    if (vif === undefined) return;
    switch (msg.kind) {
      case 'query':
      case 'v3-query':
        this.#queryHeard(vif, src);
        return;
      case 'v1-report':
      case 'v2-report':
        this.#reportHeard(vif, msg.group, src);
        return;
      case 'leave':
        this.#leaveHeard(vif, msg.group);
        return;
      case 'v3-report':
        for (const r of msg.records) {
          const leaving = (r.type === IGMP_RECORD.changeToInclude || r.type === IGMP_RECORD.modeIsInclude) && r.sources.length === 0;
          if (leaving) this.#leaveHeard(vif, r.group);
          else this.#reportHeard(vif, r.group, src);
        }
        return;
      case 'unknown':
        return;
      default:
        assertNever(msg, 'igmp message');
    }
  }

  /**
   * A multicast datagram that arrived on `iface` (or that this host sent):
   * - Instead of DVMRP's tables, the reverse-path check accepts a datagram only on the vif
   *   where its source is: on a vif's subnet, or behind a static route through that vif.
   * - As slide 21 says of mrouted, the subnets of alias (secondary) addresses are not routed by
   *   default: only each vif's primary subnet counts as "on the vif". A source in an alias subnet
   *   (such as an SG node sending from its VIP) fails the reverse-path check unless
   *   `routeAliasSubnets` is set (mrouted's `altnet` configuration).
   * - A copy leaves with TTL - 1 and only when that is at least the vif's threshold (1), so a
   *   datagram sent with the default multicast TTL of 1 is never forwarded. 224.0.0.0/24 is never
   *   forwarded. Datagrams this host sends itself are forwarded too (as the kernel's multicast
   *   routing does for local senders).
   */
  forward(iface: IfaceName, ip: Uint8Array, header: Ipv4Header, _local: boolean): void {
    if (!this.#running) return;
    const group = header.dst;
    if (isLinkLocalMulticast(group)) return;
    if (!this.#vifs.has(iface)) {
      this.counters.notVif++;
      return;
    }
    if (header.ttl - 1 < this.config.ttlThreshold) {
      this.counters.ttlTooLow++;
      return;
    }
    if (!this.#rpfOk(iface, header.src)) {
      this.counters.rpfFailed++;
      return;
    }
    let copies = 0;
    for (const vif of this.#vifs.values()) {
      if (vif.name === iface || !this.hasMembers(vif.name, group)) continue;
      const copy = ip.slice();
      new Ipv4View(copy, 0).decrementTtl();
      this.host.sendMulticastCopy(vif.name, copy);
      copies++;
    }
    this.counters.forwarded += copies;
    if (copies === 0) this.counters.noMembers++;
  }

  // ---- querier ----

  #start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const vif of this.#vifs.values()) {
      vif.querier = true;
      vif.startupLeft = this.config.startupQueryCount;
      // At the current instant but after whatever is being handled (e.g. the rest of the setup).
      vif.queryCancel = this.host.timer(0 as Duration, () => this.#queryTick(vif));
    }
  }

  #stop(): void {
    this.#running = false;
    for (const vif of this.#vifs.values()) {
      vif.queryCancel?.();
      vif.otherQuerierCancel?.();
      vif.queryCancel = undefined;
      vif.otherQuerierCancel = undefined;
      vif.querier = true;
      vif.startupLeft = 0;
    }
    for (const t of this.#members.values()) {
      for (const m of t.values()) {
        m.cancel?.();
        m.lmqCancel?.();
      }
    }
    this.#members.clear();
  }

  #queryTick(vif: Vif): void {
    vif.queryCancel = undefined;
    if (!this.#running || !vif.querier) return;
    this.#sendQuery(vif, IGMP_ALL_SYSTEMS, 0 as Ipv4Addr, this.config.queryResponseInterval);
    let interval = this.config.queryInterval;
    if (vif.startupLeft > 0) {
      vif.startupLeft--;
      if (vif.startupLeft > 0) interval = this.config.startupQueryInterval;
    }
    vif.queryCancel = this.host.timer(interval, () => this.#queryTick(vif));
  }

  #sendQuery(vif: Vif, dst: Ipv4Addr, group: Ipv4Addr, maxResp: Duration): void {
    this.counters.queriesSent++;
    const code = Math.min(255, Math.max(1, Math.round(maxResp / 100_000)));
    this.host.sendIgmp(vif.name, dst, { kind: 'query', maxRespCode: code, group });
  }

  #queryHeard(vif: Vif, src: Ipv4Addr): void {
    const ours = this.host.interface(vif.name)?.addrs[0]?.addr;
    if (src === 0 || ours === undefined || src >= ours) return;
    if (vif.querier) {
      vif.querier = false;
      vif.queryCancel?.();
      vif.queryCancel = undefined;
      this.#querierState(vif, 'querier', 'non-querier', `query from ${formatIpv4(src)}`);
    }
    vif.otherQuerierCancel?.();
    vif.otherQuerierCancel = this.host.timer(this.otherQuerierPresentInterval, () => {
      vif.otherQuerierCancel = undefined;
      vif.querier = true;
      this.#querierState(vif, 'non-querier', 'querier', 'other querier present interval expired');
      this.#queryTick(vif);
    });
  }

  // ---- membership ----

  #reportHeard(vif: Vif, group: Ipv4Addr, src: Ipv4Addr): void {
    // Link-local groups (224.0.0.0/24, all-systems included) are never forwarded: not tracked.
    if (!isMulticastIpv4(group) || isLinkLocalMulticast(group)) return;
    this.counters.reportsHeard++;
    let t = this.#members.get(vif.name);
    if (t === undefined) {
      t = new Map();
      this.#members.set(vif.name, t);
    }
    let m = t.get(group);
    if (m === undefined) {
      if (t.size >= MROUTER_GROUPS_PER_VIF_MAX) {
        this.counters.groupsFull++;
        return;
      }
      m = { iface: vif.name, group, expiresAt: this.host.now(), cancel: undefined, lmqLeft: 0, lmqCancel: undefined, leaving: false };
      t.set(group, m);
      this.#membershipState(m, 'absent', 'present', `report from ${formatIpv4(src)}`);
    }
    m.lmqCancel?.();
    m.lmqCancel = undefined;
    m.lmqLeft = 0;
    m.leaving = false;
    this.#arm(m, this.membershipTimeout);
  }

  #leaveHeard(vif: Vif, group: Ipv4Addr): void {
    this.counters.leavesHeard++;
    const m = this.#members.get(vif.name)?.get(group);
    if (m === undefined || !vif.querier || m.leaving) return;
    m.leaving = true;
    m.lmqLeft = this.config.lastMemberQueryCount;
    const lmqi = this.config.lastMemberQueryInterval;
    this.#arm(m, (lmqi * this.config.lastMemberQueryCount) as Duration);
    const tick = (): void => {
      m.lmqCancel = undefined;
      if (m.lmqLeft <= 0) return;
      m.lmqLeft--;
      this.#sendQuery(vif, group, group, lmqi);
      if (m.lmqLeft > 0) m.lmqCancel = this.host.timer(lmqi, tick);
    };
    tick();
  }

  #arm(m: Membership, d: Duration): void {
    m.cancel?.();
    m.expiresAt = (this.host.now() + d) as Instant;
    m.cancel = this.host.timer(d, () => {
      m.cancel = undefined;
      m.lmqCancel?.();
      const t = this.#members.get(m.iface);
      if (t?.get(m.group) !== m) return;
      t.delete(m.group);
      this.#membershipState(m, 'present', 'absent', m.leaving ? 'leave' : 'timeout');
    });
  }

  // ---- reverse path ----

  /** Is `iface` the vif toward `src`? (See the module doc: primary subnets, then static routes.) */
  #rpfOk(iface: IfaceName, src: Ipv4Addr): boolean {
    for (const vif of this.#vifs.values()) {
      const addrs = this.host.interface(vif.name)?.addrs ?? [];
      const onLink = this.config.routeAliasSubnets ? addrs : addrs.slice(0, 1);
      if (onLink.some((a) => inPrefix(src, a.addr, a.prefixLen))) return vif.name === iface;
    }
    const r = this.host.lookupRoute(src);
    return r !== undefined && r.origin === 'static' && r.iface === iface;
  }

  // ---- trace ----

  #membershipState(m: Membership, from: string, to: string, reason: string): void {
    this.#emit({
      kind: 'state',
      t: this.host.world.now,
      node: this.host.name,
      entity: `${this.host.name}/${m.iface}/${formatIpv4(m.group)}`,
      machine: 'mroute-membership',
      from,
      to,
      reason,
    });
  }

  #querierState(vif: Vif, from: string, to: string, reason: string): void {
    this.#emit({
      kind: 'state',
      t: this.host.world.now,
      node: this.host.name,
      entity: `${this.host.name}/${vif.name}`,
      machine: 'igmp-querier',
      from,
      to,
      reason,
    });
  }

  #emit(ev: TraceEventInput): void {
    const cause = this.host.world.cause;
    this.host.world.emit(cause === undefined ? ev : ({ ...ev, cause } as TraceEventInput));
  }
}
