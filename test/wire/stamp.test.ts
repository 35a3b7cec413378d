/**
 * The stamped datagrams of the udp-echo and multicast workloads (src/wire/stamp.ts): byte
 * literals, strict prefixes truncated, then the properties (STYLE.md 8): arbitrary bytes never
 * throw, parse(emit(v)) equals v, and trailing bytes only lengthen the datagram.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../../src/wire/addr.ts';
import { emitStamp, encodeStamp, parseStamp, stampLength, stampProblem, stampSize, stampXid, TIME_STAMP_MIN, XID_STAMP_MIN, type Stamp, type TimeStamp, type XidStamp } from '../../src/wire/stamp.ts';
import { u32 } from './arbitraries.ts';

// 2023-11-14T22:13:20Z in µs; as an f64 0x4318289060790000 (checked against DataView below).
const SENT_US = 1_700_000_000_000_000;
const TIME: TimeStamp = { kind: 'time', xid: 0x01020304, sentUs: SENT_US, size: 16 };
const TIME_HEX = '01020304 4318289060790000 00000000'; // xid, f64 send time, 4 bytes of padding
const XID: XidStamp = { kind: 'xid', xid: 0xdeadbeef, size: 6 };
const XID_HEX = 'deadbeef 0000';

describe('stamp byte literals', () => {
  it('the f64 literal is the send time (checked against DataView)', () => {
    const b = fromHex(TIME_HEX);
    expect(new DataView(b.buffer).getFloat64(4)).toBe(SENT_US);
  });

  for (const [name, value, literal] of [
    ['time stamp', TIME, TIME_HEX],
    ['xid stamp', XID, XID_HEX],
  ] as const) {
    describe(name, () => {
      const bytes = fromHex(literal);
      it('encodes to the documented bytes and parses back', () => {
        expect(hex(encodeStamp(value))).toBe(hex(bytes));
        expect(stampLength(value)).toBe(bytes.length);
        expect(parseStamp(bytes, value.kind)).toEqual({ ok: true, value });
        expect(stampXid(bytes)).toBe(value.xid);
      });
      it('every prefix shorter than the stamp is truncated; longer ones are smaller datagrams', () => {
        const min = value.kind === 'time' ? TIME_STAMP_MIN : XID_STAMP_MIN;
        for (let n = 0; n < bytes.length; n++) {
          const p = parseStamp(bytes.subarray(0, n), value.kind);
          if (n < min) expect(p, `prefix of ${n} bytes`).toMatchObject({ ok: false, error: { layer: 'stamp', reason: 'truncated' } });
          else expect(p).toEqual({ ok: true, value: { ...value, size: n } });
        }
      });
    });
  }

  it('a requested size below the stamp grows to the stamp', () => {
    expect([stampSize('xid', 0), stampSize('xid', 100), stampSize('time', 4), stampSize('time', 12)]).toEqual([4, 100, 12, 12]);
  });

  it('the padding is not read and a NaN send time is returned as received', () => {
    const b = fromHex('00000009 7ff8000000000000 ffff');
    expect(parseStamp(b, 'time')).toEqual({ ok: true, value: { kind: 'time', xid: 9, sentUs: Number.NaN, size: 14 } });
  });

  it('the encoder refuses a stamp that does not fit, and says why', () => {
    expect(stampProblem({ ...TIME, size: 11 })).toMatch(/size/);
    expect(stampProblem({ ...XID, xid: 2 ** 32 })).toMatch(/xid/);
    expect(() => encodeStamp({ ...XID, size: 3 })).toThrow(/size/);
    expect(() => emitStamp(TIME, new Uint8Array(15))).toThrow(/room/);
  });
});

const stamp: fc.Arbitrary<Stamp> = fc.oneof(
  fc.record({ kind: fc.constant('xid' as const), xid: u32, size: fc.integer({ min: XID_STAMP_MIN, max: 64 }) }),
  fc.record({ kind: fc.constant('time' as const), xid: u32, sentUs: fc.double(), size: fc.integer({ min: TIME_STAMP_MIN, max: 64 }) }),
);

describe('stamp properties', () => {
  it('arbitrary bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.constantFrom('xid' as const, 'time' as const), (b, kind) => {
      expect(parseStamp(b, kind).ok).toBe(b.length >= (kind === 'time' ? TIME_STAMP_MIN : XID_STAMP_MIN));
      expect(stampXid(b)).toBe(b.length >= XID_STAMP_MIN ? new DataView(b.buffer, b.byteOffset).getUint32(0) : undefined);
    }), { numRuns: 2000 });
  });

  it('parse(emit(v)) equals v; trailing bytes only lengthen it', () => {
    fc.assert(fc.property(stamp, fc.uint8Array({ maxLength: 16 }), (v, tail) => {
      const b = encodeStamp(v);
      expect(b.length).toBe(stampLength(v));
      expect(parseStamp(b, v.kind)).toEqual({ ok: true, value: v });
      expect(parseStamp(Uint8Array.of(...b, ...tail), v.kind)).toEqual({ ok: true, value: { ...v, size: v.size + tail.length } });
    }), { numRuns: 500 });
  });

  it('emit zeroes the padding and writes nothing past the size', () => {
    fc.assert(fc.property(stamp, (v) => {
      const buf = new Uint8Array(v.size + 4).fill(0xa5);
      expect(emitStamp(v, buf)).toBe(v.size);
      const head = v.kind === 'time' ? TIME_STAMP_MIN : XID_STAMP_MIN;
      expect(buf.subarray(head, v.size).every((x) => x === 0)).toBe(true);
      expect(buf.subarray(v.size).every((x) => x === 0xa5)).toBe(true);
    }), { numRuns: 300 });
  });
});
