/**
 * A simulated host: the small OS network stack of clients, real servers and routers.
 *
 *   NIC (Device) --deliver--> Ethernet --> ARP (arp.ts)
 *                                      \-> IPv4 --> local: ICMP, UDP (udp.ts), TCP (seam), IGMP (igmp.ts)
 *                                               \-> forward (when `forwarding`), multicast forwarder (mrouter.ts)
 *
 * Decisions (each a choice a network engineer would expect; the ICMP, forwarding, clock, crash
 * and TCP rules are at #sendIcmpError, #forward, HostClock, crash() and setTcp):
 * - Bad input is counted and traced as a `drop` event with the parser's reason code and never
 *   throws. Frames arriving while the host is down are dropped as ('host', 'host-down').
 *   Normal filtering (another host's unicast MAC, a group we did not join) is only counted.
 * - Weak host model (Linux): a datagram to any of our addresses is accepted on any interface.
 *   ARP is answered only for addresses on the receiving interface (Linux arp_ignore=1), so a host
 *   on two subnets does not cause ARP flux.
 * - No fragmentation and no reassembly. A local datagram larger than the interface MTU is refused
 *   ('too-big', like EMSGSIZE); a forwarded one is dropped, with ICMP fragmentation needed
 *   (carrying the next-hop MTU) when DF is set, else counted as ('ipv4', 'too-big'). Received
 *   fragments are dropped as ('ipv4', 'unsupported').
 * - Multicast: sockets' multicast TTL defaults to 1 and loopback to on (BSD defaults). The NIC
 *   accepts group MACs of joined groups (and every group MAC when a multicast forwarder is set);
 *   the IP layer then filters on the group, since 32 groups share a MAC (slide 8).
 */

import type { ArpLimits } from '../../src/arp-limits.ts';
import type { IfaceName } from '../../src/port.ts';
import { ifaceName } from '../../src/port.ts';
import type { Rng } from '../../src/rng.ts';
import { fnv1a32 } from '../../src/rng.ts';
import { MICROS_PER_S, seconds, type Duration, type Instant } from '../../src/time.ts';
import { DropCounter } from '../../src/engine/drops.ts';
import type { DropLayer, DropReason, TraceEventInput } from '../../src/trace.ts';
import {
  formatIpv4,
  formatMac,
  IPV4_ANY,
  IPV4_BROADCAST,
  isMulticastIpv4,
  isMulticastMac,
  MAC_BROADCAST,
  MAC_ZERO,
  multicastMac,
  readIpv4,
  readMac,
  readU16,
  writeMac,
  writeU16,
  type Ipv4Addr,
  type MacAddr,
} from '../../src/wire/addr.ts';
import { ARP_OP, gratuitousArp, parseArp, type ArpPacket } from '../../src/wire/arp.ts';
import { ETH_HEADER_LEN, ETHERTYPE, parseEthernet } from '../../src/wire/ethernet.ts';
import { encodeFrame, ipv4Header, type Transport } from '../../src/wire/frame.ts';
import { ICMP_TYPE, ICMP_UNREACH, parseIcmp, quoteDatagram, type IcmpMessage } from '../../src/wire/icmp.ts';
import { IGMP_ALL_ROUTERS, IGMP_ALL_SYSTEMS, igmpMaxRespDeciseconds, parseIgmp, type IgmpMessage } from '../../src/wire/igmp.ts';
import {
  IP_PROTO,
  IPV4_FLAG,
  Ipv4View,
  parseIpv4,
  parseQuotedIpv4,
  type Ipv4Header,
  type Ipv4Option,
  type Ipv4Packet,
} from '../../src/wire/ipv4.ts';
import { assert, assertNever } from '../../src/assert.ts';
import type { ParseError } from '../../src/wire/result.ts';
import { parseTcp, TCP_FLAG, type TcpSegment } from '../../src/wire/tcp.ts';
import { parseUdp, type UdpDatagram } from '../../src/wire/udp.ts';
import type { EventId } from '../kernel.ts';
import type { Attachment, Device, World } from '../world.ts';
import { ArpCache, type ArpState } from './arp.ts';
import { IGMP_V1_MAX_RESP, IgmpHost, type IgmpHostConfig } from './igmp.ts';
import { directedBroadcast, inPrefix, isValidPrefixLen, RouteTable, type Route } from './route.ts';
import type { TcpEnv } from './tcp-api.ts';
import {
  UDP_DEFAULT_MULTICAST_TTL,
  UDP_DEFAULT_TTL,
  UDP_PAYLOAD_MAX,
  UdpTable,
  type UdpBindOptions,
  type UdpError,
  type UdpSendOptions,
  type UdpSendResult,
  type UdpSocket,
  type UdpSocketOwner,
} from './udp.ts';

export type Cancel = () => void;

/** One armed host timer; `index` is its place in the clock's heap, -1 once fired or cancelled. */
interface HostTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  index: number;
}

// ---------------------------------------------------------------------------------------------
// The host clock: one timer facility per host, honouring a clock rate and stalls.
// ---------------------------------------------------------------------------------------------

/** Timers armed at once per host (TCP connections hold a few each). */
export const HOST_TIMERS_MAX = 1 << 18;
/** Timers run in one wake-up before the clock yields to the kernel; more is a timer loop (our bug). */
const TIMERS_PER_WAKEUP_MAX = 1 << 20;

/**
 * A host-local clock over the world's kernel. Local time starts equal to world time, advances at
 * `rate` (local µs per world µs) and stands still while stalled. Deadlines are local instants; one
 * kernel event at a time waits for the earliest, recomputed when the rate or stall changes. Every
 * timer of a host (ARP, IGMP, ping, TCP, the multicast router) runs on its one clock, so a stall
 * shifts every deadline by its length. A stall stops timers only: frames are still received and
 * answered (a stuck process on a live kernel).
 */
export class HostClock {
  readonly #world: World;
  #rate = 1;
  #stalled = false;
  #anchorWorld: number;
  #anchorLocal: number;
  /** Armed timers: a binary min-heap by (deadline, arming order), each entry knowing its index. */
  readonly #heap: HostTimer[] = [];
  #seq = 0;
  #event: EventId | undefined;
  #eventAt = Number.POSITIVE_INFINITY;

  constructor(world: World) {
    this.#world = world;
    this.#anchorWorld = world.now;
    this.#anchorLocal = world.now;
  }

  get rate(): number {
    return this.#rate;
  }
  get stalled(): boolean {
    return this.#stalled;
  }
  /** Timers armed. */
  get pending(): number {
    return this.#heap.length;
  }

  /** Local time, integer µs. */
  now(): Instant {
    return this.#localAt(this.#world.now) as Instant;
  }

  /** Run `fn` once `d` of local time has passed; the returned function cancels it. */
  timer(d: Duration, fn: () => void): Cancel {
    assert(Number.isFinite(d), `timer duration must be finite, got ${d}`);
    const at = this.now() + Math.max(0, Math.ceil(d));
    assert(this.#heap.length < HOST_TIMERS_MAX, `more than ${HOST_TIMERS_MAX} timers armed on one host`);
    const e: HostTimer = { at, seq: this.#seq++, fn, index: this.#heap.length };
    this.#heap.push(e);
    this.#siftUp(e.index);
    this.#schedule(false);
    return () => this.#cancel(e);
  }

  #cancel(e: HostTimer): void {
    const i = e.index;
    if (i < 0) return;
    e.index = -1;
    const last = this.#heap.pop()!;
    if (last !== e) {
      this.#heap[i] = last;
      last.index = i;
      this.#siftUp(i);
      this.#siftDown(last.index);
    }
  }

  /** Remove and return the earliest timer if it is due at local time `now`. */
  #popDue(now: number): HostTimer | undefined {
    const top = this.#heap[0];
    if (top === undefined || top.at > now) return undefined;
    this.#cancel(top);
    return top;
  }

  #siftUp(i: number): void {
    const h = this.#heap;
    const e = h[i]!;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      const p = h[pi]!;
      if (p.at < e.at || (p.at === e.at && p.seq < e.seq)) break;
      h[i] = p;
      p.index = i;
      i = pi;
    }
    h[i] = e;
    e.index = i;
  }

  #siftDown(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && (h[r]!.at < h[c]!.at || (h[r]!.at === h[c]!.at && h[r]!.seq < h[c]!.seq))) c = r;
      const ce = h[c]!;
      if (e.at < ce.at || (e.at === ce.at && e.seq < ce.seq)) break;
      h[i] = ce;
      ce.index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }

  setRate(rate: number): void {
    assert(rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX, `clock rate must be in [${CLOCK_RATE_MIN}, ${CLOCK_RATE_MAX}], got ${rate}`);
    this.#reanchor();
    this.#rate = rate;
    this.#schedule(true);
  }

  stall(): void {
    if (this.#stalled) return;
    this.#reanchor();
    this.#stalled = true;
    this.#schedule(true);
  }

  unstall(): void {
    if (!this.#stalled) return;
    this.#stalled = false;
    this.#anchorWorld = this.#world.now;
    this.#schedule(true);
  }

  /** Cancel every timer (host crash). */
  clear(): void {
    for (const e of this.#heap) e.index = -1;
    this.#heap.length = 0;
    this.#cancelEvent();
  }

  #localAt(w: number): number {
    if (this.#stalled) return this.#anchorLocal;
    return this.#anchorLocal + Math.floor((w - this.#anchorWorld) * this.#rate);
  }

  #reanchor(): void {
    this.#anchorLocal = this.#localAt(this.#world.now);
    this.#anchorWorld = this.#world.now;
  }

  /** The first world instant at which local time reaches `local`. */
  #worldAt(local: number): number {
    let w = this.#anchorWorld + Math.ceil((local - this.#anchorLocal) / this.#rate);
    if (w < this.#world.now) w = this.#world.now;
    // Float rounding may leave local time a microsecond short; step until it is reached.
    for (let i = 0; i < 4 && this.#localAt(w) < local; i++) w++;
    return w;
  }

  #cancelEvent(): void {
    if (this.#event !== undefined) this.#world.kernel.cancel(this.#event);
    this.#event = undefined;
    this.#eventAt = Number.POSITIVE_INFINITY;
  }

  #schedule(force: boolean): void {
    const next = this.#heap[0];
    if (next === undefined || this.#stalled) {
      this.#cancelEvent();
      return;
    }
    const w = this.#worldAt(next.at);
    // Cancellation is lazy: an earlier wake-up finds nothing due and reschedules itself.
    if (!force && this.#event !== undefined && this.#eventAt <= w) return;
    this.#cancelEvent();
    this.#eventAt = w;
    this.#event = this.#world.at(w as Instant, () => this.#fire());
  }

  #fire(): void {
    this.#event = undefined;
    this.#eventAt = Number.POSITIVE_INFINITY;
    for (let n = 0; !this.#stalled; n++) {
      assert(n < TIMERS_PER_WAKEUP_MAX, 'host timers re-arm themselves without end');
      const e = this.#popDue(this.now());
      if (e === undefined) break;
      e.fn();
    }
    this.#schedule(false);
  }
}

// ---------------------------------------------------------------------------------------------
// Interfaces, counters, options
// ---------------------------------------------------------------------------------------------

export interface AddressSpec {
  readonly addr: Ipv4Addr;
  readonly prefixLen: number;
}

export interface InterfaceSpec {
  readonly name: string;
  readonly mac: MacAddr;
  /** Largest IP packet (default 1500). */
  readonly mtu?: number;
  readonly addrs?: readonly AddressSpec[];
}

export interface InterfaceInfo {
  readonly name: IfaceName;
  readonly mac: MacAddr;
  readonly mtu: number;
  /** Primary address first, then aliases, in the order they were added. */
  readonly addrs: readonly AddressSpec[];
  readonly device: Device;
}

export const DEFAULT_MTU = 1500;
/** Interfaces per host. */
export const HOST_INTERFACES_MAX = 64;
/** Addresses (primary and aliases) per interface. */
export const ADDRESSES_PER_INTERFACE_MAX = 256;
/** Pings waiting for a reply per host. */
export const PINGS_PENDING_MAX = 4096;
/** Default ping wait, as `ping -W`. */
export const PING_TIMEOUT_DEFAULT: Duration = seconds(10);
/** Default ping payload (56 data bytes, 64 with the ICMP header). */
export const PING_SIZE_DEFAULT = 56;
/** Largest ping payload: an IPv4 datagram of 65535 bytes less the IP (20) and ICMP (8) headers. */
export const PING_SIZE_MAX = 65_535 - 20 - 8;
/** A host clock runs at most this much faster than true time (a clock-rate fault)... */
export const CLOCK_RATE_MAX = 1_000;
/** ...and at least this fraction of it, so local deadlines stay safe integers of µs. */
export const CLOCK_RATE_MIN = 0.001;
export const ICMP_ERRORS_PER_SECOND_DEFAULT = 1000;
export const ICMP_ERROR_BURST_DEFAULT = 50;
const DEFAULT_TTL = 64;
const IGMP_DSCP = 48; // CS6, as Linux sends IGMP (TOS 0xc0)
const ALL_SYSTEMS_MAC = multicastMac(IGMP_ALL_SYSTEMS);

/** 224.0.0.0/24: never forwarded by a multicast router. */
export function isLinkLocalMulticast(a: Ipv4Addr): boolean {
  return a >>> 8 === 0xe00000;
}

/** Counters of one host; they survive a crash (they are observation, not host state). */
export class HostCounters {
  framesIn = 0;
  framesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Frames whose destination MAC is not ours, broadcast, or a group we listen to. */
  framesFiltered = 0;
  /** Frames the attachment refused, or sent on an interface with none. */
  txFailed = 0;
  arpRequestsIn = 0;
  arpRepliesIn = 0;
  arpRequestsOut = 0;
  arpRepliesOut = 0;
  arpGratuitousOut = 0;
  arpFailures = 0;
  arpConflicts = 0;
  /** Datagrams delivered to this host's own protocols. */
  ipIn = 0;
  /** Datagrams this host originated. */
  ipOut = 0;
  ipForwarded = 0;
  /** Multicast datagrams for groups not joined on the receiving interface (slide 8's filtering). */
  mcastNotMember = 0;
  udpIn = 0;
  udpOut = 0;
  tcpIn = 0;
  tcpOut = 0;
  tcpRstOut = 0;
  igmpIn = 0;
  igmpOut = 0;
  /** ICMP messages sent / received by kind, e.g. 'echo-reply', 'dest-unreachable/3'. */
  readonly icmpOut = new Map<string, number>();
  readonly icmpIn = new Map<string, number>();
  readonly #drops = new DropCounter();
  /** Drops by 'layer/reason', e.g. 'ipv4/bad-checksum', 'host/host-down', 'udp/no-socket'. */
  readonly drops: ReadonlyMap<string, number> = this.#drops.counts;

  drop<L extends DropLayer>(layer: L, reason: DropReason<L>): void {
    this.#drops.count(layer, reason);
  }
  dropped<L extends DropLayer>(layer: L, reason: DropReason<L>): number {
    return this.#drops.get(layer, reason);
  }
  get totalDrops(): number {
    return this.#drops.total;
  }
  icmpSent(key: string): number {
    return this.icmpOut.get(key) ?? 0;
  }
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

function icmpKey(m: IcmpMessage): string {
  switch (m.kind) {
    case 'echo-request':
    case 'echo-reply':
      return m.kind;
    case 'dest-unreachable':
    case 'time-exceeded':
      return `${m.kind}/${m.code}`;
    case 'unknown':
      return `type-${m.type}/${m.code}`;
    default:
      return assertNever(m, 'icmp message');
  }
}

export interface HostOptions {
  /** Forward datagrams not addressed to us (a router). */
  readonly forwarding?: boolean;
  readonly arp?: Partial<ArpLimits>;
  /** Create an ARP entry from a request aimed at us (RFC 826, Linux; default true). */
  readonly arpLearnFromRequests?: boolean;
  readonly igmp?: Partial<IgmpHostConfig>;
  /** ICMP error rate limit (token bucket refill); Infinity disables it. */
  readonly icmpErrorsPerSecond?: number;
  readonly icmpErrorBurst?: number;
  /**
   * What to do when an ARP packet claims one of our addresses from another MAC: 'ignore' (Linux:
   * count and trace) or 'disable' (remove the address, as the old stacks of slide 7 did).
   */
  readonly addressConflict?: 'ignore' | 'disable';
  readonly onAddressConflict?: (iface: IfaceName, addr: Ipv4Addr, mac: MacAddr) => void;
}

/** What the host hands TCP (sim/host/tcp.ts implements it; the host does not import TCP). */
export interface TcpStackHandle {
  input(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void;
  /** Drop every connection and listener without sending anything (host crash). */
  reset(): void;
}

/**
 * A multicast routing module (mrouter.ts) attached to a host with `setMulticastForwarder`. With
 * one attached the NICs accept every group MAC.
 */
export interface MulticastForwarder {
  /** An IGMP message heard on `iface`, whatever its destination. */
  igmpInput(iface: IfaceName, src: Ipv4Addr, dst: Ipv4Addr, msg: IgmpMessage): void;
  /**
   * A multicast datagram outside 224.0.0.0/24 seen on `iface`: received there, or (`local`) sent
   * there by this host. `ip` is the datagram (header included) and must not be changed: copy it.
   */
  forward(iface: IfaceName, ip: Uint8Array, header: Ipv4Header, local: boolean): void;
  /** The host crashed: forget everything, send nothing (the host's timers are already gone). */
  hostCrashed(): void;
  /** The host came back up: start as after boot. */
  hostRestarted(): void;
}

export interface PingOptions {
  /** ICMP identifier (default: per host, from its name). */
  readonly id?: number;
  /** Sequence number (default: the host's counter). */
  readonly seq?: number;
  /** Data bytes after the 8-byte ICMP header (default 56). */
  readonly size?: number;
  /** How long to wait for an answer, on the host's clock (default 10 s). */
  readonly timeout?: Duration;
  readonly ttl?: number;
  readonly src?: Ipv4Addr;
}

export type PingOutcome =
  /** `rtt` on the host's clock (equal to world time at rate 1). */
  | { readonly kind: 'reply'; readonly rtt: Duration; readonly from: Ipv4Addr; readonly ttl: number; readonly bytes: number }
  | { readonly kind: 'timeout' }
  /** ICMP destination unreachable, or (from our own address) ARP resolution failed. */
  | { readonly kind: 'unreachable'; readonly code: number; readonly from: Ipv4Addr }
  | { readonly kind: 'time-exceeded'; readonly from: Ipv4Addr }
  /** Not sent (reported synchronously from `ping`). */
  | { readonly kind: 'error'; readonly reason: 'no-route' | 'too-big' | 'host-down' | 'duplicate' | 'busy' | 'dropped' };

export type PingResult = PingOutcome & { readonly id: number; readonly seq: number };

interface PendingPing {
  readonly id: number;
  readonly seq: number;
  readonly sentAt: Instant;
  readonly onResult: (r: PingResult) => void;
  cancel: Cancel | undefined;
}

/** A frame waiting for ARP: Ethernet header (destination MAC filled in on resolution) + IP. */
interface OutFrame {
  readonly frame: Uint8Array;
  readonly forwarded: boolean;
  /** For a local datagram: tell the sender resolution failed (`from` is our address). */
  readonly onFail?: (from: Ipv4Addr) => void;
}

type SendResult = 'sent' | 'queued' | 'no-route' | 'too-big' | 'host-down' | 'dropped';
type Cast = 'unicast' | 'broadcast' | 'multicast';

interface LocalSend {
  readonly dst: Ipv4Addr;
  readonly src?: Ipv4Addr | undefined;
  readonly protocol: number;
  readonly l4: Transport;
  readonly ttl?: number | undefined;
  readonly options?: readonly Ipv4Option[] | undefined;
  readonly dscp?: number;
  /** Interface for multicast and limited broadcast. */
  readonly iface?: IfaceName | undefined;
  /** Multicast loopback to our own members (default true). */
  readonly loop?: boolean | undefined;
  readonly onFail?: ((from: Ipv4Addr) => void) | undefined;
}

class HostNic implements Device {
  readonly node: string;
  readonly name: IfaceName;
  readonly mac: MacAddr;
  readonly mtu: number;
  attachment: Attachment | undefined = undefined;
  readonly addrs: AddressSpec[] = [];
  /** Group MACs the NIC accepts, with the number of joined groups mapping to each. */
  readonly groupMacs = new Map<MacAddr, number>();
  readonly #rx: (nic: HostNic, frame: Uint8Array) => void;

  constructor(node: string, spec: InterfaceSpec, rx: (nic: HostNic, frame: Uint8Array) => void) {
    this.node = node;
    this.name = ifaceName(spec.name);
    this.mac = spec.mac;
    this.mtu = spec.mtu ?? DEFAULT_MTU;
    this.#rx = rx;
  }

  deliver(frame: Uint8Array): void {
    this.#rx(this, frame);
  }

  info(): InterfaceInfo {
    return { name: this.name, mac: this.mac, mtu: this.mtu, addrs: [...this.addrs], device: this };
  }
}

// ---------------------------------------------------------------------------------------------
// The host
// ---------------------------------------------------------------------------------------------

export class Host {
  readonly world: World;
  readonly name: string;
  /** Forward datagrams not addressed to us. */
  forwarding: boolean;
  readonly counters = new HostCounters();
  readonly routes = new RouteTable();
  readonly clock: HostClock;
  /** The ARP cache, for inspection (`get`, `entry`, `entries`) and static entries. */
  readonly arpCache: ArpCache<OutFrame>;
  /** IGMP host side, for inspection (`memberships`, `counters`). */
  readonly igmp: IgmpHost;

  readonly #opts: HostOptions;
  readonly #nics: HostNic[] = [];
  readonly #nicByName = new Map<string, HostNic>();
  /** Every address of ours, to the interface holding it. */
  readonly #local = new Map<Ipv4Addr, HostNic>();
  readonly #udp: UdpTable;
  readonly #udpOwner: UdpSocketOwner;
  readonly #pings = new Map<number, PendingPing>();
  #up = true;
  #ipId: number;
  #pingSeq = 0;
  readonly #pingId: number;
  #tcp: TcpStackHandle | undefined;
  #forwarder: MulticastForwarder | undefined;
  #arpDroppedPkt: OutFrame | undefined;
  #icmpTokens: number;
  #icmpTokensAt: number;
  #unstallEvent: EventId | undefined;

  constructor(world: World, name: string, opts: HostOptions = {}) {
    world.claimName(name);
    this.world = world;
    this.name = name;
    this.#opts = opts;
    this.forwarding = opts.forwarding ?? false;
    this.clock = new HostClock(world);
    const rng: Rng = world.rngFor(`host:${name}`);
    this.#ipId = rng.int(0, 0xffff);
    this.#pingId = fnv1a32(name) & 0xffff;
    this.#udp = new UdpTable(world.rngFor(`host:${name}:udp`));
    this.#icmpTokens = opts.icmpErrorBurst ?? ICMP_ERROR_BURST_DEFAULT;
    this.#icmpTokensAt = 0;
    this.arpCache = new ArpCache<OutFrame>(
      {
        now: () => this.now(),
        timer: (d, fn) => this.timer(d, fn),
        sendRequest: (iface, target) => this.#sendArpRequest(this.#nicOf(iface), target),
        transmit: (iface, mac, pkt) => this.#transmit(this.#nicOf(iface), mac, pkt.frame),
        failed: (iface, target, pkts) => this.#arpFailed(this.#nicOf(iface), target, pkts),
        dropped: (pkt, reason) => {
          this.#arpDroppedPkt = pkt;
          this.#drop('arp', reason, undefined, false);
        },
        changed: (iface, ip, from, to, reason) => this.#arpChanged(iface, ip, from, to, reason),
      },
      opts.arp,
    );
    this.igmp = new IgmpHost(
      {
        now: () => this.now(),
        timer: (d, fn) => this.timer(d, fn),
        rng: world.rngFor(`host:${name}:igmp`),
        sendReport: (iface, group) => this.#sendIgmp(this.#nicOf(iface), group, { kind: 'v2-report', group }),
        sendLeave: (iface, group) => this.#sendIgmp(this.#nicOf(iface), IGMP_ALL_ROUTERS, { kind: 'leave', group }),
        onTransition: (iface, group, from, to, event) =>
          this.#emit({
            kind: 'state',
            t: this.world.now,
            node: this.name,
            entity: `${this.name}/${iface}/${formatIpv4(group)}`,
            machine: 'igmp-host',
            from,
            to,
            reason: event,
          }),
        onTimer: (iface, group, delay, max, trigger) =>
          this.#emit({
            kind: 'decision',
            t: this.world.now,
            node: this.name,
            what: 'igmp-report-timer',
            detail: { iface, group: formatIpv4(group), delayUs: delay, maxUs: max, trigger },
          }),
      },
      opts.igmp,
    );
    this.#udpOwner = {
      sendTo: (sock, dst, port, payload, o) => this.#udpSendTo(sock, dst, port, payload, o),
      join: (_sock, group, iface) => {
        const nic = iface !== undefined ? this.#nicOrThrow(iface) : this.#multicastNic(group);
        this.joinGroup(nic.name, group);
        return nic.name;
      },
      leave: (_sock, iface, group) => this.leaveGroup(iface, group),
      close: (sock) => this.#udp.unbind(sock),
    };
  }

  // ---- state and time ----

  get up(): boolean {
    return this.#up;
  }

  /** The host's local time (see `HostClock`). */
  now(): Instant {
    return this.clock.now();
  }

  /** Run `fn` after `d` on the host's clock; returns a cancel function. Every host timer goes here. */
  timer(d: Duration, fn: () => void): Cancel {
    return this.clock.timer(d, fn);
  }

  // ---- configuration ----

  /** Add a NIC; attach the returned Device to a link. */
  addInterface(spec: InterfaceSpec): Device {
    if (this.#nicByName.has(spec.name)) throw new Error(`${this.name}: duplicate interface ${spec.name}`);
    if (this.#nics.length >= HOST_INTERFACES_MAX) throw new Error(`${this.name}: more than ${HOST_INTERFACES_MAX} interfaces`);
    const mtu = spec.mtu ?? DEFAULT_MTU;
    if (!(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) throw new Error(`${this.name}: bad MTU ${mtu}`);
    const nic = new HostNic(this.name, spec, (n, f) => this.#onFrame(n, f));
    this.#nics.push(nic);
    this.#nicByName.set(nic.name, nic);
    for (const a of spec.addrs ?? []) this.addAddress(nic.name, a.addr, a.prefixLen);
    return nic;
  }

  interface(name: string): InterfaceInfo | undefined {
    return this.#nicByName.get(name)?.info();
  }

  interfaces(): InterfaceInfo[] {
    return this.#nics.map((n) => n.info());
  }

  /** Add an address (the first on an interface is its primary; later ones are aliases) and its connected route. */
  addAddress(iface: string, addr: Ipv4Addr, prefixLen: number): void {
    const nic = this.#nicOrThrow(iface);
    if (!isValidPrefixLen(prefixLen)) throw new Error(`${this.name}: bad prefix length ${prefixLen}`);
    if (isMulticastIpv4(addr) || addr === IPV4_ANY || addr === IPV4_BROADCAST) {
      throw new Error(`${this.name}: ${formatIpv4(addr)} cannot be an interface address`);
    }
    if (this.#local.has(addr)) throw new Error(`${this.name}: address ${formatIpv4(addr)} already assigned`);
    if (nic.addrs.length >= ADDRESSES_PER_INTERFACE_MAX) throw new Error(`${this.name}: too many addresses on ${iface}`);
    nic.addrs.push({ addr, prefixLen });
    this.#local.set(addr, nic);
    this.routes.addConnected(addr, prefixLen, nic.name);
  }

  /** Remove an address and (when no other address keeps it) its connected route. */
  removeAddress(iface: string, addr: Ipv4Addr): boolean {
    const nic = this.#nicOrThrow(iface);
    const i = nic.addrs.findIndex((a) => a.addr === addr);
    if (i < 0) return false;
    const a = nic.addrs[i]!;
    nic.addrs.splice(i, 1);
    this.#local.delete(addr);
    this.routes.removeConnected(a.addr, a.prefixLen, nic.name);
    return true;
  }

  hasAddress(addr: Ipv4Addr): boolean {
    return this.#local.has(addr);
  }

  /** A static route; prefixLen 0 is the default route. */
  addRoute(r: { readonly dst: Ipv4Addr; readonly prefixLen: number; readonly via?: Ipv4Addr; readonly iface: string }): Route {
    const nic = this.#nicOrThrow(r.iface);
    return this.routes.addStatic({
      dst: r.dst,
      prefixLen: r.prefixLen,
      iface: nic.name,
      ...(r.via !== undefined ? { via: r.via } : {}),
    });
  }

  removeRoute(dst: Ipv4Addr, prefixLen: number, iface?: string): number {
    return this.routes.removeStatic(dst, prefixLen, iface === undefined ? undefined : this.#nicOrThrow(iface).name);
  }

  lookupRoute(dst: Ipv4Addr): Route | undefined {
    return this.routes.lookup(dst);
  }

  /** The source address this host uses toward `dst` (route, then the interface's matching or first address), as connect() would pick it. */
  sourceAddressFor(dst: Ipv4Addr): Ipv4Addr | undefined {
    const r = this.routes.lookup(dst);
    if (r === undefined) return undefined;
    const nic = this.#nicOf(r.iface);
    if (nic === undefined) return undefined;
    const a = this.#selectSource(nic, r.via ?? dst);
    return a === IPV4_ANY ? undefined : a;
  }

  /**
   * Attach TCP; returns what the factory built (its listen/connect API is TCP's own). Without it
   * a TCP segment to us is answered with RST as by a closed port (RFC 793). ICMP errors about TCP
   * segments are counted, not passed on.
   */
  setTcp<T extends TcpStackHandle>(factory: (env: TcpEnv) => T): T {
    this.#tcp?.reset();
    const env: TcpEnv = {
      now: () => this.now(),
      timer: (d, fn) => this.timer(d, fn),
      output: (src, dst, seg) => this.#tcpOutput(src, dst, seg),
      mtuTo: (dst) => this.#mtuTo(dst),
      rng: this.world.rngFor(`host:${this.name}:tcp`),
      onState: (c, from, to) =>
        this.#emit({
          kind: 'state',
          t: this.world.now,
          node: this.name,
          entity: `${formatIpv4(c.localAddr)}:${c.localPort}-${formatIpv4(c.remoteAddr)}:${c.remotePort}`,
          machine: 'tcp',
          from,
          to,
          reason: 'segment',
        }),
    };
    const stack = factory(env);
    this.#tcp = stack;
    return stack;
  }

  get tcp(): TcpStackHandle | undefined {
    return this.#tcp;
  }

  /** Attach (or detach with undefined) a multicast routing module. */
  setMulticastForwarder(fwd: MulticastForwarder | undefined): void {
    this.#forwarder = fwd;
  }

  // ---- faults ----

  /**
   * Lose all state and stop answering: ARP cache, sockets (closed without callbacks), group
   * memberships (no leave is sent), pending pings, timers, TCP state (`reset()`) and the
   * multicast router's state. Interfaces, addresses, routes, the clock rate and counters stay
   * (configuration and observation, not state). `restart()` brings the stack back empty;
   * services rebind.
   */
  /** Run `fn` when this host crashes (before its stack is cleared): what must not be lost silently. */
  onCrash(fn: () => void): void {
    this.#crashHooks.push(fn);
  }

  crash(): void {
    if (!this.#up) return;
    this.#up = false;
    this.#fault('crash');
    for (const fn of this.#crashHooks) fn();
    this.clock.clear();
    this.#cancelUnstall();
    this.clock.unstall();
    this.arpCache.clear();
    this.#udp.clear();
    this.igmp.clear();
    for (const n of this.#nics) n.groupMacs.clear();
    this.#pings.clear();
    this.#tcp?.reset();
    this.#forwarder?.hostCrashed();
  }

  /** Come back up with an empty stack. */
  readonly #crashHooks: (() => void)[] = [];

  restart(): void {
    if (this.#up) return;
    this.#up = true;
    this.#fault('restart');
    this.#udp.reseedEphemeral();
    this.#forwarder?.hostRestarted();
  }

  /** Local clock rate: timers of this host run fast (r > 1) or slow (r < 1). */
  setClockRate(rate: number): void {
    this.clock.setRate(rate);
    this.#fault('clock-rate', String(rate));
  }

  /** Freeze the host clock (no timer fires) for `duration` of world time, or until `unstallClock`. */
  stallClock(duration?: Duration): void {
    this.#cancelUnstall();
    this.clock.stall();
    this.#fault('clock-stall', duration === undefined ? undefined : `${duration}us`);
    if (duration !== undefined) {
      this.#unstallEvent = this.world.at((this.world.now + Math.max(0, duration)) as Instant, () => {
        this.#unstallEvent = undefined;
        this.unstallClock();
      });
    }
  }

  unstallClock(): void {
    this.#cancelUnstall();
    if (!this.clock.stalled) return;
    this.clock.unstall();
    this.#fault('clock-unstall');
  }

  // ---- ARP ----

  /** Announce `addr` at this interface's MAC (RFC 5227 announcement: a request with sender = target). */
  sendGratuitousArp(iface: string, addr: Ipv4Addr, op: number = ARP_OP.request): void {
    const nic = this.#nicOrThrow(iface);
    if (!this.#up) return;
    this.counters.arpGratuitousOut++;
    this.#sendArp(nic, MAC_BROADCAST, gratuitousArp(nic.mac, addr, op));
  }

  // ---- multicast membership ----

  /** Join `group` on `iface` (reference counted; the first join reports at once). */
  joinGroup(iface: string, group: Ipv4Addr): void {
    const nic = this.#nicOrThrow(iface);
    if (!isMulticastIpv4(group)) throw new Error(`${this.name}: ${formatIpv4(group)} is not a multicast group`);
    if (!this.#up) return;
    if (this.igmp.join(nic.name, group)) {
      const m = multicastMac(group);
      nic.groupMacs.set(m, (nic.groupMacs.get(m) ?? 0) + 1);
    }
  }

  /** Drop one reference; the last one leaves (with a Leave message if we reported last). */
  leaveGroup(iface: string, group: Ipv4Addr): void {
    const nic = this.#nicOrThrow(iface);
    if (!this.#up) return;
    if (this.igmp.leave(nic.name, group)) {
      const m = multicastMac(group);
      const n = (nic.groupMacs.get(m) ?? 1) - 1;
      if (n > 0) nic.groupMacs.set(m, n);
      else nic.groupMacs.delete(m);
    }
  }

  isMember(iface: string, group: Ipv4Addr): boolean {
    return this.igmp.isMember(this.#nicOrThrow(iface).name, group);
  }

  // ---- sockets ----

  /**
   * Bind a UDP socket on `port` (0: ephemeral). EADDRINUSE, or binding while the host is down,
   * is a scenario error and throws.
   */
  udpBind(port: number, opts: UdpBindOptions): UdpSocket {
    if (!this.#up) throw new Error(`${this.name}: udpBind while the host is down`);
    if (opts.addr !== undefined && opts.addr !== IPV4_ANY && !isMulticastIpv4(opts.addr) && !this.#local.has(opts.addr)) {
      throw new Error(`${this.name}: EADDRNOTAVAIL: ${formatIpv4(opts.addr)} is not a local address`);
    }
    return this.#udp.bind(this.#udpOwner, port, opts);
  }

  /** Bound UDP sockets. */
  udpSockets(): UdpSocket[] {
    return this.#udp.sockets();
  }

  // ---- ping ----

  /**
   * Send an ICMP echo request; `onResult` is called once: reply (with RTT), timeout, unreachable,
   * time exceeded, or (synchronously, before `ping` returns) an error when nothing was sent.
   */
  ping(dst: Ipv4Addr, opts: PingOptions, onResult: (r: PingResult) => void): void {
    const id = (opts.id ?? this.#pingId) & 0xffff;
    const seq = (opts.seq ?? this.#pingSeq++) & 0xffff;
    const key = id * 65536 + seq;
    const fail = (reason: 'no-route' | 'too-big' | 'host-down' | 'duplicate' | 'busy' | 'dropped'): void =>
      onResult({ kind: 'error', reason, id, seq });
    if (!this.#up) return fail('host-down');
    if (this.#pings.has(key)) return fail('duplicate');
    if (this.#pings.size >= PINGS_PENDING_MAX) return fail('busy');
    const size = opts.size ?? PING_SIZE_DEFAULT;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = i & 255;
    const p: PendingPing = { id, seq, sentAt: this.now(), onResult, cancel: undefined };
    this.#pings.set(key, p);
    const r = this.#sendIcmp(
      { kind: 'echo-request', id, seq, data },
      {
        dst,
        src: opts.src,
        ttl: opts.ttl,
        onFail: (from) => this.#pingDone(key, { kind: 'unreachable', code: ICMP_UNREACH.host, from }),
      },
    );
    if (r !== 'sent' && r !== 'queued') {
      this.#pings.delete(key);
      return fail(r);
    }
    if (this.#pings.get(key) === p) {
      p.cancel = this.timer(opts.timeout ?? PING_TIMEOUT_DEFAULT, () => this.#pingDone(key, { kind: 'timeout' }));
    }
  }

  // ---- for protocol modules (mrouter.ts) ----

  /** Send an IGMP message on `iface` to `dst` (TTL 1, Router Alert, group MAC). */
  sendIgmp(iface: string, dst: Ipv4Addr, msg: IgmpMessage): void {
    this.#sendIgmp(this.#nicOrThrow(iface), dst, msg);
  }

  /** Send a copy of a multicast datagram (IP bytes, TTL already set) out of `iface`. */
  sendMulticastCopy(iface: string, ip: Uint8Array): void {
    const nic = this.#nicOrThrow(iface);
    if (!this.#up) return;
    const dst = readIpv4(ip, 16);
    assert(isMulticastIpv4(dst), 'sendMulticastCopy of a non-multicast datagram');
    if (ip.length > nic.mtu) {
      this.#drop('ipv4', 'too-big', `${ip.length} > mtu ${nic.mtu} on ${nic.name}`, false);
      return;
    }
    const frame = new Uint8Array(ETH_HEADER_LEN + ip.length);
    frame.set(ip, ETH_HEADER_LEN);
    writeMac(frame, 6, nic.mac);
    writeU16(frame, 12, ETHERTYPE.ipv4);
    this.#transmit(nic, multicastMac(dst), frame);
  }

  // =============================================================================================
  // Receive
  // =============================================================================================

  #onFrame(nic: HostNic, frame: Uint8Array): void {
    if (!this.#up) {
      this.#drop('host', 'host-down', nic.name);
      return;
    }
    this.counters.framesIn++;
    this.counters.bytesIn += frame.length;
    if (frame.length < ETH_HEADER_LEN) {
      this.#drop('ethernet', 'truncated');
      return;
    }
    const dstMac = readMac(frame, 0);
    if (!this.#accepts(nic, dstMac)) {
      this.counters.framesFiltered++;
      return;
    }
    const eth = parseEthernet(frame);
    if (!eth.ok) return this.#dropParse(eth.error);
    if (eth.value.vlans.length > 0) {
      this.#drop('ethernet', 'unsupported', 'vlan-tagged');
      return;
    }
    const payload = eth.value.payload;
    switch (eth.value.ethertype) {
      case ETHERTYPE.arp: {
        const a = parseArp(payload);
        if (!a.ok) return this.#dropParse(a.error);
        this.#arpInput(nic, a.value);
        return;
      }
      case ETHERTYPE.ipv4: {
        const p = parseIpv4(payload);
        if (!p.ok) return this.#dropParse(p.error);
        const cast: Cast = dstMac === MAC_BROADCAST ? 'broadcast' : isMulticastMac(dstMac) ? 'multicast' : 'unicast';
        this.#ipInput(nic, p.value, payload.subarray(0, readU16(payload, 2)), cast);
        return;
      }
      default:
        this.#drop('ethernet', 'unsupported', `ethertype 0x${eth.value.ethertype.toString(16).padStart(4, '0')}`);
    }
  }

  #accepts(nic: HostNic, mac: MacAddr): boolean {
    if (mac === nic.mac || mac === MAC_BROADCAST) return true;
    if (!isMulticastMac(mac)) return false;
    return mac === ALL_SYSTEMS_MAC || nic.groupMacs.has(mac) || this.#forwarder !== undefined;
  }

  // ---- ARP ----

  #arpInput(nic: HostNic, a: ArpPacket): void {
    if (a.op === ARP_OP.request) this.counters.arpRequestsIn++;
    else if (a.op === ARP_OP.reply) this.counters.arpRepliesIn++;
    else {
      this.#drop('arp', 'unsupported', `op ${a.op}`);
      return;
    }
    if (a.senderMac === MAC_BROADCAST || isMulticastMac(a.senderMac)) {
      this.#drop('arp', 'martian', `sender MAC ${formatMac(a.senderMac)}`);
      return;
    }
    if (this.#local.get(a.senderIp) === nic) {
      if (a.senderMac !== nic.mac) this.#addressConflict(nic, a.senderIp, a.senderMac);
      return;
    }
    const merged = a.senderIp !== IPV4_ANY && this.arpCache.update(nic.name, a.senderIp, a.senderMac);
    const forUs = nic.addrs.some((x) => x.addr === a.targetIp);
    if (!forUs) return;
    if (!merged && a.senderIp !== IPV4_ANY && (a.op === ARP_OP.reply || this.#opts.arpLearnFromRequests !== false)) {
      this.arpCache.learn(nic.name, a.senderIp, a.senderMac);
    }
    if (a.op === ARP_OP.request) {
      this.counters.arpRepliesOut++;
      this.#sendArp(nic, a.senderMac, {
        op: ARP_OP.reply,
        senderMac: nic.mac,
        senderIp: a.targetIp,
        targetMac: a.senderMac,
        targetIp: a.senderIp,
      });
    }
  }

  #addressConflict(nic: HostNic, addr: Ipv4Addr, mac: MacAddr): void {
    this.counters.arpConflicts++;
    const disable = this.#opts.addressConflict === 'disable';
    this.#emit({
      kind: 'decision',
      t: this.world.now,
      node: this.name,
      what: 'arp-address-conflict',
      detail: { iface: nic.name, addr: formatIpv4(addr), mac: formatMac(mac), action: disable ? 'disable' : 'ignore' },
    });
    if (disable) this.removeAddress(nic.name, addr);
    this.#opts.onAddressConflict?.(nic.name, addr, mac);
  }

  #sendArpRequest(nic: HostNic, target: Ipv4Addr): void {
    this.counters.arpRequestsOut++;
    this.#sendArp(nic, MAC_BROADCAST, {
      op: ARP_OP.request,
      senderMac: nic.mac,
      senderIp: this.#selectSource(nic, target),
      targetMac: MAC_ZERO,
      targetIp: target,
    });
  }

  #sendArp(nic: HostNic, dst: MacAddr, arp: ArpPacket): void {
    this.#transmit(nic, dst, encodeFrame({ eth: { dst, src: nic.mac }, net: { kind: 'arp', arp } }));
  }

  #arpFailed(nic: HostNic, target: Ipv4Addr, pkts: readonly OutFrame[]): void {
    this.counters.arpFailures++;
    this.#emit({
      kind: 'decision',
      t: this.world.now,
      node: this.name,
      what: 'arp-failed',
      detail: { iface: nic.name, target: formatIpv4(target), queued: pkts.length },
    });
    for (const p of pkts) {
      this.#drop('arp', 'unresolved', formatIpv4(target), false);
      if (p.forwarded) {
        const ip = p.frame.subarray(ETH_HEADER_LEN);
        const h = parseIpv4(ip, { verifyChecksum: false });
        if (h.ok) this.#sendIcmpError(ip, h.value, 'dest-unreachable', ICMP_UNREACH.host);
      } else {
        p.onFail?.(this.#selectSource(nic, target));
      }
    }
  }

  #arpChanged(iface: IfaceName, ip: Ipv4Addr, from: ArpState | 'none', to: ArpState | 'none', reason: string): void {
    const mac = this.arpCache.get(ip, iface);
    this.#emit({
      kind: 'state',
      t: this.world.now,
      node: this.name,
      entity: `${this.name}/${iface}/${formatIpv4(ip)}`,
      machine: 'arp',
      from,
      to,
      reason: mac === undefined ? reason : `${reason} ${formatMac(mac)}`,
    });
  }

  // ---- IPv4 ----

  #ipInput(nic: HostNic, pkt: Ipv4Packet, ip: Uint8Array, cast: Cast): void {
    if (isMulticastIpv4(pkt.src) || pkt.src === IPV4_BROADCAST) {
      this.#drop('ipv4', 'martian', `source ${formatIpv4(pkt.src)}`);
      return;
    }
    if (pkt.fragmentOffset !== 0 || (pkt.flags & IPV4_FLAG.moreFragments) !== 0) {
      this.#drop('ipv4', 'unsupported', 'fragment');
      return;
    }
    const dst = pkt.dst;
    if (isMulticastIpv4(dst)) {
      const fwd = this.#forwarder;
      if (pkt.protocol === IP_PROTO.igmp) {
        this.counters.ipIn++;
        this.#igmpInput(nic, pkt, fwd);
        return;
      }
      if (this.igmp.isMember(nic.name, dst)) this.#deliver(nic, pkt, ip, 'multicast');
      else this.counters.mcastNotMember++;
      if (fwd !== undefined && !isLinkLocalMulticast(dst)) fwd.forward(nic.name, ip, pkt, false);
      return;
    }
    if (this.#local.has(dst)) {
      this.#deliver(nic, pkt, ip, 'unicast');
      return;
    }
    if (dst === IPV4_BROADCAST || this.#isDirectedBroadcast(nic, dst)) {
      this.#deliver(nic, pkt, ip, 'broadcast');
      return;
    }
    if (cast !== 'unicast') {
      this.#drop('ipv4', 'not-for-us', `${formatIpv4(dst)} in a ${cast} frame`, false);
      return;
    }
    if (this.forwarding) {
      this.#forward(nic, pkt, ip);
      return;
    }
    this.#drop('ipv4', 'not-for-us', formatIpv4(dst));
  }

  #isDirectedBroadcast(nic: HostNic, dst: Ipv4Addr): boolean {
    return nic.addrs.some((a) => directedBroadcast(a.addr, a.prefixLen) === dst);
  }

  #deliver(nic: HostNic, pkt: Ipv4Packet, ip: Uint8Array, cast: Cast): void {
    this.counters.ipIn++;
    const pseudo = { src: pkt.src, dst: pkt.dst };
    switch (pkt.protocol) {
      case IP_PROTO.icmp: {
        const m = parseIcmp(pkt.payload);
        if (!m.ok) return this.#dropParse(m.error);
        this.#icmpInput(pkt, m.value, cast);
        return;
      }
      case IP_PROTO.udp: {
        const u = parseUdp(pkt.payload, { pseudo });
        if (!u.ok) return this.#dropParse(u.error);
        this.#udpInput(nic, pkt, u.value, ip, cast);
        return;
      }
      case IP_PROTO.tcp: {
        const s = parseTcp(pkt.payload, { pseudo });
        if (!s.ok) return this.#dropParse(s.error);
        this.#tcpInput(pkt, s.value, cast);
        return;
      }
      case IP_PROTO.igmp:
        this.#igmpInput(nic, pkt, undefined);
        return;
      default:
        this.#drop('ipv4', 'unknown-protocol', `protocol ${pkt.protocol}`, false);
        if (cast === 'unicast') this.#sendIcmpError(ip, pkt, 'dest-unreachable', ICMP_UNREACH.protocol);
    }
  }

  /**
   * Decrement the TTL in place (incremental checksum), with ICMP time exceeded when it would reach
   * 0; directed broadcasts are not forwarded (RFC 2644).
   */
  #forward(inNic: HostNic, pkt: Ipv4Packet, ip: Uint8Array): void {
    if (pkt.ttl <= 1) {
      this.#drop('ipv4', 'ttl-exceeded', undefined, false);
      this.#sendIcmpError(ip, pkt, 'time-exceeded', 0);
      return;
    }
    const route = this.routes.lookup(pkt.dst);
    if (route === undefined) {
      this.#drop('ipv4', 'no-route', formatIpv4(pkt.dst), false);
      this.#sendIcmpError(ip, pkt, 'dest-unreachable', ICMP_UNREACH.net);
      return;
    }
    const out = this.#nicOf(route.iface);
    if (this.#isDirectedBroadcast(out, pkt.dst) && out !== inNic) {
      this.#drop('ipv4', 'directed-broadcast', formatIpv4(pkt.dst), false);
      return;
    }
    if (ip.length > out.mtu) {
      this.#drop('ipv4', 'too-big', `${ip.length} > mtu ${out.mtu} on ${out.name}`, false);
      if ((pkt.flags & IPV4_FLAG.dontFragment) !== 0) {
        this.#sendIcmpError(ip, pkt, 'dest-unreachable', ICMP_UNREACH.fragNeeded, out.mtu);
      }
      return;
    }
    const frame = new Uint8Array(ETH_HEADER_LEN + ip.length);
    frame.set(ip, ETH_HEADER_LEN);
    writeMac(frame, 6, out.mac);
    writeU16(frame, 12, ETHERTYPE.ipv4);
    new Ipv4View(frame, ETH_HEADER_LEN).decrementTtl();
    this.counters.ipForwarded++;
    this.#resolveAndSend(out, route.via ?? pkt.dst, { frame, forwarded: true });
  }

  // ---- ICMP ----

  #icmpInput(pkt: Ipv4Packet, m: IcmpMessage, cast: Cast): void {
    bump(this.counters.icmpIn, icmpKey(m));
    switch (m.kind) {
      case 'echo-request':
        if (cast !== 'unicast') return; // icmp_echo_ignore_broadcasts
        this.#sendIcmp({ kind: 'echo-reply', id: m.id, seq: m.seq, data: m.data.slice() }, { dst: pkt.src, src: pkt.dst });
        return;
      case 'echo-reply': {
        const key = m.id * 65536 + m.seq;
        const p = this.#pings.get(key);
        if (p === undefined) return;
        this.#pingDone(key, {
          kind: 'reply',
          rtt: (this.now() - p.sentAt) as Duration,
          from: pkt.src,
          ttl: pkt.ttl,
          bytes: m.data.length,
        });
        return;
      }
      case 'dest-unreachable':
      case 'time-exceeded':
        this.#icmpErrorInput(pkt, m);
        return;
      case 'unknown':
        return;
      default:
        assertNever(m, 'icmp message');
    }
  }

  /** An ICMP error about a datagram we sent: tell the socket or the ping that sent it. */
  #icmpErrorInput(pkt: Ipv4Packet, m: Extract<IcmpMessage, { kind: 'dest-unreachable' | 'time-exceeded' }>): void {
    const q = parseQuotedIpv4(m.quoted);
    if (!q.ok) return this.#dropParse(q.error, 'quoted datagram');
    const h = q.value.header;
    const body = q.value.payload;
    if (!this.#local.has(h.src)) return;
    switch (h.protocol) {
      case IP_PROTO.udp: {
        if (body.length < 4) return;
        const sock = this.#udp.sender(h.src, readU16(body, 0));
        const onError = sock?.options.onError;
        if (onError === undefined) return;
        onError(udpErrorOf(m, pkt.src, { addr: h.dst, port: readU16(body, 2) }));
        return;
      }
      case IP_PROTO.icmp: {
        if (body.length < 8 || body[0] !== ICMP_TYPE.echoRequest) return;
        const key = readU16(body, 4) * 65536 + readU16(body, 6);
        if (m.kind === 'time-exceeded') this.#pingDone(key, { kind: 'time-exceeded', from: pkt.src });
        else this.#pingDone(key, { kind: 'unreachable', code: m.code, from: pkt.src });
        return;
      }
      default:
        // TCP learns nothing from ICMP here (TcpStackHandle has no error input); counted in icmpIn.
        return;
    }
  }

  #pingDone(key: number, outcome: PingOutcome): void {
    const p = this.#pings.get(key);
    if (p === undefined) return;
    this.#pings.delete(key);
    p.cancel?.();
    p.onResult({ ...outcome, id: p.id, seq: p.seq });
  }

  #sendIcmp(msg: IcmpMessage, req: Omit<LocalSend, 'protocol' | 'l4'>): SendResult {
    const r = this.#sendLocal({ ...req, protocol: IP_PROTO.icmp, l4: { kind: 'icmp', icmp: msg } });
    if (r === 'sent' || r === 'queued') bump(this.counters.icmpOut, icmpKey(msg));
    return r;
  }

  /**
   * An ICMP error about datagram `ip` (header `h`), within RFC 1122 3.2.2's rules: never about an
   * ICMP error, a broadcast or multicast datagram, a non-first fragment, or a source that is not
   * a unicast host; rate limited by a token bucket (`icmpErrorsPerSecond`, `icmpErrorBurst`). No
   * redirects; echo requests to broadcast or multicast addresses are ignored (Linux
   * icmp_echo_ignore_broadcasts=1).
   */
  #sendIcmpError(ip: Uint8Array, h: Ipv4Header, kind: 'dest-unreachable' | 'time-exceeded', code: number, info = 0): void {
    if (!this.#up) return;
    if (isMulticastIpv4(h.dst) || h.dst === IPV4_BROADCAST || this.#isAnyDirectedBroadcast(h.dst)) return;
    if (h.src === IPV4_ANY || isMulticastIpv4(h.src) || h.src === IPV4_BROADCAST) return;
    if (h.fragmentOffset !== 0) return;
    if (h.protocol === IP_PROTO.icmp) {
      const t = ip[(ip[0]! & 15) * 4];
      if (t !== ICMP_TYPE.echoRequest && t !== ICMP_TYPE.echoReply) return; // never about an error
    }
    if (!this.#takeIcmpToken()) {
      this.#drop('icmp', 'rate-limited', undefined, false);
      return;
    }
    const msg: IcmpMessage = { kind, code, info, quoted: quoteDatagram(ip) };
    this.#sendIcmp(msg, { dst: h.src, src: this.#local.has(h.dst) ? h.dst : undefined });
  }

  #isAnyDirectedBroadcast(a: Ipv4Addr): boolean {
    return this.#nics.some((n) => this.#isDirectedBroadcast(n, a));
  }

  #takeIcmpToken(): boolean {
    const rate = this.#opts.icmpErrorsPerSecond ?? ICMP_ERRORS_PER_SECOND_DEFAULT;
    if (rate === Number.POSITIVE_INFINITY) return true;
    const burst = this.#opts.icmpErrorBurst ?? ICMP_ERROR_BURST_DEFAULT;
    const now = this.now();
    this.#icmpTokens = Math.min(burst, this.#icmpTokens + ((now - this.#icmpTokensAt) * rate) / MICROS_PER_S);
    this.#icmpTokensAt = now;
    if (this.#icmpTokens < 1) return false;
    this.#icmpTokens -= 1;
    return true;
  }

  // ---- UDP ----

  #udpInput(nic: HostNic, pkt: Ipv4Packet, d: UdpDatagram, ip: Uint8Array, cast: Cast): void {
    this.counters.udpIn++;
    const socks = this.#udp.receivers(pkt.dst, d.dstPort, cast === 'unicast');
    if (socks.length === 0) {
      this.#drop('udp', 'no-socket', undefined, false);
      if (cast === 'unicast') this.#sendIcmpError(ip, pkt, 'dest-unreachable', ICMP_UNREACH.port);
      return;
    }
    const from = { addr: pkt.src, port: d.srcPort };
    const info = { dst: pkt.dst, iface: nic.name, ttl: pkt.ttl, ipOptions: pkt.options };
    for (const s of socks) {
      if (!this.#up) return;
      if (!s.closed) s.options.onMessage(d.payload.slice(), from, info);
    }
  }

  #udpSendTo(sock: UdpSocket, dst: Ipv4Addr, port: number, payload: Uint8Array, o: UdpSendOptions): UdpSendResult {
    if (!this.#up) return 'host-down';
    if (!(Number.isInteger(port) && port > 0 && port <= 65535)) throw new Error(`${this.name}: bad UDP port ${port}`);
    if (payload.length > UDP_PAYLOAD_MAX) return 'too-big';
    const multicast = isMulticastIpv4(dst);
    const bound = sock.addr !== IPV4_ANY && !isMulticastIpv4(sock.addr) ? sock.addr : undefined;
    const ifaceName = o.iface ?? sock.options.multicastIface;
    const ttl = o.ttl ?? (multicast ? sock.options.multicastTtl ?? UDP_DEFAULT_MULTICAST_TTL : sock.options.ttl ?? UDP_DEFAULT_TTL);
    const r = this.#sendLocal({
      dst,
      src: bound ?? o.src,
      protocol: IP_PROTO.udp,
      l4: { kind: 'udp', udp: { srcPort: sock.port, dstPort: port, payload } },
      ttl,
      options: o.ipOptions,
      iface: ifaceName === undefined ? undefined : this.#nicOrThrow(ifaceName).name,
      loop: sock.options.multicastLoop,
      onFail: (from) =>
        sock.closed ? undefined : sock.options.onError?.({ kind: 'host-unreachable', code: ICMP_UNREACH.host, from, dst: { addr: dst, port } }),
    });
    if (r === 'sent' || r === 'queued') this.counters.udpOut++;
    return r;
  }

  // ---- TCP ----

  #tcpInput(pkt: Ipv4Packet, seg: TcpSegment, cast: Cast): void {
    if (cast !== 'unicast') {
      this.#drop('tcp', 'not-unicast', undefined, false);
      return;
    }
    this.counters.tcpIn++;
    if (this.#tcp !== undefined) {
      this.#tcp.input(pkt.src, pkt.dst, seg);
      return;
    }
    this.#sendRst(pkt, seg);
  }

  /** RFC 793 "reset generation" for a segment to a closed port. */
  #sendRst(pkt: Ipv4Packet, seg: TcpSegment): void {
    if ((seg.flags & TCP_FLAG.rst) !== 0) return;
    const base = { srcPort: seg.dstPort, dstPort: seg.srcPort, window: 0, urgentPointer: 0, options: [], payload: new Uint8Array(0) };
    let rst: TcpSegment;
    if ((seg.flags & TCP_FLAG.ack) !== 0) {
      rst = { ...base, seq: seg.ack, ack: 0, flags: TCP_FLAG.rst };
    } else {
      const len = seg.payload.length + ((seg.flags & TCP_FLAG.syn) !== 0 ? 1 : 0) + ((seg.flags & TCP_FLAG.fin) !== 0 ? 1 : 0);
      rst = { ...base, seq: 0, ack: (seg.seq + len) >>> 0, flags: TCP_FLAG.rst | TCP_FLAG.ack };
    }
    this.counters.tcpRstOut++;
    this.#tcpOutput(pkt.dst, pkt.src, rst);
  }

  #tcpOutput(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void {
    if (!this.#up) return;
    this.counters.tcpOut++;
    const r = this.#sendLocal({ dst, src, protocol: IP_PROTO.tcp, l4: { kind: 'tcp', tcp: seg } });
    if (r === 'no-route' || r === 'too-big') this.#drop('tcp', r, formatIpv4(dst), false);
  }

  #mtuTo(dst: Ipv4Addr): number {
    const r = this.routes.lookup(dst);
    if (r !== undefined) return this.#nicOf(r.iface).mtu;
    return this.#nics[0]?.mtu ?? DEFAULT_MTU;
  }

  // ---- IGMP ----

  #igmpInput(nic: HostNic, pkt: Ipv4Packet, fwd: MulticastForwarder | undefined): void {
    const r = parseIgmp(pkt.payload);
    if (!r.ok) return this.#dropParse(r.error);
    const msg = r.value;
    this.counters.igmpIn++;
    if (this.igmp.isMember(nic.name, pkt.dst)) {
      switch (msg.kind) {
        case 'query':
          this.igmp.query(nic.name, msg.group, msg.maxRespCode === 0 ? IGMP_V1_MAX_RESP : deciseconds(msg.maxRespCode));
          break;
        case 'v3-query':
          this.igmp.query(nic.name, msg.group, deciseconds(igmpMaxRespDeciseconds(msg.maxRespCode, true)));
          break;
        case 'v1-report':
        case 'v2-report':
          this.igmp.reportHeard(nic.name, msg.group);
          break;
        case 'leave':
        case 'v3-report':
        case 'unknown':
          break;
        default:
          assertNever(msg, 'igmp message');
      }
    }
    fwd?.igmpInput(nic.name, pkt.src, pkt.dst, msg);
  }

  #sendIgmp(nic: HostNic, dst: Ipv4Addr, msg: IgmpMessage): void {
    if (!this.#up) return;
    this.counters.igmpOut++;
    this.counters.ipOut++;
    const header = ipv4Header({
      src: nic.addrs[0]?.addr ?? IPV4_ANY,
      dst,
      protocol: IP_PROTO.igmp,
      ttl: 1,
      dscp: IGMP_DSCP,
      identification: this.#nextIpId(),
      options: [{ kind: 'router-alert', value: 0 }],
    });
    const frame = encodeFrame({ eth: { dst: multicastMac(dst), src: nic.mac }, net: { kind: 'ipv4', ip: header, l4: { kind: 'igmp', igmp: msg } } });
    this.#transmit(nic, multicastMac(dst), frame);
  }

  // =============================================================================================
  // Send
  // =============================================================================================

  #sendLocal(req: LocalSend): SendResult {
    if (!this.#up) return 'host-down';
    const dst = req.dst;
    let nic: HostNic | undefined;
    let nextHop = dst;
    let l2: Cast = 'unicast';
    if (isMulticastIpv4(dst)) {
      nic = req.iface !== undefined ? this.#nicOf(req.iface) : this.#multicastNicOrUndefined(dst);
      l2 = 'multicast';
    } else if (dst === IPV4_BROADCAST) {
      nic = req.iface !== undefined ? this.#nicOf(req.iface) : (this.#nics.find((n) => n.addrs.length > 0) ?? this.#nics[0]);
      l2 = 'broadcast';
    } else if (this.#local.has(dst)) {
      return this.#loopback(req);
    } else {
      const route = this.routes.lookup(dst);
      if (route === undefined) return 'no-route';
      nic = this.#nicOf(route.iface);
      nextHop = route.via ?? dst;
      if (this.#isDirectedBroadcast(nic, dst)) l2 = 'broadcast';
    }
    if (nic === undefined) return 'no-route';
    const header = this.#header(req, req.src ?? this.#selectSource(nic, nextHop));
    const frame = encodeFrame({ eth: { dst: MAC_ZERO, src: nic.mac }, net: { kind: 'ipv4', ip: header, l4: req.l4 } });
    if (frame.length - ETH_HEADER_LEN > nic.mtu) {
      this.#drop('ipv4', 'too-big', `${frame.length - ETH_HEADER_LEN} > mtu ${nic.mtu}`, false);
      return 'too-big';
    }
    this.counters.ipOut++;
    switch (l2) {
      case 'multicast': {
        const ip = frame.subarray(ETH_HEADER_LEN);
        if (req.loop !== false && this.igmp.isMember(nic.name, dst)) this.#loopbackBytes(nic, ip.slice(), 'multicast');
        if (this.#forwarder !== undefined && !isLinkLocalMulticast(dst)) this.#forwarder.forward(nic.name, ip, header, true);
        this.#transmit(nic, multicastMac(dst), frame);
        return 'sent';
      }
      case 'broadcast':
        this.#transmit(nic, MAC_BROADCAST, frame);
        return 'sent';
      case 'unicast':
        return this.#resolveAndSend(nic, nextHop, req.onFail !== undefined ? { frame, forwarded: false, onFail: req.onFail } : { frame, forwarded: false });
      default:
        return assertNever(l2, 'cast');
    }
  }

  #header(req: LocalSend, src: Ipv4Addr): Ipv4Header {
    return ipv4Header({
      src,
      dst: req.dst,
      protocol: req.protocol,
      ttl: req.ttl ?? DEFAULT_TTL,
      dscp: req.dscp ?? 0,
      identification: this.#nextIpId(),
      options: req.options ?? [],
    });
  }

  /** A datagram to one of our own addresses: delivered in a later event at the same instant. */
  #loopback(req: LocalSend): SendResult {
    const nic = this.#local.get(req.dst)!;
    const header = this.#header(req, req.src ?? req.dst);
    const frame = encodeFrame({ eth: { dst: MAC_ZERO, src: MAC_ZERO }, net: { kind: 'ipv4', ip: header, l4: req.l4 } });
    this.counters.ipOut++;
    this.#loopbackBytes(nic, frame.subarray(ETH_HEADER_LEN), 'unicast');
    return 'sent';
  }

  #loopbackBytes(nic: HostNic, ip: Uint8Array, cast: Cast): void {
    this.world.at(
      this.world.now,
      () => {
        if (!this.#up) return;
        const p = parseIpv4(ip);
        if (!p.ok) return this.#dropParse(p.error);
        this.#deliver(nic, p.value, ip, cast);
      },
      this.world.cause,
    );
  }

  #resolveAndSend(nic: HostNic, nextHop: Ipv4Addr, out: OutFrame): SendResult {
    this.#arpDroppedPkt = undefined;
    const mac = this.arpCache.resolve(nic.name, nextHop, out);
    if (mac !== undefined) {
      this.#transmit(nic, mac, out.frame);
      return 'sent';
    }
    const dropped = this.#arpDroppedPkt === out;
    this.#arpDroppedPkt = undefined;
    return dropped ? 'dropped' : 'queued';
  }

  #transmit(nic: HostNic, dstMac: MacAddr, frame: Uint8Array): void {
    if (!this.#up) return;
    writeMac(frame, 0, dstMac);
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    const att = nic.attachment;
    if (att === undefined || !att.send(frame)) this.counters.txFailed++;
  }

  #selectSource(nic: HostNic, toward: Ipv4Addr): Ipv4Addr {
    for (const a of nic.addrs) if (inPrefix(toward, a.addr, a.prefixLen)) return a.addr;
    return nic.addrs[0]?.addr ?? IPV4_ANY;
  }

  #nextIpId(): number {
    const id = this.#ipId;
    this.#ipId = (this.#ipId + 1) & 0xffff;
    return id;
  }

  // ---- helpers ----

  #multicastNicOrUndefined(group: Ipv4Addr): HostNic | undefined {
    const r = this.routes.lookup(group);
    return r !== undefined ? this.#nicOf(r.iface) : this.#nics[0];
  }

  #multicastNic(group: Ipv4Addr): HostNic {
    const nic = this.#multicastNicOrUndefined(group);
    if (nic === undefined) throw new Error(`${this.name}: no interface for group ${formatIpv4(group)}`);
    return nic;
  }

  #nicOf(name: IfaceName): HostNic {
    const nic = this.#nicByName.get(name);
    assert(nic !== undefined, `${this.name}: no interface ${name}`);
    return nic;
  }

  #nicOrThrow(name: string): HostNic {
    const nic = this.#nicByName.get(name);
    if (nic === undefined) throw new Error(`${this.name}: no interface ${name}`);
    return nic;
  }

  #cancelUnstall(): void {
    if (this.#unstallEvent !== undefined) this.world.kernel.cancel(this.#unstallEvent);
    this.#unstallEvent = undefined;
  }

  #emit(ev: TraceEventInput): void {
    const cause = this.world.cause;
    this.world.emit(cause === undefined ? ev : ({ ...ev, cause } as TraceEventInput));
  }

  #fault(what: string, detail?: string): void {
    this.#emit({
      kind: 'fault',
      t: this.world.now,
      node: this.name,
      what,
      target: this.name,
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  /** Count a drop; bad input (`trace`, the default) is also traced with its reason code. */
  #drop<L extends DropLayer>(layer: L, reason: DropReason<L>, detail?: string, trace = true): void {
    this.counters.drop(layer, reason);
    if (!trace) return;
    this.#emit({
      kind: 'drop',
      t: this.world.now,
      node: this.name,
      layer,
      reason,
      ...(detail !== undefined ? { detail } : {}),
    } as TraceEventInput);
  }

  #dropParse(e: ParseError, context?: string): void {
    const detail = [context, e.detail].filter((x) => x !== undefined).join(': ');
    this.#drop(e.layer, e.reason, detail === '' ? undefined : detail);
  }
}

function deciseconds(n: number): Duration {
  return (n * 100_000) as Duration;
}

function udpErrorOf(
  m: Extract<IcmpMessage, { kind: 'dest-unreachable' | 'time-exceeded' }>,
  from: Ipv4Addr,
  dst: { readonly addr: Ipv4Addr; readonly port: number },
): UdpError {
  if (m.kind === 'time-exceeded') return { kind: 'time-exceeded', code: m.code, from, dst };
  switch (m.code) {
    case ICMP_UNREACH.port:
      return { kind: 'port-unreachable', code: m.code, from, dst };
    case ICMP_UNREACH.host:
      return { kind: 'host-unreachable', code: m.code, from, dst };
    case ICMP_UNREACH.net:
      return { kind: 'net-unreachable', code: m.code, from, dst };
    case ICMP_UNREACH.protocol:
      return { kind: 'protocol-unreachable', code: m.code, from, dst };
    case ICMP_UNREACH.fragNeeded:
      return { kind: 'frag-needed', code: m.code, from, dst, mtu: m.info & 0xffff };
    default:
      return { kind: 'unreachable', code: m.code, from, dst };
  }
}
