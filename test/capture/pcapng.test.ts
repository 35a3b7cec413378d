import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BLOCK_ENHANCED_PACKET,
  BLOCK_INTERFACE_DESCRIPTION,
  BLOCK_SECTION_HEADER,
  LINKTYPE_ETHERNET,
  PcapngWriter,
  type PcapngPacketOptions,
} from '../../src/capture/pcapng.ts';
import { type Capture, type CapturedPacket, readCapture, readPcap, readPcapng } from '../../src/capture/pcapng-read.ts';
import { fromHex, hex, ip, mac, writeIpv4, writeMac, writeU16 } from '../../src/wire/addr.ts';
import type { Parsed } from '../../src/wire/result.ts';
import { requireTshark, tsharkCheck, tsharkConvert } from '../support/tshark.ts';

// ---------------------------------------------------------------------------------------------
// Byte helpers

const U32_SPAN = 0x1_0000_0000;

function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function le16(v: number): Uint8Array {
  return Uint8Array.of(v & 255, (v >>> 8) & 255);
}

function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, false);
  return b;
}

function padded(b: Uint8Array): Uint8Array {
  return concat(b, new Uint8Array(pad4(b.length) - b.length));
}

/** A little-endian pcapng block around `body` (padded). */
function leBlock(type: number, ...body: Uint8Array[]): Uint8Array {
  const b = padded(concat(...body));
  return concat(le32(type), le32(b.length + 12), b, le32(b.length + 12));
}

function leOption(code: number, value: Uint8Array): Uint8Array {
  return concat(le16(code), le16(value.length), padded(value));
}

const END_OF_OPTIONS = le32(0);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A complete capture as bytes, plus the writer to add to it. */
function capture(application?: string): { writer: PcapngWriter; bytes: () => Uint8Array; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  const writer = new PcapngWriter(application === undefined
    ? { sink: (c) => chunks.push(c) }
    : { sink: (c) => chunks.push(c), application });
  return { writer, chunks, bytes: () => concat(...chunks) };
}

function expectOk<T>(r: Parsed<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function expectFail<T>(r: Parsed<T>, reason: string): void {
  expect(r.ok ? 'ok' : r.error.reason).toBe(reason);
}

/**
 * Rewrites a little-endian file from our writer as a big-endian one, field by field, so the
 * reader's big-endian path is checked against the same content.
 */
function toBigEndian(file: Uint8Array): Uint8Array {
  const out = file.slice();
  const src = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const dst = new DataView(out.buffer);
  const sw16 = (o: number): void => dst.setUint16(o, src.getUint16(o, true), false);
  const sw32 = (o: number): void => dst.setUint32(o, src.getUint32(o, true), false);
  let off = 0;
  while (off < file.length) {
    const type = src.getUint32(off, true);
    const length = src.getUint32(off + 4, true);
    sw32(off);
    sw32(off + 4);
    sw32(off + length - 4);
    let opt: number;
    if (type === BLOCK_SECTION_HEADER) {
      sw32(off + 8);
      sw16(off + 12);
      sw16(off + 14);
      opt = off + 24; // section length is -1, the same in both orders
    } else if (type === BLOCK_INTERFACE_DESCRIPTION) {
      sw16(off + 8);
      sw16(off + 10);
      sw32(off + 12);
      opt = off + 16;
    } else if (type === BLOCK_ENHANCED_PACKET) {
      for (let i = 0; i < 5; i++) sw32(off + 8 + 4 * i);
      opt = off + 28 + pad4(src.getUint32(off + 20, true));
    } else {
      throw new Error(`toBigEndian: unexpected block type ${type}`);
    }
    const end = off + length - 4;
    while (opt < end) {
      const code = src.getUint16(opt, true);
      const len = src.getUint16(opt + 2, true);
      sw16(opt);
      sw16(opt + 2);
      if (code === 0) break;
      if (type === BLOCK_ENHANCED_PACKET && code === 2) sw32(opt + 4);
      opt += 4 + pad4(len);
    }
    off += length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hand-built Ethernet/IPv4 frames (independent of the codecs in src/wire)

/** RFC 1071 internet checksum over the concatenation of `parts`. */
function internetChecksum(...parts: Uint8Array[]): number {
  const b = concat(...parts);
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const SRC_IP = ip('10.0.0.1');
const DST_IP = ip('10.0.0.2');
const IP_PROTO_ICMP = 1;
const IP_PROTO_TCP = 6;
const IP_PROTO_UDP = 17;

/** Ethernet II + IPv4 (no options) around `l4`, with a correct header checksum unless told. */
function ethIpv4(protocol: number, l4: Uint8Array, opts: { badIpChecksum?: boolean } = {}): Uint8Array {
  const frame = new Uint8Array(14 + 20 + l4.length);
  writeMac(frame, 0, mac('02:00:00:00:00:02'));
  writeMac(frame, 6, mac('02:00:00:00:00:01'));
  writeU16(frame, 12, 0x0800);
  const h = frame.subarray(14, 34);
  h[0] = 0x45;
  writeU16(h, 2, 20 + l4.length);
  writeU16(h, 4, 0x1234); // identification
  writeU16(h, 6, 0x4000); // DF
  h[8] = 64;
  h[9] = protocol;
  writeIpv4(h, 12, SRC_IP);
  writeIpv4(h, 16, DST_IP);
  const checksum = internetChecksum(h);
  writeU16(h, 10, opts.badIpChecksum === true ? checksum ^ 0x5a5a : checksum);
  frame.set(l4, 34);
  return frame;
}

/** Writes the TCP/UDP checksum (pseudo-header included) at `at` inside `l4`. */
function pseudoChecksum(protocol: number, l4: Uint8Array, at: number): Uint8Array {
  const pseudo = new Uint8Array(12);
  writeIpv4(pseudo, 0, SRC_IP);
  writeIpv4(pseudo, 4, DST_IP);
  pseudo[9] = protocol;
  writeU16(pseudo, 10, l4.length);
  writeU16(l4, at, 0);
  const c = internetChecksum(pseudo, l4);
  writeU16(l4, at, protocol === IP_PROTO_UDP && c === 0 ? 0xffff : c);
  return l4;
}

function udp(payload: Uint8Array, opts: { badChecksum?: boolean } = {}): Uint8Array {
  const l4 = new Uint8Array(8 + payload.length);
  writeU16(l4, 0, 49152); // ports no dissector claims, so the payload stays plain data
  writeU16(l4, 2, 49153);
  writeU16(l4, 4, l4.length);
  l4.set(payload, 8);
  pseudoChecksum(IP_PROTO_UDP, l4, 6);
  if (opts.badChecksum === true) l4[7] = l4[7]! ^ 0xff;
  return l4;
}

function tcpSyn(): Uint8Array {
  const l4 = new Uint8Array(20);
  writeU16(l4, 0, 49152);
  writeU16(l4, 2, 80);
  l4.set([0x00, 0x00, 0x10, 0x00], 4); // sequence number
  l4[12] = 5 << 4; // data offset
  l4[13] = 0x02; // SYN
  writeU16(l4, 14, 64240); // window
  return pseudoChecksum(IP_PROTO_TCP, l4, 16);
}

function icmpEcho(payload: Uint8Array): Uint8Array {
  const l4 = new Uint8Array(8 + payload.length);
  l4[0] = 8; // echo request
  writeU16(l4, 4, 0x0042); // identifier
  writeU16(l4, 6, 1); // sequence
  l4.set(payload, 8);
  writeU16(l4, 2, internetChecksum(l4));
  return l4;
}

// ---------------------------------------------------------------------------------------------

describe('PcapngWriter', () => {
  it('writes the Section Header Block first, byte for byte', () => {
    const { chunks } = capture();
    expect(chunks).toHaveLength(1);
    const shb = chunks[0]!;
    expect(hex(shb.subarray(0, 28))).toBe(
      '0a0d0d0a' + // block type
        '30000000' + // total length 48
        '4d3c2b1a' + // byte-order magic, little-endian
        '0100' + '0000' + // version 1.0
        'ffffffffffffffff' + // section length -1
        '0400' + '0a00', // shb_userappl, 10 bytes
    );
    expect(hex(shb.subarray(28))).toBe(hex(text('sg-cluster')) + '0000' + '00000000' + '30000000');
  });

  it('writes an Interface Description Block byte for byte', () => {
    const { writer, chunks } = capture('x');
    expect(writer.addInterface({ name: 'seg0', description: 'lan' })).toBe(0);
    expect(hex(chunks[1]!)).toBe(hex(leBlock(
      BLOCK_INTERFACE_DESCRIPTION,
      fromHex('0100 0000 00000400'), // Ethernet, reserved, snap length 262144
      leOption(2, text('seg0')),
      leOption(3, text('lan')),
      leOption(9, Uint8Array.of(6)),
      END_OF_OPTIONS,
    )));
  });

  it('writes an Enhanced Packet Block byte for byte, timestamp split at 2^32', () => {
    const { writer, chunks } = capture();
    writer.addInterface({ name: 'a' });
    writer.addInterface({ name: 'b' });
    writer.writePacket(1, 3 * U32_SPAN + 7, fromHex('aabbcc'), { comment: 'event 42', direction: 'out' });
    writer.writePacket(0, 5, fromHex('01020304'));
    expect(hex(chunks[3]!)).toBe(hex(leBlock(
      BLOCK_ENHANCED_PACKET,
      le32(1), le32(3), le32(7), le32(3), le32(3),
      fromHex('aabbcc00'),
      leOption(1, text('event 42')),
      leOption(2, le32(0b10)),
      END_OF_OPTIONS,
    )));
    // No options at all: no end-of-options either.
    expect(hex(chunks[4]!)).toBe(hex(leBlock(BLOCK_ENHANCED_PACKET, le32(0), le32(0), le32(5), le32(4), le32(4), fromHex('01020304'))));
  });

  it('hands out one chunk per block, each a multiple of 4 bytes', () => {
    const { writer, chunks } = capture();
    const id = writer.addInterface({ name: 'seg0' });
    for (let n = 0; n < 9; n++) writer.writePacket(id, n, new Uint8Array(n), n % 2 === 0 ? {} : { comment: 'c'.repeat(n) });
    expect(chunks).toHaveLength(11);
    for (const c of chunks) expect(c.length % 4).toBe(0);
  });

  it('throws on an unknown interface id and on bad timestamps (our bug, not data)', () => {
    const { writer } = capture();
    expect(() => writer.writePacket(0, 0, new Uint8Array(1))).toThrow(/unknown interface/);
    writer.addInterface({ name: 'seg0' });
    expect(() => writer.writePacket(1, 0, new Uint8Array(1))).toThrow(/unknown interface/);
    expect(() => writer.writePacket(-1, 0, new Uint8Array(1))).toThrow(/unknown interface/);
    expect(() => writer.writePacket(0, -1, new Uint8Array(1))).toThrow(/timestamp/);
    expect(() => writer.writePacket(0, 1.5, new Uint8Array(1))).toThrow(/timestamp/);
    expect(() => writer.writePacket(0, 0, new Uint8Array(4), { originalLength: 3 })).toThrow(/original length/);
  });

  it('cuts frames to the snap length and keeps the original length', () => {
    const { writer, bytes } = capture();
    writer.addInterface({ name: 'short', snapLen: 4 });
    writer.writePacket(0, 1, fromHex('0102030405060708'));
    const { packets } = expectOk(readPcapng(bytes()));
    expect(packets).toEqual([{ iface: 0, timestampUs: 1, data: fromHex('01020304'), originalLength: 8 }]);
  });
});

/** A file with three interfaces and packets of every shape, and what reading it must give. */
function sampleCapture(): { file: Uint8Array; expected: Capture } {
  const { writer, bytes } = capture();
  const lan = writer.addInterface({ name: 'lan', description: 'client segment' });
  const dmz = writer.addInterface({ name: 'dmz', snapLen: 65535 });
  const hb = writer.addInterface({ name: 'heartbeat', linkType: LINKTYPE_ETHERNET });
  expect([lan, dmz, hb]).toEqual([0, 1, 2]);
  const cases: { iface: number; t: number; frame: Uint8Array; opts: PcapngPacketOptions }[] = [
    { iface: lan, t: 0, frame: new Uint8Array(0), opts: {} },
    { iface: lan, t: 1, frame: fromHex('01'), opts: { comment: 'event 1' } },
    { iface: dmz, t: 999_999, frame: fromHex('010203'), opts: { direction: 'in' } },
    { iface: hb, t: U32_SPAN - 1, frame: fromHex('0102030405'), opts: { direction: 'out', comment: 'event 2 ü→' } },
    { iface: dmz, t: U32_SPAN, frame: ethIpv4(IP_PROTO_UDP, udp(text('odd'))), opts: { comment: 'event 3' } },
    { iface: lan, t: 1_700_000_000_123_456, frame: ethIpv4(IP_PROTO_TCP, tcpSyn()), opts: { originalLength: 1514 } },
    { iface: hb, t: Number.MAX_SAFE_INTEGER, frame: new Uint8Array(61).fill(0xee), opts: { comment: '', direction: 'in' } },
  ];
  const packets: CapturedPacket[] = [];
  for (const c of cases) {
    writer.writePacket(c.iface, c.t, c.frame, c.opts);
    packets.push({
      iface: c.iface,
      timestampUs: c.t,
      data: c.frame,
      originalLength: c.opts.originalLength ?? c.frame.length,
      ...(c.opts.comment === undefined ? {} : { comment: c.opts.comment }),
      ...(c.opts.direction === undefined ? {} : { flags: c.opts.direction === 'in' ? 1 : 2 }),
    });
  }
  return {
    file: bytes(),
    expected: {
      interfaces: [
        { name: 'lan', linkType: 1, tsresol: 6 },
        { name: 'dmz', linkType: 1, tsresol: 6 },
        { name: 'heartbeat', linkType: 1, tsresol: 6 },
      ],
      packets,
    },
  };
}

describe('readPcapng', () => {
  it('reads back every field the writer wrote', () => {
    const { file, expected } = sampleCapture();
    expect(expectOk(readPcapng(file))).toEqual(expected);
    expect(expectOk(readCapture(file))).toEqual(expected);
  });

  it('reads the same file written big-endian', () => {
    const { file, expected } = sampleCapture();
    const be = toBigEndian(file);
    expect(hex(be.subarray(8, 12))).toBe('1a2b3c4d');
    expect(expectOk(readPcapng(be))).toEqual(expected);
  });

  it('reads several sections, numbering interfaces across the file', () => {
    const a = sampleCapture();
    const { writer, bytes } = capture();
    writer.addInterface({ name: 'second' });
    writer.writePacket(0, 77, fromHex('ff'));
    const r = expectOk(readPcapng(concat(a.file, toBigEndian(bytes()), a.file)));
    expect(r.interfaces.map((i) => i.name)).toEqual(['lan', 'dmz', 'heartbeat', 'second', 'lan', 'dmz', 'heartbeat']);
    expect(r.packets).toHaveLength(2 * a.expected.packets.length + 1);
    expect(r.packets[a.expected.packets.length]).toEqual({ iface: 3, timestampUs: 77, data: fromHex('ff'), originalLength: 1 });
    expect(r.packets.at(-1)).toEqual({ ...a.expected.packets.at(-1)!, iface: 6 });
  });

  it('skips unknown block types', () => {
    const { file, expected } = sampleCapture();
    const shb = file.subarray(0, 48);
    const custom = leBlock(0x00000bad, fromHex('deadbeef 01'));
    const nrb = leBlock(0x00000004, le16(0), le16(0));
    expect(expectOk(readPcapng(concat(shb, custom, file.subarray(48), nrb)))).toEqual(expected);
  });

  it('converts if_tsresol and if_tsoffset to microseconds', () => {
    const shb = capture().chunks[0]!;
    const idb = (resol: number, ...more: Uint8Array[]): Uint8Array =>
      leBlock(BLOCK_INTERFACE_DESCRIPTION, le16(1), le16(0), le32(0), leOption(9, Uint8Array.of(resol)), ...more, END_OF_OPTIONS);
    const epb = (iface: number, ts: bigint): Uint8Array =>
      leBlock(BLOCK_ENHANCED_PACKET, le32(iface), le32(Number(ts >> 32n)), le32(Number(ts & 0xffffffffn)), le32(1), le32(1), fromHex('ab'));
    const offset100s = new Uint8Array(8);
    new DataView(offset100s.buffer).setBigInt64(0, 100n, true);
    const noName = leBlock(BLOCK_INTERFACE_DESCRIPTION, le16(101), le16(0), le32(0)); // no options: µs
    const file = concat(
      shb,
      idb(9),
      idb(3),
      idb(0x80 | 20),
      idb(6, leOption(14, offset100s)),
      noName,
      epb(0, 1_700_000_000_123_456_789n),
      epb(1, 1_700_000_000_123n),
      epb(2, 3n * 2n ** 20n + 2n ** 19n),
      epb(3, 5n),
      epb(4, 2n ** 40n),
    );
    const r = expectOk(readPcapng(file));
    expect(r.interfaces).toEqual([
      { linkType: 1, tsresol: 9 },
      { linkType: 1, tsresol: 3 },
      { linkType: 1, tsresol: 0x80 | 20 },
      { linkType: 1, tsresol: 6 },
      { linkType: 101, tsresol: 6 },
    ]);
    expect(r.packets.map((p) => p.timestampUs)).toEqual([
      1_700_000_000_123_456,
      1_700_000_000_123_000,
      3_500_000,
      100_000_005,
      2 ** 40,
    ]);
  });

  it('says what is wrong with a bad file', () => {
    const { file } = sampleCapture();
    const shb = file.subarray(0, 48);
    const idb = leBlock(BLOCK_INTERFACE_DESCRIPTION, le16(1), le16(0), le32(0));
    const epb = (...parts: Uint8Array[]): Uint8Array => concat(shb, idb, leBlock(BLOCK_ENHANCED_PACKET, ...parts));

    expectFail(readPcapng(new Uint8Array(0)), 'truncated');
    expectFail(readPcapng(text('hello, world')), 'bad-magic');
    expectFail(readPcapng(concat(idb, shb)), 'bad-magic');
    const badBom = shb.slice();
    badBom[8] = 0;
    expectFail(readPcapng(badBom), 'bad-magic');
    const v2 = shb.slice();
    v2[12] = 2;
    expectFail(readPcapng(v2), 'bad-version');
    const odd = shb.slice();
    odd[4] = 47;
    expectFail(readPcapng(odd), 'bad-length');
    const tiny = concat(shb, le32(1), le32(8), le32(8));
    expectFail(readPcapng(tiny), 'bad-length');
    const trailer = file.slice();
    trailer[47] = 1;
    expectFail(readPcapng(trailer), 'bad-length');
    expectFail(readPcapng(concat(shb, leBlock(BLOCK_INTERFACE_DESCRIPTION, le16(1)))), 'bad-length');
    expectFail(readPcapng(epb(le32(0), le32(0), le32(0), le32(9), le32(9), fromHex('0102'))), 'bad-length');
    expectFail(readPcapng(epb(le32(0), le32(0), le32(0), le32(1))), 'bad-length');
    expectFail(readPcapng(epb(le32(1), le32(0), le32(0), le32(0), le32(0))), 'unsupported');
    expectFail(readPcapng(epb(le32(0), le32(0), le32(0), le32(0), le32(0), le16(1), le16(9), le32(0))), 'bad-option');
    expectFail(readPcapng(epb(le32(0), le32(0), le32(0), le32(0), le32(0), leOption(2, le16(1)))), 'bad-option');
    expectFail(readPcapng(concat(shb, leBlock(BLOCK_INTERFACE_DESCRIPTION, le16(1), le16(0), le32(0), leOption(9, le16(6))))), 'bad-option');
    expectFail(readPcapng(concat(shb, leBlock(BLOCK_ENHANCED_PACKET, new Uint8Array(20)))), 'unsupported');
  });

  it('returns ok or a failure for every prefix of a valid file, ok exactly at block boundaries', () => {
    const { file } = sampleCapture();
    const boundaries = new Set<number>();
    const view = new DataView(file.buffer);
    for (let off = 0; off < file.length; off += view.getUint32(off + 4, true)) boundaries.add(off);
    boundaries.add(file.length);
    boundaries.delete(0);
    for (let n = 0; n <= file.length; n++) {
      const r = readPcapng(file.subarray(0, n));
      if (boundaries.has(n)) expect(r.ok, `prefix ${n}`).toBe(true);
      else expectFail(r, 'truncated');
    }
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
      readPcapng(b);
      readPcap(b);
      readCapture(b);
    }), { numRuns: 2000 });
  });

  it('never throws on arbitrary blocks after a valid header, or on a mutated valid file', () => {
    const { file } = sampleCapture();
    const head = file.subarray(0, 48 + new DataView(file.buffer).getUint32(48 + 4, true)); // SHB, first IDB
    expect(expectOk(readPcapng(head)).interfaces).toHaveLength(1);
    const headBe = toBigEndian(head);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (tail) => {
      readPcapng(concat(head, tail));
      readPcapng(concat(headBe, tail));
    }), { numRuns: 1000 });
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat({ max: file.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (edits) => {
        const b = file.slice();
        for (const [at, v] of edits) b[at] = v;
        readPcapng(b);
      },
    ), { numRuns: 2000 });
  });

  it('round-trips arbitrary packets (property)', () => {
    const packet = fc.record({
      iface: fc.nat({ max: 2 }),
      timestampUs: fc.maxSafeNat(),
      frame: fc.uint8Array({ maxLength: 70 }),
      extra: fc.nat({ max: 3000 }),
      comment: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: undefined }),
      direction: fc.option(fc.constantFrom('in' as const, 'out' as const), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(packet, { maxLength: 20 }), (ps) => {
      const { writer, bytes } = capture();
      for (const name of ['a', 'b', 'c']) writer.addInterface({ name });
      const expected: CapturedPacket[] = [];
      for (const p of ps) {
        const opts: PcapngPacketOptions = {
          originalLength: p.frame.length + p.extra,
          ...(p.comment === undefined ? {} : { comment: p.comment }),
          ...(p.direction === undefined ? {} : { direction: p.direction }),
        };
        writer.writePacket(p.iface, p.timestampUs, p.frame, opts);
        expected.push({
          iface: p.iface,
          timestampUs: p.timestampUs,
          data: p.frame,
          originalLength: p.frame.length + p.extra,
          ...(p.comment === undefined ? {} : { comment: p.comment }),
          ...(p.direction === undefined ? {} : { flags: p.direction === 'in' ? 1 : 2 }),
        });
      }
      const file = bytes();
      expect(expectOk(readPcapng(file)).packets).toEqual(expected);
      expect(expectOk(readPcapng(toBigEndian(file))).packets).toEqual(expected);
    }), { numRuns: 300 });
  });
});

describe('readPcap', () => {
  const header = (w32: (v: number) => Uint8Array, w16: (v: number) => Uint8Array, magic: number): Uint8Array =>
    concat(w32(magic), w16(2), w16(4), w32(0), w32(0), w32(65535), w32(LINKTYPE_ETHERNET));
  const be16 = (v: number): Uint8Array => Uint8Array.of((v >>> 8) & 255, v & 255);
  const record = (w32: (v: number) => Uint8Array, s: number, frac: number, data: Uint8Array, orig = data.length): Uint8Array =>
    concat(w32(s), w32(frac), w32(data.length), w32(orig), data);

  it('reads little-endian microsecond files', () => {
    const file = concat(
      header(le32, le16, 0xa1b2c3d4),
      record(le32, 1_700_000_000, 123_456, fromHex('0102030405')),
      record(le32, 5, 0, new Uint8Array(0), 60),
    );
    expect(hex(file.subarray(0, 4))).toBe('d4c3b2a1');
    expect(expectOk(readPcap(file))).toEqual({
      interfaces: [{ linkType: 1, tsresol: 6 }],
      packets: [
        { iface: 0, timestampUs: 1_700_000_000_123_456, data: fromHex('0102030405'), originalLength: 5 },
        { iface: 0, timestampUs: 5_000_000, data: new Uint8Array(0), originalLength: 60 },
      ],
    });
    expect(expectOk(readCapture(file)).packets).toHaveLength(2);
  });

  it('reads big-endian nanosecond files', () => {
    const file = concat(header(be32, be16, 0xa1b23c4d), record(be32, 7, 999_999_999, fromHex('aa')));
    expect(expectOk(readPcap(file))).toEqual({
      interfaces: [{ linkType: 1, tsresol: 9 }],
      packets: [{ iface: 0, timestampUs: 7_999_999, data: fromHex('aa'), originalLength: 1 }],
    });
  });

  it('fails cleanly on bad files and on every truncation', () => {
    expectFail(readPcap(new Uint8Array(10)), 'truncated');
    expectFail(readPcap(new Uint8Array(24)), 'bad-magic');
    expectFail(readPcap(concat(le32(0xa1b2c3d4), le16(1), new Uint8Array(18))), 'bad-version');
    const file = concat(header(le32, le16, 0xa1b2c3d4), record(le32, 1, 2, fromHex('010203')), record(le32, 3, 4, fromHex('04')));
    const whole = new Set([24, 24 + 16 + 3, file.length]);
    for (let n = 0; n <= file.length; n++) {
      const r = readPcap(file.subarray(0, n));
      if (whole.has(n)) expect(r.ok, `prefix ${n}`).toBe(true);
      else expectFail(r, 'truncated');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// tshark as an independent judge

describe('hand-built frames', () => {
  it('compute the textbook IPv4 header checksum', () => {
    // The example header from RFC 1071 tutorials: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
    const h = fromHex('45000073 00004000 40110000 c0a80001 c0a800c7');
    expect(internetChecksum(h)).toBe(0xb861);
  });
});

describe.runIf(requireTshark())('tshark interop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-pcapng-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function writeFile(name: string, frames: Uint8Array[]): string {
    const { writer, bytes } = capture();
    const lan = writer.addInterface({ name: 'lan' });
    const dmz = writer.addInterface({ name: 'dmz', description: 'server segment' });
    frames.forEach((f, i) => writer.writePacket(i % 2 === 0 ? lan : dmz, U32_SPAN + 1000 * i, f, {
      comment: `event ${i}`,
      direction: i % 2 === 0 ? 'in' : 'out',
    }));
    const path = join(dir, name);
    writeFileSync(path, bytes());
    return path;
  }

  const goodFrames = (): Uint8Array[] => [
    ethIpv4(IP_PROTO_UDP, udp(text('hello'))),
    ethIpv4(IP_PROTO_UDP, udp(text('odd length payload!'))),
    ethIpv4(IP_PROTO_TCP, tcpSyn()),
    ethIpv4(IP_PROTO_ICMP, icmpEcho(text('ping'))),
  ];

  it('reads our capture with no malformed packets, bad checksums or expert errors', () => {
    const report = tsharkCheck(writeFile('good.pcapng', goodFrames()));
    const context = report.summary.join('\n');
    expect(report.packets, context).toBe(4);
    expect(report.summary, context).toHaveLength(4);
    expect(report.malformed, context).toBe(0);
    expect(report.badChecksums, context).toBe(0);
    expect(report.expertErrors, context).toEqual([]);
  });

  it('reports a wrong IPv4 header checksum', () => {
    const report = tsharkCheck(writeFile('bad-ip.pcapng', [ethIpv4(IP_PROTO_UDP, udp(text('hello')), { badIpChecksum: true })]));
    expect(report.badChecksums, report.summary.join('\n')).toBe(1);
    expect(report.malformed).toBe(0);
    expect(report.expertErrors.join('\n')).toMatch(/checksum/i);
  });

  it('reports a wrong UDP checksum', () => {
    const frames = [...goodFrames(), ethIpv4(IP_PROTO_UDP, udp(text('hello'), { badChecksum: true }))];
    const report = tsharkCheck(writeFile('bad-udp.pcapng', frames));
    expect(report.badChecksums, report.summary.join('\n')).toBe(1);
    expect(report.malformed).toBe(0);
  });

  it('reports a frame cut inside its IPv4 header as malformed', () => {
    const cut = ethIpv4(IP_PROTO_UDP, udp(text('hello'))).subarray(0, 14 + 12);
    const report = tsharkCheck(writeFile('malformed.pcapng', [...goodFrames(), cut]));
    expect(report.packets).toBe(5);
    expect(report.malformed, report.summary.join('\n')).toBeGreaterThanOrEqual(1);
    expect(report.expertErrors.length).toBeGreaterThanOrEqual(1);
  });

  it('fails loudly on a file tshark cannot read', () => {
    const path = join(dir, 'damaged.pcapng');
    const { file } = sampleCapture();
    writeFileSync(path, file.subarray(0, file.length - 3));
    expect(() => tsharkCheck(path)).toThrow(/exited with/);
  });

  it('agrees with our reader on files tshark writes (pcap, nanosecond pcap, pcapng)', () => {
    const src = writeFile('src.pcapng', goodFrames());
    const ours = expectOk(readPcapng(readFileSync(src)));
    const plain = (c: Capture): unknown => c.packets.map((p) => ({ t: p.timestampUs, data: hex(p.data), len: p.originalLength }));
    for (const format of ['pcap', 'nsecpcap'] as const) {
      const out = join(dir, `converted.${format}`);
      tsharkConvert(src, out, format);
      const theirs = expectOk(readPcap(readFileSync(out)));
      expect(theirs.interfaces).toEqual([{ linkType: 1, tsresol: format === 'pcap' ? 6 : 9 }]);
      expect(plain(theirs)).toEqual(plain(ours));
    }
    const out = join(dir, 'converted.pcapng');
    tsharkConvert(src, out, 'pcapng');
    const theirs = expectOk(readPcapng(readFileSync(out)));
    expect(theirs.interfaces.map((i) => i.name)).toEqual(['lan', 'dmz']);
    expect(theirs.packets.map((p) => ({ ...p, data: hex(p.data) }))).toEqual(ours.packets.map((p) => ({ ...p, data: hex(p.data) })));
  });
});
