/**
 * The NAT path alone: an SG node engine handed Ethernet frames of established TCP links
 * (frame in, link lookup, rewrite with incremental checksums, frame out through pollTransmit), on
 * one core, both directions alternating, with 10,000 links in the table. Each item copies a 66-byte
 * template into the frame buffer first (the engine rewrites frames in place), which the figure
 * includes. Goal: at least 2M frames/s.
 */
import { GroupBalancer } from '../../src/balance/balancer.ts';
import type { GroupConfig } from '../../src/balance/types.ts';
import { SG_DEFAULTS } from '../../src/engine/config.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { ifaceName } from '../../src/port.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { ip, mac, type Ipv4Addr } from '../../src/wire/addr.ts';
import { ARP_OP } from '../../src/wire/arp.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { TCP_FLAG } from '../../src/wire/tcp.ts';
import type { Bench } from './harness.ts';

void GroupBalancer;

const PUB = ifaceName('eth0');
const PRIV = ifaceName('eth1');
const SG_PUB_MAC = mac('02:00:00:00:01:01');
const SG_PRIV_MAC = mac('02:00:00:00:01:02');
const CLIENT_MAC = mac('02:00:00:00:02:01');
const SERVER_MACS = [mac('02:00:00:00:03:01'), mac('02:00:00:00:03:02'), mac('02:00:00:00:03:03')];
const VIP = ip('140.116.72.114');
const SERVERS = [ip('192.168.1.1'), ip('192.168.1.2'), ip('192.168.1.3')];
const CLIENT = ip('140.116.72.128');

export const NAT_LINKS = 10_000;

function tcp(src: Ipv4Addr, dst: Ipv4Addr, sport: number, dport: number, flags: number, srcMac: typeof SG_PUB_MAC, dstMac: typeof SG_PUB_MAC, payload = 12): Uint8Array {
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac },
    net: { kind: 'ipv4', ip: ipv4Header({ src, dst, protocol: IP_PROTO.tcp }), l4: { kind: 'tcp', tcp: { srcPort: sport, dstPort: dport, seq: 1, ack: 1, flags, window: 500, urgentPointer: 0, options: [], payload: new Uint8Array(payload) } } },
  });
}

function arpReply(senderMac: typeof SG_PUB_MAC, senderIp: Ipv4Addr, targetMac: typeof SG_PUB_MAC, targetIp: Ipv4Addr): Uint8Array {
  return encodeFrame({ eth: { dst: targetMac, src: senderMac }, net: { kind: 'arp', arp: { op: ARP_OP.reply, senderMac, senderIp, targetMac, targetIp } } });
}

/** An SG node with NAT_LINKS established links; returns the node and frame templates per link. */
export function natFixture(): { node: SgNode; inbound: Uint8Array[]; outbound: Uint8Array[] } {
  const group: GroupConfig = {
    name: 'web', vip: VIP, port: 80, policy: 'round-robin', weighted: false, keepSameServer: { mode: 'off' },
    loadWindow: 10_000_000 as Duration, loadFromTotals: false,
    servers: SERVERS.map((addr, i) => ({ name: `rs${i + 1}`, addr, weight: 1 })),
  };
  const node = new SgNode({
    name: 'sg1',
    public: { name: PUB, mac: SG_PUB_MAC, addr: ip('140.116.72.211'), prefixLen: 24 },
    private: { name: PRIV, mac: SG_PRIV_MAC, addr: ip('192.168.1.254'), prefixLen: 24 },
    groups: [group], linksMax: 1_000_000, idle: SG_DEFAULTS.idle, garpCount: 0, garpInterval: SG_DEFAULTS.garpInterval,
  });
  const t = 1 as Instant;
  node.handleFrame(t, PUB, arpReply(CLIENT_MAC, CLIENT, SG_PUB_MAC, ip('140.116.72.211')));
  SERVERS.forEach((s, i) => node.handleFrame(t, PRIV, arpReply(SERVER_MACS[i]!, s, SG_PRIV_MAC, ip('192.168.1.254'))));
  const inbound: Uint8Array[] = [];
  const outbound: Uint8Array[] = [];
  for (let i = 0; i < NAT_LINKS; i++) {
    const port = 10_000 + i;
    node.handleFrame(t, PUB, tcp(CLIENT, VIP, port, 80, TCP_FLAG.syn, CLIENT_MAC, SG_PUB_MAC, 0));
    const syn = node.pollTransmit();
    if (syn === undefined) throw new Error('SYN not forwarded');
    const server = SERVERS[SERVERS.findIndex((_, k) => syn.frame[30 + 3] === (SERVERS[k]! & 255))]!;
    const smac = SERVER_MACS[SERVERS.indexOf(server)]!;
    node.handleFrame(t, PRIV, tcp(server, CLIENT, 80, port, TCP_FLAG.syn | TCP_FLAG.ack, smac, SG_PRIV_MAC, 0));
    if (node.pollTransmit() === undefined) throw new Error('SYN-ACK not forwarded');
    inbound.push(tcp(CLIENT, VIP, port, 80, TCP_FLAG.ack | TCP_FLAG.psh, CLIENT_MAC, SG_PUB_MAC));
    outbound.push(tcp(server, CLIENT, 80, port, TCP_FLAG.ack | TCP_FLAG.psh, smac, SG_PRIV_MAC));
  }
  return { node, inbound, outbound };
}

function natPath(): Bench {
  let fx: ReturnType<typeof natFixture> | undefined;
  const buf = new Uint8Array(66);
  return {
    name: `NAT path: SG engine, established TCP links (${NAT_LINKS} in table), both directions`,
    unit: 'frames',
    goalPerSec: 2e6,
    run(n) {
      fx ??= natFixture();
      const { node, inbound, outbound } = fx;
      let out = 0;
      const now = 2 as Instant;
      for (let i = 0; i < n; i++) {
        const k = (i >>> 1) % NAT_LINKS;
        const inb = (i & 1) === 0;
        buf.set(inb ? inbound[k]! : outbound[k]!);
        node.handleFrame(now, inb ? PUB : PRIV, buf);
        if (node.pollTransmit() !== undefined) out++;
      }
      if (out !== n) throw new Error(`only ${out} of ${n} frames came out`);
      return out;
    },
  };
}

export const natBenches: Bench[] = [natPath()];
