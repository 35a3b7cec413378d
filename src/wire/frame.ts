/**
 * Whole frames: decode every layer at once (for traces, tests and the simulator's hosts) and
 * build a frame from layer values in one exact-size buffer.
 */

import { formatIpv4, formatMac, type Ipv4Addr, type MacAddr } from './addr.ts';
import { emitArp, parseArp, ARP_LEN, ARP_OP, type ArpPacket } from './arp.ts';
import { ETHERTYPE, ETH_HEADER_LEN, ETH_VLAN_TAG_LEN, parseEthernet, type EthernetFrame, type VlanTag } from './ethernet.ts';
import { emitIcmp, icmpLength, parseIcmp, type IcmpMessage } from './icmp.ts';
import { emitIgmp, igmpLength, parseIgmp, type IgmpMessage } from './igmp.ts';
import { emitIpv4Header, ipv4HeaderLength, IP_PROTO, parseIpv4, type Ipv4Header, type Ipv4Packet } from './ipv4.ts';
import { writeMac, writeU16 } from './addr.ts';
import { assertNever } from '../assert.ts';
import { ok, type Parsed } from './result.ts';
import { emitTcp, parseTcp, tcpFlagNames, tcpLength, type TcpSegment } from './tcp.ts';
import { emitUdp, parseUdp, udpLength, type UdpDatagram } from './udp.ts';

export type Transport =
  | { readonly kind: 'tcp'; readonly tcp: TcpSegment }
  | { readonly kind: 'udp'; readonly udp: UdpDatagram }
  | { readonly kind: 'icmp'; readonly icmp: IcmpMessage }
  | { readonly kind: 'igmp'; readonly igmp: IgmpMessage }
  /** Another protocol, or a non-first fragment: the payload as it is. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array };

export type Network =
  | { readonly kind: 'arp'; readonly arp: ArpPacket }
  | { readonly kind: 'ipv4'; readonly ip: Ipv4Header; readonly l4: Transport }
  | { readonly kind: 'raw'; readonly ethertype: number; readonly bytes: Uint8Array };

export interface DecodedFrame {
  readonly eth: Omit<EthernetFrame, 'payload' | 'ethertype'>;
  readonly net: Network;
}

export interface DecodeOptions {
  /** Verify IPv4, ICMP, IGMP, TCP and UDP checksums (default true). */
  readonly verifyChecksums?: boolean;
}

function decodeTransport(ip: Ipv4Packet, verify: boolean): Parsed<Transport> {
  if (ip.fragmentOffset !== 0 || (ip.flags & 1) !== 0) return ok({ kind: 'raw', bytes: ip.payload });
  const pseudo = verify ? { src: ip.src, dst: ip.dst } : undefined;
  switch (ip.protocol) {
    case IP_PROTO.tcp: {
      const r = parseTcp(ip.payload, pseudo ? { pseudo } : {});
      return r.ok ? ok({ kind: 'tcp', tcp: r.value }) : r;
    }
    case IP_PROTO.udp: {
      const r = parseUdp(ip.payload, pseudo ? { pseudo } : {});
      return r.ok ? ok({ kind: 'udp', udp: r.value }) : r;
    }
    case IP_PROTO.icmp: {
      const r = parseIcmp(ip.payload, { verifyChecksum: verify });
      return r.ok ? ok({ kind: 'icmp', icmp: r.value }) : r;
    }
    case IP_PROTO.igmp: {
      const r = parseIgmp(ip.payload, { verifyChecksum: verify });
      return r.ok ? ok({ kind: 'igmp', igmp: r.value }) : r;
    }
  }
  return ok({ kind: 'raw', bytes: ip.payload });
}

/** Decode every layer; the first layer that fails decides the error. */
export function decodeFrame(b: Uint8Array, opts: DecodeOptions = {}): Parsed<DecodedFrame> {
  const verify = opts.verifyChecksums !== false;
  const e = parseEthernet(b);
  if (!e.ok) return e;
  // Plain literals, not rest destructuring: this runs for every frame a simulated host sees.
  const { payload, ethertype } = e.value;
  const eth = { dst: e.value.dst, src: e.value.src, vlans: e.value.vlans };
  if (ethertype === ETHERTYPE.arp) {
    const a = parseArp(payload);
    return a.ok ? ok({ eth, net: { kind: 'arp', arp: a.value } }) : a;
  }
  if (ethertype === ETHERTYPE.ipv4) {
    const p = parseIpv4(payload, { verifyChecksum: verify });
    if (!p.ok) return p;
    const l4 = decodeTransport(p.value, verify);
    if (!l4.ok) return l4;
    // The packet value is an Ipv4Header too; its payload stays reachable as `ip.payload`.
    return ok({ eth, net: { kind: 'ipv4', ip: p.value, l4: l4.value } });
  }
  return ok({ eth, net: { kind: 'raw', ethertype, bytes: payload } });
}

function transportLength(t: Transport): number {
  switch (t.kind) {
    case 'tcp':
      return tcpLength(t.tcp);
    case 'udp':
      return udpLength(t.udp);
    case 'icmp':
      return icmpLength(t.icmp);
    case 'igmp':
      return igmpLength(t.igmp);
    case 'raw':
      return t.bytes.length;
    default:
      return assertNever(t, 'transport');
  }
}

export interface FrameSpec {
  readonly eth: { readonly dst: MacAddr; readonly src: MacAddr; readonly vlans?: readonly VlanTag[] };
  readonly net: Network;
}

/** Build a whole frame from layer values; IPv4 total length and every checksum are filled in. */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const vlans = spec.eth.vlans ?? [];
  const hl = ETH_HEADER_LEN + ETH_VLAN_TAG_LEN * vlans.length;
  const net = spec.net;
  let netLen: number;
  let ethertype: number;
  switch (net.kind) {
    case 'arp':
      netLen = ARP_LEN;
      ethertype = ETHERTYPE.arp;
      break;
    case 'ipv4':
      netLen = ipv4HeaderLength(net.ip) + transportLength(net.l4);
      ethertype = ETHERTYPE.ipv4;
      break;
    case 'raw':
      netLen = net.bytes.length;
      ethertype = net.ethertype;
      break;
    default:
      return assertNever(net, 'network layer');
  }
  const buf = new Uint8Array(hl + netLen);
  writeMac(buf, 0, spec.eth.dst);
  writeMac(buf, 6, spec.eth.src);
  let p = 12;
  for (const t of vlans) {
    writeU16(buf, p, t.tpid);
    writeU16(buf, p + 2, t.tci);
    p += 4;
  }
  writeU16(buf, p, ethertype);
  switch (net.kind) {
    case 'arp':
      emitArp(net.arp, buf, hl);
      break;
    case 'raw':
      buf.set(net.bytes, hl);
      break;
    case 'ipv4': {
      const l4 = net.l4;
      const ipHl = emitIpv4Header(net.ip, transportLength(l4), buf, hl);
      const at = hl + ipHl;
      const pseudo = { src: net.ip.src, dst: net.ip.dst };
      switch (l4.kind) {
        case 'tcp':
          emitTcp(l4.tcp, pseudo, buf, at);
          break;
        case 'udp':
          emitUdp(l4.udp, pseudo, buf, at);
          break;
        case 'icmp':
          emitIcmp(l4.icmp, buf, at);
          break;
        case 'igmp':
          emitIgmp(l4.igmp, buf, at);
          break;
        case 'raw':
          buf.set(l4.bytes, at);
          break;
        default:
          assertNever(l4, 'transport');
      }
      break;
    }
  }
  return buf;
}

/** A plain IPv4 header with defaults: TTL 64, DF set, no options. */
export function ipv4Header(
  fields: Pick<Ipv4Header, 'src' | 'dst' | 'protocol'> & Partial<Ipv4Header>,
): Ipv4Header {
  return {
    dscp: 0,
    ecn: 0,
    identification: 0,
    flags: 2,
    fragmentOffset: 0,
    ttl: 64,
    options: [],
    ...fields,
  };
}

/** One line per frame in the spirit of tshark's summary, for traces and test messages. */
export function summarizeFrame(b: Uint8Array): string {
  const d = decodeFrame(b, { verifyChecksums: false });
  if (!d.ok) return `malformed (${d.error.layer}: ${d.error.reason})`;
  const net = d.value.net;
  switch (net.kind) {
    case 'arp': {
      const a = net.arp;
      if (a.op === ARP_OP.request) return `ARP who-has ${formatIpv4(a.targetIp)} tell ${formatIpv4(a.senderIp)}`;
      if (a.op === ARP_OP.reply) return `ARP ${formatIpv4(a.senderIp)} is-at ${formatMac(a.senderMac)}`;
      return `ARP op ${a.op}`;
    }
    case 'raw':
      return `ethertype 0x${net.ethertype.toString(16).padStart(4, '0')} ${net.bytes.length} bytes`;
    case 'ipv4':
      return summarizeIpv4(net.ip.src, net.ip.dst, net.l4);
    default:
      return assertNever(net, 'network layer');
  }
}

function summarizeIpv4(src: Ipv4Addr, dst: Ipv4Addr, l4: Transport): string {
  const s = formatIpv4(src);
  const t = formatIpv4(dst);
  switch (l4.kind) {
    case 'tcp': {
      const g = l4.tcp;
      return `TCP ${s}:${g.srcPort} > ${t}:${g.dstPort} [${tcpFlagNames(g.flags)}] seq=${g.seq} ack=${g.ack} len=${g.payload.length}`;
    }
    case 'udp':
      return `UDP ${s}:${l4.udp.srcPort} > ${t}:${l4.udp.dstPort} len=${l4.udp.payload.length}`;
    case 'icmp': {
      const m = l4.icmp;
      switch (m.kind) {
        case 'echo-request':
        case 'echo-reply':
          return `ICMP ${s} > ${t} ${m.kind} id=${m.id} seq=${m.seq}`;
        case 'dest-unreachable':
        case 'time-exceeded':
          return `ICMP ${s} > ${t} ${m.kind} code=${m.code}`;
        case 'unknown':
          return `ICMP ${s} > ${t} type=${m.type} code=${m.code}`;
        default:
          return assertNever(m, 'icmp');
      }
    }
    case 'igmp': {
      const m = l4.igmp;
      switch (m.kind) {
        case 'query':
        case 'v3-query':
        case 'v1-report':
        case 'v2-report':
        case 'leave':
          return `IGMP ${s} > ${t} ${m.kind} ${formatIpv4(m.group)}`;
        case 'v3-report':
          return `IGMP ${s} > ${t} v3-report ${m.records.map((r) => `${r.type}:${formatIpv4(r.group)}`).join(' ')}`;
        case 'unknown':
          return `IGMP ${s} > ${t} type=0x${m.type.toString(16)}`;
        default:
          return assertNever(m, 'igmp');
      }
    }
    case 'raw':
      return `IPv4 ${s} > ${t} ${l4.bytes.length} bytes`;
    default:
      return assertNever(l4, 'transport');
  }
}
