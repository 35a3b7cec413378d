/**
 * UDP sockets of a simulated host: binding (with ephemeral ports), demultiplexing and the
 * socket-like API services use. The host does the IP work; a socket calls back into it through
 * `UdpSocketOwner`.
 *
 * Demultiplexing follows BSD sockets: a unicast datagram goes to the socket bound to its exact
 * destination address and port, else to the one bound to the wildcard address; a broadcast or
 * multicast datagram goes to every socket bound to the port whose address is the wildcard or the
 * datagram's destination (like Linux with IP_MULTICAST_ALL, the default: membership is per
 * interface, not per socket).
 *
 * ICMP errors about a datagram a socket sent (port unreachable, host unreachable, ...) reach its
 * `onError`, like the ECONNREFUSED a connected UDP socket reports on its next call.
 *
 * IP options are set two ways, as on Linux: on the socket (`setIpOptions`, setsockopt
 * IP_OPTIONS), for every datagram it sends until they are changed or cleared, or per datagram
 * (`UdpSendOptions.ipOptions`, like an IP_RETOPTS control message), which wins over the socket's.
 */

import type { IfaceName } from '../../src/port.ts';
import type { Rng } from '../../src/rng.ts';
import { IPV4_ANY, isMulticastIpv4, type Ipv4Addr } from '../../src/wire/addr.ts';
import { ipv4OptionsLength, type Ipv4Option } from '../../src/wire/ipv4.ts';

/** Linux's default ephemeral range (net.ipv4.ip_local_port_range). */
export const UDP_EPHEMERAL_PORT_MIN = 32768;
export const UDP_EPHEMERAL_PORT_MAX = 60999;
/** Sockets per host. */
export const UDP_SOCKETS_MAX = 4096;
/** Largest payload in one datagram: 65535 - 20 (IP) - 8 (UDP). */
export const UDP_PAYLOAD_MAX = 65507;
/** BSD defaults: unicast TTL 64; multicast TTL 1 (IP_MULTICAST_TTL), so it stays on the link. */
export const UDP_DEFAULT_TTL = 64;
export const UDP_DEFAULT_MULTICAST_TTL = 1;
/** Room for options in an IPv4 header (60 - 20 bytes): more is EINVAL, as in Linux's ip_options_get. */
export const UDP_IP_OPTIONS_MAX_LEN = 40;

export interface UdpPeer {
  readonly addr: Ipv4Addr;
  readonly port: number;
}

/** What the host knows about a received datagram besides its payload. */
export interface UdpRecvInfo {
  /** The destination address: one of ours, a broadcast address or a multicast group. */
  readonly dst: Ipv4Addr;
  readonly iface: IfaceName;
  readonly ttl: number;
  /** The datagram's IP options (e.g. the SG write status of slide 26). */
  readonly ipOptions: readonly Ipv4Option[];
}

/**
 * An error reported for a datagram this socket sent: an ICMP error that quoted it, or a local
 * failure (ARP resolution failed: 'host-unreachable' from our own address).
 */
export interface UdpError {
  readonly kind:
    | 'port-unreachable'
    | 'host-unreachable'
    | 'net-unreachable'
    | 'protocol-unreachable'
    | 'frag-needed'
    | 'unreachable'
    | 'time-exceeded';
  /** The ICMP code (for 'unreachable': the unreachable code as received). */
  readonly code: number;
  /** Who reported it (the ICMP error's source, or our own address for a local failure). */
  readonly from: Ipv4Addr;
  /** Where the failed datagram was going. */
  readonly dst: UdpPeer;
  /** Next-hop MTU, for 'frag-needed'. */
  readonly mtu?: number;
}

export interface UdpBindOptions {
  /** Local address to bind (default: the wildcard 0.0.0.0). May be a multicast group. */
  readonly addr?: Ipv4Addr;
  /** Let several sockets bind the same address and port (all must ask), as SO_REUSEADDR does for multicast. */
  readonly reuseAddr?: boolean;
  readonly onMessage: (payload: Uint8Array, from: UdpPeer, info: UdpRecvInfo) => void;
  readonly onError?: (err: UdpError) => void;
  /** TTL of unicast datagrams (default 64). */
  readonly ttl?: number;
  /** TTL of multicast datagrams (default 1, as IP_MULTICAST_TTL: raise it to cross an mrouter). */
  readonly multicastTtl?: number;
  /** Deliver our own multicast datagrams back to us when we are a member (default true, as IP_MULTICAST_LOOP). */
  readonly multicastLoop?: boolean;
  /** Interface for multicast sends and joins (IP_MULTICAST_IF); default: the route to the group. */
  readonly multicastIface?: string;
}

export interface UdpSendOptions {
  /**
   * IP options for this datagram, e.g. `[sgWriteStatus(0, 42)]` on a write reply (slide 26),
   * instead of the socket's (`setIpOptions`); `[]` sends this one without options.
   */
  readonly ipOptions?: readonly Ipv4Option[];
  /** Override the socket's TTL for this datagram. */
  readonly ttl?: number;
  /** Source address when the socket is bound to the wildcard (default: chosen by the route). */
  readonly src?: Ipv4Addr;
  /** Interface for a multicast or limited-broadcast datagram (overrides `multicastIface`). */
  readonly iface?: string;
}

/**
 * What `sendTo` did: 'sent' (on the wire or looped back), 'queued' (waiting for ARP; a failure
 * reaches `onError`), or why nothing was sent: 'no-route' (ENETUNREACH), 'too-big' (EMSGSIZE: no
 * fragmentation in the simulator), 'closed', 'host-down', 'dropped' (ARP queue or table full).
 */
export type UdpSendResult = 'sent' | 'queued' | 'no-route' | 'too-big' | 'closed' | 'host-down' | 'dropped';

/** The host side of a socket. */
export interface UdpSocketOwner {
  sendTo(sock: UdpSocket, dst: Ipv4Addr, port: number, payload: Uint8Array, opts: UdpSendOptions): UdpSendResult;
  join(sock: UdpSocket, group: Ipv4Addr, iface: string | undefined): IfaceName;
  leave(sock: UdpSocket, iface: IfaceName, group: Ipv4Addr): void;
  close(sock: UdpSocket): void;
}

export class UdpSocket {
  readonly port: number;
  readonly addr: Ipv4Addr;
  readonly options: UdpBindOptions;
  /** Groups this socket joined, as (interface, group). */
  readonly groups: { readonly iface: IfaceName; readonly group: Ipv4Addr }[] = [];
  #closed = false;
  readonly #owner: UdpSocketOwner;
  #ipOptions: readonly Ipv4Option[] = [];
  #multicastTtl: number | undefined;

  constructor(owner: UdpSocketOwner, port: number, options: UdpBindOptions) {
    this.#owner = owner;
    this.port = port;
    this.addr = options.addr ?? IPV4_ANY;
    this.options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get local(): UdpPeer {
    return { addr: this.addr, port: this.port };
  }

  sendTo(dst: Ipv4Addr, port: number, payload: Uint8Array, opts: UdpSendOptions = {}): UdpSendResult {
    if (this.#closed) return 'closed';
    let o = opts;
    if (o.ipOptions === undefined && this.#ipOptions.length > 0) o = { ...o, ipOptions: this.#ipOptions };
    if (o.ttl === undefined && this.#multicastTtl !== undefined && isMulticastIpv4(dst)) o = { ...o, ttl: this.#multicastTtl };
    return this.#owner.sendTo(this, dst, port, payload, o);
  }

  /** The options every datagram from this socket carries (`[]`: none). */
  get ipOptions(): readonly Ipv4Option[] {
    return this.#ipOptions;
  }

  /**
   * setsockopt(IP_OPTIONS): every datagram this socket sends from now on carries `options`,
   * until the next call; `[]` clears them. More than 40 bytes of options is EINVAL (thrown: the
   * caller's bug).
   */
  setIpOptions(options: readonly Ipv4Option[]): void {
    const len = ipv4OptionsLength(options);
    if (len > UDP_IP_OPTIONS_MAX_LEN) throw new Error(`EINVAL: ${len} bytes of IP options, at most ${UDP_IP_OPTIONS_MAX_LEN}`);
    this.#ipOptions = [...options];
  }

  /** setsockopt(IP_MULTICAST_TTL): the TTL of this socket's multicast datagrams from now on (0..255). */
  setMulticastTtl(ttl: number): void {
    if (!(Number.isInteger(ttl) && ttl >= 0 && ttl <= 255)) throw new Error(`EINVAL: multicast TTL ${ttl}`);
    this.#multicastTtl = ttl;
  }

  /** Join a multicast group (IP_ADD_MEMBERSHIP) on `iface` or the socket's multicast interface. */
  joinGroup(group: Ipv4Addr, iface?: string): void {
    if (this.#closed) return;
    const name = this.#owner.join(this, group, iface ?? this.options.multicastIface);
    this.groups.push({ iface: name, group });
  }

  /** Leave a group this socket joined (IP_DROP_MEMBERSHIP); a group it did not join is ignored. */
  leaveGroup(group: Ipv4Addr, iface?: string): void {
    const i = this.groups.findIndex((g) => g.group === group && (iface === undefined || g.iface === iface));
    if (i < 0) return;
    const g = this.groups[i]!;
    this.groups.splice(i, 1);
    this.#owner.leave(this, g.iface, g.group);
  }

  /** Close: leaves its groups and frees the port. Idempotent. */
  close(): void {
    if (this.#closed) return;
    for (const g of this.groups.splice(0)) this.#owner.leave(this, g.iface, g.group);
    this.#closed = true;
    this.#owner.close(this);
  }

  /** Mark closed without telling the host (host crash: the table is dropped wholesale). */
  kill(): void {
    this.#closed = true;
    this.groups.length = 0;
  }
}

/** The table of bound sockets. */
export class UdpTable {
  readonly #byPort = new Map<number, UdpSocket[]>();
  readonly #rng: Rng;
  #count = 0;
  #nextEphemeral: number;

  constructor(rng: Rng) {
    this.#rng = rng;
    this.#nextEphemeral = rng.int(UDP_EPHEMERAL_PORT_MIN, UDP_EPHEMERAL_PORT_MAX);
  }

  get size(): number {
    return this.#count;
  }

  sockets(): UdpSocket[] {
    return [...this.#byPort.values()].flat();
  }

  /**
   * Bind `port` (0: an ephemeral port). A port already bound to an overlapping address, unless
   * both sockets ask for `reuseAddr`, is EADDRINUSE: a configuration error, thrown.
   */
  bind(owner: UdpSocketOwner, port: number, opts: UdpBindOptions): UdpSocket {
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`bad UDP port ${port}`);
    if (this.#count >= UDP_SOCKETS_MAX) throw new Error(`more than ${UDP_SOCKETS_MAX} UDP sockets`);
    const addr = opts.addr ?? IPV4_ANY;
    const p = port === 0 ? this.#ephemeral() : port;
    const list = this.#byPort.get(p) ?? [];
    for (const s of list) {
      const overlap = s.addr === addr || s.addr === IPV4_ANY || addr === IPV4_ANY;
      if (overlap && !(s.options.reuseAddr === true && opts.reuseAddr === true)) {
        throw new Error(`EADDRINUSE: UDP port ${p} is already bound`);
      }
    }
    const sock = new UdpSocket(owner, p, opts);
    list.push(sock);
    this.#byPort.set(p, list);
    this.#count++;
    return sock;
  }

  unbind(sock: UdpSocket): void {
    const list = this.#byPort.get(sock.port);
    if (list === undefined) return;
    const i = list.indexOf(sock);
    if (i < 0) return;
    list.splice(i, 1);
    this.#count--;
    if (list.length === 0) this.#byPort.delete(sock.port);
  }

  /** Sockets that receive a datagram to `dst:port` (`unicast`: dst is one of our addresses). */
  receivers(dst: Ipv4Addr, port: number, unicast: boolean): UdpSocket[] {
    const list = this.#byPort.get(port);
    if (list === undefined) return [];
    if (!unicast) return list.filter((s) => s.addr === IPV4_ANY || s.addr === dst);
    const exact = list.find((s) => s.addr === dst);
    if (exact !== undefined) return [exact];
    const any = list.find((s) => s.addr === IPV4_ANY);
    return any === undefined ? [] : [any];
  }

  /** The socket that sent from `src:port` (for an ICMP error quoting its datagram). */
  sender(src: Ipv4Addr, port: number): UdpSocket | undefined {
    const list = this.#byPort.get(port);
    if (list === undefined) return undefined;
    return list.find((s) => s.addr === src) ?? list.find((s) => s.addr === IPV4_ANY);
  }

  /** Close every socket without callbacks (host crash). */
  clear(): void {
    for (const list of this.#byPort.values()) for (const s of list) s.kill();
    this.#byPort.clear();
    this.#count = 0;
  }

  #ephemeral(): number {
    const span = UDP_EPHEMERAL_PORT_MAX - UDP_EPHEMERAL_PORT_MIN + 1;
    for (let i = 0; i < span; i++) {
      const p = this.#nextEphemeral;
      this.#nextEphemeral = p === UDP_EPHEMERAL_PORT_MAX ? UDP_EPHEMERAL_PORT_MIN : p + 1;
      if (!this.#byPort.has(p)) return p;
    }
    throw new Error('EADDRINUSE: no free ephemeral UDP port');
  }

  /** For tests of the ephemeral range: draw a fresh starting point. */
  reseedEphemeral(): void {
    this.#nextEphemeral = this.#rng.int(UDP_EPHEMERAL_PORT_MIN, UDP_EPHEMERAL_PORT_MAX);
  }
}
