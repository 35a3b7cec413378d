/**
 * A test rig for one SG node (quinn `Pair` style, one side only): the node, a trace, virtual time
 * stepped through `pollTimeout` / `handleTimeout`, and builders for the frames the protocol is
 * made of. The addresses are slide 29's: clients on 140.116.72.0/24, the VIPs beside them, the
 * real servers on 192.168.1.0/24 behind the node's private interface.
 */

import { expect } from 'vitest';
import type { GroupConfig, ServerConfig } from '../../src/balance/types.ts';
import type { IdleTimeouts, SgNodeConfig } from '../../src/engine/config.ts';
import { checkNodeInvariants } from '../../src/engine/invariants.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { ifaceName, type IfaceName, type TxFrame } from '../../src/port.ts';
import { seconds, type Instant } from '../../src/time.ts';
import { MemoryTrace } from '../../src/trace.ts';
import { ip, mac, MAC_BROADCAST, MAC_ZERO, type Ipv4Addr, type MacAddr } from '../../src/wire/addr.ts';
import { ARP_OP, type ArpPacket } from '../../src/wire/arp.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import type { VlanTag } from '../../src/wire/ethernet.ts';
import { decodeFrame, encodeFrame, ipv4Header, type Transport } from '../../src/wire/frame.ts';
import type { IcmpMessage } from '../../src/wire/icmp.ts';
import { IP_PROTO, type Ipv4Header, type Ipv4Option } from '../../src/wire/ipv4.ts';

export const PUB = ifaceName('eth0');
export const PRIV = ifaceName('eth1');

export const SG_PUB_MAC = mac('02:00:00:00:01:01');
export const SG_PRIV_MAC = mac('02:00:00:00:01:02');
export const SG_PUB = ip('140.116.72.211');
export const SG_PRIV = ip('192.168.1.254');

export const GATEWAY = ip('140.116.72.1');
export const GATEWAY_MAC = mac('02:00:00:00:09:01');
/** Web (TCP/UDP 80 on every server) and DNS (UDP 53 -> 5353 on rs1, rs2). */
export const VIP = ip('140.116.72.114');
/** Ping group (port 0: ICMP echo) on rs1, rs2. */
export const VIP2 = ip('140.116.72.115');

/** A client on the public subnet (reached directly) and one behind the gateway. */
export const CLIENT = ip('140.116.72.118');
export const CLIENT_MAC = mac('02:00:00:00:02:01');
export const REMOTE = ip('198.51.100.7');

export const SERVERS = [ip('192.168.1.1'), ip('192.168.1.2'), ip('192.168.1.3')] as const;
export const SERVER_MACS = [mac('02:00:00:00:03:01'), mac('02:00:00:00:03:02'), mac('02:00:00:00:03:03')] as const;

export const G_WEB = 0;
export const G_DNS = 1;
export const G_PING = 2;

/** Short idle timeouts so the sweep can be watched in a few hundred timer steps. */
export const IDLE: IdleTimeouts = {
  tcp: seconds(60),
  tcpClosing: seconds(2),
  unanswered: seconds(3),
  udp: seconds(5),
  icmp: seconds(4),
};

export function server(i: number, port?: number): ServerConfig {
  const s = { name: `rs${i + 1}`, addr: SERVERS[i]!, weight: 1 };
  return port === undefined ? s : { ...s, port };
}

export function group(name: string, vip: Ipv4Addr, port: number | 'all', servers: readonly ServerConfig[], over: Partial<GroupConfig> = {}): GroupConfig {
  return {
    name,
    vip,
    port,
    policy: 'round-robin',
    weighted: false,
    keepSameServer: { mode: 'off' },
    loadWindow: seconds(10),
    loadFromTotals: false,
    servers,
    ...over,
  };
}

export const DEFAULT_GROUPS: readonly GroupConfig[] = [
  group('web', VIP, 80, [server(0), server(1), server(2)]),
  group('dns', VIP, 53, [server(0, 5353), server(1, 5353)]),
  group('ping', VIP2, 0, [server(0), server(1)]),
];

export function config(over: Partial<SgNodeConfig> = {}): SgNodeConfig {
  return {
    name: 'sg1',
    public: { name: PUB, mac: SG_PUB_MAC, addr: SG_PUB, prefixLen: 24 },
    private: { name: PRIV, mac: SG_PRIV_MAC, addr: SG_PRIV, prefixLen: 24 },
    gateway: GATEWAY,
    groups: DEFAULT_GROUPS,
    linksMax: 1_000,
    idle: IDLE,
    garpCount: 0,
    garpInterval: seconds(1),
    ...over,
  };
}

export interface Sent extends TxFrame {
  readonly at: Instant;
}

export interface RigOptions {
  /** Teach the node the client's, the gateway's and every server's MAC (default true). */
  readonly learn?: boolean;
  readonly start?: Instant;
}

export class Rig {
  readonly node: SgNode;
  readonly trace = new MemoryTrace();
  now: Instant;

  constructor(cfg: SgNodeConfig = config(), opts: RigOptions = {}) {
    this.now = opts.start ?? (0 as Instant);
    this.node = new SgNode(cfg, { trace: this.trace, now: this.now });
    if (opts.learn !== false) {
      this.learn(PUB, CLIENT, CLIENT_MAC);
      this.learn(PUB, GATEWAY, GATEWAY_MAC);
      SERVERS.forEach((s, i) => this.learn(PRIV, s, SERVER_MACS[i]!));
    }
  }

  /**
   * Hand a copy of `frame` to the node now (the node rewrites frames in place); what it sent.
   * Every frame and timeout the rig hands over is followed by the node's invariant check.
   */
  rx(iface: IfaceName, frame: Uint8Array): TxFrame[] {
    this.node.handleFrame(this.now, iface, frame.slice());
    checkNodeInvariants(this.node);
    return this.drain();
  }

  /** Like rx, but expects exactly one frame out and returns it. */
  rx1(iface: IfaceName, frame: Uint8Array): TxFrame {
    const out = this.rx(iface, frame);
    expect(out.map((t) => t.iface)).toHaveLength(1);
    return out[0]!;
  }

  drain(): TxFrame[] {
    const out: TxFrame[] = [];
    for (let tx = this.node.pollTransmit(); tx !== undefined; tx = this.node.pollTransmit()) out.push(tx);
    return out;
  }

  /** Move virtual time to `to`, firing every deadline on the way; the frames sent, with when. */
  advance(to: number): Sent[] {
    const out: Sent[] = [];
    for (let d = this.node.pollTimeout(); d !== undefined && d <= to; d = this.node.pollTimeout()) {
      this.now = Math.max(this.now, d) as Instant;
      this.node.handleTimeout(this.now);
      checkNodeInvariants(this.node);
      for (const tx of this.drain()) out.push({ ...tx, at: this.now });
    }
    this.now = Math.max(this.now, to) as Instant;
    return out;
  }

  /** An ARP reply from `who` (at `whoMac`) to the node, on `iface`. */
  learn(iface: IfaceName, who: Ipv4Addr, whoMac: MacAddr): TxFrame[] {
    const me = iface === PUB ? { mac: SG_PUB_MAC, ip: SG_PUB } : { mac: SG_PRIV_MAC, ip: SG_PRIV };
    return this.rx(iface, arpFrame(whoMac, me.mac, { op: ARP_OP.reply, senderMac: whoMac, senderIp: who, targetMac: me.mac, targetIp: me.ip }));
  }

  drops(): Record<string, number> {
    return Object.fromEntries([...this.node.counters.drops].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  drop(key: string): number {
    return this.node.counters.drops.get(key) ?? 0;
  }

  /** The one link of `proto` from `client:port` to `vip:vport`, as a value (undefined if none). */
  link(proto: 6 | 17 | 1, client: Ipv4Addr, port: number, vip: Ipv4Addr, vport: number) {
    const id = this.node.links.lookupClient(proto, client, port, vip, vport);
    return id === -1 ? undefined : this.node.links.info(id);
  }
}

// ---- frame builders ----

export interface IpSpec {
  readonly srcMac: MacAddr;
  readonly dstMac: MacAddr;
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly ttl?: number;
  readonly ip?: Partial<Ipv4Header>;
  readonly ipOptions?: readonly Ipv4Option[];
  readonly vlans?: readonly VlanTag[];
}

function ipFrame(p: IpSpec, protocol: number, l4: Transport): Uint8Array {
  const eth = p.vlans === undefined ? { dst: p.dstMac, src: p.srcMac } : { dst: p.dstMac, src: p.srcMac, vlans: p.vlans };
  return encodeFrame({
    eth,
    net: {
      kind: 'ipv4',
      ip: ipv4Header({ src: p.src, dst: p.dst, protocol, ttl: p.ttl ?? 64, identification: 0x1234, options: p.ipOptions ?? [], ...p.ip }),
      l4,
    },
  });
}

export interface TcpSpec extends IpSpec {
  readonly sport: number;
  readonly dport: number;
  readonly flags: number;
  readonly seq?: number;
  readonly ack?: number;
  readonly payload?: Uint8Array;
}

export function tcpFrame(p: TcpSpec): Uint8Array {
  return ipFrame(p, IP_PROTO.tcp, {
    kind: 'tcp',
    tcp: { srcPort: p.sport, dstPort: p.dport, seq: p.seq ?? 1000, ack: p.ack ?? 0, flags: p.flags, window: 29200, urgentPointer: 0, options: [], payload: p.payload ?? new Uint8Array(0) },
  });
}

export interface UdpSpec extends IpSpec {
  readonly sport: number;
  readonly dport: number;
  readonly payload?: Uint8Array;
  /** Send with checksum 0 ("none", RFC 768). */
  readonly noChecksum?: boolean;
}

export function udpFrame(p: UdpSpec): Uint8Array {
  const f = ipFrame(p, IP_PROTO.udp, { kind: 'udp', udp: { srcPort: p.sport, dstPort: p.dport, payload: p.payload ?? new TextEncoder().encode('query') } });
  if (p.noChecksum === true) {
    const l4 = udpOffset(f);
    f[l4 + 6] = 0;
    f[l4 + 7] = 0;
  }
  return f;
}

export function icmpFrame(p: IpSpec, icmp: IcmpMessage): Uint8Array {
  return ipFrame(p, IP_PROTO.icmp, { kind: 'icmp', icmp });
}

export function echoRequest(p: IpSpec, id: number, seq: number): Uint8Array {
  return icmpFrame(p, { kind: 'echo-request', id, seq, data: new TextEncoder().encode('ping-data') });
}

export function echoReply(p: IpSpec, id: number, seq: number): Uint8Array {
  return icmpFrame(p, { kind: 'echo-reply', id, seq, data: new TextEncoder().encode('ping-data') });
}

export function arpFrame(srcMac: MacAddr, dstMac: MacAddr, arp: ArpPacket): Uint8Array {
  return encodeFrame({ eth: { dst: dstMac, src: srcMac }, net: { kind: 'arp', arp } });
}

export function arpRequest(srcMac: MacAddr, senderIp: Ipv4Addr, targetIp: Ipv4Addr): Uint8Array {
  return arpFrame(srcMac, MAC_BROADCAST, { op: ARP_OP.request, senderMac: srcMac, senderIp, targetMac: MAC_ZERO, targetIp });
}

/** Offset of the L4 header in an untagged frame. */
export function udpOffset(f: Uint8Array): number {
  return 14 + (f[14]! & 15) * 4;
}

// ---- checks ----

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trimEnd();
}

/** Decode with every checksum verified; fails the test when the frame does not decode. */
export function decoded(b: Uint8Array) {
  const d = decodeFrame(b);
  if (!d.ok) throw new Error(`frame does not decode: ${d.error.layer}/${d.error.reason} ${hex(b)}`);
  return d.value;
}

/** The IPv4 header and transport of a frame, all checksums verified. */
export function ipv4Of(b: Uint8Array) {
  const d = decoded(b);
  if (d.net.kind !== 'ipv4') throw new Error(`not IPv4: ${d.net.kind}`);
  return { eth: d.eth, ip: d.net.ip, l4: d.net.l4 };
}

/** Whether the IPv4 header at the start of `b` (a quoted datagram) has a valid checksum. */
export function quotedHeaderChecksumOk(b: Uint8Array): boolean {
  return internetChecksum(b, 0, (b[0]! & 15) * 4) === 0;
}
