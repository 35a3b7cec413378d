/**
 * The freshness handshake codec (src/wire/fresh.ts): a byte-literal challenge checked against
 * node:crypto's HMAC, then the codec properties (STYLE.md 8): parse(encode(v)) equals v, arbitrary
 * bytes never throw, every strict prefix is 'truncated', a trailing byte is 'bad-length', and any
 * flipped bit fails parsing or verification.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../../src/wire/addr.ts';
import { encodeFresh, FRESH_LEN, freshProblem, isFresh, parseFresh, verifyFresh, type FreshMessage } from '../../src/wire/fresh.ts';

const KEY = new TextEncoder().encode('fresh-test-key');
const CHALLENGE: FreshMessage = { kind: 'challenge', stream: 'sync', group: 0xe0010101, node: 2, peer: 1, nonceHi: 0xabcdef01, nonceLo: 5, inc: 0xabcdef01, seq: 0, keyId: 1 };
const CHALLENGE_HEX = [
  '5346 01 01 02 00', // magic 'SF', version 1, challenge, stream sync, reserved
  'e0010101', // group 224.1.1.1
  '00000002 00000001', // from node 2, for node 1
  'abcdef01 00000005', // nonce
  'abcdef01 00000000', // the challenger's incarnation; seq 0
  '0001', // key id 1
].join(' ');

const reasonOf = (b: Uint8Array) => {
  const p = parseFresh(b);
  return p.ok ? 'ok' : p.error.reason;
};

describe('fresh byte literal', () => {
  it('encodes a challenge to the documented bytes, signed with HMAC-SHA256 over the rest', () => {
    const b = encodeFresh(CHALLENGE, KEY);
    expect(b.length).toBe(FRESH_LEN);
    expect(hex(b.subarray(0, 36))).toBe(hex(fromHex(CHALLENGE_HEX)));
    expect(hex(b.subarray(36))).toBe(createHmac('sha256', KEY).update(b.subarray(0, 36)).digest('hex'));
    const p = parseFresh(b);
    expect(p.ok && p.value.message).toEqual(CHALLENGE);
    expect(p.ok && verifyFresh(p.value, KEY)).toBe(true);
    expect(p.ok && verifyFresh(p.value, new TextEncoder().encode('other'))).toBe(false);
    expect(isFresh(b)).toBe(true);
  });

  it('refuses bad enums, a non-zero reserved byte, incarnation 0 and a challenge with a sequence', () => {
    const b = encodeFresh(CHALLENGE, KEY);
    const edited = (off: number, v: number) => {
      const c = b.slice();
      c[off] = v;
      return c;
    };
    expect(reasonOf(edited(2, 9))).toBe('bad-version');
    expect(reasonOf(edited(3, 3))).toBe('unsupported');
    expect(reasonOf(edited(4, 3))).toBe('bad-value');
    expect(reasonOf(edited(5, 1))).toBe('bad-value');
    expect(reasonOf(edited(33, 1))).toBe('bad-value'); // a challenge carries seq 0
    const zeroInc = b.slice();
    zeroInc.fill(0, 26, 30);
    expect(reasonOf(zeroInc)).toBe('unsupported');
    expect(freshProblem({ ...CHALLENGE, inc: 0 })).toMatch(/incarnation/);
    expect(freshProblem({ ...CHALLENGE, seq: 1 })).toMatch(/challenge/);
    expect(freshProblem({ ...CHALLENGE, kind: 'response', seq: 2 ** 32 })).toMatch(/seq/);
    expect(() => encodeFresh({ ...CHALLENGE, inc: 0 }, KEY)).toThrow(/assertion failed/);
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const message: fc.Arbitrary<FreshMessage> = fc
  .record({
    kind: fc.constantFrom('challenge' as const, 'response' as const),
    stream: fc.constantFrom('bidd' as const, 'sync' as const),
    group: u32, node: u32, peer: u32, nonceHi: u32, nonceLo: u32,
    inc: fc.integer({ min: 1, max: 0xffffffff }), seq: u32,
    keyId: fc.integer({ min: 0, max: 0xffff }),
  })
  .map((m) => (m.kind === 'challenge' ? { ...m, seq: 0 } : m));

describe('fresh properties', () => {
  it('parse(encode(v)) equals v and verifies', () => {
    fc.assert(fc.property(message, (m) => {
      const p = parseFresh(encodeFresh(m, KEY));
      expect(p.ok && p.value.message).toEqual(m);
      expect(p.ok && verifyFresh(p.value, KEY)).toBe(true);
    }));
  });

  it('arbitrary bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => void parseFresh(b)));
  });

  it('every strict prefix is truncated; a trailing byte is bad-length', () => {
    fc.assert(fc.property(message, fc.nat(), (m, cut) => {
      const b = encodeFresh(m, KEY);
      expect(reasonOf(b.subarray(0, cut % b.length))).toBe('truncated');
      const longer = new Uint8Array(b.length + 1);
      longer.set(b);
      expect(reasonOf(longer)).toBe('bad-length');
    }));
  });

  it('a flipped bit fails parsing or verification', () => {
    fc.assert(fc.property(message, fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
      const b = encodeFresh(m, KEY);
      b[at % b.length]! ^= 1 << bit;
      const p = parseFresh(b);
      expect(p.ok && verifyFresh(p.value, KEY)).toBe(false);
    }));
  });
});
