/**
 * The freshness handshake of bidd and sync (our addition to slides 6-11): how a node comes to
 * believe a peer's incarnation. bidd and sync datagrams carry the sender's incarnation (a random
 * u32 drawn at every process start) and a sequence within it. A receiver that hears an
 * incarnation it has not verified (the peer restarted, or the receiver did, or somebody replays a
 * recording) does not act on it: it sends a challenge with a nonce it never used before, and the
 * peer answers with its current incarnation and the last sequence it sent on that stream, signed
 * together with the nonce. Only that answer makes the receiver adopt the incarnation; from then on
 * a sequence must rise. A recording, however old, cannot answer a fresh nonce (the README's
 * design decisions say why this and not a clock or a boot counter).
 *
 * The byte layout is at FRESH_OFF: 68 bytes (FRESH_LEN). The parser checks structure (length
 * exact, enums, reserved byte and a challenge's seq 0, incarnation non-zero) and never throws;
 * `verifyFresh` checks the HMAC.
 */

import { HMAC_SHA256_BYTES, hmacSha256 } from '../crypto/hmac.ts';
import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { verifyAuth } from './auth.ts';
import { assert } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';

const LAYER = 'fresh';

export const FRESH_MAGIC = 0x5346; // 'S' 'F'
export const FRESH_VERSION = 1;
export const FRESH_TYPE = { challenge: 1, response: 2 } as const;
export type FreshKind = keyof typeof FRESH_TYPE;
/** The sequences a node keeps, one per protocol on the group. */
export const FRESH_STREAM = { bidd: 1, sync: 2 } as const;
export type FreshStream = keyof typeof FRESH_STREAM;

/**
 * Offsets of the fields. Every message is one UDP datagram on the bidd port, to the group,
 * big-endian:
 *
 *     0   magic    2 bytes  0x53 0x46 ('S' 'F')
 *     2   version  u8       1
 *     3   type     u8       1 challenge, 2 response
 *     4   stream   u8       1 bidd, 2 sync: which of the sender's sequences is meant
 *     5   reserved u8       0
 *     6   group    u32      the failover group's id (as in bidd)
 *     10  node     u32      the sender's node id
 *     14  peer     u32      the node id the message is for
 *     18  nonce    8 bytes  challenge: the challenger's fresh nonce; response: the nonce answered
 *     26  inc      u32      the sender's incarnation (non-zero)
 *     30  seq      u32      response: the last sequence the sender used on `stream` in `inc`
 *                           (0: none yet); challenge: 0
 *     34  key id   u16
 *     36  HMAC-SHA256 over bytes [0, 36), 32 bytes
 */
export const FRESH_OFF = { magic: 0, version: 2, type: 3, stream: 4, reserved: 5, group: 6, node: 10, peer: 14, nonceHi: 18, nonceLo: 22, inc: 26, seq: 30, keyId: 34, mac: 36 } as const;
export const FRESH_LEN = FRESH_OFF.mac + HMAC_SHA256_BYTES; // 68

export interface FreshMessage {
  readonly kind: FreshKind;
  readonly stream: FreshStream;
  readonly group: number;
  readonly node: number;
  readonly peer: number;
  /** 64-bit nonce as two u32 words. */
  readonly nonceHi: number;
  readonly nonceLo: number;
  readonly inc: number;
  readonly seq: number;
  readonly keyId: number;
}

export interface FreshFrame {
  readonly message: FreshMessage;
  readonly signed: Uint8Array;
  readonly mac: Uint8Array;
}

const KIND_BY_TYPE: ReadonlyMap<number, FreshKind> = new Map((Object.entries(FRESH_TYPE) as [FreshKind, number][]).map(([k, n]) => [n, k]));
const STREAM_BY_NUM: ReadonlyMap<number, FreshStream> = new Map((Object.entries(FRESH_STREAM) as [FreshStream, number][]).map(([k, n]) => [n, k]));

/** Why `m` cannot be encoded, or undefined. */
export function freshProblem(m: FreshMessage): string | undefined {
  const u = (x: number, max: number) => Number.isInteger(x) && x >= 0 && x <= max;
  if (!Object.hasOwn(FRESH_TYPE, m.kind)) return `unknown kind ${String(m.kind)}`;
  if (!Object.hasOwn(FRESH_STREAM, m.stream)) return `unknown stream ${String(m.stream)}`;
  for (const f of ['group', 'node', 'peer', 'nonceHi', 'nonceLo', 'inc', 'seq'] as const) if (!u(m[f], 0xffffffff)) return `${f} ${m[f]} is not a u32`;
  if (m.inc === 0) return 'incarnation 0';
  if (m.kind === 'challenge' && m.seq !== 0) return `a challenge carries seq ${m.seq}, not 0`;
  if (!u(m.keyId, 0xffff)) return `key id ${m.keyId} is not a u16`;
  return undefined;
}

/** `m` signed with `secret`, as a new datagram. Asserts `freshProblem(m)` is undefined. */
export function encodeFresh(m: FreshMessage, secret: Uint8Array): Uint8Array {
  const problem = freshProblem(m);
  assert(problem === undefined, `fresh message cannot be encoded: ${problem}`);
  const b = new Uint8Array(FRESH_LEN);
  writeU16(b, FRESH_OFF.magic, FRESH_MAGIC);
  b[FRESH_OFF.version] = FRESH_VERSION;
  b[FRESH_OFF.type] = FRESH_TYPE[m.kind];
  b[FRESH_OFF.stream] = FRESH_STREAM[m.stream];
  writeU32(b, FRESH_OFF.group, m.group);
  writeU32(b, FRESH_OFF.node, m.node);
  writeU32(b, FRESH_OFF.peer, m.peer);
  writeU32(b, FRESH_OFF.nonceHi, m.nonceHi);
  writeU32(b, FRESH_OFF.nonceLo, m.nonceLo);
  writeU32(b, FRESH_OFF.inc, m.inc);
  writeU32(b, FRESH_OFF.seq, m.seq);
  writeU16(b, FRESH_OFF.keyId, m.keyId);
  b.set(hmacSha256(secret, b.subarray(0, FRESH_OFF.mac)), FRESH_OFF.mac);
  return b;
}

/** Whether `b` starts like a freshness message (the bidd port carries both). */
export function isFresh(b: Uint8Array): boolean {
  return b.length >= 2 && readU16(b, 0) === FRESH_MAGIC;
}

/** Parse one datagram's structure (not its HMAC: `verifyFresh`). Never throws. */
export function parseFresh(b: Uint8Array): Parsed<FreshFrame> {
  if (b.length < FRESH_LEN) return fail(LAYER, 'truncated', `${b.length} bytes, needs ${FRESH_LEN}`);
  if (b.length > FRESH_LEN) return fail(LAYER, 'bad-length', `${b.length} bytes, more than ${FRESH_LEN}`);
  if (readU16(b, FRESH_OFF.magic) !== FRESH_MAGIC) return fail(LAYER, 'bad-magic');
  if (b[FRESH_OFF.version] !== FRESH_VERSION) return fail(LAYER, 'bad-version', `version ${b[FRESH_OFF.version]}`);
  const kind = KIND_BY_TYPE.get(b[FRESH_OFF.type]!);
  if (kind === undefined) return fail(LAYER, 'unsupported', `type ${b[FRESH_OFF.type]}`);
  const stream = STREAM_BY_NUM.get(b[FRESH_OFF.stream]!);
  if (stream === undefined) return fail(LAYER, 'bad-value', `stream ${b[FRESH_OFF.stream]}`);
  if (b[FRESH_OFF.reserved] !== 0) return fail(LAYER, 'bad-value', 'reserved byte not zero');
  const inc = readU32(b, FRESH_OFF.inc);
  if (inc === 0) return fail(LAYER, 'unsupported', 'incarnation 0');
  const seq = readU32(b, FRESH_OFF.seq);
  if (kind === 'challenge' && seq !== 0) return fail(LAYER, 'bad-value', `challenge with seq ${seq}`);
  const message: FreshMessage = {
    kind, stream, inc, seq,
    group: readU32(b, FRESH_OFF.group),
    node: readU32(b, FRESH_OFF.node),
    peer: readU32(b, FRESH_OFF.peer),
    nonceHi: readU32(b, FRESH_OFF.nonceHi),
    nonceLo: readU32(b, FRESH_OFF.nonceLo),
    keyId: readU16(b, FRESH_OFF.keyId),
  };
  return ok({ message, signed: b.subarray(0, FRESH_OFF.mac), mac: b.subarray(FRESH_OFF.mac, FRESH_LEN) });
}

/** Whether the frame's HMAC is right for `secret` (constant time). */
export function verifyFresh(frame: FreshFrame, secret: Uint8Array): boolean {
  return verifyAuth(frame.signed, frame.mac, secret);
}
