/**
 * Wireshark as the judge of our encoders: every encoder's output, written to a pcapng file, is
 * read by tshark with IP/TCP/UDP checksum validation on, with zero malformed packets, zero bad
 * checksums and zero expert errors.
 */
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapngWriter } from '../../src/capture/pcapng.ts';
import { fromHex, ip, mac, multicastMac, MAC_BROADCAST, type Ipv4Addr } from '../../src/wire/addr.ts';
import { ARP_OP, gratuitousArp } from '../../src/wire/arp.ts';
import { encodeFrame, ipv4Header, type FrameSpec } from '../../src/wire/frame.ts';
import { ICMP_UNREACH, ICMP_TIME_EXCEEDED, quoteDatagram } from '../../src/wire/icmp.ts';
import { IGMP_ALL_SYSTEMS, IGMP_RECORD, IGMP_V3_ROUTERS } from '../../src/wire/igmp.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { SG_WRITE_STATUS, sgWriteStatus } from '../../src/wire/sgopt.ts';
import { TCP_FLAG } from '../../src/wire/tcp.ts';
import { requireTshark, tsharkCheck } from '../support/tshark.ts';
import * as A from './arbitraries.ts';

const tshark = requireTshark();

const C = mac('02:00:00:00:00:01');
const S = mac('02:00:00:00:00:02');
const cIp = ip('10.99.0.1');
const sIp = ip('10.99.0.2');
const eth = { dst: S, src: C };

const udpDatagram = encodeFrame({
  eth,
  net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: sIp, protocol: IP_PROTO.udp, identification: 9 }), l4: { kind: 'udp', udp: { srcPort: 40000, dstPort: 40001, payload: new TextEncoder().encode('hello') } } },
});

/** One frame per encoder and per message kind, each as a tshark user would build it. */
const handmade: [string, FrameSpec][] = [
  ['arp request', { eth: { dst: MAC_BROADCAST, src: C }, net: { kind: 'arp', arp: { op: ARP_OP.request, senderMac: C, senderIp: cIp, targetMac: 0 as never, targetIp: sIp } } }],
  ['arp reply', { eth: { dst: C, src: S }, net: { kind: 'arp', arp: { op: ARP_OP.reply, senderMac: S, senderIp: sIp, targetMac: C, targetIp: cIp } } }],
  ['gratuitous arp', { eth: { dst: MAC_BROADCAST, src: S }, net: { kind: 'arp', arp: gratuitousArp(S, ip('140.116.72.114')) } }],
  ['icmp echo request', { eth, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: sIp, protocol: IP_PROTO.icmp }), l4: { kind: 'icmp', icmp: { kind: 'echo-request', id: 77, seq: 1, data: fromHex('a5a5a5a5a5a5a5a5') } } } }],
  ['icmp echo reply', { eth: { dst: C, src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: cIp, protocol: IP_PROTO.icmp }), l4: { kind: 'icmp', icmp: { kind: 'echo-reply', id: 77, seq: 1, data: fromHex('a5a5a5a5a5a5a5a5') } } } }],
  ['icmp port unreachable quoting a udp datagram', { eth: { dst: C, src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: cIp, protocol: IP_PROTO.icmp, flags: 0 }), l4: { kind: 'icmp', icmp: { kind: 'dest-unreachable', code: ICMP_UNREACH.port, info: 0, quoted: quoteDatagram(udpDatagram.subarray(14)) } } } }],
  ['icmp time exceeded', { eth: { dst: C, src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: cIp, protocol: IP_PROTO.icmp, flags: 0 }), l4: { kind: 'icmp', icmp: { kind: 'time-exceeded', code: ICMP_TIME_EXCEEDED.ttl, info: 0, quoted: quoteDatagram(udpDatagram.subarray(14)) } } } }],
  ['udp', { eth, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: sIp, protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: 40000, dstPort: 40001, payload: fromHex('0102030405') } } } }],
  ['tcp syn with mss, sack-permitted, timestamps, window scale', { eth, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: sIp, protocol: IP_PROTO.tcp }), l4: { kind: 'tcp', tcp: { srcPort: 40000, dstPort: 8080, seq: 1000, ack: 0, flags: TCP_FLAG.syn, window: 64240, urgentPointer: 0, options: [{ kind: 'mss', value: 1460 }, { kind: 'sack-permitted' }, { kind: 'timestamp', value: 123, echo: 0 }, { kind: 'nop' }, { kind: 'window-scale', shift: 7 }], payload: new Uint8Array(0) } } } }],
  ['tcp data with sack blocks', { eth, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: sIp, protocol: IP_PROTO.tcp }), l4: { kind: 'tcp', tcp: { srcPort: 40000, dstPort: 8080, seq: 1001, ack: 5001, flags: TCP_FLAG.ack | TCP_FLAG.psh, window: 502, urgentPointer: 0, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[6001, 7001], [8001, 9001]] }], payload: new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n') } } } }],
  ['tcp rst', { eth: { dst: C, src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: cIp, protocol: IP_PROTO.tcp }), l4: { kind: 'tcp', tcp: { srcPort: 8080, dstPort: 40000, seq: 0, ack: 1001, flags: TCP_FLAG.rst | TCP_FLAG.ack, window: 0, urgentPointer: 0, options: [], payload: new Uint8Array(0) } } } }],
  ['igmp v2 general query', { eth: { dst: multicastMac(IGMP_ALL_SYSTEMS), src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: IGMP_ALL_SYSTEMS, protocol: IP_PROTO.igmp, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] }), l4: { kind: 'igmp', igmp: { kind: 'query', maxRespCode: 100, group: 0 as Ipv4Addr } } } }],
  ['igmp v3 query', { eth: { dst: multicastMac(IGMP_ALL_SYSTEMS), src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: IGMP_ALL_SYSTEMS, protocol: IP_PROTO.igmp, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] }), l4: { kind: 'igmp', igmp: { kind: 'v3-query', maxRespCode: 100, group: 0 as Ipv4Addr, reserved: 0, suppressRouterSide: false, qrv: 2, qqic: 125, sources: [] } } } }],
  ['igmp v2 report', { eth: { dst: multicastMac(ip('234.116.72.114')), src: C }, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: ip('234.116.72.114'), protocol: IP_PROTO.igmp, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] }), l4: { kind: 'igmp', igmp: { kind: 'v2-report', group: ip('234.116.72.114') } } } }],
  ['igmp v2 leave', { eth: { dst: multicastMac(ip('224.0.0.2')), src: C }, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: ip('224.0.0.2'), protocol: IP_PROTO.igmp, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] }), l4: { kind: 'igmp', igmp: { kind: 'leave', group: ip('234.116.72.114') } } } }],
  ['igmp v3 report', { eth: { dst: multicastMac(IGMP_V3_ROUTERS), src: C }, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: IGMP_V3_ROUTERS, protocol: IP_PROTO.igmp, ttl: 1, dscp: 48, options: [{ kind: 'router-alert', value: 0 }] }), l4: { kind: 'igmp', igmp: { kind: 'v3-report', records: [{ type: IGMP_RECORD.changeToExclude, group: ip('239.1.2.3'), sources: [], auxData: new Uint8Array(0) }, { type: IGMP_RECORD.allowNewSources, group: ip('239.1.2.4'), sources: [cIp, sIp], auxData: new Uint8Array(0) }] } } } }],
  ['udp write reply with the SG write-status option', { eth: { dst: C, src: S }, net: { kind: 'ipv4', ip: ipv4Header({ src: sIp, dst: cIp, protocol: IP_PROTO.udp, options: [sgWriteStatus(SG_WRITE_STATUS.success, 42)] }), l4: { kind: 'udp', udp: { srcPort: 40001, dstPort: 40000, payload: fromHex('00000001') } } } }],
  ['802.1Q tagged udp', { eth: { ...eth, vlans: [{ tpid: 0x8100, tci: 0x2064 }] }, net: { kind: 'ipv4', ip: ipv4Header({ src: cIp, dst: sIp, protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: 40000, dstPort: 40001, payload: fromHex('ff') } } } }],
];

/**
 * Random frames from the property arbitraries, constrained to what tshark dissects as data:
 * ephemeral ports (no application dissector), and no random "unknown" IP options, whose random
 * type may be one tshark knows (record route, timestamp) with a body that type cannot have.
 */
const knownIpOptions = A.ipv4HeaderWhole.map((h) => ({ ...h, options: h.options.filter((o) => o.kind !== 'unknown') }));
const ephemeral = fc.integer({ min: 49152, max: 65535 });
const randomFrame: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.tuple(knownIpOptions, A.tcpSegment, ephemeral, ephemeral).map(([h, tcp, sp, dp]) => ({
    eth, net: { kind: 'ipv4' as const, ip: { ...h, protocol: IP_PROTO.tcp, options: [] }, l4: { kind: 'tcp' as const, tcp: { ...tcp, srcPort: sp, dstPort: dp, options: tcp.options.filter((o) => o.kind === 'mss' || o.kind === 'nop' || o.kind === 'timestamp') } } },
  })),
  fc.tuple(knownIpOptions, A.udpDatagram, ephemeral, ephemeral).map(([h, udp, sp, dp]) => ({
    eth, net: { kind: 'ipv4' as const, ip: { ...h, protocol: IP_PROTO.udp }, l4: { kind: 'udp' as const, udp: { ...udp, srcPort: sp, dstPort: dp } } },
  })),
  fc.tuple(knownIpOptions, A.u16, A.u16, A.bytes(64)).map(([h, id, seq, data]) => ({
    eth, net: { kind: 'ipv4' as const, ip: { ...h, protocol: IP_PROTO.icmp }, l4: { kind: 'icmp' as const, icmp: { kind: 'echo-request' as const, id, seq, data } } },
  })),
  fc.tuple(knownIpOptions, A.ipv4Addr).map(([h, group]) => ({
    eth, net: { kind: 'ipv4' as const, ip: { ...h, protocol: IP_PROTO.igmp }, l4: { kind: 'igmp' as const, igmp: { kind: 'v2-report' as const, group } } },
  })),
  A.arpPacket.map((arp) => ({ eth, net: { kind: 'arp' as const, arp: { ...arp, op: 1 + (arp.op % 2) } } })),
);

function writeCapture(frames: Uint8Array[]): string {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter({ sink: (c) => chunks.push(c) });
  const iface = w.addInterface({ name: 'encoders' });
  frames.forEach((f, i) => w.writePacket(iface, 1_000_000 + i * 1000, f, { comment: `event ${i}` }));
  const dir = mkdtempSync(join(tmpdir(), 'sg-tshark-'));
  const path = join(dir, 'encoders.pcapng');
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

describe.runIf(tshark)('tshark reads every encoder output cleanly', () => {
  it('hand-made frames of every kind', () => {
    const frames = handmade.map(([, spec]) => encodeFrame(spec));
    const r = tsharkCheck(writeCapture(frames));
    const context = r.summary.map((l, i) => `${handmade[i]?.[0]}: ${l}`).join('\n');
    expect(r.packets, context).toBe(frames.length);
    expect(r.malformed, context).toBe(0);
    expect(r.badChecksums, context).toBe(0);
    expect(r.expertErrors, context).toEqual([]);
  });

  it('500 random frames from the property arbitraries', () => {
    const frames = fc.sample(randomFrame, { numRuns: 500, seed: 20261124 }).map(encodeFrame);
    const r = tsharkCheck(writeCapture(frames));
    expect(r.packets).toBe(500);
    expect(r.malformed, r.summary.join('\n')).toBe(0);
    expect(r.badChecksums, r.summary.join('\n')).toBe(0);
    expect(r.expertErrors).toEqual([]);
  });
});
