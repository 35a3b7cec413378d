/**
 * The multicast service support routines (slides 17, 23, 26, 49): what a replicated UDP service
 * calls so that the SG node can replicate its writes and vote on their replies. The seed's four C
 * calls become the four methods of `McastSupport`:
 *
 *   sock_joingroup(sockfd, groupaddr, ttl)   -> joinGroup(group, ttl)    after the socket is bound
 *   prepare_ipopt_mcast(type, retval)        -> prepare(status, retval)  at the end of a write
 *   sock_set_ipopt_mcast(sockfd)             -> setOption()              before sending the reply
 *   sock_clear_ipopt_mcast(sockfd)           -> clearOption()            after sending it
 *
 * and `reply(payload, to, writeStatus)` does the last three around one send, which is what a
 * service should call (slide 49's NFS server, the RPC services of sim/services.ts and
 * src/real/rpc.ts).
 *
 * Choices:
 * - **Against a small socket interface** (`McastSocket`), so that the same service code runs on
 *   the simulator's UDP socket (sim/mcast-socket.ts) and on a real Node socket
 *   (src/real/mcast-socket.ts, setsockopt(IP_OPTIONS) through libc). Pure: no I/O here.
 * - **The "global" of prepare_ipopt_mcast is per McastSupport**, one per service socket, and
 *   `setOption` consumes it: a status prepared for one write never rides on a later reply.
 * - **The option is socket state, so replies are serialized.** IP_OPTIONS applies to every
 *   datagram the socket sends until it is cleared, and a real send completes later than the call
 *   (Node's dgram sends on a later tick). `reply` therefore keeps one reply in flight: set, send,
 *   clear when the send has completed, then the next, from a queue of at most
 *   `MCAST_REPLIES_QUEUED_MAX`; a read reply never leaves while a write's option is set.
 * - **A reply whose status cannot be set is not sent** (counted): without its option the SG
 *   would take a failed write for a success; a missing reply is timed out as a write mismatch.
 */

import { assert } from '../assert.ts';
import { isMulticastIpv4, type Ipv4Addr } from '../wire/addr.ts';
import type { Ipv4Option } from '../wire/ipv4.ts';
import { SG_WRITE_STATUS, sgWriteStatus, type SgWriteStatus } from '../wire/sgopt.ts';

/** prepare_ipopt_mcast's `type` values: a write succeeded or failed. */
export const MCAST_SUCCESS = SG_WRITE_STATUS.success;
export const MCAST_FAILURE = SG_WRITE_STATUS.failure;

/** Replies `reply` holds while one is in flight; more are dropped and counted (`queueFull`). */
export const MCAST_REPLIES_QUEUED_MAX = 1024;

export interface McastPeer {
  readonly addr: Ipv4Addr;
  readonly port: number;
}

/**
 * The socket calls the support routines need. Each returns undefined when done, else why not
 * (an errno's text); none throws on a failure of the socket.
 */
export interface McastSocket {
  /** IP_ADD_MEMBERSHIP on the socket's interface for multicast. */
  joinGroup(group: Ipv4Addr): string | undefined;
  /** IP_MULTICAST_TTL (0..255). */
  setMulticastTtl(ttl: number): string | undefined;
  /** IP_OPTIONS: every datagram sent from now until the next call carries `options`; `[]` clears. */
  setIpOptions(options: readonly Ipv4Option[]): string | undefined;
  /**
   * Send one datagram with the options set at the time. `sent` is called exactly once, when the
   * datagram has left (or failed: its reason), possibly before `send` returns.
   */
  send(payload: Uint8Array, to: McastPeer, sent: (error: string | undefined) => void): void;
}

/** A write reply's verdict: `status` (u16, MCAST_SUCCESS or MCAST_FAILURE) and `retval` (i32). */
export interface WriteStatus {
  readonly status: number;
  readonly retval: number;
}

export interface McastSupportCounters {
  /** Replies that left (with or without a status). */
  replies: number;
  /** Of them, write replies that carried the status option. */
  writeReplies: number;
  /** Sends the socket reported failed. */
  sendErrors: number;
  /** Replies not sent because the option could not be set or cleared. */
  optionErrors: number;
  /** Replies dropped because MCAST_REPLIES_QUEUED_MAX were waiting. */
  queueFull: number;
}

/** What `reply` did with a reply: sent at once, queued behind one in flight, or dropped. */
export type McastReplyResult = 'sent' | 'queued' | 'queue-full';

interface QueuedReply {
  readonly payload: Uint8Array;
  readonly to: McastPeer;
  readonly status: WriteStatus | undefined;
}

function isU16(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffff;
}

function isI32(x: number): boolean {
  return Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff;
}

/** The support routines of one service socket. */
export class McastSupport {
  readonly counters: McastSupportCounters = { replies: 0, writeReplies: 0, sendErrors: 0, optionErrors: 0, queueFull: 0 };
  readonly #sock: McastSocket;
  readonly #queuedMax: number;
  #prepared: SgWriteStatus | undefined;
  /** The status option is on the socket (set and not yet cleared). */
  #optionSet = false;
  readonly #queue: QueuedReply[] = [];
  #inFlight = false;
  #pumping = false;

  constructor(sock: McastSocket, repliesQueuedMax: number = MCAST_REPLIES_QUEUED_MAX) {
    assert(Number.isInteger(repliesQueuedMax) && repliesQueuedMax >= 0, `repliesQueuedMax ${repliesQueuedMax}`);
    this.#sock = sock;
    this.#queuedMax = repliesQueuedMax;
  }

  /**
   * sock_joingroup: join `group` (the SG group's multicast address, slide 15) and, when `ttl` is
   * given, set the multicast TTL. Call once the socket is bound. Undefined, or why it failed.
   */
  joinGroup(group: Ipv4Addr, ttl?: number): string | undefined {
    assert(isMulticastIpv4(group), `joinGroup: ${group >>> 0} is not a multicast address`);
    const e = this.#sock.joinGroup(group);
    if (e !== undefined || ttl === undefined) return e;
    return this.#sock.setMulticastTtl(ttl);
  }

  /**
   * prepare_ipopt_mcast: remember a write's status (u16: MCAST_SUCCESS, MCAST_FAILURE or the
   * service's own) and return value (i32) for the next `setOption`.
   */
  prepare(status: number, retval: number): void {
    assert(isU16(status), `prepare: status ${status} is not a u16`);
    assert(isI32(retval), `prepare: retval ${retval} is not an i32`);
    this.#prepared = sgWriteStatus(status, retval);
  }

  /** The status `prepare` left for the next `setOption`, if any. */
  get prepared(): SgWriteStatus | undefined {
    return this.#prepared;
  }

  /** The status option is on the socket now. */
  get optionSet(): boolean {
    return this.#optionSet;
  }

  /**
   * sock_set_ipopt_mcast: put the prepared status on the socket as the SG write-status option
   * (src/wire/sgopt.ts) and forget it. Calling it with nothing prepared is a bug (asserted).
   */
  setOption(): string | undefined {
    const p = this.#prepared;
    assert(p !== undefined, 'setOption: nothing prepared (prepare(status, retval) first)');
    this.#prepared = undefined;
    const e = this.#sock.setIpOptions([p]);
    if (e === undefined) this.#optionSet = true;
    return e;
  }

  /** sock_clear_ipopt_mcast: take every IP option off the socket. */
  clearOption(): string | undefined {
    const e = this.#sock.setIpOptions([]);
    if (e === undefined) this.#optionSet = false;
    return e;
  }

  /** Replies waiting behind the one in flight. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Send one reply to `to`: with `status`, as a write reply carrying it (prepare, setOption, the
   * send, clearOption when it has left); without, with no option. One reply is in flight at a
   * time; the others wait in order.
   */
  reply(payload: Uint8Array, to: McastPeer, status?: WriteStatus): McastReplyResult {
    if (status !== undefined) {
      assert(isU16(status.status), `reply: status ${status.status} is not a u16`);
      assert(isI32(status.retval), `reply: retval ${status.retval} is not an i32`);
    }
    const busy = this.#inFlight || this.#queue.length > 0;
    if (busy && this.#queue.length >= this.#queuedMax) {
      this.counters.queueFull++;
      return 'queue-full';
    }
    this.#queue.push({ payload, to, status });
    this.#pump();
    return busy ? 'queued' : 'sent';
  }

  #pump(): void {
    if (this.#pumping) return; // a synchronous `sent` inside the loop below
    this.#pumping = true;
    try {
      while (!this.#inFlight && this.#queue.length > 0) {
        const r = this.#queue.shift()!;
        // A clear that failed before: try again, and send nothing that would carry a stale status.
        if (this.#optionSet && this.clearOption() !== undefined) {
          this.counters.optionErrors++;
          continue;
        }
        if (r.status !== undefined) {
          this.prepare(r.status.status, r.status.retval);
          if (this.setOption() !== undefined) {
            this.counters.optionErrors++;
            continue;
          }
        }
        this.#inFlight = true;
        this.#sock.send(r.payload, r.to, (error) => {
          if (r.status !== undefined && this.clearOption() !== undefined) this.counters.optionErrors++;
          if (error !== undefined) this.counters.sendErrors++;
          else {
            this.counters.replies++;
            if (r.status !== undefined) this.counters.writeReplies++;
          }
          this.#inFlight = false;
          this.#pump();
        });
      }
    } finally {
      this.#pumping = false;
    }
  }
}
