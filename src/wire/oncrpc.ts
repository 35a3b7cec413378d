/**
 * ONC RPC messages (RFC 5531) over XDR (xdr.ts): the call a server reads and the reply it
 * writes, for the NFSv3, MOUNT and port-mapper services. One message per UDP datagram; over TCP
 * each message has a record mark (`recordMark`), a u32 whose top bit says "last fragment" and
 * the rest the fragment's length.
 *
 *   call:  xid, msg_type 0, rpcvers 2, prog, vers, proc, cred (flavor, body<400>), verf (same),
 *          then the procedure's arguments
 *   reply: xid, msg_type 1, then MSG_ACCEPTED (verf, accept_stat, results for SUCCESS, the
 *          low/high versions for PROG_MISMATCH) or MSG_DENIED (RPC_MISMATCH low/high, or
 *          AUTH_ERROR and its auth_stat)
 *
 * `parseCall` never throws: a message that is not a well-formed call is an error with a parse
 * reason (src/wire/result.ts); the caller answers GARBAGE_ARGS or drops it. Credentials are kept
 * as bytes (AUTH_SYS is `authSys`); the server here does no authentication of its own.
 */

import { fail, ok, type Parsed } from './result.ts';
import { XdrReader, XdrWriter } from './xdr.ts';

const LAYER = 'oncrpc' as const;

export const RPC_VERSION = 2;
export const RPC_AUTH_BODY_MAX = 400;
export const AUTH_FLAVOR = { none: 0, sys: 1 } as const;
export const ACCEPT_STAT = { success: 0, progUnavail: 1, progMismatch: 2, procUnavail: 3, garbageArgs: 4, systemErr: 5 } as const;
export const REJECT_STAT = { rpcMismatch: 0, authError: 1 } as const;

export interface OpaqueAuth {
  readonly flavor: number;
  readonly body: Uint8Array;
}

export interface RpcCall {
  readonly xid: number;
  readonly prog: number;
  readonly vers: number;
  readonly proc: number;
  readonly cred: OpaqueAuth;
  readonly verf: OpaqueAuth;
  /** The procedure's arguments: a view of the message after the header. */
  readonly args: Uint8Array;
}

function auth(r: XdrReader, what: string): OpaqueAuth {
  const flavor = r.u32(`${what} flavor`);
  const body = r.opaque(RPC_AUTH_BODY_MAX, `${what} body`);
  return { flavor, body };
}

/** Read a call; bytes after the header are its arguments. Never throws. */
export function parseCall(b: Uint8Array): Parsed<RpcCall> {
  const r = new XdrReader(b);
  const xid = r.u32('xid');
  const type = r.u32('msg_type');
  if (r.error === undefined && type !== 0) return fail(LAYER, 'bad-value', `msg_type ${type}: not a call`);
  const rpcvers = r.u32('rpcvers');
  if (r.error === undefined && rpcvers !== RPC_VERSION) return fail(LAYER, 'bad-version', `rpcvers ${rpcvers}`);
  const prog = r.u32('prog');
  const vers = r.u32('vers');
  const proc = r.u32('proc');
  const cred = auth(r, 'cred');
  const verf = auth(r, 'verf');
  if (r.error !== undefined) return fail(LAYER, r.error.reason, r.error.detail);
  return ok({ xid, prog, vers, proc, cred, verf, args: b.subarray(r.offset) });
}

/** AUTH_SYS credentials (RFC 5531 appendix A), when the body is one. */
export interface AuthSys {
  readonly stamp: number;
  readonly machine: string;
  readonly uid: number;
  readonly gid: number;
  readonly gids: readonly number[];
}

export function authSys(a: OpaqueAuth): AuthSys | undefined {
  if (a.flavor !== AUTH_FLAVOR.sys) return undefined;
  const r = new XdrReader(a.body);
  const stamp = r.u32();
  const machine = r.string(255, 'machinename');
  const uid = r.u32();
  const gid = r.u32();
  const n = r.u32('gids length');
  if (n > 16) return undefined;
  const gids: number[] = [];
  for (let i = 0; i < n; i++) gids.push(r.u32());
  return r.error === undefined ? { stamp, machine, uid, gid, gids } : undefined;
}

/** An accepted reply's header with a null verifier; the caller appends results (SUCCESS) after it. */
export function acceptedReply(xid: number, stat: number, mismatch?: { readonly low: number; readonly high: number }): XdrWriter {
  const w = new XdrWriter().u32(xid).u32(1).u32(0).u32(AUTH_FLAVOR.none).opaque(new Uint8Array(0)).u32(stat);
  if (stat === ACCEPT_STAT.progMismatch) w.u32(mismatch?.low ?? 0).u32(mismatch?.high ?? 0);
  return w;
}

/** A denied reply: RPC_MISMATCH (versions 2 to 2) or AUTH_ERROR with its auth_stat. */
export function deniedReply(xid: number, reject: { readonly kind: 'rpc-mismatch' } | { readonly kind: 'auth-error'; readonly stat: number }): Uint8Array {
  const w = new XdrWriter().u32(xid).u32(1).u32(1);
  if (reject.kind === 'rpc-mismatch') w.u32(REJECT_STAT.rpcMismatch).u32(RPC_VERSION).u32(RPC_VERSION);
  else w.u32(REJECT_STAT.authError).u32(reject.stat);
  return w.bytes();
}

/** A call's header (for clients and tests); the caller appends the arguments. */
export function callHeader(xid: number, prog: number, vers: number, proc: number, cred: OpaqueAuth = { flavor: AUTH_FLAVOR.none, body: new Uint8Array(0) }): XdrWriter {
  return new XdrWriter().u32(xid).u32(0).u32(RPC_VERSION).u32(prog).u32(vers).u32(proc).u32(cred.flavor).opaque(cred.body).u32(AUTH_FLAVOR.none).opaque(new Uint8Array(0));
}

/** A TCP record mark: the last-fragment bit and the fragment's length. */
export function recordMark(length: number, last = true): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, ((last ? 0x80000000 : 0) | (length & 0x7fffffff)) >>> 0);
  return b;
}
