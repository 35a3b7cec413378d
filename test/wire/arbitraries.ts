/** fast-check arbitraries for every codec's values, shared by the property tests. */
import fc from 'fast-check';
import type { Ipv4Addr, MacAddr } from '../../src/wire/addr.ts';
import type { ArpPacket } from '../../src/wire/arp.ts';
import type { EthernetFrame, VlanTag } from '../../src/wire/ethernet.ts';
import type { IcmpMessage } from '../../src/wire/icmp.ts';
import { IGMP_TYPE, type IgmpGroupRecord, type IgmpMessage } from '../../src/wire/igmp.ts';
import type { Ipv4Header, Ipv4Option } from '../../src/wire/ipv4.ts';
import type { TcpOption, TcpSegment } from '../../src/wire/tcp.ts';
import type { UdpDatagram } from '../../src/wire/udp.ts';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
export const bytes = (maxLength = 64, minLength = 0) => fc.uint8Array({ minLength, maxLength });

export const ipv4Addr: fc.Arbitrary<Ipv4Addr> = u32.map((v) => v as Ipv4Addr);
export const macAddr: fc.Arbitrary<MacAddr> = fc.integer({ min: 0, max: 2 ** 48 - 1 }).map((v) => v as MacAddr);

export const vlanTag: fc.Arbitrary<VlanTag> = fc.record({ tpid: fc.constantFrom(0x8100, 0x88a8), tci: u16 });

export const ethernetFrame: fc.Arbitrary<EthernetFrame> = fc.record({
  dst: macAddr,
  src: macAddr,
  vlans: fc.array(vlanTag, { maxLength: 2 }),
  ethertype: u16.filter((t) => t !== 0x8100 && t !== 0x88a8 && t !== 0x9100),
  payload: bytes(100),
});

export const arpPacket: fc.Arbitrary<ArpPacket> = fc.record({
  op: u16,
  senderMac: macAddr,
  senderIp: ipv4Addr,
  targetMac: macAddr,
  targetIp: ipv4Addr,
});

export const ipv4Option: fc.Arbitrary<Ipv4Option> = fc.oneof(
  fc.constant({ kind: 'nop' as const }),
  u16.map((value) => ({ kind: 'router-alert' as const, value })),
  fc.record({ kind: fc.constant('sg-write-status' as const), status: u16, retval: i32 }),
  fc.record({
    kind: fc.constant('unknown' as const),
    type: u8.filter((t) => t > 1 && t !== 148 && t !== 0x9e),
    data: bytes(8),
  }),
);

/** Options that fit in 40 bytes. */
export const ipv4Options = fc.array(ipv4Option, { maxLength: 6 }).filter((os) => {
  let n = 0;
  for (const o of os) n += o.kind === 'nop' ? 1 : o.kind === 'router-alert' ? 4 : o.kind === 'sg-write-status' ? 8 : 2 + o.data.length;
  return n <= 40;
});

export const ipv4Header: fc.Arbitrary<Ipv4Header> = fc.record({
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  identification: u16,
  flags: fc.integer({ min: 0, max: 7 }),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
  ttl: u8,
  protocol: u8,
  src: ipv4Addr,
  dst: ipv4Addr,
  options: ipv4Options,
});

/** A header for an unfragmented datagram, so the transport layer is decoded. */
export const ipv4HeaderWhole = ipv4Header.map((h) => ({ ...h, flags: h.flags & 6, fragmentOffset: 0 }));

const sackBlock = fc.tuple(u32, u32).map(([l, r]) => [l, r] as const);
export const tcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant({ kind: 'nop' as const }),
  u16.map((value) => ({ kind: 'mss' as const, value })),
  u8.map((shift) => ({ kind: 'window-scale' as const, shift })),
  fc.constant({ kind: 'sack-permitted' as const }),
  fc.array(sackBlock, { minLength: 1, maxLength: 3 }).map((blocks) => ({ kind: 'sack' as const, blocks })),
  fc.record({ kind: fc.constant('timestamp' as const), value: u32, echo: u32 }),
  fc.record({
    kind: fc.constant('unknown' as const),
    type: u8.filter((t) => t > 1 && ![2, 3, 4, 5, 8].includes(t)),
    data: bytes(6),
  }),
);

function tcpOptLen(o: TcpOption): number {
  switch (o.kind) {
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'window-scale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamp':
      return 10;
    case 'unknown':
      return 2 + o.data.length;
  }
}

export const tcpSegment: fc.Arbitrary<TcpSegment> = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 0x0fff }),
  window: u16,
  urgentPointer: u16,
  options: fc.array(tcpOption, { maxLength: 6 }).filter((os) => os.reduce((n, o) => n + tcpOptLen(o), 0) <= 40),
  payload: bytes(200),
});

export const udpDatagram: fc.Arbitrary<UdpDatagram> = fc.record({ srcPort: u16, dstPort: u16, payload: bytes(200) });

export const icmpMessage: fc.Arbitrary<IcmpMessage> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), id: u16, seq: u16, data: bytes(64) }),
  fc.record({ kind: fc.constantFrom('dest-unreachable' as const, 'time-exceeded' as const), code: u8, info: u32, quoted: bytes(64) }),
  fc.record({ kind: fc.constant('unknown' as const), type: u8.filter((t) => ![0, 3, 8, 11].includes(t)), code: u8, info: u32, body: bytes(32) }),
);

const groupRecord: fc.Arbitrary<IgmpGroupRecord> = fc.record({
  type: u8,
  group: ipv4Addr,
  sources: fc.array(ipv4Addr, { maxLength: 4 }),
  auxData: fc.integer({ min: 0, max: 3 }).chain((w) => bytes(4 * w, 4 * w)),
});

const knownIgmp: number[] = Object.values(IGMP_TYPE);
export const igmpMessage: fc.Arbitrary<IgmpMessage> = fc.oneof(
  fc.record({ kind: fc.constant('query' as const), maxRespCode: u8, group: ipv4Addr }),
  fc.record({
    kind: fc.constant('v3-query' as const),
    maxRespCode: u8,
    group: ipv4Addr,
    reserved: fc.integer({ min: 0, max: 15 }),
    suppressRouterSide: fc.boolean(),
    qrv: fc.integer({ min: 0, max: 7 }),
    qqic: u8,
    sources: fc.array(ipv4Addr, { maxLength: 5 }),
  }),
  fc.record({ kind: fc.constantFrom('v1-report' as const, 'v2-report' as const, 'leave' as const), group: ipv4Addr }),
  fc.record({ kind: fc.constant('v3-report' as const), records: fc.array(groupRecord, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('unknown' as const), type: u8.filter((t) => !knownIgmp.includes(t)), code: u8, body: bytes(32, 4) }),
);
