/**
 * The server side of the RPC key-value protocol (src/wire/rpc.ts), shared by the simulator's RPC
 * service (sim/services.ts) and the real one (src/real/rpc.ts, `sg rpc serve`): the store and
 * what each request does to it. Pure: the caller receives, parses, waits its service time and
 * sends the reply through `McastSupport` (src/rw/support.ts) with the write status given here.
 *
 * - A read answers the key's value (0 when never written), status ok, with no write status.
 * - A write stores the value and answers it, status ok, write status MCAST_SUCCESS with the
 *   stored value as the return value.
 * - A write to a new key when the store holds `keysMax` keys, or any write under `failWrites`,
 *   stores nothing and answers status error with the key's current value, write status
 *   MCAST_FAILURE with that value.
 * - Under `diverge` a write stores value + 1 (wrapping as an i32) and answers that: a replica
 *   whose result differs, for the vote to outvote.
 * - Another op answers status error with the key's value and no write status (it is no write).
 * - A duplicate request cache, as NFS servers keep one: a write whose (client, xid) was answered
 *   lately is answered again from the cache and not applied twice. A client's retransmission can
 *   reach the servers as a new write (after the SG node forgot the vote, or through a new master
 *   after a takeover); applied again, it would undo the writes made since. `DRC_ENTRIES` writes
 *   are remembered, the oldest forgotten first; only with a `client` given.
 */

import { RPC_OP, RPC_STATUS, type RpcReply, type RpcRequest } from '../wire/rpc.ts';
import { MCAST_FAILURE, MCAST_SUCCESS, type WriteStatus } from './support.ts';

/** Keys a store holds at most (every u16 key). */
export const RPC_KEYS_MAX = 65536;

/** Writes the duplicate request cache remembers. */
export const DRC_ENTRIES = 4096;

export interface RpcServerOptions {
  /** Answer every write with failure and store nothing. */
  readonly failWrites?: boolean;
  /** Store (and answer) value + 1 on every write. */
  readonly diverge?: boolean;
  /** Keys held at most (default RPC_KEYS_MAX). */
  readonly keysMax?: number;
}

export interface RpcServerCounters {
  reads: number;
  writes: number;
  /** Writes answered with failure (store full, failWrites). */
  writeFailures: number;
  /** Requests with an op that is neither read nor write. */
  badOps: number;
  /** Writes answered from the duplicate request cache (not applied again). */
  duplicates: number;
}

/** A request's answer: the reply, and the write status its datagram carries (writes only). */
export interface RpcAnswer {
  readonly reply: RpcReply;
  readonly writeStatus: WriteStatus | undefined;
}

export class RpcServer {
  /** key -> value. */
  readonly store = new Map<number, number>();
  readonly counters: RpcServerCounters = { reads: 0, writes: 0, writeFailures: 0, badOps: 0, duplicates: 0 };
  readonly opts: RpcServerOptions;
  /** `client/xid` -> the answer a write got, in answer order (a Map keeps it). */
  readonly #drc = new Map<string, RpcAnswer>();

  constructor(opts: RpcServerOptions = {}) {
    this.opts = opts;
  }

  /** Forget everything (a restart: the store and the duplicate request cache are lost). */
  clear(): void {
    this.store.clear();
    this.#drc.clear();
  }

  /**
   * Apply `req` to the store; its answer. `client` names the request's sender (address and
   * port): with it, a repeated write is answered from the duplicate request cache.
   */
  handle(req: RpcRequest, client?: string): RpcAnswer {
    if (client === undefined || req.op !== RPC_OP.write) return this.#apply(req);
    const k = `${client}/${req.xid}`;
    const seen = this.#drc.get(k);
    if (seen !== undefined) {
      this.counters.duplicates++;
      return seen;
    }
    const a = this.#apply(req);
    if (this.#drc.size >= DRC_ENTRIES) this.#drc.delete(this.#drc.keys().next().value!);
    this.#drc.set(k, a);
    return a;
  }

  #apply(req: RpcRequest): RpcAnswer {
    const keysMax = this.opts.keysMax ?? RPC_KEYS_MAX;
    const current = this.store.get(req.key) ?? 0;
    const answer = (status: number, value: number, writeStatus: WriteStatus | undefined): RpcAnswer => ({
      reply: { kind: 'reply', xid: req.xid, status, value },
      writeStatus,
    });
    if (req.op === RPC_OP.read) {
      this.counters.reads++;
      return answer(RPC_STATUS.ok, current, undefined);
    }
    if (req.op !== RPC_OP.write) {
      this.counters.badOps++;
      return answer(RPC_STATUS.error, current, undefined);
    }
    this.counters.writes++;
    if (this.opts.failWrites === true || (this.store.size >= keysMax && !this.store.has(req.key))) {
      this.counters.writeFailures++;
      return answer(RPC_STATUS.error, current, { status: MCAST_FAILURE, retval: current });
    }
    const value = this.opts.diverge === true ? (req.value + 1) | 0 : req.value;
    this.store.set(req.key, value);
    return answer(RPC_STATUS.ok, value, { status: MCAST_SUCCESS, retval: value });
  }
}
