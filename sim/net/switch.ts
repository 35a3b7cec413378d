/**
 * A learning L2 switch (an 802.1D bridge without spanning tree) with optional IGMP snooping
 * (`IgmpSnoopingOptions`) and an optional IGMPv2 querier (`IgmpQuerierOptions`), after the Linux
 * bridge (`multicast_snooping`, `multicast_querier`) and RFC 4541.
 *
 * Ports are `Device`s: `addPort()` returns one to plug a `Link` into. Forwarding:
 * - The source MAC of every frame is learned on its ingress port (a station move re-learns it).
 *   Entries age out `macAging` after the last frame from that address (default 300 s; checked
 *   when an entry is used, so aging needs no timer). At most `macTableMax` addresses; when full,
 *   new ones are not learned (traffic to them floods, like a CAM overflow; `counters.tableFull`).
 * - Known unicast goes out of the learned port only (or is filtered when that is the ingress
 *   port); unknown unicast, broadcast and multicast are flooded to every other enabled port.
 * - Frames with a group or all-zero source address, and runts, are dropped and counted.
 * - Flooded frames are copied (every receiver owns its frame); a frame going out of one port is
 *   passed on as it is. `forwardingLatency` delays every forwarding decision.
 *
 * Faults: `setPortEnabled(port, false)` blocks a port (isolating ports partitions the segment)
 * and flushes its MAC entries, memberships and router state. The link's carrier stays up:
 * `Link.setUp(false)` is a cable pull, which the switch does not watch (entries behind it age
 * out). Membership and router-port changes are traced as 'state' events (machines
 * 'igmp-member', 'igmp-router'); with frame tracing on, bad input also gives 'drop' events
 * (layer 'switch').
 */

import { fnv1a32 } from '../../src/rng.ts';
import { ifaceName, type IfaceName } from '../../src/port.ts';
import { seconds, type Duration, type Instant } from '../../src/time.ts';
import { DROP_REASONS, type DropReason, type Machine } from '../../src/trace.ts';
import {
  formatIpv4,
  isMulticastIpv4,
  MAC_BROADCAST,
  multicastMac,
  readIpv4,
  readMac,
  readU16,
  type Ipv4Addr,
  type MacAddr,
} from '../../src/wire/addr.ts';
import { ETHERTYPE, ethernetHeaderLength, ETH_HEADER_LEN } from '../../src/wire/ethernet.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IGMP_ALL_SYSTEMS, IGMP_RECORD, igmpMaxRespDeciseconds, parseIgmp, type IgmpMessage } from '../../src/wire/igmp.ts';
import { IP_PROTO, parseIpv4 } from '../../src/wire/ipv4.ts';
import { assert, assertNever } from '../../src/assert.ts';
import { KeyedTimers } from '../../src/timers.ts';
import type { EventId, Kernel } from '../kernel.ts';
import type { Attachment, Device, World } from '../world.ts';

/** Ports one switch may have; port indexes are 1..SWITCH_PORTS_MAX. */
export const SWITCH_PORTS_MAX = 4095;
export const SWITCH_MAC_AGING_DEFAULT = seconds(300);
export const SWITCH_MAC_TABLE_MAX_DEFAULT = 8_192;
export const SWITCH_MTU_DEFAULT = 1_500;
export const IGMP_QUERY_INTERVAL_DEFAULT = seconds(125);
export const IGMP_QUERY_RESPONSE_INTERVAL_DEFAULT = seconds(10);
export const IGMP_ROBUSTNESS_DEFAULT = 2;
export const IGMP_LAST_MEMBER_QUERY_INTERVAL_DEFAULT = seconds(1);
/** (group, port) memberships the snooping table holds at most (Linux's mdb hash_max). */
export const IGMP_MEMBERSHIPS_MAX_DEFAULT = 4_096;
/** Largest robustness variable and startup query count we accept. */
export const IGMP_ROBUSTNESS_MAX = 7;

/** Key span per group in the timer table: router-port timers use keys 1..SWITCH_PORTS_MAX. */
const KEY_SPAN = SWITCH_PORTS_MAX + 1;
const DSCP_CS6 = 48;
const LINK_LOCAL_MASK = 0xffffff00;
const LINK_LOCAL_NET = 0xe0000000;
const DECISECOND_US = 100_000;

export type SwitchDropReason = DropReason<'switch'>;
export const SWITCH_DROP_REASONS: readonly SwitchDropReason[] = DROP_REASONS.switch;

/** 'auto': a router port while queries arrive on it; 'permanent': always; 'disabled': never. */
export type RouterPortMode = 'auto' | 'permanent' | 'disabled';

/**
 * IGMP snooping: IPv4 multicast forwarded by group address.
 * - Membership is learned per (group, port) from IGMPv1/v2 reports and IGMPv3 reports
 *   (IS_EX / TO_EX / ALLOW / IS_IN and TO_IN with sources join; IS_IN / TO_IN with no sources
 *   leave; BLOCK is ignored: no source filtering) and lasts `membershipTimeout`.
 * - A v2 leave shortens the port's membership to last-member-query-count * interval (2 * 1 s);
 *   when this switch is the active querier it also sends that many group-specific queries out
 *   of that port. With `fastLeave` the membership ends at once. A group-specific query from
 *   another querier shortens that group's memberships the same way (as Linux does), so a leave
 *   seen by an external querier is honoured too.
 * - Router ports get all multicast: a port where a query with a non-zero source arrives is a
 *   router port for `routerTimeout`; a port may also be 'permanent' or 'disabled'
 *   (`setRouterPort`).
 * - Data to a group goes to its member ports plus the router ports (to the router ports only
 *   when it has no members); 224.0.0.0/24 (link-local) is always flooded.
 * - Queries are flooded; reports and leaves go to router ports only (RFC 4541 2.1.1, so that
 *   hosts do not suppress each other's reports and every member port is learned). Malformed IGMP
 *   is dropped ('bad-igmp').
 */
export interface IgmpSnoopingOptions {
  /** Default robustness * query interval + query response interval (260 s). */
  readonly membershipTimeout?: Duration;
  /** How long a port stays a router port after a query (default 255 s). */
  readonly routerTimeout?: Duration;
  /** Default 2. */
  readonly robustness?: number;
  /** Default 1 s. */
  readonly lastMemberQueryInterval?: Duration;
  /** Default: the robustness. */
  readonly lastMemberQueryCount?: number;
  /** End a membership as soon as a leave arrives; default false. */
  readonly fastLeave?: boolean;
  /** Bound on (group, port) memberships; default `IGMP_MEMBERSHIPS_MAX_DEFAULT`. */
  readonly membershipsMax?: number;
}

/**
 * The querier: IGMPv2 general queries from `source` (TTL 1, Router Alert) out of every enabled
 * port: `startupCount` queries `interval / 4` apart from creation, then one every `interval`.
 * When a query from a lower source address arrives, it stays silent for the
 * other-querier-present interval (255 s) after the last such query (RFC 2236 querier election).
 */
export interface IgmpQuerierOptions {
  /** Source address of the queries (the querier's IP). */
  readonly source: Ipv4Addr;
  /** Query interval, default 125 s. */
  readonly interval?: Duration;
  /** Max response time in queries, default 10 s (whole deciseconds, at most 25.5 s). */
  readonly maxResponse?: Duration;
  /** Queries sent interval / 4 apart at start, default the robustness (2). */
  readonly startupCount?: number;
}

export interface SwitchOptions {
  /** The bridge's own MAC (source of its queries); port i gets mac + i. Default from the name. */
  readonly mac?: MacAddr;
  readonly macAging?: Duration;
  readonly macTableMax?: number;
  /** Delay of every forwarding decision; default 0 (store-and-forward is in the links' timing). */
  readonly forwardingLatency?: Duration;
  readonly mtu?: number;
  /** true or options: snoop IGMP. Default off: multicast is flooded. */
  readonly igmpSnooping?: boolean | IgmpSnoopingOptions;
  readonly querier?: IgmpQuerierOptions;
}

export interface SwitchCounters {
  rxFrames: number;
  /** Frames handed to a port's link (accepted). */
  txFrames: number;
  /** Known unicast sent out of one port. */
  forwarded: number;
  /** Frames flooded (unknown unicast, broadcast, unsnooped multicast). */
  flooded: number;
  /** Multicast sent to member and router ports by the snooping table. */
  snooped: number;
  /** Unicast to an address learned on the ingress port: not forwarded. */
  filtered: number;
  dropped: Record<SwitchDropReason, number>;
  learned: number;
  moved: number;
  aged: number;
  tableFull: number;
  igmpReports: number;
  igmpLeaves: number;
  igmpQueries: number;
  queriesSent: number;
  /** Joins refused because the snooping table was full. */
  membershipsFull: number;
}

export interface PortCounters {
  rxFrames: number;
  txFrames: number;
  /** Frames the port's link refused (queue full, carrier down) or that had no link. */
  txRejected: number;
}

export interface MacTableEntry {
  readonly mac: MacAddr;
  readonly port: SwitchPort;
  /** Time since the last frame from this address. */
  readonly age: Duration;
}

interface MacEntry {
  port: SwitchPort;
  seen: number;
}

type Receive = (port: SwitchPort, frame: Uint8Array) => void;

/** One port: a `Device` owned by the switch. */
export class SwitchPort implements Device {
  readonly node: string;
  readonly name: IfaceName;
  readonly mac: MacAddr;
  readonly mtu: number;
  /** 1-based. */
  readonly index: number;
  attachment: Attachment | undefined = undefined;
  readonly counters: PortCounters = { rxFrames: 0, txFrames: 0, txRejected: 0 };
  enabled = true;
  routerMode: RouterPortMode = 'auto';
  readonly #receive: Receive;

  constructor(node: string, name: IfaceName, mac: MacAddr, mtu: number, index: number, receive: Receive) {
    this.node = node;
    this.name = name;
    this.mac = mac;
    this.mtu = mtu;
    this.index = index;
    this.#receive = receive;
  }

  deliver(frame: Uint8Array): void {
    this.#receive(this, frame);
  }
}

interface Snooping {
  readonly membershipTimeout: number;
  readonly routerTimeout: number;
  readonly lastMemberQueryInterval: number;
  readonly lastMemberQueryCount: number;
  readonly fastLeave: boolean;
  readonly membershipsMax: number;
}

interface Querier {
  readonly source: Ipv4Addr;
  readonly interval: number;
  readonly maxRespDs: number;
  readonly startupCount: number;
  /** Other querier present interval. */
  readonly otherPresent: number;
}

function isLinkLocalGroup(g: number): boolean {
  return (g & LINK_LOCAL_MASK) >>> 0 === LINK_LOCAL_NET;
}

function checkDuration(d: number, what: string): void {
  assert(Number.isSafeInteger(d) && d >= 0, `${what} must be whole µs >= 0, got ${d}`);
}

export class Switch {
  readonly name: string;
  /** The bridge's own address. */
  readonly mac: MacAddr;
  readonly macAging: Duration;
  readonly macTableMax: number;
  readonly forwardingLatency: Duration;
  readonly mtu: number;
  readonly #world: World;
  readonly #kernel: Kernel;
  readonly #tracing: boolean;
  readonly #ports: SwitchPort[] = [];
  readonly #table = new Map<number, MacEntry>();
  readonly #c: SwitchCounters = {
    rxFrames: 0,
    txFrames: 0,
    forwarded: 0,
    flooded: 0,
    snooped: 0,
    filtered: 0,
    dropped: { 'port-disabled': 0, truncated: 0, 'bad-source': 0, 'bad-igmp': 0 },
    learned: 0,
    moved: 0,
    aged: 0,
    tableFull: 0,
    igmpReports: 0,
    igmpLeaves: 0,
    igmpQueries: 0,
    queriesSent: 0,
    membershipsFull: 0,
  };
  /** Reused list of output ports for one frame. */
  readonly #out: SwitchPort[] = [];
  readonly #receive: Receive = (port, frame) => this.#onFrame(port, frame);

  // Snooping state: group -> member port indexes; deadlines of memberships and router ports.
  readonly #snoop: Snooping | undefined;
  readonly #groups = new Map<number, Set<number>>();
  #memberships = 0;
  readonly #timers: KeyedTimers<number> | undefined;
  #timerEvent: EventId | undefined = undefined;
  #timerAt = 0;
  readonly #onTimer = (): void => this.#expire();

  readonly #querier: Querier | undefined;
  #otherQuerierUntil = 0;
  #queryTicks = 0;

  constructor(world: World, name: string, opts: SwitchOptions = {}) {
    world.claimName(name);
    this.name = name;
    this.#world = world;
    this.#kernel = world.kernel;
    this.#tracing = world.traceFrames;
    this.mac = opts.mac ?? ((0x020000000000 + (fnv1a32(name) & 0xffffff) * 0x10000) as MacAddr);
    this.macAging = opts.macAging ?? SWITCH_MAC_AGING_DEFAULT;
    checkDuration(this.macAging, 'macAging');
    this.macTableMax = opts.macTableMax ?? SWITCH_MAC_TABLE_MAX_DEFAULT;
    assert(Number.isSafeInteger(this.macTableMax) && this.macTableMax > 0, `macTableMax must be a positive integer`);
    this.forwardingLatency = opts.forwardingLatency ?? (0 as Duration);
    checkDuration(this.forwardingLatency, 'forwardingLatency');
    this.mtu = opts.mtu ?? SWITCH_MTU_DEFAULT;

    const q = opts.querier;
    const interval = q?.interval ?? IGMP_QUERY_INTERVAL_DEFAULT;
    const maxResponse = q?.maxResponse ?? IGMP_QUERY_RESPONSE_INTERVAL_DEFAULT;
    checkDuration(interval, 'querier interval');
    assert(interval > 0, 'querier interval must be positive');
    const maxRespDs = Math.round(maxResponse / DECISECOND_US);
    assert(maxRespDs * DECISECOND_US === maxResponse && maxRespDs >= 1 && maxRespDs <= 255, `querier maxResponse must be 0.1..25.5 s in whole deciseconds, got ${maxResponse}us`);
    const s = opts.igmpSnooping === true ? {} : opts.igmpSnooping === false ? undefined : opts.igmpSnooping;
    const robustness = s?.robustness ?? IGMP_ROBUSTNESS_DEFAULT;
    assert(Number.isInteger(robustness) && robustness >= 1 && robustness <= IGMP_ROBUSTNESS_MAX, `robustness must be 1..${IGMP_ROBUSTNESS_MAX}`);
    const otherPresent = robustness * interval + Math.floor(maxResponse / 2);
    if (s !== undefined) {
      const snoop: Snooping = {
        membershipTimeout: s.membershipTimeout ?? robustness * interval + maxResponse,
        routerTimeout: s.routerTimeout ?? otherPresent,
        lastMemberQueryInterval: s.lastMemberQueryInterval ?? IGMP_LAST_MEMBER_QUERY_INTERVAL_DEFAULT,
        lastMemberQueryCount: s.lastMemberQueryCount ?? robustness,
        fastLeave: s.fastLeave ?? false,
        membershipsMax: s.membershipsMax ?? IGMP_MEMBERSHIPS_MAX_DEFAULT,
      };
      checkDuration(snoop.membershipTimeout, 'membershipTimeout');
      checkDuration(snoop.routerTimeout, 'routerTimeout');
      checkDuration(snoop.lastMemberQueryInterval, 'lastMemberQueryInterval');
      assert(Number.isInteger(snoop.lastMemberQueryCount) && snoop.lastMemberQueryCount >= 1 && snoop.lastMemberQueryCount <= IGMP_ROBUSTNESS_MAX, 'lastMemberQueryCount out of range');
      assert(Number.isSafeInteger(snoop.membershipsMax) && snoop.membershipsMax > 0, 'membershipsMax must be a positive integer');
      this.#snoop = snoop;
      this.#timers = new KeyedTimers<number>({ maxEntries: snoop.membershipsMax + SWITCH_PORTS_MAX });
    } else {
      this.#snoop = undefined;
      this.#timers = undefined;
    }
    if (q !== undefined) {
      const startupCount = q.startupCount ?? robustness;
      assert(Number.isInteger(startupCount) && startupCount >= 1 && startupCount <= IGMP_ROBUSTNESS_MAX, 'startupCount out of range');
      this.#querier = { source: q.source, interval, maxRespDs, startupCount, otherPresent };
      world.at(world.now, () => this.#queryTick());
    } else {
      this.#querier = undefined;
    }
  }

  /** Live counters. */
  get counters(): Readonly<SwitchCounters> {
    return this.#c;
  }

  get ports(): readonly SwitchPort[] {
    return this.#ports;
  }

  /** A new port (named `port<i>` unless given), to attach a link to. */
  addPort(name?: string): SwitchPort {
    const index = this.#ports.length + 1;
    assert(index <= SWITCH_PORTS_MAX, `switch ${this.name}: more than ${SWITCH_PORTS_MAX} ports`);
    const pname = ifaceName(name ?? `port${index}`);
    assert(!this.#ports.some((p) => p.name === pname), `switch ${this.name}: duplicate port name ${pname}`);
    const port = new SwitchPort(this.name, pname, (this.mac + index) as MacAddr, this.mtu, index, this.#receive);
    this.#ports.push(port);
    return port;
  }

  /** The port with this name or index (1-based). */
  port(which: string | number): SwitchPort {
    const p = typeof which === 'number' ? this.#ports[which - 1] : this.#ports.find((x) => x.name === which);
    assert(p !== undefined, `switch ${this.name}: no port ${which}`);
    return p;
  }

  // ---- faults and configuration ----

  /** Block or unblock a port; blocking flushes its MAC entries, memberships and router state. */
  setPortEnabled(port: SwitchPort, enabled: boolean): void {
    this.#own(port);
    if (port.enabled === enabled) return;
    port.enabled = enabled;
    this.#state(`${this.name}:${port.name}`, 'switch-port', enabled ? 'disabled' : 'enabled', enabled ? 'enabled' : 'disabled', 'admin');
    if (enabled) return;
    this.flushMacs(port);
    if (this.#timers !== undefined) {
      for (const [group, members] of [...this.#groups]) {
        if (members.has(port.index)) this.#removeMember(group, port, 'port-disabled');
      }
      if (this.#timers.clear(port.index)) this.#routerChanged(port, false, 'port-disabled');
      this.#armTimer();
    }
  }

  /** Router-port mode of a port (snooping only). */
  setRouterPort(port: SwitchPort, mode: RouterPortMode): void {
    this.#own(port);
    const was = this.isRouterPort(port);
    port.routerMode = mode;
    if (mode !== 'auto' && this.#timers !== undefined) {
      this.#timers.clear(port.index);
      this.#armTimer();
    }
    const is = this.isRouterPort(port);
    if (was !== is) this.#routerChanged(port, is, 'admin');
  }

  isRouterPort(port: SwitchPort): boolean {
    if (this.#timers === undefined) return false;
    return port.routerMode === 'permanent' || (port.routerMode === 'auto' && this.#timers.has(port.index));
  }

  /** Forget every address learned on `port`, or every address. */
  flushMacs(port?: SwitchPort): void {
    for (const [m, e] of [...this.#table]) if (port === undefined || e.port === port) this.#table.delete(m);
  }

  // ---- inspection ----

  /** The port `mac` was learned on, if the entry is live. */
  lookup(mac: MacAddr): SwitchPort | undefined {
    const e = this.#table.get(mac);
    return e !== undefined && this.#kernel.now - e.seen < this.macAging ? e.port : undefined;
  }

  /** Live MAC table entries, by address. */
  macTable(): MacTableEntry[] {
    const now = this.#kernel.now;
    const out: MacTableEntry[] = [];
    for (const [m, e] of this.#table) {
      if (now - e.seen < this.macAging) out.push({ mac: m as MacAddr, port: e.port, age: (now - e.seen) as Duration });
    }
    return out.sort((x, y) => x.mac - y.mac);
  }

  /** Member ports of a group (snooping), in port order. */
  members(group: Ipv4Addr): SwitchPort[] {
    const m = this.#groups.get(group);
    return m === undefined ? [] : [...m].sort((x, y) => x - y).map((i) => this.#ports[i - 1]!);
  }

  /** Groups with at least one member port, ascending. */
  groups(): Ipv4Addr[] {
    return [...this.#groups.keys()].sort((x, y) => x - y) as Ipv4Addr[];
  }

  // ---- the data path ----

  #onFrame(port: SwitchPort, frame: Uint8Array): void {
    const c = this.#c;
    c.rxFrames++;
    port.counters.rxFrames++;
    if (!port.enabled) {
      c.dropped['port-disabled']++;
      return;
    }
    if (frame.length < ETH_HEADER_LEN) {
      this.#bad('truncated', port, `${frame.length} bytes`);
      return;
    }
    if ((frame[6]! & 1) !== 0) {
      this.#bad('bad-source', port, 'group source address');
      return;
    }
    const src = readMac(frame, 6);
    if (src === 0) {
      this.#bad('bad-source', port, 'zero source address');
      return;
    }
    const now = this.#kernel.now;
    const e = this.#table.get(src);
    if (e !== undefined) {
      if (e.port !== port) {
        e.port = port;
        c.moved++;
      }
      e.seen = now;
    } else {
      this.#learn(src, port, now);
    }
    if (this.forwardingLatency === 0) {
      this.#forward(port, frame, now);
      return;
    }
    this.#world.at((now + this.forwardingLatency) as Instant, () => {
      if (port.enabled) this.#forward(port, frame, this.#kernel.now);
    }, this.#world.cause);
  }

  #learn(src: number, port: SwitchPort, now: number): void {
    const table = this.#table;
    if (table.size >= this.macTableMax) {
      for (const [m, x] of table) {
        if (now - x.seen >= this.macAging) {
          table.delete(m);
          this.#c.aged++;
        }
      }
      if (table.size >= this.macTableMax) {
        this.#c.tableFull++;
        return;
      }
    }
    table.set(src, { port, seen: now });
    this.#c.learned++;
  }

  #forward(ingress: SwitchPort, frame: Uint8Array, now: number): void {
    if ((frame[0]! & 1) === 0) {
      const dst = readMac(frame, 0);
      const e = this.#table.get(dst);
      if (e !== undefined) {
        if (now - e.seen < this.macAging) {
          if (e.port === ingress) {
            this.#c.filtered++;
            return;
          }
          this.#c.forwarded++;
          this.#send(e.port, frame);
          return;
        }
        this.#table.delete(dst);
        this.#c.aged++;
      }
      this.#flood(ingress, frame);
      return;
    }
    if (this.#snoop !== undefined && readMac(frame, 0) !== MAC_BROADCAST) {
      this.#multicast(ingress, frame, now);
      return;
    }
    this.#flood(ingress, frame);
  }

  /** IPv4 multicast with snooping on; anything else is flooded. */
  #multicast(ingress: SwitchPort, frame: Uint8Array, now: number): void {
    const hl = ethernetHeaderLength(frame);
    if (hl === undefined || readU16(frame, hl - 2) !== ETHERTYPE.ipv4 || frame.length < hl + 20 || frame[hl]! >>> 4 !== 4) {
      this.#flood(ingress, frame);
      return;
    }
    if (frame[hl + 9] === IP_PROTO.igmp) {
      this.#igmp(ingress, frame, hl, now);
      return;
    }
    const group = readIpv4(frame, hl + 16);
    if (!isMulticastIpv4(group) || isLinkLocalGroup(group)) {
      this.#flood(ingress, frame);
      return;
    }
    const members = this.#groups.get(group);
    const out = this.#out;
    for (const p of this.#ports) {
      if (p !== ingress && p.enabled && (this.isRouterPort(p) || (members !== undefined && members.has(p.index)))) out.push(p);
    }
    this.#c.snooped++;
    this.#sendAll(frame);
  }

  #igmp(ingress: SwitchPort, frame: Uint8Array, hl: number, now: number): void {
    const ipr = parseIpv4(frame.subarray(hl));
    if (!ipr.ok) {
      this.#bad('bad-igmp', ingress, `ipv4 ${ipr.error.reason}`);
      return;
    }
    const r = parseIgmp(ipr.value.payload);
    if (!r.ok) {
      this.#bad('bad-igmp', ingress, `igmp ${r.error.reason}`);
      return;
    }
    const m = r.value;
    switch (m.kind) {
      case 'query':
      case 'v3-query':
        this.#c.igmpQueries++;
        this.#query(ingress, ipr.value.src, m, now);
        this.#flood(ingress, frame);
        return;
      case 'v1-report':
      case 'v2-report':
        this.#c.igmpReports++;
        this.#join(ingress, m.group, m.kind, now);
        break;
      case 'v3-report':
        this.#c.igmpReports++;
        for (const rec of m.records) {
          const leave = (rec.type === IGMP_RECORD.modeIsInclude || rec.type === IGMP_RECORD.changeToInclude) && rec.sources.length === 0;
          if (leave) this.#leave(ingress, rec.group, now);
          else if (rec.type !== IGMP_RECORD.blockOldSources) this.#join(ingress, rec.group, 'v3-report', now);
        }
        break;
      case 'leave':
        this.#c.igmpLeaves++;
        this.#leave(ingress, m.group, now);
        break;
      case 'unknown':
        this.#flood(ingress, frame);
        return;
      default:
        assertNever(m, 'igmp message');
    }
    // Reports and leaves: to router ports only.
    const out = this.#out;
    for (const p of this.#ports) if (p !== ingress && p.enabled && this.isRouterPort(p)) out.push(p);
    this.#sendAll(frame);
  }

  #query(ingress: SwitchPort, src: Ipv4Addr, m: Extract<IgmpMessage, { kind: 'query' | 'v3-query' }>, now: number): void {
    const snoop = this.#snoop!;
    const timers = this.#timers!;
    if (src !== 0) {
      if (ingress.routerMode === 'auto') {
        const was = this.isRouterPort(ingress);
        timers.set(ingress.index, (now + snoop.routerTimeout) as Instant);
        if (!was) this.#routerChanged(ingress, true, 'query');
      }
      const q = this.#querier;
      if (q !== undefined && src < q.source) this.#otherQuerierUntil = now + q.otherPresent;
    }
    if (m.group !== 0) {
      // Group-specific: members must answer within count * max response time.
      const code = m.kind === 'query' ? m.maxRespCode || 100 : igmpMaxRespDeciseconds(m.maxRespCode, true);
      const until = now + snoop.lastMemberQueryCount * code * DECISECOND_US;
      const members = this.#groups.get(m.group);
      if (members !== undefined) {
        for (const idx of members) {
          const key = m.group * KEY_SPAN + idx;
          if ((timers.get(key) ?? 0) > until) timers.set(key, until as Instant);
        }
      }
    }
    this.#armTimer();
  }

  #join(port: SwitchPort, group: Ipv4Addr, reason: string, now: number): void {
    if (!isMulticastIpv4(group) || isLinkLocalGroup(group)) return;
    const snoop = this.#snoop!;
    let members = this.#groups.get(group);
    const isNew = members === undefined || !members.has(port.index);
    if (isNew && this.#memberships >= snoop.membershipsMax) {
      this.#c.membershipsFull++;
      return;
    }
    if (members === undefined) {
      members = new Set();
      this.#groups.set(group, members);
    }
    this.#timers!.set(group * KEY_SPAN + port.index, (now + snoop.membershipTimeout) as Instant);
    if (isNew) {
      members.add(port.index);
      this.#memberships++;
      this.#state(this.#memberEntity(group, port), 'igmp-member', 'absent', 'member', reason);
    }
    this.#armTimer();
  }

  #leave(port: SwitchPort, group: Ipv4Addr, now: number): void {
    const members = this.#groups.get(group);
    if (members === undefined || !members.has(port.index)) return;
    const snoop = this.#snoop!;
    if (snoop.fastLeave) {
      this.#removeMember(group, port, 'leave');
      this.#armTimer();
      return;
    }
    const timers = this.#timers!;
    const key = group * KEY_SPAN + port.index;
    const until = now + snoop.lastMemberQueryCount * snoop.lastMemberQueryInterval;
    if ((timers.get(key) ?? 0) > until) timers.set(key, until as Instant);
    this.#armTimer();
    if (this.#isActiveQuerier(now)) {
      for (let i = 0; i < snoop.lastMemberQueryCount; i++) {
        this.#world.at((now + i * snoop.lastMemberQueryInterval) as Instant, () => {
          if (port.enabled && this.#groups.get(group)?.has(port.index) === true) this.#sendQuery(group, [port]);
        });
      }
    }
  }

  #removeMember(group: number, port: SwitchPort, reason: string): void {
    const members = this.#groups.get(group);
    if (members === undefined || !members.delete(port.index)) return;
    this.#memberships--;
    this.#timers!.clear(group * KEY_SPAN + port.index);
    if (members.size === 0) this.#groups.delete(group);
    this.#state(this.#memberEntity(group as Ipv4Addr, port), 'igmp-member', 'member', 'absent', reason);
  }

  /** Fire expired membership and router-port deadlines. */
  #expire(): void {
    this.#timerEvent = undefined;
    const timers = this.#timers!;
    for (const key of timers.popExpired(this.#kernel.now)) {
      if (key < KEY_SPAN) {
        const port = this.#ports[key - 1]!;
        if (port.routerMode === 'auto') this.#routerChanged(port, false, 'timeout');
        continue;
      }
      const idx = key % KEY_SPAN;
      const group = (key - idx) / KEY_SPAN;
      // popExpired already disarmed the key; removeMember's clear is a no-op.
      this.#removeMember(group, this.#ports[idx - 1]!, 'timeout');
    }
    this.#armTimer();
  }

  /** Keep one kernel event at the earliest snooping deadline. */
  #armTimer(): void {
    const next = this.#timers!.next();
    if (next === undefined) {
      if (this.#timerEvent !== undefined) this.#kernel.cancel(this.#timerEvent);
      this.#timerEvent = undefined;
      return;
    }
    if (this.#timerEvent !== undefined) {
      if (this.#timerAt === next.at) return;
      this.#kernel.cancel(this.#timerEvent);
    }
    this.#timerAt = next.at;
    this.#timerEvent = this.#world.at(next.at, this.#onTimer);
  }

  // ---- querier ----

  #isActiveQuerier(now: number): boolean {
    return this.#querier !== undefined && now >= this.#otherQuerierUntil;
  }

  #queryTick(): void {
    const q = this.#querier!;
    const now = this.#kernel.now;
    if (this.#isActiveQuerier(now)) this.#sendQuery(0 as Ipv4Addr, this.#ports);
    this.#queryTicks++;
    const next = this.#queryTicks < q.startupCount ? Math.floor(q.interval / 4) : q.interval;
    this.#world.at((now + next) as Instant, () => this.#queryTick());
  }

  /** An IGMPv2 query (general when `group` is 0) out of `ports`. */
  #sendQuery(group: Ipv4Addr, ports: readonly SwitchPort[]): void {
    const q = this.#querier!;
    const dst = group === 0 ? IGMP_ALL_SYSTEMS : group;
    const code = group === 0 ? q.maxRespDs : Math.round(this.#snoop!.lastMemberQueryInterval / DECISECOND_US);
    const frame = encodeFrame({
      eth: { dst: multicastMac(dst), src: this.mac },
      net: {
        kind: 'ipv4',
        ip: ipv4Header({
          src: q.source,
          dst,
          protocol: IP_PROTO.igmp,
          ttl: 1,
          dscp: DSCP_CS6,
          options: [{ kind: 'router-alert', value: 0 }],
        }),
        l4: { kind: 'igmp', igmp: { kind: 'query', maxRespCode: Math.min(255, code), group } },
      },
    });
    this.#c.queriesSent++;
    const out = this.#out;
    for (const p of ports) if (p.enabled) out.push(p);
    this.#sendAll(frame);
  }

  // ---- output ----

  #flood(ingress: SwitchPort, frame: Uint8Array): void {
    const out = this.#out;
    for (const p of this.#ports) if (p !== ingress && p.enabled) out.push(p);
    this.#c.flooded++;
    this.#sendAll(frame);
  }

  /** Send `frame` out of every port in `#out` (copies for all but the last) and clear it. */
  #sendAll(frame: Uint8Array): void {
    const out = this.#out;
    const n = out.length;
    for (let i = 0; i < n; i++) this.#send(out[i]!, i === n - 1 ? frame : frame.slice());
    out.length = 0;
  }

  #send(port: SwitchPort, frame: Uint8Array): void {
    const a = port.attachment;
    if (a !== undefined && a.send(frame)) {
      this.#c.txFrames++;
      port.counters.txFrames++;
    } else {
      port.counters.txRejected++;
    }
  }

  // ---- trace ----

  #bad(reason: SwitchDropReason, port: SwitchPort, detail: string): void {
    this.#c.dropped[reason]++;
    if (!this.#tracing) return;
    const w = this.#world;
    w.emit({
      kind: 'drop',
      t: w.now,
      ...(w.cause !== undefined ? { cause: w.cause } : {}),
      node: this.name,
      layer: 'switch',
      reason,
      detail: `${port.name}: ${detail}`,
    });
  }

  #state(entity: string, machine: Machine, from: string, to: string, reason: string): void {
    const w = this.#world;
    w.emit({
      kind: 'state',
      t: w.now,
      ...(w.cause !== undefined ? { cause: w.cause } : {}),
      node: this.name,
      entity,
      machine,
      from,
      to,
      reason,
    });
  }

  #routerChanged(port: SwitchPort, isRouter: boolean, reason: string): void {
    this.#state(`${this.name}:${port.name}`, 'igmp-router', isRouter ? 'no' : 'yes', isRouter ? 'yes' : 'no', reason);
  }

  #memberEntity(group: Ipv4Addr, port: SwitchPort): string {
    return `${this.name}:${port.name}:${formatIpv4(group)}`;
  }

  #own(port: SwitchPort): void {
    assert(this.#ports[port.index - 1] === port, `port ${port.node}:${port.name} does not belong to switch ${this.name}`);
  }
}
