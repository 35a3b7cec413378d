/**
 * Ingress: what a received frame is. `classify` checks the Ethernet and IPv4 headers (a bad one
 * is a counted drop), filters what is not for this node as a NIC does, and names the frame's
 * part of the node as one of a closed set of kinds; the node `switch`es on the kind.
 */

import { MAC_BROADCAST, readIpv4, readMac, readU16, type Ipv4Addr } from '../wire/addr.ts';
import { internetChecksum } from '../wire/checksum.ts';
import { ETHERTYPE } from '../wire/ethernet.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import type { IfaceName } from '../port.ts';
import { ETH, type Iface, type NodeCore } from './core.ts';

export const FRAME_KINDS = [
  'arp', // ARP on either interface (egress.ts)
  'bidd', // an election datagram or a freshness challenge to the failover group (failover.ts)
  'sync', // a stateful-failover datagram to the failover group (failover.ts)
  'igmp', // IGMP on the public interface (multicast.ts)
  'mcast-write', // a datagram to a multicast write group (multicast.ts)
  'client-to-vip', // a client's packet to a VIP (nat.ts)
  'server-reply', // a real server's packet to a client (nat.ts)
  'probe-answer', // an answer to a health probe (health.ts)
  'control', // a feedback-protocol datagram (local.ts, SGctrld)
  'local', // anything else for the node's own addresses or VIPs: pings (local.ts)
  'standby', // VIP or server traffic while another node serves (dropped, counted)
  'dropped', // malformed, not for us, or of no kind the node handles (counted where it is a drop)
] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];

/** What the failover and health parts tell ingress about themselves (read per frame). */
export interface IngressEnv {
  /** Multicast MACs the public interface accepts. */
  readonly pubMacs: ReadonlySet<number>;
  /** The multicast write groups. */
  readonly writeGroups: ReadonlySet<number>;
  readonly vips: ReadonlySet<number>;
  /** Whether stateful failover runs (sync datagrams are taken). */
  readonly syncOn: boolean;
  /** The control port, when SGctrld runs. */
  readonly ctlPort: number | undefined;
  /** Health probes pending, and the key of the one a datagram answers. */
  probesPending(): number;
  probeMatch(f: Uint8Array, ihl: number, end: number, proto: number, src: Ipv4Addr): string | undefined;
}

/**
 * The classifier and what it read of the last frame: the node reads these fields right after
 * `classify` (one record reused per frame, no allocation).
 */
export class Ingress {
  readonly #core: NodeCore;
  readonly #env: IngressEnv;
  readonly #pub: Iface;
  readonly #priv: Iface;
  /** Server addresses (of any group). */
  readonly #servers: ReadonlySet<number>;
  // The last frame's fields (valid for the kinds past 'arp').
  ifc: Iface;
  ihl = 0;
  /** Offset just past the datagram (the frame may carry padding beyond). */
  end = 0;
  proto = 0;
  src = 0 as Ipv4Addr;
  dst = 0 as Ipv4Addr;
  /** 'probe-answer': the probe's key. */
  probeKey = '';

  constructor(core: NodeCore, env: IngressEnv) {
    this.#core = core;
    this.#env = env;
    this.#pub = core.pub;
    this.#priv = core.priv;
    this.ifc = core.pub;
    this.#servers = new Set(core.cfg.groups.flatMap((g) => g.servers.map((s) => s.addr)));
  }

  classify(iface: IfaceName, f: Uint8Array): FrameKind {
    const core = this.#core;
    const pub = this.#pub;
    const ifc = iface === pub.cfg.name ? pub : iface === this.#priv.cfg.name ? this.#priv : undefined;
    if (ifc === undefined) return core.drop('ethernet', 'unknown-iface'), 'dropped';
    if (f.length < ETH) return core.drop('ethernet', 'truncated'), 'dropped';
    this.ifc = ifc;
    const mac = readMac(f, 0);
    if (mac !== ifc.cfg.mac && mac !== MAC_BROADCAST && !(ifc === pub && this.#env.pubMacs.has(mac))) return 'dropped'; // not for us: filtered, as a NIC does
    const et = readU16(f, 12);
    if (et === ETHERTYPE.arp) return 'arp';
    if (et !== ETHERTYPE.ipv4) return core.drop('ethernet', 'unsupported'), 'dropped';
    return this.#ipv4(ifc, f);
  }

  #ipv4(ifc: Iface, f: Uint8Array): FrameKind {
    const core = this.#core;
    const env = this.#env;
    if (f.length < ETH + 20) return core.drop('ipv4', 'truncated'), 'dropped';
    const vihl = f[ETH]!;
    if (vihl >>> 4 !== 4) return core.drop('ipv4', 'bad-version'), 'dropped';
    const ihl = (vihl & 15) * 4;
    const total = readU16(f, ETH + 2);
    if (ihl < 20 || total < ihl) return core.drop('ipv4', 'bad-header-length'), 'dropped';
    if (f.length < ETH + total) return core.drop('ipv4', 'truncated'), 'dropped';
    if (internetChecksum(f, ETH, ihl) !== 0) return core.drop('ipv4', 'bad-checksum'), 'dropped';
    const src = readIpv4(f, ETH + 12) as Ipv4Addr;
    const dst = readIpv4(f, ETH + 16) as Ipv4Addr;
    const proto = f[ETH + 9]!;
    const fragmented = (readU16(f, ETH + 6) & 0x3fff) !== 0;
    const end = ETH + total;
    this.ihl = ihl;
    this.end = end;
    this.proto = proto;
    this.src = src;
    this.dst = dst;
    const onPub = ifc === this.#pub;
    const fo = core.cfg.failover;
    const udpPort = proto === IP_PROTO.udp && !fragmented && end - (ETH + ihl) >= 8 ? readU16(f, ETH + ihl + 2) : -1;
    if (onPub && fo !== undefined && dst === fo.group && udpPort === fo.port) return 'bidd';
    if (onPub && proto === IP_PROTO.igmp && !fragmented && dst >>> 28 === 0xe) return 'igmp';
    if (onPub && env.writeGroups.has(dst)) return 'mcast-write';
    if (onPub && env.syncOn && dst === fo!.group && udpPort === fo!.port + 1) return 'sync';
    const toVip = onPub && env.vips.has(dst);
    const fromServer = !onPub && this.#servers.has(src) && dst !== ifc.cfg.addr;
    if (!core.active && (env.vips.has(dst) || fromServer)) return 'standby'; // only the master serves the VIPs
    if (toVip || fromServer) {
      if (fragmented) return core.drop('nat', 'fragment'), 'dropped';
      return toVip ? 'client-to-vip' : 'server-reply';
    }
    if (!onPub && dst === ifc.cfg.addr && !fragmented && env.probesPending() > 0) {
      const key = env.probeMatch(f, ihl, end, proto, src);
      if (key !== undefined) {
        this.probeKey = key;
        return 'probe-answer';
      }
    }
    if (dst === ifc.cfg.addr && env.ctlPort !== undefined && udpPort === env.ctlPort) return 'control';
    if (dst === ifc.cfg.addr || toVip) return 'local';
    return core.drop('ipv4', 'not-for-us'), 'dropped';
  }
}
