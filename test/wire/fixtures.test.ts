/**
 * Byte-literal tests on real Linux traffic (test/fixtures/traffic.ts, captured between two
 * network namespaces by test/fixtures/capture.sh). Every frame is decoded with every checksum
 * verified, every field is asserted, and re-encoding the decoded values gives the same bytes.
 * Fields that change from one capture to the next (ISNs, timestamps, ping id) are asserted by
 * the relations the protocol demands between frames.
 */
import { describe, expect, it } from 'vitest';
import { formatIpv4, formatMac, fromHex, hex, ip, mac, MAC_BROADCAST, multicastMac } from '../../src/wire/addr.ts';
import { ARP_OP } from '../../src/wire/arp.ts';
import { ETHERTYPE, parseEthernet } from '../../src/wire/ethernet.ts';
import { decodeFrame, encodeFrame, type DecodedFrame } from '../../src/wire/frame.ts';
import { ICMP_UNREACH, parseIcmp } from '../../src/wire/icmp.ts';
import { IGMP_RECORD } from '../../src/wire/igmp.ts';
import { IP_PROTO, parseQuotedIpv4 } from '../../src/wire/ipv4.ts';
import { TCP_FLAG, type TcpSegment } from '../../src/wire/tcp.ts';
import { parseUdp } from '../../src/wire/udp.ts';
import { fixtures } from '../fixtures/traffic.ts';

const A = { mac: mac('02:00:00:00:00:01'), ip: ip('10.99.0.1') };
const B = { mac: mac('02:00:00:00:00:02'), ip: ip('10.99.0.2') };

function bytesOf(name: string): Uint8Array {
  const f = fixtures[name];
  if (f === undefined) throw new Error(`no fixture ${name}`);
  return fromHex(f.hex);
}

function decoded(name: string): DecodedFrame {
  const d = decodeFrame(bytesOf(name));
  if (!d.ok) throw new Error(`${name}: ${d.error.layer} ${d.error.reason}`);
  return d.value;
}

function ipv4Of(name: string) {
  const d = decoded(name);
  if (d.net.kind !== 'ipv4') throw new Error(`${name} is not IPv4`);
  return { eth: d.eth, ip: d.net.ip, l4: d.net.l4 };
}

function tcpOf(name: string): TcpSegment {
  const p = ipv4Of(name);
  if (p.l4.kind !== 'tcp') throw new Error(`${name} is not TCP`);
  return p.l4.tcp;
}

describe('real traffic fixtures decode with every checksum verified and re-encode to the same bytes', () => {
  for (const [name, f] of Object.entries(fixtures)) {
    it(name, () => {
      const bytes = fromHex(f.hex);
      const d = decodeFrame(bytes);
      expect(d.ok, `${name}: ${JSON.stringify(d.ok ? '' : d.error)}`).toBe(true);
      if (!d.ok) return;
      const { eth, net } = d.value;
      const again = encodeFrame({ eth, net });
      // Linux sends ARP unpadded from the host side; our encoder writes the same 42 bytes.
      expect(hex(again)).toBe(f.hex);
    });
  }
});

describe('ARP', () => {
  it('request: who-has 10.99.0.2 tell 10.99.0.1, broadcast', () => {
    const b = bytesOf('arpRequest');
    const e = parseEthernet(b);
    expect(e).toMatchObject({ ok: true, value: { dst: MAC_BROADCAST, src: A.mac, vlans: [], ethertype: ETHERTYPE.arp } });
    const d = decoded('arpRequest');
    expect(d.net).toEqual({ kind: 'arp', arp: { op: ARP_OP.request, senderMac: A.mac, senderIp: A.ip, targetMac: 0, targetIp: B.ip } });
    expect(b.length).toBe(42);
  });
  it('reply: 10.99.0.2 is-at 02:00:00:00:00:02, unicast to the asker', () => {
    const d = decoded('arpReply');
    expect(formatMac(d.eth.dst)).toBe('02:00:00:00:00:01');
    expect(d.net).toEqual({ kind: 'arp', arp: { op: ARP_OP.reply, senderMac: B.mac, senderIp: B.ip, targetMac: A.mac, targetIp: A.ip } });
  });
});

describe('ICMP echo', () => {
  it('request and reply: same id, seq and data; addresses swapped; TTL 64, DF set', () => {
    const q = ipv4Of('icmpEchoRequest');
    const r = ipv4Of('icmpEchoReply');
    expect(q.ip).toMatchObject({ src: A.ip, dst: B.ip, protocol: IP_PROTO.icmp, ttl: 64, flags: 2, fragmentOffset: 0, options: [], dscp: 0, ecn: 0 });
    expect(r.ip).toMatchObject({ src: B.ip, dst: A.ip, protocol: IP_PROTO.icmp, ttl: 64 });
    if (q.l4.kind !== 'icmp' || r.l4.kind !== 'icmp') throw new Error('not icmp');
    const qm = q.l4.icmp;
    const rm = r.l4.icmp;
    if (qm.kind !== 'echo-request' || rm.kind !== 'echo-reply') throw new Error('not echo');
    expect(qm.seq).toBe(1);
    expect(rm.id).toBe(qm.id);
    expect(rm.seq).toBe(qm.seq);
    expect(rm.data).toEqual(qm.data);
    // ping -s 32 -p 'SG-cluster': the repeated pattern follows ping's 16-byte timestamp.
    expect(qm.data.length).toBe(32);
    expect(new TextDecoder().decode(qm.data.subarray(16))).toContain('SG-cluster');
  });
});

describe('TCP open, transfer, close', () => {
  const syn = tcpOf('tcpSyn');
  const synAck = tcpOf('tcpSynAck');
  const ack = tcpOf('tcpAck');
  const c2s = tcpOf('tcpDataClientToServer');
  const s2c = tcpOf('tcpDataServerToClient');
  const finC = tcpOf('tcpFinClient');
  const finS = tcpOf('tcpFinServer');
  const last = tcpOf('tcpLastAck');

  it('SYN carries MSS 1460, SACK-permitted, timestamps and window scale 10 (Linux order)', () => {
    expect(syn).toMatchObject({ srcPort: 40001, dstPort: 7000, ack: 0, flags: TCP_FLAG.syn, window: 64240, urgentPointer: 0 });
    expect(syn.options.map((o) => o.kind)).toEqual(['mss', 'sack-permitted', 'timestamp', 'nop', 'window-scale']);
    expect(syn.options[0]).toEqual({ kind: 'mss', value: 1460 });
    expect(syn.options[4]).toEqual({ kind: 'window-scale', shift: 10 });
    expect(syn.options[2]).toMatchObject({ kind: 'timestamp', echo: 0 });
    expect(syn.payload.length).toBe(0);
  });

  it('SYN-ACK acknowledges the ISN + 1 and echoes the timestamp', () => {
    expect(synAck).toMatchObject({ srcPort: 7000, dstPort: 40001, flags: TCP_FLAG.syn | TCP_FLAG.ack, ack: (syn.seq + 1) >>> 0 });
    const tsSyn = syn.options.find((o) => o.kind === 'timestamp');
    const tsSa = synAck.options.find((o) => o.kind === 'timestamp');
    expect(tsSa && tsSa.kind === 'timestamp' && tsSyn && tsSyn.kind === 'timestamp' && tsSa.echo === tsSyn.value).toBe(true);
  });

  it('the handshake completes and data flows with cumulative ACKs', () => {
    expect(ack).toMatchObject({ flags: TCP_FLAG.ack, seq: (syn.seq + 1) >>> 0, ack: (synAck.seq + 1) >>> 0 });
    expect(ack.options.map((o) => o.kind)).toEqual(['nop', 'nop', 'timestamp']);
    expect(c2s).toMatchObject({ flags: TCP_FLAG.ack | TCP_FLAG.psh, seq: ack.seq, ack: ack.ack });
    expect(c2s.payload.length).toBe(300);
    expect(new TextDecoder().decode(c2s.payload)).toMatch(/^sg-cluster fixture: client to server/);
    const ackOfC2s = fixtures['tcpAckOfClientData'] ? tcpOf('tcpAckOfClientData') : undefined;
    if (ackOfC2s) expect(ackOfC2s.ack).toBe((c2s.seq + 300) >>> 0);
    expect(s2c.payload.length).toBe(200);
    expect(s2c.seq).toBe((synAck.seq + 1) >>> 0);
  });

  it('FIN from the client, FIN from the server, last ACK: each FIN takes one sequence number', () => {
    expect(finC).toMatchObject({ flags: TCP_FLAG.fin | TCP_FLAG.ack, seq: (c2s.seq + 300) >>> 0, ack: (s2c.seq + 200) >>> 0 });
    expect(finS).toMatchObject({ flags: TCP_FLAG.fin | TCP_FLAG.ack, seq: (s2c.seq + 200) >>> 0, ack: (finC.seq + 1) >>> 0 });
    expect(last).toMatchObject({ flags: TCP_FLAG.ack, seq: (finC.seq + 1) >>> 0, ack: (finS.seq + 1) >>> 0 });
  });
});

describe('UDP and ICMP port unreachable', () => {
  it('request and echo reply', () => {
    const q = ipv4Of('udpRequest');
    const r = ipv4Of('udpReply');
    if (q.l4.kind !== 'udp' || r.l4.kind !== 'udp') throw new Error('not udp');
    expect(q.l4.udp).toMatchObject({ srcPort: 40002, dstPort: 7001 });
    expect(new TextDecoder().decode(q.l4.udp.payload)).toBe('sg-cluster udp request');
    expect(r.l4.udp).toMatchObject({ srcPort: 7001, dstPort: 40002 });
    expect(new TextDecoder().decode(r.l4.udp.payload)).toBe('echo: sg-cluster udp request');
  });

  it('port unreachable quotes the whole offending datagram, which parses back to the original', () => {
    const orig = ipv4Of('udpToClosedPort');
    const err = ipv4Of('icmpPortUnreachable');
    expect(err.ip).toMatchObject({ src: B.ip, dst: A.ip, protocol: IP_PROTO.icmp });
    if (err.l4.kind !== 'icmp' || err.l4.icmp.kind !== 'dest-unreachable') throw new Error('not unreachable');
    expect(err.l4.icmp.code).toBe(ICMP_UNREACH.port);
    expect(err.l4.icmp.info).toBe(0);
    const quoted = parseQuotedIpv4(err.l4.icmp.quoted);
    expect(quoted.ok).toBe(true);
    if (!quoted.ok) return;
    expect(quoted.value.header).toMatchObject({ src: A.ip, dst: B.ip, protocol: IP_PROTO.udp, identification: orig.ip.identification });
    expect(quoted.value.totalLength).toBe(28 + 31);
    const udp = parseUdp(quoted.value.payload, { pseudo: { src: A.ip, dst: B.ip } });
    expect(udp).toMatchObject({ ok: true, value: { srcPort: 40002, dstPort: 7009 } });
    // The ICMP message itself re-parses from the frame's IP payload with its checksum.
    expect(parseIcmp(bytesOf('icmpPortUnreachable').subarray(14 + 20)).ok).toBe(true);
  });
});

describe('IGMP', () => {
  const routerAlert = [{ kind: 'router-alert', value: 0 }];

  it('v3 join: CHANGE_TO_EXCLUDE with no sources, to 224.0.0.22, TTL 1, router alert', () => {
    const p = ipv4Of('igmpV3Report');
    expect(formatMac(p.eth.dst)).toBe('01:00:5e:00:00:16');
    expect(p.ip).toMatchObject({ src: A.ip, dst: ip('224.0.0.22'), ttl: 1, protocol: IP_PROTO.igmp, options: routerAlert });
    expect(p.l4).toEqual({ kind: 'igmp', igmp: { kind: 'v3-report', records: [{ type: IGMP_RECORD.changeToExclude, group: ip('239.1.2.3'), sources: [], auxData: new Uint8Array(0) }] } });
  });

  it('v3 leave: CHANGE_TO_INCLUDE with no sources', () => {
    const p = ipv4Of('igmpV3Leave');
    expect(p.l4).toMatchObject({ kind: 'igmp', igmp: { kind: 'v3-report', records: [{ type: IGMP_RECORD.changeToInclude, group: ip('239.1.2.3'), sources: [] }] } });
  });

  it('v2 report to the group address, mapped to its multicast MAC (slide 8)', () => {
    const p = ipv4Of('igmpV2Report');
    expect(p.eth.dst).toBe(multicastMac(ip('239.1.2.3')));
    expect(p.ip).toMatchObject({ dst: ip('239.1.2.3'), ttl: 1, options: routerAlert });
    expect(p.l4).toEqual({ kind: 'igmp', igmp: { kind: 'v2-report', group: ip('239.1.2.3') } });
  });

  it('v2 leave goes to all-routers 224.0.0.2', () => {
    const p = ipv4Of('igmpV2Leave');
    expect(formatIpv4(p.ip.dst)).toBe('224.0.0.2');
    expect(p.l4).toEqual({ kind: 'igmp', igmp: { kind: 'leave', group: ip('239.1.2.3') } });
  });

  it('queries: v2 general (8 bytes) and v3 general (12 bytes) from the bridge querier', () => {
    if (fixtures['igmpV2Query']) {
      const p = ipv4Of('igmpV2Query');
      expect(p.ip).toMatchObject({ src: B.ip, dst: ip('224.0.0.1'), ttl: 1 });
      expect(p.l4).toMatchObject({ kind: 'igmp', igmp: { kind: 'query', group: 0 } });
    }
    if (fixtures['igmpV3Query']) {
      const p = ipv4Of('igmpV3Query');
      expect(p.l4).toMatchObject({ kind: 'igmp', igmp: { kind: 'v3-query', group: 0, sources: [] } });
    }
    if (fixtures['igmpV3GroupQuery']) {
      const p = ipv4Of('igmpV3GroupQuery');
      expect(p.l4).toMatchObject({ kind: 'igmp', igmp: { kind: 'v3-query', group: ip('239.1.2.3') } });
    }
  });
});

describe('every fixture fails cleanly one byte short (or re-decodes as a shorter valid message)', () => {
  for (const [name, f] of Object.entries(fixtures)) {
    it(name, () => {
      const b = fromHex(f.hex);
      for (let n = 0; n < b.length; n++) {
        const d = decodeFrame(b.subarray(0, n));
        // IPv4 frames are bounded by their total length, ARP by its fixed size: every prefix fails.
        expect(d.ok, `${name} prefix ${n}`).toBe(false);
      }
    });
  }
});
