/**
 * Stamped datagrams: the UDP payloads of the udp-echo and multicast workloads (the simulator's
 * sim/workload.ts and the lab's client). Each starts with the request's xid, so a client matches
 * an echo to its request; a multicast one also carries its send time, so a receiver measures the
 * latency. The rest, up to the requested size, is zeros. Big-endian:
 *
 *   xid stamp (at least 4 bytes)          time stamp (at least 12 bytes)
 *     0  xid   u32                           0  xid     u32
 *     4  zeros up to the size                4  sentUs  f64  the sender's clock in µs
 *                                            12 zeros up to the size
 *
 * Choices, each a rule of the parser:
 * - Nothing in the bytes says which stamp: the receiver knows what it expects.
 * - The size is the datagram's length; the padding is not read (any bytes are accepted there).
 * - `sentUs` is returned as received (any f64, NaN included): judging a sender's clock is the
 *   receiver's business.
 */

import { readU32, writeU32 } from './addr.ts';
import { assert, assertNever } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';

const LAYER = 'stamp';

export const STAMP_OFF = { xid: 0, sentUs: 4 } as const;
/** The smallest xid stamp. */
export const XID_STAMP_MIN = STAMP_OFF.xid + 4; // 4
/** The smallest time stamp. */
export const TIME_STAMP_MIN = STAMP_OFF.sentUs + 8; // 12

export interface XidStamp {
  readonly kind: 'xid';
  /** u32 */
  readonly xid: number;
  /** Bytes in the datagram (at least XID_STAMP_MIN). */
  readonly size: number;
}

export interface TimeStamp {
  readonly kind: 'time';
  /** u32 */
  readonly xid: number;
  /** The sender's clock in µs when it sent the datagram (f64). */
  readonly sentUs: number;
  /** Bytes in the datagram (at least TIME_STAMP_MIN). */
  readonly size: number;
}

export type Stamp = XidStamp | TimeStamp;
export type StampKind = Stamp['kind'];

function minOf(kind: StampKind): number {
  switch (kind) {
    case 'xid':
      return XID_STAMP_MIN;
    case 'time':
      return TIME_STAMP_MIN;
    default:
      return assertNever(kind, 'stamp kind');
  }
}

/** The size of a stamped datagram asked to be `size` bytes: never below the stamp itself. */
export function stampSize(kind: StampKind, size: number): number {
  return Math.max(minOf(kind), size);
}

/** Parse a stamp of `kind` from a whole datagram. Never throws. */
export function parseStamp(b: Uint8Array, kind: 'xid'): Parsed<XidStamp>;
export function parseStamp(b: Uint8Array, kind: 'time'): Parsed<TimeStamp>;
export function parseStamp(b: Uint8Array, kind: StampKind): Parsed<Stamp>;
export function parseStamp(b: Uint8Array, kind: StampKind): Parsed<Stamp> {
  if (b.length < minOf(kind)) return fail(LAYER, 'truncated', `${b.length} bytes, a ${kind} stamp is at least ${minOf(kind)}`);
  const xid = readU32(b, STAMP_OFF.xid);
  if (kind === 'xid') return ok({ kind, xid, size: b.length });
  const sentUs = new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(STAMP_OFF.sentUs);
  return ok({ kind, xid, sentUs, size: b.length });
}

/** The xid of any stamped datagram, or undefined when it is too short to hold one. */
export function stampXid(b: Uint8Array): number | undefined {
  return b.length < XID_STAMP_MIN ? undefined : readU32(b, STAMP_OFF.xid);
}

export function stampLength(s: Stamp): number {
  return s.size;
}

/** Why `s` cannot be encoded, or undefined when it can. */
export function stampProblem(s: Stamp): string | undefined {
  if (!(Number.isInteger(s.xid) && s.xid >= 0 && s.xid <= 0xffffffff)) return `xid ${s.xid} is not a u32`;
  if (!(Number.isSafeInteger(s.size) && s.size >= minOf(s.kind))) return `size ${s.size} is below a ${s.kind} stamp's ${minOf(s.kind)} bytes`;
  return undefined;
}

/** Writes exactly `stampLength(s)` bytes at `off` (the padding zeroed); returns that count. */
export function emitStamp(s: Stamp, buf: Uint8Array, off = 0): number {
  const problem = stampProblem(s);
  assert(problem === undefined, `emitStamp: ${problem}`);
  assert(buf.length - off >= s.size, `emitStamp: ${buf.length - off} bytes of room, the stamp needs ${s.size}`);
  buf.fill(0, off, off + s.size);
  writeU32(buf, off + STAMP_OFF.xid, s.xid);
  if (s.kind === 'time') new DataView(buf.buffer, buf.byteOffset, buf.byteLength).setFloat64(off + STAMP_OFF.sentUs, s.sentUs);
  return s.size;
}

export function encodeStamp(s: Stamp): Uint8Array {
  const out = new Uint8Array(s.size);
  emitStamp(s, out);
  return out;
}
