/**
 * The bidd protocol codec (src/wire/bidd.ts): a byte-literal heartbeat whose HMAC is checked
 * against node:crypto, then the codec properties (STYLE.md 8): parse(encode(v)) equals v,
 * arbitrary bytes never throw, every strict prefix is 'truncated', trailing bytes are refused,
 * and any flipped bit or wrong key fails parsing or verification.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../../src/wire/addr.ts';
import {
  BIDD_BID_LEN,
  BIDD_HEARTBEAT_LEN,
  BIDD_MESSAGE_MAX,
  BIDD_TYPE,
  biddLength,
  biddOutbids,
  biddProblem,
  emitBidd,
  encodeBidd,
  parseBidd,
  verifyBidd,
  type BiddFrame,
  type BiddKind,
  type BiddMessage,
} from '../../src/wire/bidd.ts';

const KEY = new TextEncoder().encode('bidd-test-key');

const HEARTBEAT: BiddMessage = {
  kind: 'heartbeat', group: 0xe0010101, node: 3, price: 100, epoch: 5, links: 12, keyId: 1, inc: 0x5eed0001, seq: 7,
};
const HEARTBEAT_HEX = [
  '5342 02 ff01', // magic 'SB', version 2, type 0xff01 heartbeat
  'e0010101', // group 224.1.1.1
  '00000003', // node 3
  '00000064', // price 100
  '00000005', // epoch 5
  '0000000c', // links 12
  '0001', // key id 1
  '5eed0001 00000007', // incarnation 0x5eed0001, sequence 7
  'f21dd131b60a95ca9853920b9b771d4629f4acddb4aa31bca5b9eac99c20eee0', // HMAC-SHA256
].join(' ');

function frameOf(b: Uint8Array): BiddFrame {
  const p = parseBidd(b);
  if (!p.ok) throw new Error(`${p.error.reason}: ${p.error.detail ?? ''}`);
  return p.value;
}

const reasonOf = (b: Uint8Array): string => {
  const p = parseBidd(b);
  return p.ok ? 'ok' : p.error.reason;
};

describe('bidd heartbeat byte literal', () => {
  const bytes = fromHex(HEARTBEAT_HEX);

  it('encodes to the documented bytes', () => {
    expect(hex(encodeBidd(HEARTBEAT, KEY))).toBe(hex(bytes));
    expect(bytes.length).toBe(BIDD_HEARTBEAT_LEN);
    expect(biddLength('heartbeat')).toBe(bytes.length);
  });

  it('carries the HMAC node:crypto computes over every byte before it', () => {
    const signed = bytes.subarray(0, bytes.length - 32);
    expect(hex(bytes.subarray(bytes.length - 32))).toBe(createHmac('sha256', KEY).update(signed).digest('hex'));
  });

  it('parses back to the value, with the signed bytes and the mac located, and verifies', () => {
    const f = frameOf(bytes);
    expect(f.message).toEqual(HEARTBEAT);
    expect(hex(f.signed)).toBe(hex(bytes.subarray(0, bytes.length - 32)));
    expect(hex(f.mac)).toBe(hex(bytes.subarray(bytes.length - 32)));
    expect(verifyBidd(f, KEY)).toBe(true);
  });

  it('every strict prefix, fed a byte at a time, is truncated', () => {
    for (let n = 0; n < bytes.length; n++) {
      expect(parseBidd(bytes.subarray(0, n)), `prefix of ${n} bytes`).toMatchObject({ ok: false, error: { layer: 'bidd', reason: 'truncated' } });
    }
  });

  it('a trailing byte is refused: a datagram is exact', () => {
    expect(reasonOf(Uint8Array.of(...bytes, 0))).toBe('bad-length');
  });
});

describe('bidd parse errors, each with its reason', () => {
  const hb = fromHex(HEARTBEAT_HEX);
  const edited = (at: number, ...bytes: number[]): Uint8Array => {
    const c = hb.slice();
    c.set(bytes, at);
    return c;
  };

  it('bad magic, bad version', () => {
    expect(reasonOf(edited(0, 0x53, 0x47))).toBe('bad-magic');
    expect(reasonOf(edited(2, 1))).toBe('bad-version');
  });

  it('unknown types are unsupported', () => {
    expect(parseBidd(edited(3, 0xff, 0x04))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'type 0xff04' } });
    expect(parseBidd(edited(3, 0x00, 0x01))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'type 0x0001' } });
  });

  it('a heartbeat relabelled as a bid is four bytes too long', () => {
    expect(reasonOf(edited(3, 0xff, 0x02))).toBe('bad-length');
  });

  it('incarnation and sequence are full u32s; incarnation 0 is unsupported', () => {
    const max = { ...HEARTBEAT, inc: 0xffffffff, seq: 0xffffffff };
    const b = encodeBidd(max, KEY);
    expect(hex(b.subarray(b.length - 40, b.length - 32))).toBe('ffffffffffffffff');
    expect(frameOf(b).message).toEqual(max);
    b.fill(0, b.length - 40, b.length - 36); // incarnation 0
    expect(parseBidd(b)).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'incarnation 0' } });
  });

  it('a datagram longer than the longest message is bad-length', () => {
    expect(reasonOf(new Uint8Array(BIDD_MESSAGE_MAX + 1))).toBe('bad-length');
  });
});

describe('bidd sizes, encoder limits and the tie-break', () => {
  it('bid and resign are 63 bytes, heartbeat 67', () => {
    expect([BIDD_BID_LEN, BIDD_HEARTBEAT_LEN, BIDD_MESSAGE_MAX]).toEqual([63, 67, 67]);
    expect(encodeBidd({ ...HEARTBEAT, kind: 'bid', links: 0 }, KEY).length).toBe(63);
    expect(encodeBidd({ ...HEARTBEAT, kind: 'resign', links: 0 }, KEY).length).toBe(63);
    expect(hex(encodeBidd({ ...HEARTBEAT, kind: 'resign', links: 0 }, KEY).subarray(0, 5))).toBe('534202ff03');
  });

  it('emitBidd writes exactly biddLength bytes at its offset', () => {
    const buf = new Uint8Array(100).fill(0xee);
    const n = emitBidd(HEARTBEAT, KEY, buf, 10);
    expect(n).toBe(BIDD_HEARTBEAT_LEN);
    expect(hex(buf.subarray(10, 10 + n))).toBe(hex(fromHex(HEARTBEAT_HEX)));
    expect(buf.subarray(0, 10).every((x) => x === 0xee) && buf.subarray(10 + n).every((x) => x === 0xee)).toBe(true);
  });

  const cases: [string, BiddMessage, RegExp][] = [
    ['links in a bid', { ...HEARTBEAT, kind: 'bid' }, /only a heartbeat carries links/],
    ['a group above u32', { ...HEARTBEAT, group: 2 ** 32 }, /group .* not a u32/],
    ['a negative price', { ...HEARTBEAT, price: -1 }, /price/],
    ['a fractional epoch', { ...HEARTBEAT, epoch: 1.5 }, /epoch/],
    ['a key id above u16', { ...HEARTBEAT, keyId: 65536 }, /key id/],
    ['a sequence above u32', { ...HEARTBEAT, seq: 2 ** 32 }, /sequence/],
    ['incarnation 0', { ...HEARTBEAT, inc: 0 }, /incarnation/],
    ['an unknown kind', { ...HEARTBEAT, kind: 'toString' as BiddKind }, /unknown kind/],
  ];
  for (const [name, v, why] of cases) {
    it(`the encoder refuses ${name}`, () => {
      expect(biddProblem(v)).toMatch(why);
      expect(() => encodeBidd(v, KEY)).toThrow(/assertion failed/);
    });
  }

  it('the higher price wins; equal prices go to the higher node id', () => {
    expect(biddOutbids({ price: 2, node: 1 }, { price: 1, node: 9 })).toBe(true);
    expect(biddOutbids({ price: 1, node: 9 }, { price: 2, node: 1 })).toBe(false);
    expect(biddOutbids({ price: 5, node: 4 }, { price: 5, node: 3 })).toBe(true);
    expect(biddOutbids({ price: 5, node: 3 }, { price: 5, node: 3 })).toBe(false);
  });
});

// ---- properties ----

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const message: fc.Arbitrary<BiddMessage> = fc
  .record({
    kind: fc.constantFrom(...(Object.keys(BIDD_TYPE) as BiddKind[])),
    group: u32, node: u32, price: u32, epoch: u32, links: u32,
    keyId: fc.integer({ min: 0, max: 0xffff }),
    inc: fc.integer({ min: 1, max: 0xffffffff }),
    seq: fc.oneof(u32, fc.nat({ max: 1000 })),
  })
  .map((m) => (m.kind === 'heartbeat' ? m : { ...m, links: 0 }));
const key = fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 64 }), fc.uint8Array({ minLength: 65, maxLength: 100 }));
const RUNS = { numRuns: 300 };

/** Two keys HMAC treats as the same: equal after zero-padding to the block (long keys are hashed). */
function sameHmacKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length > 64 || b.length > 64) return hex(a) === hex(b);
  const pa = new Uint8Array(64);
  const pb = new Uint8Array(64);
  pa.set(a);
  pb.set(b);
  return hex(pa) === hex(pb);
}

describe('bidd properties', () => {
  it('parse(encode(v)) equals v, verifies with its key, and the HMAC is node:crypto\'s', () => {
    fc.assert(fc.property(message, key, (v, k) => {
      expect(biddProblem(v)).toBeUndefined();
      const b = encodeBidd(v, k);
      expect(b.length).toBe(biddLength(v.kind));
      const f = frameOf(b);
      expect(f.message).toEqual(v);
      expect(verifyBidd(f, k)).toBe(true);
      expect(hex(f.mac)).toBe(createHmac('sha256', k).update(f.signed).digest('hex'));
    }), RUNS);
  });

  it('arbitrary bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      const p = parseBidd(b);
      if (p.ok) verifyBidd(p.value, KEY);
    }), { numRuns: 2000 });
  });

  it('bytes behind a valid header never throw', () => {
    const arb = fc.tuple(fc.constantFrom(...Object.values(BIDD_TYPE)), fc.uint8Array({ maxLength: 80 }))
      .map(([type, tail]) => Uint8Array.of(0x53, 0x42, 1, type >> 8, type & 0xff, ...tail));
    fc.assert(fc.property(arb, (b) => {
      const p = parseBidd(b);
      if (p.ok) verifyBidd(p.value, KEY);
    }), { numRuns: 2000 });
  });

  it('every strict prefix is truncated', () => {
    fc.assert(fc.property(message, (v) => {
      const b = encodeBidd(v, KEY);
      for (let n = 0; n < b.length; n++) expect(reasonOf(b.subarray(0, n)), `prefix of ${n} of ${b.length} bytes`).toBe('truncated');
    }), { numRuns: 50 });
  });

  it('trailing bytes are bad-length', () => {
    fc.assert(fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 40 }), (v, tail) => {
      expect(reasonOf(Uint8Array.of(...encodeBidd(v, KEY), ...tail))).toBe('bad-length');
    }), RUNS);
  });

  it('a single flipped bit anywhere fails parsing or verification', () => {
    fc.assert(fc.property(message, key, fc.nat(), fc.integer({ min: 0, max: 7 }), (v, k, at, bit) => {
      const b = encodeBidd(v, k);
      b[at % b.length]! ^= 1 << bit;
      const p = parseBidd(b);
      if (p.ok) expect(verifyBidd(p.value, k)).toBe(false);
    }), { numRuns: 1000 });
  });

  it('a wrong key fails verification', () => {
    fc.assert(fc.property(message, key, key, (v, k, other) => {
      fc.pre(!sameHmacKey(k, other));
      expect(verifyBidd(frameOf(encodeBidd(v, k)), other)).toBe(false);
    }), RUNS);
  });

  it('accepted bytes have one encoding: re-encoding what parsed gives the same signed bytes', () => {
    fc.assert(fc.property(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (v, edits) => {
      const b = encodeBidd(v, KEY);
      for (const [at, byte] of edits) b[at % b.length] = byte;
      const p = parseBidd(b);
      if (!p.ok) return;
      const again = encodeBidd(p.value.message, KEY);
      expect(hex(again.subarray(0, again.length - 32))).toBe(hex(p.value.signed));
    }), { numRuns: 1000 });
  });
});
