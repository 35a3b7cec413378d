/**
 * The feedback protocol (slide 27): UDP command and result messages between `sg cmd`, the client
 * library and a node's SGctrld: the messages' values and their byte layout. Keys and roles are
 * SGctrld's (src/ctl/types.ts); the codec imports nothing of the engine.
 *
 * Every message is one UDP datagram, big-endian: a 4-byte header ('SG', version, type), a command
 * or result body, and a 42-byte auth trailer (key id, timestamp in µs, HMAC-SHA256) whose HMAC
 * covers every byte before it, the header too, so a command can never be passed off as a result
 * or as another version. The byte layout is in the README ("The control plane"); the offsets are
 * FEEDBACK_OFF and FEEDBACK_AUTH_OFF. Any message fits one unfragmented datagram on a 1500-byte
 * MTU (FEEDBACK_MESSAGE_MAX = 1277).
 *
 * The parser checks structure only and needs no key (see `parseFeedback` for its rules): the
 * receiver looks the key id's secret up and calls `verifyFeedback` (timing-safe); the time window
 * and replay checks are SGctrld's. The parser never throws (STYLE.md 2). The encoder asserts its
 * input fits (`feedbackProblem` says why a value does not, so callers can check user input
 * first): a value that does not fit reaching the encoder is the caller's bug.
 */

import { HMAC_SHA256_BYTES, hmacSha256, timingSafeEqual } from '../crypto/hmac.ts';
import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { emitAuthTrailer, readAuthTrailer, verifyAuth } from './auth.ts';
import { assert, assertNever } from '../assert.ts';
import { fail, ok, type Parsed, type ParseReason } from './result.ts';

// ---- the messages' values --------------------------------------------------------------------
// A command names a class, an operation, the group and server it is about, a property and data
// (the value as UTF-8 text); a result echoes the command id with a status and data.

export const CTL_CLASS = { cluster: 1, group: 2, server: 3 } as const;
export type CtlClass = keyof typeof CTL_CLASS;

export const CTL_OP = { get: 1, set: 2, add: 3, delete: 4, list: 5 } as const;
export type CtlOp = keyof typeof CTL_OP;

/** Result status codes. Stable: scripts test them. Add to the end; never renumber. */
export const CTL_STATUS = {
  ok: 0,
  'bad-message': 1, // malformed, truncated, unknown class/op, bad lengths
  unauthenticated: 2, // unknown key id or HMAC mismatch
  stale: 3, // timestamp outside the accepted window
  replay: 4, // a timestamp already seen for this key
  forbidden: 5, // the key's role may not do this
  'no-such-group': 6,
  'no-such-server': 7,
  'no-such-property': 8,
  'bad-value': 9, // wrong type or out of range
  'rate-limited': 10,
  'not-supported': 11, // a valid request this node does not implement (yet)
  superseded: 12, // a set older than one this key already applied to the same property (reordered)
} as const;
export type CtlStatus = keyof typeof CTL_STATUS;

export interface CtlAuth {
  /** Which key signed it (a key file names its id). */
  readonly keyId: number;
  /** Sender's clock in µs (wall clock in real mode, simulated time in the simulator). */
  readonly timestamp: number;
}

export interface CtlCommand extends CtlAuth {
  readonly kind: 'command';
  /** Chosen by the sender; echoed in the result. */
  readonly id: number;
  /** Slide 27's handle: an opaque session value, echoed; 0 when unused. */
  readonly handle: number;
  readonly cls: CtlClass;
  readonly op: CtlOp;
  /** Group name ('' for cluster-class commands). */
  readonly group: string;
  /** Server name ('' unless cls is server). */
  readonly server: string;
  readonly property: string;
  /** The value as text (numbers in decimal), '' when none. */
  readonly data: string;
}

export interface CtlResult extends CtlAuth {
  readonly kind: 'result';
  readonly id: number;
  readonly status: CtlStatus;
  /** The value read, a listing (one item per line), or an error message. */
  readonly data: string;
}

const LAYER = 'feedback';

export const FEEDBACK_MAGIC = 0x5347; // 'S' 'G'
export const FEEDBACK_VERSION = 1;
export const FEEDBACK_TYPE = { command: 1, result: 2 } as const;

/** Most bytes of UTF-8 in a group, server or property name. */
export const FEEDBACK_STRING_MAX = 64;
/** Most bytes of UTF-8 in a command's or result's data. */
export const FEEDBACK_DATA_MAX = 1024;

export const FEEDBACK_HEADER_LEN = 4;
/** Key id, timestamp and HMAC. */
export const FEEDBACK_AUTH_LEN = 2 + 8 + HMAC_SHA256_BYTES;
/** The timestamp's high word may not exceed this: hi * 2^32 + lo stays a safe integer. */
export const FEEDBACK_TIMESTAMP_HI_MAX = 0x1fffff;

/** Offsets of the fixed fields from the start of the message. */
export const FEEDBACK_OFF = {
  magic: 0,
  version: 2,
  type: 3,
  id: 4,
  /** Command only. */
  handle: 8,
  cls: 12,
  op: 13,
  /** Command only: the first string's length byte. */
  group: 14,
  /** Result only. */
  status: 8,
  /** Result only: the data's u16 length. */
  resultData: 10,
} as const;

/** Offsets within the auth trailer. */
export const FEEDBACK_AUTH_OFF = { keyId: 0, timestampHi: 2, timestampLo: 6, mac: 10 } as const;

const COMMAND_FIXED_LEN = FEEDBACK_OFF.group + 1 + 1 + 1 + 2 + FEEDBACK_AUTH_LEN;
const RESULT_FIXED_LEN = FEEDBACK_OFF.resultData + 2 + FEEDBACK_AUTH_LEN;

export const FEEDBACK_COMMAND_MIN = COMMAND_FIXED_LEN; // 61
export const FEEDBACK_COMMAND_MAX = COMMAND_FIXED_LEN + 3 * FEEDBACK_STRING_MAX + FEEDBACK_DATA_MAX; // 1277
export const FEEDBACK_RESULT_MIN = RESULT_FIXED_LEN; // 54
export const FEEDBACK_RESULT_MAX = RESULT_FIXED_LEN + FEEDBACK_DATA_MAX; // 1078
/** The longest message; a datagram longer than this is refused before it is looked at. */
export const FEEDBACK_MESSAGE_MAX = Math.max(FEEDBACK_COMMAND_MAX, FEEDBACK_RESULT_MAX);

export type FeedbackMessage = CtlCommand | CtlResult;

/** A structurally valid message, not yet authenticated. */
export interface FeedbackFrame {
  readonly message: FeedbackMessage;
  /** The bytes the HMAC covers (everything before it); a view into the parsed bytes. */
  readonly signed: Uint8Array;
  /** The HMAC as received (32 bytes); a view into the parsed bytes. */
  readonly mac: Uint8Array;
}

function byNumber<K extends string>(table: Readonly<Record<K, number>>): readonly (K | undefined)[] {
  const out: (K | undefined)[] = [];
  for (const [name, n] of Object.entries(table) as [K, number][]) out[n] = name;
  return out;
}

const CLASS_BY_NUMBER = byNumber<CtlClass>(CTL_CLASS);
const OP_BY_NUMBER = byNumber<CtlOp>(CTL_OP);
const STATUS_BY_NUMBER = byNumber<CtlStatus>(CTL_STATUS);

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** A lone surrogate: a string holding one cannot be encoded as UTF-8 faithfully. */
const LONE_SURROGATE = /\p{Cs}/u;

/** UTF-8 length of a well-formed string, without encoding it. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else n += 3;
  }
  return n;
}

/** Why `v` cannot be encoded, or undefined when it can. Use it on input from users and files. */
export function feedbackProblem(v: FeedbackMessage): string | undefined {
  if (!isUint(v.id, 0xffffffff)) return `id ${v.id} is not a u32`;
  if (!isUint(v.keyId, 0xffff)) return `key id ${v.keyId} is not a u16`;
  if (!isUint(v.timestamp, Number.MAX_SAFE_INTEGER)) return `timestamp ${v.timestamp} is not a non-negative safe integer`;
  switch (v.kind) {
    case 'command':
      if (!isUint(v.handle, 0xffffffff)) return `handle ${v.handle} is not a u32`;
      if (!Object.hasOwn(CTL_CLASS, v.cls)) return `unknown class ${String(v.cls)}`;
      if (!Object.hasOwn(CTL_OP, v.op)) return `unknown op ${String(v.op)}`;
      return (
        stringProblem('group', v.group, FEEDBACK_STRING_MAX) ??
        stringProblem('server', v.server, FEEDBACK_STRING_MAX) ??
        stringProblem('property', v.property, FEEDBACK_STRING_MAX) ??
        stringProblem('data', v.data, FEEDBACK_DATA_MAX)
      );
    case 'result':
      if (!Object.hasOwn(CTL_STATUS, v.status)) return `unknown status ${String(v.status)}`;
      return stringProblem('data', v.data, FEEDBACK_DATA_MAX);
    default:
      return assertNever(v, 'feedback message');
  }
}

function isUint(x: number, max: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= max;
}

function stringProblem(what: string, s: string, max: number): string | undefined {
  if (LONE_SURROGATE.test(s)) return `${what} is not well-formed Unicode (a lone surrogate)`;
  const n = utf8Length(s);
  if (n > max) return `${what} is ${n} bytes of UTF-8, more than ${max}`;
  return undefined;
}

/** The encoded length of `v` in bytes. */
export function feedbackLength(v: FeedbackMessage): number {
  switch (v.kind) {
    case 'command':
      return COMMAND_FIXED_LEN + utf8Length(v.group) + utf8Length(v.server) + utf8Length(v.property) + utf8Length(v.data);
    case 'result':
      return RESULT_FIXED_LEN + utf8Length(v.data);
    default:
      return assertNever(v, 'feedback message');
  }
}

/**
 * Write `v`, signed with `key`, at `off` in `buf`: exactly `feedbackLength(v)` bytes, returned.
 * Asserts `feedbackProblem(v)` is undefined and that the message fits in `buf`.
 */
export function emitFeedback(v: FeedbackMessage, key: Uint8Array, buf: Uint8Array, off = 0): number {
  const problem = feedbackProblem(v);
  assert(problem === undefined, `feedback message cannot be encoded: ${problem}`);
  const len = feedbackLength(v);
  assert(off >= 0 && off + len <= buf.length, 'feedback message does not fit the buffer');
  const b = buf.subarray(off, off + len);
  writeU16(b, FEEDBACK_OFF.magic, FEEDBACK_MAGIC);
  b[FEEDBACK_OFF.version] = FEEDBACK_VERSION;
  writeU32(b, FEEDBACK_OFF.id, v.id);
  let p: number;
  switch (v.kind) {
    case 'command':
      b[FEEDBACK_OFF.type] = FEEDBACK_TYPE.command;
      writeU32(b, FEEDBACK_OFF.handle, v.handle);
      b[FEEDBACK_OFF.cls] = CTL_CLASS[v.cls];
      b[FEEDBACK_OFF.op] = CTL_OP[v.op];
      p = FEEDBACK_OFF.group;
      p = writeString(b, p, 1, v.group);
      p = writeString(b, p, 1, v.server);
      p = writeString(b, p, 1, v.property);
      p = writeString(b, p, 2, v.data);
      break;
    case 'result':
      b[FEEDBACK_OFF.type] = FEEDBACK_TYPE.result;
      writeU16(b, FEEDBACK_OFF.status, CTL_STATUS[v.status]);
      p = writeString(b, FEEDBACK_OFF.resultData, 2, v.data);
      break;
    default:
      return assertNever(v, 'feedback message');
  }
  emitAuthTrailer(b, p, len, v.keyId, v.timestamp, key, 'feedback');
  return len;
}

/** Write a length-prefixed string (`lenBytes` 1 or 2) at `p`; returns the offset after it. */
function writeString(b: Uint8Array, p: number, lenBytes: 1 | 2, s: string): number {
  const { read, written } = utf8Encoder.encodeInto(s, b.subarray(p + lenBytes));
  assert(read === s.length, 'feedback string does not fit its space');
  if (lenBytes === 1) b[p] = written;
  else writeU16(b, p, written);
  return p + lenBytes + written;
}

/** `v` signed with `key`, as a new datagram. */
export function encodeFeedback(v: FeedbackMessage, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(feedbackLength(v));
  emitFeedback(v, key, out);
  return out;
}

export function encodeCommand(cmd: CtlCommand, key: Uint8Array): Uint8Array {
  return encodeFeedback(cmd, key);
}

export function encodeResult(res: CtlResult, key: Uint8Array): Uint8Array {
  return encodeFeedback(res, key);
}

/** A read position in a datagram; every read first checks the bytes are there. */
interface Cursor {
  p: number;
}

type Field<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: ParseReason; readonly detail: string };

function readString(b: Uint8Array, c: Cursor, lenBytes: 1 | 2, max: number, what: string): Field<string> {
  if (b.length < c.p + lenBytes) return { ok: false, reason: 'truncated', detail: `${what} length` };
  const n = lenBytes === 1 ? b[c.p]! : readU16(b, c.p);
  if (n > max) return { ok: false, reason: 'bad-length', detail: `${what} is ${n} bytes, more than ${max}` };
  const start = c.p + lenBytes;
  if (b.length < start + n) return { ok: false, reason: 'truncated', detail: what };
  let s: string;
  try {
    s = utf8Decoder.decode(b.subarray(start, start + n));
  } catch {
    return { ok: false, reason: 'bad-length', detail: `${what} is not UTF-8` };
  }
  c.p = start + n;
  return { ok: true, value: s };
}

/**
 * Parse one datagram's structure: header, body, key id, timestamp, and where the HMAC and the
 * bytes it covers are. Does not authenticate: look the key up by `message.keyId`, then call
 * `verifyFeedback`. The frame's `signed` and `mac` are views into `b`. Its rules:
 * - Unknown type, class, op or status numbers fail with 'unsupported'. They are closed protocol
 *   enums, not extensible values: a node cannot act on an operation it does not know. So a status
 *   added to CTL_STATUS needs clients updated before nodes send it.
 * - A datagram longer than FEEDBACK_MESSAGE_MAX fails with 'bad-length' before it is read, and
 *   bytes after the HMAC fail with 'bad-length'. With fatal UTF-8 decoding and the bounded
 *   timestamp, every accepted message has exactly one encoding (encoding what was parsed gives
 *   back the same bytes), and trailing bytes the HMAC would not cover cannot ride along.
 * - Strings must be well-formed UTF-8 (overlong forms, surrogates and cut sequences refused) and
 *   within their bound, else 'bad-length'. A BOM is kept as a character, not stripped.
 * - A timestamp above 2^53 - 1 fails with 'unsupported' (about the year 2255 in µs since 1970).
 */
export function parseFeedback(b: Uint8Array): Parsed<FeedbackFrame> {
  if (b.length > FEEDBACK_MESSAGE_MAX) return fail(LAYER, 'bad-length', `${b.length} bytes, more than ${FEEDBACK_MESSAGE_MAX}`);
  if (b.length < FEEDBACK_HEADER_LEN) return fail(LAYER, 'truncated', `${b.length} bytes`);
  if (readU16(b, FEEDBACK_OFF.magic) !== FEEDBACK_MAGIC) return fail(LAYER, 'bad-magic');
  const version = b[FEEDBACK_OFF.version]!;
  if (version !== FEEDBACK_VERSION) return fail(LAYER, 'bad-version', `version ${version}`);
  const type = b[FEEDBACK_OFF.type]!;
  if (type === FEEDBACK_TYPE.command) return parseCommand(b);
  if (type === FEEDBACK_TYPE.result) return parseResult(b);
  return fail(LAYER, 'unsupported', `type ${type}`);
}

function parseCommand(b: Uint8Array): Parsed<FeedbackFrame> {
  if (b.length < FEEDBACK_OFF.group) return fail(LAYER, 'truncated', 'command header');
  const cls = CLASS_BY_NUMBER[b[FEEDBACK_OFF.cls]!];
  if (cls === undefined) return fail(LAYER, 'unsupported', `class ${b[FEEDBACK_OFF.cls]!}`);
  const op = OP_BY_NUMBER[b[FEEDBACK_OFF.op]!];
  if (op === undefined) return fail(LAYER, 'unsupported', `op ${b[FEEDBACK_OFF.op]!}`);
  const c: Cursor = { p: FEEDBACK_OFF.group };
  const group = readString(b, c, 1, FEEDBACK_STRING_MAX, 'group');
  if (!group.ok) return fail(LAYER, group.reason, group.detail);
  const server = readString(b, c, 1, FEEDBACK_STRING_MAX, 'server');
  if (!server.ok) return fail(LAYER, server.reason, server.detail);
  const property = readString(b, c, 1, FEEDBACK_STRING_MAX, 'property');
  if (!property.ok) return fail(LAYER, property.reason, property.detail);
  const data = readString(b, c, 2, FEEDBACK_DATA_MAX, 'data');
  if (!data.ok) return fail(LAYER, data.reason, data.detail);
  return withAuth(b, c.p, (keyId, timestamp) => ({
    kind: 'command',
    id: readU32(b, FEEDBACK_OFF.id),
    handle: readU32(b, FEEDBACK_OFF.handle),
    cls,
    op,
    group: group.value,
    server: server.value,
    property: property.value,
    data: data.value,
    keyId,
    timestamp,
  }));
}

function parseResult(b: Uint8Array): Parsed<FeedbackFrame> {
  if (b.length < FEEDBACK_OFF.resultData) return fail(LAYER, 'truncated', 'result header');
  const statusNumber = readU16(b, FEEDBACK_OFF.status);
  const status = STATUS_BY_NUMBER[statusNumber];
  if (status === undefined) return fail(LAYER, 'unsupported', `status ${statusNumber}`);
  const c: Cursor = { p: FEEDBACK_OFF.resultData };
  const data = readString(b, c, 2, FEEDBACK_DATA_MAX, 'data');
  if (!data.ok) return fail(LAYER, data.reason, data.detail);
  return withAuth(b, c.p, (keyId, timestamp) => ({
    kind: 'result',
    id: readU32(b, FEEDBACK_OFF.id),
    status,
    data: data.value,
    keyId,
    timestamp,
  }));
}

/** Read the auth trailer at `t`, the end of the body, and check the datagram ends with it. */
function withAuth(b: Uint8Array, t: number, build: (keyId: number, timestamp: number) => FeedbackMessage): Parsed<FeedbackFrame> {
  const macAt = t + FEEDBACK_AUTH_OFF.mac;
  if (b.length < macAt) return fail(LAYER, 'truncated', 'key id and timestamp');
  const auth = readAuthTrailer(b, t);
  if (auth === undefined) return fail(LAYER, 'unsupported', 'timestamp above 2^53 - 1');
  const end = macAt + HMAC_SHA256_BYTES;
  if (b.length < end) return fail(LAYER, 'truncated', 'hmac');
  if (b.length > end) return fail(LAYER, 'bad-length', `${b.length - end} bytes after the hmac`);
  return ok({ message: build(auth.keyId, auth.value), signed: b.subarray(0, macAt), mac: b.subarray(macAt, end) });
}

/** Whether the frame's HMAC is right for `key` (compared in constant time). */
export function verifyFeedback(frame: FeedbackFrame, key: Uint8Array): boolean {
  return verifyAuth(frame.signed, frame.mac, key);
}
