/** HMAC-SHA256 (src/crypto/hmac.ts) against RFC 4231 section 4 and node:crypto; timingSafeEqual. */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256, timingSafeEqual } from '../../src/crypto/hmac.ts';
import { fromHex, hex } from '../../src/wire/addr.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte);
const nodeHmac = (key: Uint8Array, data: Uint8Array): string => createHmac('sha256', key).update(data).digest('hex');

describe('HMAC-SHA256, RFC 4231 test cases', () => {
  const cases: [string, Uint8Array, Uint8Array, string][] = [
    ['1: 20-byte key', fill(20, 0x0b), text('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
    ['2: key shorter than the output', text('Jefe'), text('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
    ['3: 50 bytes of 0xdd', fill(20, 0xaa), fill(50, 0xdd), '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'],
    ['4: 25-byte key', fromHex('0102030405060708090a0b0c0d0e0f10111213141516171819'), fill(50, 0xcd), '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
    // Case 5 checks only the first 128 bits (truncated output).
    ['5: truncated to 128 bits', fill(20, 0x0c), text('Test With Truncation'), 'a3b6167473100ee06e0c796c2955552b'],
    ['6: 131-byte key, hashed first', fill(131, 0xaa), text('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    [
      '7: 131-byte key and data longer than a block',
      fill(131, 0xaa),
      text('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'),
      '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
    ],
  ];
  for (const [name, key, data, mac] of cases) {
    it(name, () => {
      expect(hex(hmacSha256(key, data)).slice(0, mac.length)).toBe(mac);
      expect(nodeHmac(key, data).slice(0, mac.length)).toBe(mac);
    });
  }
});

describe('HMAC-SHA256 against node:crypto', () => {
  it('random keys of any length (empty, within and beyond the 64-byte block) and random messages', () => {
    const key = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 60, maxLength: 200 }));
    fc.assert(
      fc.property(key, fc.uint8Array({ maxLength: 300 }), (k, m) => {
        expect(hex(hmacSha256(k, m))).toBe(nodeHmac(k, m));
      }),
      { numRuns: 500 },
    );
  });

  it('keys of every length from 0 to 130 bytes (block boundary at 64)', () => {
    const m = text('feedback');
    for (let n = 0; n <= 130; n++) {
      const k = new Uint8Array(n).map((_, i) => (i * 7 + n) & 255);
      expect(hex(hmacSha256(k, m)), `key length ${n}`).toBe(nodeHmac(k, m));
    }
  });

  it('several parts authenticate as their concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 5 }), (k, parts) => {
        expect(hex(hmacSha256(k, ...parts))).toBe(nodeHmac(k, Buffer.concat(parts)));
      }),
    );
  });

  it('does not touch the key or the message', () => {
    const k = fill(100, 0xaa);
    const m = fill(100, 0x55);
    hmacSha256(k, m);
    expect(k).toEqual(fill(100, 0xaa));
    expect(m).toEqual(fill(100, 0x55));
  });

  it('as RFC 2104 defines it, a key and the same key with zero bytes appended (up to the block) are one key', () => {
    // Why CtlKey secrets have a fixed length in their key file: "k" and "k\0" must not both be issued.
    const k = text('sixteen-byte-key');
    expect(hex(hmacSha256(Uint8Array.of(...k, 0, 0), text('m')))).toBe(hex(hmacSha256(k, text('m'))));
  });
});

describe('timingSafeEqual', () => {
  it('equal arrays are equal, including empty ones', () => {
    expect(timingSafeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(timingSafeEqual(fromHex('00ff10'), fromHex('00ff10'))).toBe(true);
  });

  it('arrays of different lengths are unequal', () => {
    expect(timingSafeEqual(fromHex('00ff'), fromHex('00ff00'))).toBe(false);
  });

  it('agrees with a plain comparison, whichever byte and bit differ', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (a, at, bit) => {
        const b = a.slice();
        b[at % b.length]! ^= 1 << bit;
        expect(timingSafeEqual(a, a.slice())).toBe(true);
        expect(timingSafeEqual(a, b)).toBe(false);
      }),
    );
  });
});
