/**
 * The bidd protocol (slides 6-9): the datagrams bidd nodes multicast to the cluster's group
 * address over UDP to elect one master per server group with a bid model. Slide 9 gives two
 * messages, heartbeat 0xff01 (group, id, price) and bid 0xff02 (group, price, id); we keep its
 * type numbers, put the fields of every message in one order, and add:
 * - resign 0xff03: a master stepping down on SIGHUP/SIGINT tells the others at once, so they bid
 *   now instead of waiting out the master timeout;
 * - an epoch (a term counter), so a stale master's heartbeat can be told from the current one's;
 * - in a heartbeat, the size of the master's link table (informational);
 * - an auth trailer: key id, the sender's incarnation (random, drawn at every process start), a
 *   sequence within it, and an HMAC-SHA256 over every byte before it. ucarp has no sequence and
 *   accepts replays; here a captured datagram replayed later is refused: in a known incarnation
 *   because its sequence is not above the last one seen, and in an unknown one because the
 *   receiver believes a new incarnation only after a challenge-response (`fresh.ts`).
 *
 * The byte layout is at BIDD_OFF; the parser's rules at `parseBidd`. The parser never throws
 * (STYLE.md 2). The encoder asserts its input fits (`biddProblem` says why a value does not): a
 * value that does not fit reaching the encoder is the caller's bug.
 */

import { HMAC_SHA256_BYTES, hmacSha256, timingSafeEqual } from '../crypto/hmac.ts';
import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { emitSessionTrailer, readSessionTrailer, sessionProblem, verifyAuth } from './auth.ts';
import { assert, assertNever } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';

const LAYER = 'bidd';

export const BIDD_MAGIC = 0x5342; // 'S' 'B'
export const BIDD_VERSION = 2;
/** Message types: slide 9's numbers, plus resign (our addition). */
export const BIDD_TYPE = { heartbeat: 0xff01, bid: 0xff02, resign: 0xff03 } as const;
export type BiddKind = keyof typeof BIDD_TYPE;

export const BIDD_HEADER_LEN = 5;
/** Key id, sequence and HMAC. */
export const BIDD_AUTH_LEN = 2 + 8 + HMAC_SHA256_BYTES;

/**
 * Offsets of the fixed fields from the start of the message. Every message is one UDP datagram,
 * big-endian:
 *
 *   Header (5 bytes)
 *     0   magic    2 bytes  0x53 0x42 ('S' 'B')
 *     2   version  u8       2 (1 had a 53-bit sequence in place of incarnation and sequence)
 *     3   type     u16      0xff01 heartbeat, 0xff02 bid, 0xff03 resign (our addition)
 *
 *   Body (from offset 5; the same fields in every type, links in a heartbeat only)
 *     5   group    u32      the server group's id, e.g. its VIP as a number
 *     9   node     u32      the sender's unique node id
 *     13  price    u32      the sender's bid price (priority): the higher price wins; equal
 *                           prices are won by the higher node id, so every tie has one winner
 *     17  epoch    u32      the sender's term counter
 *     21  links    u32      heartbeat only: the master's link-table size (informational)
 *
 *   Auth trailer (42 bytes, at offset T = 21 for bid and resign, 25 for heartbeat)
 *     T+0   key id       u16   which key signed it
 *     T+2   incarnation  u32   the sender's incarnation, non-zero (`auth.ts` session trailer)
 *     T+6   sequence     u32   the sender's sequence in that incarnation, from 1
 *     T+10  HMAC-SHA256  32 bytes, keyed with the key's secret, over bytes [0, T+10)
 *
 *   Sizes: bid and resign are 63 bytes (BIDD_BID_LEN), heartbeat 67 (BIDD_HEARTBEAT_LEN).
 */
export const BIDD_OFF = { magic: 0, version: 2, type: 3, group: 5, node: 9, price: 13, epoch: 17, links: 21 } as const;
/** Offsets within the auth trailer. */
export const BIDD_AUTH_OFF = { keyId: 0, incarnation: 2, sequence: 6, mac: 10 } as const;

/** Where the auth trailer starts in a bid or resign, and in a heartbeat. */
const BID_BODY_END = BIDD_OFF.links;
const HEARTBEAT_BODY_END = BIDD_OFF.links + 4;

export const BIDD_BID_LEN = BID_BODY_END + BIDD_AUTH_LEN; // 63, also resign
export const BIDD_HEARTBEAT_LEN = HEARTBEAT_BODY_END + BIDD_AUTH_LEN; // 67
/** The longest message; a datagram longer than this is refused before it is looked at. */
export const BIDD_MESSAGE_MAX = BIDD_HEARTBEAT_LEN;

export interface BiddMessage {
  readonly kind: BiddKind;
  /** The server group's id (u32), e.g. its VIP as a number. */
  readonly group: number;
  /** The sender's unique node id (u32); breaks price ties (higher wins). */
  readonly node: number;
  /** The bid price (u32): higher wins. */
  readonly price: number;
  /** The sender's term counter (u32). */
  readonly epoch: number;
  /** Link-table size (u32) in a heartbeat; 0 in a bid or resign. */
  readonly links: number;
  /** Which key signs the message (u16). */
  readonly keyId: number;
  /** The sender's incarnation (non-zero u32, drawn at its process start). */
  readonly inc: number;
  /** The sender's sequence in that incarnation (u32), strictly increasing. */
  readonly seq: number;
}

/** A structurally valid message, not yet authenticated. */
export interface BiddFrame {
  readonly message: BiddMessage;
  /** The bytes the HMAC covers (everything before it); a view into the parsed bytes. */
  readonly signed: Uint8Array;
  /** The HMAC as received (32 bytes); a view into the parsed bytes. */
  readonly mac: Uint8Array;
}

/** Whether bid `a` beats bid `b`: the higher price, and on equal prices the higher node id. */
export function biddOutbids(a: Pick<BiddMessage, 'price' | 'node'>, b: Pick<BiddMessage, 'price' | 'node'>): boolean {
  return a.price > b.price || (a.price === b.price && a.node > b.node);
}

const KIND_BY_TYPE: ReadonlyMap<number, BiddKind> = new Map(
  (Object.entries(BIDD_TYPE) as [BiddKind, number][]).map(([kind, n]) => [n, kind]),
);

function isUint(x: number, max: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= max;
}

/** Why `v` cannot be encoded, or undefined when it can. */
export function biddProblem(v: BiddMessage): string | undefined {
  if (!Object.hasOwn(BIDD_TYPE, v.kind)) return `unknown kind ${String(v.kind)}`;
  for (const f of ['group', 'node', 'price', 'epoch', 'links'] as const) {
    if (!isUint(v[f], 0xffffffff)) return `${f} ${v[f]} is not a u32`;
  }
  if (v.kind !== 'heartbeat' && v.links !== 0) return `links ${v.links} in a ${v.kind}: only a heartbeat carries links`;
  return sessionProblem(v);
}

/** Where the auth trailer starts for a message of `kind`. */
function bodyEnd(kind: BiddKind): number {
  switch (kind) {
    case 'heartbeat':
      return HEARTBEAT_BODY_END;
    case 'bid':
    case 'resign':
      return BID_BODY_END;
    default:
      return assertNever(kind, 'bidd kind');
  }
}

/** The encoded length of a message of `kind` in bytes. */
export function biddLength(kind: BiddKind): number {
  return bodyEnd(kind) + BIDD_AUTH_LEN;
}

/**
 * Write `v`, signed with `secret`, at `off` in `buf`: exactly `biddLength(v.kind)` bytes,
 * returned. Asserts `biddProblem(v)` is undefined and that the message fits in `buf`.
 */
export function emitBidd(v: BiddMessage, secret: Uint8Array, buf: Uint8Array, off = 0): number {
  assertEncodable(v);
  const len = biddLength(v.kind);
  assert(off >= 0 && off + len <= buf.length, 'bidd message does not fit the buffer');
  const b = buf.subarray(off, off + len);
  writeU16(b, BIDD_OFF.magic, BIDD_MAGIC);
  b[BIDD_OFF.version] = BIDD_VERSION;
  writeU16(b, BIDD_OFF.type, BIDD_TYPE[v.kind]);
  writeU32(b, BIDD_OFF.group, v.group);
  writeU32(b, BIDD_OFF.node, v.node);
  writeU32(b, BIDD_OFF.price, v.price);
  writeU32(b, BIDD_OFF.epoch, v.epoch);
  const t = bodyEnd(v.kind);
  if (v.kind === 'heartbeat') writeU32(b, BIDD_OFF.links, v.links);
  emitSessionTrailer(b, t, len, v, secret, 'bidd');
  return len;
}

function assertEncodable(v: BiddMessage): void {
  const problem = biddProblem(v);
  assert(problem === undefined, `bidd message cannot be encoded: ${problem}`);
}

/** `v` signed with `secret`, as a new datagram. Asserts `biddProblem(v)` is undefined. */
export function encodeBidd(v: BiddMessage, secret: Uint8Array): Uint8Array {
  assertEncodable(v);
  const out = new Uint8Array(biddLength(v.kind));
  emitBidd(v, secret, out);
  return out;
}

/**
 * Parse one datagram's structure: header, body, key id, sequence, and where the HMAC and the
 * bytes it covers are. Does not authenticate: look the secret up by `message.keyId`, then call
 * `verifyBidd` (timing-safe); then hand it to the receiver's freshness gate
 * (`src/failover/fresh.ts`), whose is the replay check. The frame's `signed` and `mac` are views
 * into `b`. Its rules:
 * - An unknown type fails with 'unsupported' (a closed enum: a node cannot act on a message it
 *   does not know).
 * - A datagram is exact: fewer bytes than its type's length fail with 'truncated', more with
 *   'bad-length'. With the bounded sequence, every accepted message has exactly one encoding.
 * - Incarnation 0 fails with 'unsupported' (no sender uses it).
 */
export function parseBidd(b: Uint8Array): Parsed<BiddFrame> {
  if (b.length > BIDD_MESSAGE_MAX) return fail(LAYER, 'bad-length', `${b.length} bytes, more than ${BIDD_MESSAGE_MAX}`);
  if (b.length < BIDD_HEADER_LEN) return fail(LAYER, 'truncated', `${b.length} bytes`);
  if (readU16(b, BIDD_OFF.magic) !== BIDD_MAGIC) return fail(LAYER, 'bad-magic');
  const version = b[BIDD_OFF.version]!;
  if (version !== BIDD_VERSION) return fail(LAYER, 'bad-version', `version ${version}`);
  const type = readU16(b, BIDD_OFF.type);
  const kind = KIND_BY_TYPE.get(type);
  if (kind === undefined) return fail(LAYER, 'unsupported', `type 0x${type.toString(16).padStart(4, '0')}`);
  const t = bodyEnd(kind);
  const len = t + BIDD_AUTH_LEN;
  if (b.length < len) return fail(LAYER, 'truncated', `${kind} of ${b.length} bytes, needs ${len}`);
  if (b.length > len) return fail(LAYER, 'bad-length', `${b.length - len} bytes after the hmac`);
  const auth = readSessionTrailer(b, t);
  if (auth === undefined) return fail(LAYER, 'unsupported', 'incarnation 0');
  const macAt = t + BIDD_AUTH_OFF.mac;
  const message: BiddMessage = {
    kind,
    group: readU32(b, BIDD_OFF.group),
    node: readU32(b, BIDD_OFF.node),
    price: readU32(b, BIDD_OFF.price),
    epoch: readU32(b, BIDD_OFF.epoch),
    links: kind === 'heartbeat' ? readU32(b, BIDD_OFF.links) : 0,
    keyId: auth.keyId,
    inc: auth.inc,
    seq: auth.seq,
  };
  return ok({ message, signed: b.subarray(0, macAt), mac: b.subarray(macAt, len) });
}

/** Whether the frame's HMAC is right for `secret` (compared in constant time). */
export function verifyBidd(frame: BiddFrame, secret: Uint8Array): boolean {
  return verifyAuth(frame.signed, frame.mac, secret);
}
