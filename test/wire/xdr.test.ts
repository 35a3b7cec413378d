/** XDR (RFC 4506): the units, padding, bounds, and a sticky error instead of throws. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XdrReader, XdrWriter } from '../../src/wire/xdr.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('XDR', () => {
  it('lays out units as RFC 4506 draws them', () => {
    const w = new XdrWriter().u32(1).i32(-2).u64(0x0102030405060708n).bool(true).opaque(Uint8Array.of(0xaa, 0xbb, 0xcc)).string('hi').fixed(Uint8Array.of(9));
    expect(hex(w.bytes())).toBe(
      '00000001' + 'fffffffe' + '0102030405060708' + '00000001' + '00000003aabbcc00' + '0000000268690000' + '09000000',
    );
    const r = new XdrReader(w.bytes());
    expect([r.u32(), r.i32(), r.u64(), r.bool(), hex(r.opaque(8)), r.string(8), hex(r.fixed(1))]).toEqual([1, -2, 0x0102030405060708n, true, 'aabbcc', 'hi', '09']);
    expect(r.error).toBeUndefined();
    expect(r.left).toBe(0);
  });

  it('an optional is a bool and then the value', () => {
    const w = new XdrWriter();
    w.optional(7, (v) => w.u32(v)).optional<number>(undefined, () => {});
    expect(hex(w.bytes())).toBe('00000001' + '00000007' + '00000000');
    const r = new XdrReader(w.bytes());
    expect([r.optional(() => r.u32()), r.optional(() => r.u32())]).toEqual([7, undefined]);
  });

  it('bad input is a sticky error, never a throw: truncation, a length over its bound, nonzero padding, a bad bool', () => {
    const short = new XdrReader(Uint8Array.of(0, 0, 0));
    expect(short.u32()).toBe(0);
    expect(short.error).toMatchObject({ reason: 'truncated', at: 0 });
    expect(short.u32()).toBe(0); // reads on as zeros
    const long = new XdrReader(new XdrWriter().u32(1000).bytes());
    expect(long.opaque(64).length).toBe(0);
    expect(long.error).toMatchObject({ reason: 'bad-length' });
    expect(new XdrReader(Uint8Array.of(0, 0, 0, 1, 0xaa, 1, 0, 0)).opaque(8)).toEqual(new Uint8Array(1)); // zeros, not the bytes
    const pad = new XdrReader(Uint8Array.of(0, 0, 0, 1, 0xaa, 1, 0, 0));
    pad.opaque(8);
    expect(pad.error).toMatchObject({ reason: 'bad-value' });
    const b = new XdrReader(Uint8Array.of(0, 0, 0, 2));
    b.bool();
    expect(b.error).toMatchObject({ reason: 'bad-value' });
    const e = new XdrReader(Uint8Array.of(0, 0, 0, 9));
    expect(e.enumOf(5, 'ftype3')).toBe(9);
    expect(e.error).toMatchObject({ reason: 'bad-value', detail: 'ftype3: 9 > 5' });
  });

  it('round-trips any values, and any bytes read without a throw', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.nat(0xffffffff).map((x) => ({ k: 'u', x })), fc.uint8Array({ maxLength: 40 }).map((x) => ({ k: 'o', x })), fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }).map((x) => ({ k: 'h', x })))), (items) => {
      const w = new XdrWriter();
      for (const it of items) {
        if (it.k === 'u') w.u32(it.x as number);
        else if (it.k === 'o') w.opaque(it.x as Uint8Array);
        else w.u64(it.x as bigint);
      }
      const bytes = w.bytes();
      expect(bytes.length % 4).toBe(0);
      const r = new XdrReader(bytes);
      for (const it of items) {
        if (it.k === 'u') expect(r.u32()).toBe(it.x);
        else if (it.k === 'o') expect(r.opaque(40)).toEqual(it.x);
        else expect(r.u64()).toBe(it.x);
      }
      expect(r.error).toBeUndefined();
    }));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const r = new XdrReader(b);
      r.u32();
      r.string(16);
      r.optional(() => r.u64());
      r.opaque(8);
      return r.left >= 0;
    }));
  });
});
