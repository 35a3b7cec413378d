/**
 * The auth trailer shared by the feedback protocol and bidd: a key id, a 53-bit value (a
 * timestamp or a sequence, as two u32 words) and an HMAC-SHA256 over every byte before the HMAC.
 *
 *   +0   key id   u16
 *   +2   value hi u32   value = hi * 2^32 + lo; hi <= 0x1fffff (a safe integer)
 *   +6   value lo u32
 *   +10  HMAC-SHA256, 32 bytes, over bytes [0, +10)
 */

import { hmacSha256, HMAC_SHA256_BYTES, timingSafeEqual } from '../crypto/hmac.ts';
import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { assert } from './result.ts';

export const AUTH_OFF = { keyId: 0, valueHi: 2, valueLo: 6, mac: 10 } as const;
export const AUTH_TRAILER_LEN = AUTH_OFF.mac + HMAC_SHA256_BYTES;
/** Largest high word: keeps the value at most 2^53 - 1. */
export const AUTH_VALUE_HI_MAX = 0x1fffff;

/** Write the trailer at `at` and sign bytes [0, at + 10); the message must end with it (`len`). */
export function emitAuthTrailer(b: Uint8Array, at: number, len: number, keyId: number, value: number, secret: Uint8Array, what: string): void {
  writeU16(b, at + AUTH_OFF.keyId, keyId);
  writeU32(b, at + AUTH_OFF.valueHi, Math.floor(value / 0x100000000));
  writeU32(b, at + AUTH_OFF.valueLo, value >>> 0);
  const macAt = at + AUTH_OFF.mac;
  assert(macAt + HMAC_SHA256_BYTES === len, `${what} length and layout disagree`);
  b.set(hmacSha256(secret, b.subarray(0, macAt)), macAt);
}

/** The key id and value of a trailer at `at` (the caller checked there are enough bytes); undefined when the value is above 2^53 - 1. */
export function readAuthTrailer(b: Uint8Array, at: number): { keyId: number; value: number } | undefined {
  const hi = readU32(b, at + AUTH_OFF.valueHi);
  if (hi > AUTH_VALUE_HI_MAX) return undefined;
  return { keyId: readU16(b, at + AUTH_OFF.keyId), value: hi * 0x100000000 + readU32(b, at + AUTH_OFF.valueLo) };
}

/** Whether `mac` is the HMAC of `signed` under `secret`, compared in constant time. */
export function verifyAuth(signed: Uint8Array, mac: Uint8Array, secret: Uint8Array): boolean {
  return timingSafeEqual(hmacSha256(secret, signed), mac);
}
