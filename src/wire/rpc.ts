/**
 * The RPC-over-UDP key-value protocol of the simulator's NFS-like service (slides 49-52): one
 * request datagram, one reply datagram, big-endian, no header. A write reply's result also rides
 * in the SG write-status IP option (src/wire/sgopt.ts) so the SG can compare write results
 * (slide 43); this codec is the UDP payload only.
 *
 *   Request (11 bytes, RPC_REQUEST_LEN)       Reply (9 bytes, RPC_REPLY_LEN)
 *     0  xid    u32  chosen by the client       0  xid     u32  the request's xid
 *     4  op     u8   0 read, 1 write            4  status  u8   0 ok, 1 error
 *     5  key    u16                             5  value   i32  the value read or stored
 *     7  value  i32  the value to write (0 in a read)
 *
 * Choices, each a rule of the parser:
 * - Nothing in the bytes says request or reply: the receiver knows which it expects (a server
 *   reads requests, a client replies), so `parseRpc` takes the kind.
 * - Bytes after the message are ignored (the service has always read only its fixed fields).
 * - `op` and `status` are carried as numbers, unknown ones included, so any request survives a
 *   round trip; the service answers an op it does not know with status error.
 *
 * The parser never throws (STYLE.md 2); the encoder asserts its input fits (`rpcProblem` says why
 * a value does not).
 */

import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { assert, assertNever } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';

const LAYER = 'rpc';

export const RPC_OP = { read: 0, write: 1 } as const;
export const RPC_STATUS = { ok: 0, error: 1 } as const;

/** Offsets of a request's fields. */
export const RPC_REQUEST_OFF = { xid: 0, op: 4, key: 5, value: 7 } as const;
/** Offsets of a reply's fields. */
export const RPC_REPLY_OFF = { xid: 0, status: 4, value: 5 } as const;

export const RPC_REQUEST_LEN = RPC_REQUEST_OFF.value + 4; // 11
export const RPC_REPLY_LEN = RPC_REPLY_OFF.value + 4; // 9

export interface RpcRequest {
  readonly kind: 'request';
  /** The client's transaction id (u32), echoed in the reply. */
  readonly xid: number;
  /** RPC_OP (u8); other numbers are kept. */
  readonly op: number;
  /** The key (u16). */
  readonly key: number;
  /** The value to write (i32); 0 in a read. */
  readonly value: number;
}

export interface RpcReply {
  readonly kind: 'reply';
  /** The request's xid (u32). */
  readonly xid: number;
  /** RPC_STATUS (u8); other numbers are kept. */
  readonly status: number;
  /** The value read or stored (i32). */
  readonly value: number;
}

export type RpcMessage = RpcRequest | RpcReply;
export type RpcKind = RpcMessage['kind'];

/** A view over an RPC message of a known kind at `off` in `buf`. */
export class RpcView {
  constructor(
    readonly buf: Uint8Array,
    readonly kind: RpcKind,
    readonly off = 0,
  ) {}

  /** The structural gate: the fixed fields of `kind` are all there. */
  checkLength(): boolean {
    return this.buf.length - this.off >= rpcLengthOf(this.kind);
  }

  get xid(): number {
    return readU32(this.buf, this.off + RPC_REQUEST_OFF.xid);
  }
  set xid(v: number) {
    writeU32(this.buf, this.off + RPC_REQUEST_OFF.xid, v);
  }
  /** Request only. */
  get op(): number {
    return this.buf[this.off + RPC_REQUEST_OFF.op]!;
  }
  set op(v: number) {
    this.buf[this.off + RPC_REQUEST_OFF.op] = v;
  }
  /** Request only. */
  get key(): number {
    return readU16(this.buf, this.off + RPC_REQUEST_OFF.key);
  }
  set key(v: number) {
    writeU16(this.buf, this.off + RPC_REQUEST_OFF.key, v);
  }
  /** Reply only. */
  get status(): number {
    return this.buf[this.off + RPC_REPLY_OFF.status]!;
  }
  set status(v: number) {
    this.buf[this.off + RPC_REPLY_OFF.status] = v;
  }
  get value(): number {
    return readU32(this.buf, this.off + this.#valueOff) | 0;
  }
  set value(v: number) {
    writeU32(this.buf, this.off + this.#valueOff, v >>> 0);
  }

  get #valueOff(): number {
    return this.kind === 'request' ? RPC_REQUEST_OFF.value : RPC_REPLY_OFF.value;
  }
}

function rpcLengthOf(kind: RpcKind): number {
  switch (kind) {
    case 'request':
      return RPC_REQUEST_LEN;
    case 'reply':
      return RPC_REPLY_LEN;
    default:
      return assertNever(kind, 'rpc kind');
  }
}

/** Parse an RPC message of `kind`; bytes past it are ignored. Never throws. */
export function parseRpc(b: Uint8Array, kind: 'request'): Parsed<RpcRequest>;
export function parseRpc(b: Uint8Array, kind: 'reply'): Parsed<RpcReply>;
export function parseRpc(b: Uint8Array, kind: RpcKind): Parsed<RpcMessage>;
export function parseRpc(b: Uint8Array, kind: RpcKind): Parsed<RpcMessage> {
  const v = new RpcView(b, kind);
  if (!v.checkLength()) return fail(LAYER, 'truncated', `${b.length} bytes, a ${kind} is ${rpcLengthOf(kind)}`);
  return ok(kind === 'request' ? { kind, xid: v.xid, op: v.op, key: v.key, value: v.value } : { kind, xid: v.xid, status: v.status, value: v.value });
}

function isUint(x: number, max: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= max;
}

/** Why `m` cannot be encoded, or undefined when it can. */
export function rpcProblem(m: RpcMessage): string | undefined {
  if (!isUint(m.xid, 0xffffffff)) return `xid ${m.xid} is not a u32`;
  if (!(Number.isInteger(m.value) && m.value >= -0x80000000 && m.value <= 0x7fffffff)) return `value ${m.value} is not an i32`;
  switch (m.kind) {
    case 'request':
      if (!isUint(m.op, 0xff)) return `op ${m.op} is not a u8`;
      if (!isUint(m.key, 0xffff)) return `key ${m.key} is not a u16`;
      return undefined;
    case 'reply':
      return isUint(m.status, 0xff) ? undefined : `status ${m.status} is not a u8`;
    default:
      return assertNever(m, 'rpc message');
  }
}

export function rpcLength(m: RpcMessage): number {
  return rpcLengthOf(m.kind);
}

/** Writes exactly `rpcLength(m)` bytes at `off`; returns that count. */
export function emitRpc(m: RpcMessage, buf: Uint8Array, off = 0): number {
  const problem = rpcProblem(m);
  assert(problem === undefined, `emitRpc: ${problem}`);
  const len = rpcLength(m);
  assert(buf.length - off >= len, `emitRpc: ${buf.length - off} bytes of room, a ${m.kind} needs ${len}`);
  const v = new RpcView(buf, m.kind, off);
  v.xid = m.xid;
  if (m.kind === 'request') {
    v.op = m.op;
    v.key = m.key;
  } else v.status = m.status;
  v.value = m.value;
  return len;
}

export function encodeRpc(m: RpcMessage): Uint8Array {
  const out = new Uint8Array(rpcLength(m));
  emitRpc(m, out);
  return out;
}
