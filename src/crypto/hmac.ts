/**
 * HMAC-SHA256 (RFC 2104, FIPS 198-1) and a constant-time comparison, for the feedback protocol's
 * message authentication (src/wire/feedback.ts).
 *
 * Pure like src/crypto/sha256.ts and for the same reason: the engine is sans-IO and must
 * authenticate a control message identically in the simulator and in real mode, synchronously
 * and without `node:*` (ARCHITECTURE.md, test/purity.test.ts).
 *
 *   HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))
 *
 * where K0 is the key zero-padded to the 64-byte block, or first hashed to 32 bytes when it is
 * longer than the block; ipad is 0x36 and opad 0x5c repeated.
 */

import { Sha256, SHA256_BLOCK_BYTES, SHA256_DIGEST_BYTES } from './sha256.ts';

export const HMAC_SHA256_BYTES = SHA256_DIGEST_BYTES;

const IPAD = 0x36;
const OPAD = 0x5c;

/** HMAC-SHA256 of the concatenation of `parts` under `key` (any length, including empty). */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const k0 = new Uint8Array(SHA256_BLOCK_BYTES);
  const h = new Sha256();
  if (key.length > SHA256_BLOCK_BYTES) h.update(key).digestInto(k0, 0);
  else k0.set(key);

  for (let i = 0; i < SHA256_BLOCK_BYTES; i++) k0[i]! ^= IPAD;
  h.reset().update(k0);
  for (const p of parts) h.update(p);
  const inner = h.digest();

  for (let i = 0; i < SHA256_BLOCK_BYTES; i++) k0[i]! ^= IPAD ^ OPAD;
  const out = h.reset().update(k0).update(inner).digest();
  k0.fill(0);
  inner.fill(0);
  return out;
}

/**
 * Whether `a` and `b` hold the same bytes, taking the same time whatever bytes differ and where
 * (no early exit), so a MAC check does not tell an attacker how many leading bytes were right.
 * Arrays of different lengths are unequal at once: lengths are public (a MAC's is fixed).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
