/**
 * SHA-256 (src/crypto/sha256.ts) against the FIPS 180-4 examples (NIST CSRC "SHA_All.pdf" and
 * FIPS 180-2 appendix B) and against node:crypto for random messages and splits.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sha256, sha256 } from '../../src/crypto/sha256.ts';
import { hex } from '../../src/wire/addr.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const nodeSha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('SHA-256 NIST vectors', () => {
  const vectors: [string, Uint8Array, string][] = [
    ['empty', text(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['"abc" (one block)', text('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      '448 bits (padding spills into a second block)',
      text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
    [
      '896 bits',
      text('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu'),
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
    ],
  ];
  for (const [name, msg, digest] of vectors) {
    it(name, () => {
      expect(hex(sha256(msg))).toBe(digest);
      expect(hex(new Sha256().update(msg).digest())).toBe(digest);
    });
  }

  const millionA = 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0';
  it('one million "a", in one piece', () => {
    expect(hex(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe(millionA);
  });
  it('one million "a", fed in 1000 uneven pieces', () => {
    const h = new Sha256();
    const piece = new Uint8Array(1_000).fill(0x61);
    for (let i = 0; i < 1_000; i++) h.update(piece.subarray(0, 1 + (i % 37))).update(piece.subarray(1 + (i % 37)));
    expect(hex(h.digest())).toBe(millionA);
  });
});

describe('SHA-256 against node:crypto', () => {
  it('every length from 0 to 300 bytes (all the padding cases: 55, 56, 63, 64, 119, 120 ...)', () => {
    for (let n = 0; n <= 300; n++) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 131 + n) & 255;
      expect(hex(sha256(b)), `length ${n}`).toBe(nodeSha256(b));
    }
  });

  it('random messages, split anywhere, hash as the whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 6 }), (msg, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (msg.length + 1)))].sort((a, b) => a - b);
        const h = new Sha256();
        let from = 0;
        for (const p of [...points, msg.length]) {
          h.update(msg.subarray(from, p));
          from = p;
        }
        const want = nodeSha256(msg);
        expect(hex(h.digest())).toBe(want);
        expect(hex(sha256(msg))).toBe(want);
      }),
      { numRuns: 500 },
    );
  });

  it('several parts hash as their concatenation', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 5 }), (parts) => {
        expect(hex(sha256(...parts))).toBe(createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
      }),
    );
  });
});

describe('Sha256 lifecycle', () => {
  it('reset starts a new message; digestInto writes at an offset', () => {
    const h = new Sha256().update(text('something else'));
    h.digest();
    const out = new Uint8Array(40).fill(0xee);
    h.reset().update(text('abc')).digestInto(out, 4);
    expect(hex(out.subarray(4, 36))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect([...out.subarray(0, 4), ...out.subarray(36)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
  });

  it('does not touch its input', () => {
    const msg = text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq-and-more-than-a-block');
    const copy = msg.slice();
    sha256(msg);
    expect(msg).toEqual(copy);
  });

  it('update or digest after digest is a caller bug and throws', () => {
    const h = new Sha256();
    h.digest();
    expect(() => h.update(text('x'))).toThrow(/after digest/);
    expect(() => h.digest()).toThrow(/twice/);
  });
});
