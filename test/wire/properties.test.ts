/**
 * Properties every codec keeps (STYLE.md 8): arbitrary bytes never throw, parse(emit(v)) equals v,
 * incremental checksum updates equal a full recompute, and framing holds whole, one byte short and
 * with trailing bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readU16, type Ipv4Addr } from '../../src/wire/addr.ts';
import { encodeArp, parseArp } from '../../src/wire/arp.ts';
import { internetChecksum, updateChecksum16, updateChecksum32 } from '../../src/wire/checksum.ts';
import { encodeEthernet, parseEthernet } from '../../src/wire/ethernet.ts';
import { decodeFrame, encodeFrame, summarizeFrame, type FrameSpec } from '../../src/wire/frame.ts';
import { encodeIcmp, parseIcmp } from '../../src/wire/icmp.ts';
import { encodeIgmp, parseIgmp } from '../../src/wire/igmp.ts';
import { encodeIpv4, IP_PROTO, Ipv4View, parseIpv4, parseQuotedIpv4 } from '../../src/wire/ipv4.ts';
import { encodeTcp, parseTcp, TcpView } from '../../src/wire/tcp.ts';
import { encodeUdp, parseUdp, UdpView } from '../../src/wire/udp.ts';
import * as A from './arbitraries.ts';

const RUNS = { numRuns: 300 };
const anyBytes = fc.uint8Array({ maxLength: 200 });

describe('arbitrary bytes never throw', () => {
  const parsers: [string, (b: Uint8Array) => unknown][] = [
    ['ethernet', parseEthernet],
    ['arp', parseArp],
    ['ipv4', (b) => parseIpv4(b)],
    ['ipv4 unchecked', (b) => parseIpv4(b, { verifyChecksum: false })],
    ['quoted ipv4', parseQuotedIpv4],
    ['icmp', (b) => parseIcmp(b, { verifyChecksum: false })],
    ['igmp', (b) => parseIgmp(b, { verifyChecksum: false })],
    ['tcp', (b) => parseTcp(b)],
    ['udp', (b) => parseUdp(b)],
    ['frame', (b) => decodeFrame(b, { verifyChecksums: false })],
    ['summary', summarizeFrame],
  ];
  for (const [name, parse] of parsers) {
    it(name, () => {
      fc.assert(fc.property(anyBytes, (b) => void parse(b)), { numRuns: 2000 });
    });
  }

  it('frames that look like IPv4 but carry garbage', () => {
    // Bias towards deep parsing: a valid Ethernet/IPv4 prefix followed by random bytes.
    const arb = fc.tuple(A.ipv4HeaderWhole, fc.constantFrom(1, 2, 6, 17), anyBytes).map(([h, protocol, tail]) =>
      encodeFrame({ eth: { dst: 1 as never, src: 2 as never }, net: { kind: 'ipv4', ip: { ...h, protocol }, l4: { kind: 'raw', bytes: tail } } }),
    );
    fc.assert(fc.property(arb, (b) => {
      const d = decodeFrame(b);
      expect(typeof d.ok).toBe('boolean');
    }), { numRuns: 2000 });
  });
});

describe('parse(emit(v)) equals v', () => {
  it('ethernet', () => fc.assert(fc.property(A.ethernetFrame, (v) => {
    expect(parseEthernet(encodeEthernet(v))).toEqual({ ok: true, value: v });
  }), RUNS));
  it('arp', () => fc.assert(fc.property(A.arpPacket, (v) => {
    expect(parseArp(encodeArp(v))).toEqual({ ok: true, value: v });
  }), RUNS));
  it('ipv4 with options', () => fc.assert(fc.property(A.ipv4Header, A.bytes(100), (h, payload) => {
    const v = { ...h, payload };
    expect(parseIpv4(encodeIpv4(v))).toEqual({ ok: true, value: v });
  }), RUNS));
  it('icmp', () => fc.assert(fc.property(A.icmpMessage, (v) => {
    expect(parseIcmp(encodeIcmp(v))).toEqual({ ok: true, value: v });
  }), RUNS));
  it('igmp', () => fc.assert(fc.property(A.igmpMessage, (v) => {
    expect(parseIgmp(encodeIgmp(v))).toEqual({ ok: true, value: v });
  }), RUNS));
  it('tcp with options, checksum verified', () => fc.assert(fc.property(A.tcpSegment, A.ipv4Addr, A.ipv4Addr, (v, src, dst) => {
    const pseudo = { src, dst };
    expect(parseTcp(encodeTcp(v, pseudo), { pseudo })).toEqual({ ok: true, value: v });
  }), RUNS));
  it('udp, checksum verified', () => fc.assert(fc.property(A.udpDatagram, A.ipv4Addr, A.ipv4Addr, (v, src, dst) => {
    const pseudo = { src, dst };
    expect(parseUdp(encodeUdp(v, pseudo), { pseudo })).toEqual({ ok: true, value: v });
  }), RUNS));
});

/** A TCP or UDP frame spec from arbitrary values. */
const l4Frame: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.tuple(A.ipv4HeaderWhole, A.tcpSegment).map(([h, tcp]) => ({
    eth: { dst: 0x020000000001 as never, src: 0x020000000002 as never },
    net: { kind: 'ipv4' as const, ip: { ...h, protocol: IP_PROTO.tcp }, l4: { kind: 'tcp' as const, tcp } },
  })),
  fc.tuple(A.ipv4HeaderWhole, A.udpDatagram).map(([h, udp]) => ({
    eth: { dst: 0x020000000001 as never, src: 0x020000000002 as never },
    net: { kind: 'ipv4' as const, ip: { ...h, protocol: IP_PROTO.udp }, l4: { kind: 'udp' as const, udp } },
  })),
);

describe('incremental checksum (RFC 1624) equals a full recompute', () => {
  it('one 16-bit word and one 32-bit word over random data', () => {
    fc.assert(fc.property(A.bytes(64, 8), fc.nat(), A.u16, A.u32, (data, at, w16, w32) => {
      const b = data.slice(0, data.length & ~1);
      const i = (at % (b.length / 2)) * 2;
      const before = internetChecksum(b);
      const old16 = readU16(b, i);
      const c = b.slice();
      c[i] = w16 >>> 8;
      c[i + 1] = w16 & 255;
      expect(updateChecksum16(before, old16, w16)).toBe(internetChecksum(c));
      if (b.length >= 4) {
        const j = (at % (b.length / 2 - 1)) * 2;
        const d = b.slice();
        const old32 = ((d[j]! << 24) | (d[j + 1]! << 16) | (d[j + 2]! << 8) | d[j + 3]!) >>> 0;
        d.set([w32 >>> 24, (w32 >>> 16) & 255, (w32 >>> 8) & 255, w32 & 255], j);
        expect(updateChecksum32(before, old32, w32)).toBe(internetChecksum(d));
      }
    }), { numRuns: 2000 });
  });

  it('NAT rewrite of destination address and port gives the bytes a fresh encode gives', () => {
    fc.assert(fc.property(l4Frame, A.ipv4Addr, A.u16, A.ipv4Addr, A.u16, (spec, newDst, newPort, newSrc, newSrcPort) => {
      const frame = encodeFrame(spec);
      const ip = new Ipv4View(frame, 14);
      const oldDst = ip.dst;
      const oldSrc = ip.src;
      ip.setDst(newDst);
      ip.setSrc(newSrc);
      const net = spec.net;
      if (net.kind !== 'ipv4') throw new Error('unreachable');
      let expected: FrameSpec;
      if (net.l4.kind === 'tcp') {
        const t = new TcpView(frame, ip.payloadOffset);
        t.pseudoAddressChanged(oldDst, newDst);
        t.pseudoAddressChanged(oldSrc, newSrc);
        t.setDstPort(newPort);
        t.setSrcPort(newSrcPort);
        expected = { ...spec, net: { ...net, ip: { ...net.ip, dst: newDst, src: newSrc }, l4: { kind: 'tcp', tcp: { ...net.l4.tcp, dstPort: newPort, srcPort: newSrcPort } } } };
      } else if (net.l4.kind === 'udp') {
        const u = new UdpView(frame, ip.payloadOffset);
        u.pseudoAddressChanged(oldDst, newDst);
        u.pseudoAddressChanged(oldSrc, newSrc);
        u.setDstPort(newPort);
        u.setSrcPort(newSrcPort);
        expected = { ...spec, net: { ...net, ip: { ...net.ip, dst: newDst, src: newSrc }, l4: { kind: 'udp', udp: { ...net.l4.udp, dstPort: newPort, srcPort: newSrcPort } } } };
      } else throw new Error('unreachable');
      expect(frame).toEqual(encodeFrame(expected));
      expect(decodeFrame(frame).ok).toBe(true);
    }), { numRuns: 1000 });
  });

  it('TTL decrement keeps the header checksum valid', () => {
    fc.assert(fc.property(A.ipv4HeaderWhole.filter((h) => h.ttl > 0), A.bytes(20), (h, payload) => {
      const b = encodeIpv4({ ...h, payload });
      const v = new Ipv4View(b, 0);
      v.decrementTtl();
      expect(v.ttl).toBe(h.ttl - 1);
      expect(internetChecksum(b, 0, v.headerLength)).toBe(0);
    }), RUNS);
  });
});

describe('framing: whole, one byte short, trailing bytes', () => {
  it('every IPv4 frame decodes whole, fails one byte short, ignores trailing padding', () => {
    fc.assert(fc.property(l4Frame, A.bytes(30, 1), (spec, trailer) => {
      const whole = encodeFrame(spec);
      const d = decodeFrame(whole);
      expect(d.ok).toBe(true);
      const short = decodeFrame(whole.subarray(0, whole.length - 1));
      expect(short.ok).toBe(false);
      const padded = new Uint8Array(whole.length + trailer.length);
      padded.set(whole);
      padded.set(trailer, whole.length);
      expect(decodeFrame(padded)).toEqual(d);
    }), RUNS);
  });

  it('every strict prefix of an IPv4 frame fails without throwing', () => {
    fc.assert(fc.property(l4Frame, (spec) => {
      const whole = encodeFrame(spec);
      for (let n = 0; n < whole.length; n++) expect(decodeFrame(whole.subarray(0, n)).ok).toBe(false);
    }), { numRuns: 100 });
  });

  it('ARP: whole, short, padded to the Ethernet minimum', () => {
    fc.assert(fc.property(A.arpPacket, (arp) => {
      const b = encodeArp(arp);
      expect(parseArp(b).ok).toBe(true);
      expect(parseArp(b.subarray(0, 27))).toMatchObject({ ok: false, error: { reason: 'truncated' } });
      const padded = new Uint8Array(46);
      padded.set(b);
      expect(parseArp(padded)).toEqual(parseArp(b));
    }), RUNS);
  });

  it('UDP: the length field bounds the payload', () => {
    fc.assert(fc.property(A.udpDatagram, A.bytes(10, 1), (v, extra) => {
      const pseudo = { src: 1 as Ipv4Addr, dst: 2 as Ipv4Addr };
      const b = encodeUdp(v, pseudo);
      expect(parseUdp(b.subarray(0, b.length - 1))).toMatchObject({ ok: false, error: { reason: 'truncated' } });
      const padded = new Uint8Array([...b, ...extra]);
      expect(parseUdp(padded, { pseudo })).toEqual({ ok: true, value: v });
    }), RUNS);
  });
});
