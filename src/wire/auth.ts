/**
 * The auth trailer shared by the feedback protocol and bidd: a key id, a 53-bit value (a
 * timestamp or a sequence, as two u32 words) and an HMAC-SHA256 over every byte before the HMAC.
 *
 *   +0   key id   u16
 *   +2   value hi u32   value = hi * 2^32 + lo; hi <= 0x1fffff (a safe integer)
 *   +6   value lo u32
 *   +10  HMAC-SHA256, 32 bytes, over bytes [0, +10)
 *
 * bidd and sync read the same 42 bytes as a session trailer (`emitSessionTrailer`): the high
 * word is the sender's incarnation (a random non-zero u32 drawn at every process start) and the
 * low word its sequence within that incarnation (u32, from 1). A receiver keeps, per peer, the
 * incarnation it has verified and the highest sequence seen in it; a new incarnation is
 * believed only after a challenge-response (`fresh.ts`), so a replay is refused across either
 * side's restart.
 */

import { hmacSha256, HMAC_SHA256_BYTES, timingSafeEqual } from '../crypto/hmac.ts';
import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { assert } from '../assert.ts';

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

/** The bidd/sync reading of the trailer: key id, the sender's incarnation (non-zero) and its sequence in it. */
export interface SessionAuth {
  readonly keyId: number;
  readonly inc: number;
  readonly seq: number;
}

/** Write a session trailer (incarnation in the high word, sequence in the low) at `at` and sign bytes [0, at + 10). */
export function emitSessionTrailer(b: Uint8Array, at: number, len: number, a: SessionAuth, secret: Uint8Array, what: string): void {
  writeU16(b, at + AUTH_OFF.keyId, a.keyId);
  writeU32(b, at + AUTH_OFF.valueHi, a.inc);
  writeU32(b, at + AUTH_OFF.valueLo, a.seq);
  const macAt = at + AUTH_OFF.mac;
  assert(macAt + HMAC_SHA256_BYTES === len, `${what} length and layout disagree`);
  b.set(hmacSha256(secret, b.subarray(0, macAt)), macAt);
}

/** A session trailer at `at` (the caller checked there are enough bytes); undefined when the incarnation is 0. */
export function readSessionTrailer(b: Uint8Array, at: number): SessionAuth | undefined {
  const inc = readU32(b, at + AUTH_OFF.valueHi);
  if (inc === 0) return undefined;
  return { keyId: readU16(b, at + AUTH_OFF.keyId), inc, seq: readU32(b, at + AUTH_OFF.valueLo) };
}

/** Why a session trailer's fields cannot be encoded, or undefined. */
export function sessionProblem(a: SessionAuth): string | undefined {
  const u = (x: number, max: number) => Number.isInteger(x) && x >= 0 && x <= max;
  if (!u(a.keyId, 0xffff)) return `key id ${a.keyId} is not a u16`;
  if (!u(a.inc, 0xffffffff) || a.inc === 0) return `incarnation ${a.inc} is not a non-zero u32`;
  if (!u(a.seq, 0xffffffff)) return `sequence ${a.seq} is not a u32`;
  return undefined;
}
