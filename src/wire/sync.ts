/**
 * The state-sync protocol (slides 10-11): the master streams link-table and server-state changes
 * to the slaves, which acknowledge them; a recovering node asks for a full state transfer. Like
 * LVS's sync daemon it rides UDP multicast (the bidd group, on the bidd port + 1), but unlike it
 * every record is sequenced and acknowledged, a gap is asked for again, and every datagram is
 * signed with the same auth trailer as bidd (key id, incarnation, sequence, HMAC-SHA256). Every
 * message names the stream's master (`leader`), so that after a partition heals two masters do
 * not answer each other's slaves.
 *
 * The byte layout is at SYNC_MAGIC below. At most SYNC_RECORDS_MAX (48) records per datagram:
 * 20 + 10 + 48 * 28 + 42 = 1416 bytes, under a 1500-byte MTU with IP and UDP headers. The parser
 * never throws; it checks lengths exactly, every enum and every reserved byte (0), and does not
 * authenticate (`verifySync` does).
 */

import { HMAC_SHA256_BYTES } from '../crypto/hmac.ts';
import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { AUTH_TRAILER_LEN, emitSessionTrailer, readSessionTrailer, sessionProblem, verifyAuth } from './auth.ts';
import { assert, assertNever } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';

const LAYER = 'sync';

/**
 * The byte layout. Every message is one UDP datagram, big-endian:
 *
 *   Header (20 bytes)
 *     0   magic    2 bytes  0x53 0x59 ('S' 'Y')
 *     2   version  u8       2 (1 had a 53-bit sequence in the trailer)
 *     3   type     u8       1 updates, 2 snapshot, 3 ack, 4 request
 *     4   group    u32      the failover group's id (as in bidd)
 *     8   node     u32      the sender's node id
 *     12  epoch    u32      the master's epoch the stream belongs to (a new master, a new stream)
 *     16  leader   u32      the node id of the stream's master: the sender itself for updates
 *                           and snapshots, the master it follows for a slave's ack or request
 *                           (so that after a partition heals, two masters do not answer each
 *                           other's slaves)
 *
 *   updates  20: first u32 (sequence of the first record), count u16, count records
 *   snapshot 20: base u32 (the last sequence the snapshot includes), part u16, parts u16,
 *                count u16, count records
 *   ack      20: acked u32 (every record up to it is applied)
 *   request  20: have u32 (applied up to here), full u8 (1: send a whole snapshot)
 *
 *   Record (28 bytes)
 *     0  op u8 (1 link, 2 link-gone, 3 server)  1 proto u8  2 state u8  3 reserved (0)
 *     4  group u16  6 server u16  8 client addr u32  12 client port u16  14 vip port u16
 *     16 vip u32  20 server addr u32  24 server port u16  26 reserved (0)
 *   A link record carries the whole link (created, remapped or changed state; state 0 new,
 *   1 active, 2 closing); link-gone carries the link's key only (proto, client addr and port,
 *   vip, vip port), every other byte 0; a server record has flags in byte 1 (bit 0: held by an
 *   admin; bit 1: behind, a read/write group's server that missed a write, src/engine/rw.ts;
 *   other bits 0) and carries group, server and the state (0 alive, 1 pending, 2 dead),
 *   the other fields 0.
 *
 *   Auth trailer (42 bytes, `auth.ts`'s session trailer: key id, incarnation, sequence, HMAC).
 */
export const SYNC_MAGIC = 0x5359;
export const SYNC_VERSION = 2;
export const SYNC_TYPE = { updates: 1, snapshot: 2, ack: 3, request: 4 } as const;
export type SyncKind = keyof typeof SYNC_TYPE;
export const SYNC_HEADER_LEN = 20;
export const SYNC_RECORD_LEN = 28;
export const SYNC_RECORDS_MAX = 48;
export const SYNC_OP = { link: 1, 'link-gone': 2, server: 3 } as const;
export type SyncOp = keyof typeof SYNC_OP;
export const SYNC_LINK_STATES = ['new', 'active', 'closing'] as const;
export const SYNC_SERVER_STATES = ['alive', 'pending', 'dead'] as const;

export type SyncRecord =
  | {
      readonly op: 'link';
      readonly proto: 6 | 17 | 1;
      readonly state: (typeof SYNC_LINK_STATES)[number];
      readonly group: number;
      readonly server: number;
      readonly clientAddr: number;
      readonly clientPort: number;
      readonly vip: number;
      readonly vport: number;
      readonly serverAddr: number;
      readonly serverPort: number;
    }
  | { readonly op: 'link-gone'; readonly proto: 6 | 17 | 1; readonly clientAddr: number; readonly clientPort: number; readonly vip: number; readonly vport: number }
  /** `held`: an admin holds the server (its own key may not change its state or counter). */
  | { readonly op: 'server'; readonly group: number; readonly server: number; readonly state: (typeof SYNC_SERVER_STATES)[number]; readonly held: boolean; readonly behind?: true };

interface SyncHead {
  readonly group: number;
  readonly node: number;
  readonly epoch: number;
  /** The stream's master: the sender for updates and snapshots, the followed master for ack/request. */
  readonly leader: number;
  readonly keyId: number;
  /** The sender's incarnation (non-zero u32) and its sequence in it (u32). */
  readonly inc: number;
  readonly seq: number;
}

export type SyncBody =
  | { readonly kind: 'updates'; readonly first: number; readonly records: readonly SyncRecord[] }
  | { readonly kind: 'snapshot'; readonly base: number; readonly part: number; readonly parts: number; readonly records: readonly SyncRecord[] }
  | { readonly kind: 'ack'; readonly acked: number }
  | { readonly kind: 'request'; readonly have: number; readonly full: boolean };

export type SyncMessage = SyncHead & SyncBody;

export interface SyncFrame {
  readonly message: SyncMessage;
  readonly signed: Uint8Array;
  readonly mac: Uint8Array;
}

const KIND_BY_TYPE: ReadonlyMap<number, SyncKind> = new Map((Object.entries(SYNC_TYPE) as [SyncKind, number][]).map(([k, n]) => [n, k]));
const PROTOS = new Set([6, 17, 1]);

function isUint(x: number, max: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= max;
}

function bodyLen(m: SyncBody): number {
  switch (m.kind) {
    case 'updates':
      return 6 + m.records.length * SYNC_RECORD_LEN;
    case 'snapshot':
      return 10 + m.records.length * SYNC_RECORD_LEN;
    case 'ack':
      return 4;
    case 'request':
      return 5;
    default:
      return assertNever(m, 'sync kind');
  }
}

/** The encoded length of `m`. */
export function syncLength(m: SyncBody): number {
  return SYNC_HEADER_LEN + bodyLen(m) + AUTH_TRAILER_LEN;
}

/** Why `m` cannot be encoded, or undefined. */
export function syncProblem(m: SyncMessage): string | undefined {
  for (const f of ['group', 'node', 'epoch', 'leader'] as const) if (!isUint(m[f], 0xffffffff)) return `${f} ${m[f]} is not a u32`;
  const auth = sessionProblem(m);
  if (auth !== undefined) return auth;
  switch (m.kind) {
    case 'updates':
    case 'snapshot': {
      if (m.records.length > SYNC_RECORDS_MAX) return `${m.records.length} records, more than ${SYNC_RECORDS_MAX}`;
      if (m.kind === 'updates' && !isUint(m.first, 0xffffffff)) return `first ${m.first} is not a u32`;
      if (m.kind === 'snapshot' && !(isUint(m.base, 0xffffffff) && isUint(m.parts, 0xffff) && m.parts >= 1 && isUint(m.part, m.parts - 1))) return `bad snapshot part ${m.part}/${m.parts}`;
      for (const r of m.records) {
        const p = recordProblem(r);
        if (p !== undefined) return p;
      }
      return undefined;
    }
    case 'ack':
      return isUint(m.acked, 0xffffffff) ? undefined : `acked ${m.acked} is not a u32`;
    case 'request':
      return isUint(m.have, 0xffffffff) ? undefined : `have ${m.have} is not a u32`;
    default:
      return assertNever(m, 'sync kind');
  }
}

function recordProblem(r: SyncRecord): string | undefined {
  if (r.op === 'server') return isUint(r.group, 0xffff) && isUint(r.server, 0xffff) ? undefined : 'server record group/server out of range';
  if (!PROTOS.has(r.proto)) return `bad proto ${r.proto}`;
  if (!isUint(r.clientAddr, 0xffffffff) || !isUint(r.vip, 0xffffffff) || !isUint(r.clientPort, 0xffff) || !isUint(r.vport, 0xffff)) return 'link key out of range';
  if (r.op === 'link' && !(isUint(r.group, 0xffff) && isUint(r.server, 0xffff) && isUint(r.serverAddr, 0xffffffff) && isUint(r.serverPort, 0xffff))) return 'link target out of range';
  return undefined;
}

function emitRecord(b: Uint8Array, o: number, r: SyncRecord): void {
  b.fill(0, o, o + SYNC_RECORD_LEN);
  b[o] = SYNC_OP[r.op];
  switch (r.op) {
    case 'server':
      b[o + 1] = (r.held ? 1 : 0) | (r.behind === true ? 2 : 0);
      b[o + 2] = SYNC_SERVER_STATES.indexOf(r.state);
      writeU16(b, o + 4, r.group);
      writeU16(b, o + 6, r.server);
      return;
    case 'link':
      b[o + 2] = SYNC_LINK_STATES.indexOf(r.state);
      writeU16(b, o + 4, r.group);
      writeU16(b, o + 6, r.server);
      writeU32(b, o + 20, r.serverAddr);
      writeU16(b, o + 24, r.serverPort);
      break;
    case 'link-gone':
      break;
    default:
      assertNever(r, 'sync op');
  }
  b[o + 1] = r.proto;
  writeU32(b, o + 8, r.clientAddr);
  writeU16(b, o + 12, r.clientPort);
  writeU16(b, o + 14, r.vport);
  writeU32(b, o + 16, r.vip);
}

/** `m` signed with `secret`, as a new datagram. Asserts `syncProblem(m)` is undefined. */
export function encodeSync(m: SyncMessage, secret: Uint8Array): Uint8Array {
  const problem = syncProblem(m);
  assert(problem === undefined, `sync message cannot be encoded: ${problem}`);
  const len = syncLength(m);
  const b = new Uint8Array(len);
  writeU16(b, 0, SYNC_MAGIC);
  b[2] = SYNC_VERSION;
  b[3] = SYNC_TYPE[m.kind];
  writeU32(b, 4, m.group);
  writeU32(b, 8, m.node);
  writeU32(b, 12, m.epoch);
  writeU32(b, 16, m.leader);
  let o = SYNC_HEADER_LEN;
  switch (m.kind) {
    case 'updates':
      writeU32(b, o, m.first);
      writeU16(b, o + 4, m.records.length);
      o += 6;
      for (const r of m.records) emitRecord(b, o, r), (o += SYNC_RECORD_LEN);
      break;
    case 'snapshot':
      writeU32(b, o, m.base);
      writeU16(b, o + 4, m.part);
      writeU16(b, o + 6, m.parts);
      writeU16(b, o + 8, m.records.length);
      o += 10;
      for (const r of m.records) emitRecord(b, o, r), (o += SYNC_RECORD_LEN);
      break;
    case 'ack':
      writeU32(b, o, m.acked);
      o += 4;
      break;
    case 'request':
      writeU32(b, o, m.have);
      b[o + 4] = m.full ? 1 : 0;
      o += 5;
      break;
    default:
      assertNever(m, 'sync kind');
  }
  emitSessionTrailer(b, o, len, m, secret, 'sync');
  return b;
}

function parseRecord(b: Uint8Array, o: number): Parsed<SyncRecord> {
  const op = b[o]!;
  if (b[o + 3] !== 0 || b[o + 26] !== 0 || b[o + 27] !== 0) return fail(LAYER, 'bad-value', 'reserved record byte not zero');
  const group = readU16(b, o + 4);
  const server = readU16(b, o + 6);
  if (op === SYNC_OP.server) {
    const state = SYNC_SERVER_STATES[b[o + 2]!];
    if (state === undefined) return fail(LAYER, 'bad-value', `server state ${b[o + 2]}`);
    const flags = b[o + 1]!;
    if (flags > 3) return fail(LAYER, 'bad-value', `server flags ${flags}`);
    for (let i = o + 8; i < o + SYNC_RECORD_LEN; i++) if (b[i] !== 0) return fail(LAYER, 'bad-value', 'server record carries link fields');
    return ok({ op: 'server', group, server, state, held: (flags & 1) === 1, ...((flags & 2) === 2 ? { behind: true as const } : {}) });
  }
  const proto = b[o + 1]!;
  if (!PROTOS.has(proto)) return fail(LAYER, 'bad-value', `proto ${proto}`);
  const key = { proto: proto as 6 | 17 | 1, clientAddr: readU32(b, o + 8), clientPort: readU16(b, o + 12), vport: readU16(b, o + 14), vip: readU32(b, o + 16) };
  if (op === SYNC_OP['link-gone']) {
    // The key only: state, group, server and the server's address and port are 0.
    if (b[o + 2] !== 0 || group !== 0 || server !== 0 || readU32(b, o + 20) !== 0 || readU16(b, o + 24) !== 0) return fail(LAYER, 'bad-value', 'link-gone record carries more than the key');
    return ok({ op: 'link-gone', ...key });
  }
  if (op !== SYNC_OP.link) return fail(LAYER, 'unsupported', `record op ${op}`);
  const state = SYNC_LINK_STATES[b[o + 2]!];
  if (state === undefined) return fail(LAYER, 'bad-value', `link state ${b[o + 2]}`);
  return ok({ op: 'link', state, group, server, serverAddr: readU32(b, o + 20), serverPort: readU16(b, o + 24), ...key });
}

function parseRecords(b: Uint8Array, at: number, count: number): Parsed<SyncRecord[]> {
  const out: SyncRecord[] = [];
  for (let i = 0; i < count; i++) {
    const r = parseRecord(b, at + i * SYNC_RECORD_LEN);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return ok(out);
}

/** The longest datagram; longer ones are refused before they are looked at. */
export const SYNC_MESSAGE_MAX = SYNC_HEADER_LEN + 10 + SYNC_RECORDS_MAX * SYNC_RECORD_LEN + AUTH_TRAILER_LEN;

/** Parse one datagram's structure (not its HMAC: `verifySync`). Never throws. */
export function parseSync(b: Uint8Array): Parsed<SyncFrame> {
  if (b.length > SYNC_MESSAGE_MAX) return fail(LAYER, 'bad-length', `${b.length} bytes, more than ${SYNC_MESSAGE_MAX}`);
  if (b.length < SYNC_HEADER_LEN) return fail(LAYER, 'truncated', `${b.length} bytes`);
  if (readU16(b, 0) !== SYNC_MAGIC) return fail(LAYER, 'bad-magic');
  if (b[2] !== SYNC_VERSION) return fail(LAYER, 'bad-version', `version ${b[2]}`);
  const kind = KIND_BY_TYPE.get(b[3]!);
  if (kind === undefined) return fail(LAYER, 'unsupported', `type ${b[3]}`);
  const o = SYNC_HEADER_LEN;
  const need = (n: number): Parsed<true> => (b.length < n ? fail(LAYER, 'truncated', `${kind} of ${b.length} bytes, needs ${n}`) : b.length > n ? fail(LAYER, 'bad-length', `${b.length - n} bytes after the hmac`) : ok(true));
  let body: SyncBody;
  let t: number;
  switch (kind) {
    case 'updates': {
      if (b.length < o + 6) return fail(LAYER, 'truncated', 'updates header');
      const count = readU16(b, o + 4);
      if (count > SYNC_RECORDS_MAX) return fail(LAYER, 'bad-value', `${count} records`);
      t = o + 6 + count * SYNC_RECORD_LEN;
      const n = need(t + AUTH_TRAILER_LEN);
      if (!n.ok) return n;
      const recs = parseRecords(b, o + 6, count);
      if (!recs.ok) return recs;
      body = { kind, first: readU32(b, o), records: recs.value };
      break;
    }
    case 'snapshot': {
      if (b.length < o + 10) return fail(LAYER, 'truncated', 'snapshot header');
      const part = readU16(b, o + 4);
      const parts = readU16(b, o + 6);
      const count = readU16(b, o + 8);
      if (parts === 0 || part >= parts) return fail(LAYER, 'bad-value', `part ${part} of ${parts}`);
      if (count > SYNC_RECORDS_MAX) return fail(LAYER, 'bad-value', `${count} records`);
      t = o + 10 + count * SYNC_RECORD_LEN;
      const n = need(t + AUTH_TRAILER_LEN);
      if (!n.ok) return n;
      const recs = parseRecords(b, o + 10, count);
      if (!recs.ok) return recs;
      body = { kind, base: readU32(b, o), part, parts, records: recs.value };
      break;
    }
    case 'ack': {
      t = o + 4;
      const n = need(t + AUTH_TRAILER_LEN);
      if (!n.ok) return n;
      body = { kind, acked: readU32(b, o) };
      break;
    }
    case 'request': {
      t = o + 5;
      const n = need(t + AUTH_TRAILER_LEN);
      if (!n.ok) return n;
      if (b[o + 4]! > 1) return fail(LAYER, 'bad-value', `full flag ${b[o + 4]}`);
      body = { kind, have: readU32(b, o), full: b[o + 4] === 1 };
      break;
    }
    default:
      return assertNever(kind, 'sync kind');
  }
  const auth = readSessionTrailer(b, t);
  if (auth === undefined) return fail(LAYER, 'unsupported', 'incarnation 0');
  const macAt = t + 10;
  const message = { group: readU32(b, 4), node: readU32(b, 8), epoch: readU32(b, 12), leader: readU32(b, 16), keyId: auth.keyId, inc: auth.inc, seq: auth.seq, ...body } as SyncMessage;
  return ok({ message, signed: b.subarray(0, macAt), mac: b.subarray(macAt, macAt + HMAC_SHA256_BYTES) });
}

/** Whether the frame's HMAC is right for `secret` (constant time). */
export function verifySync(frame: SyncFrame, secret: Uint8Array): boolean {
  return verifyAuth(frame.signed, frame.mac, secret);
}
