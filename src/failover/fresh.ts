/**
 * Freshness of the group's datagrams (bidd and sync) across restarts: the receiver's side (a
 * gate per stream) and the sender's (its incarnation, its sequences, its answers to challenges).
 * The wire side is `src/wire/fresh.ts`, which says why: a receiver believes a peer's incarnation
 * only when the peer answers a fresh nonce, and within a believed incarnation a sequence must
 * rise. Pure and sans-IO: the engine hands in the time and the parsed, authenticated message, and
 * sends what the gate asks for.
 *
 * What it guarantees, for anyone without the group key:
 * - a datagram is acted on at most once per receiver process, and never after a newer one of the
 *   same sender incarnation;
 * - a datagram of an incarnation the receiver has not verified is acted on only if it is that
 *   incarnation's latest datagram on its stream at the moment the sender answers the challenge
 *   (so a recording, of any age, replayed to a freshly started receiver is not acted on: the
 *   sender, if alive, names a later sequence; if dead, nobody answers);
 * - neither side needs a clock in common, state on disk, or the other to have stayed up.
 * The cost is one round trip before a peer's first datagram of a new incarnation counts (that
 * datagram itself counts when it was the latest; a heartbeat stream loses nothing).
 */

import { assert } from '../assert.ts';
import type { Instant } from '../time.ts';
import type { FreshStream } from '../wire/fresh.ts';

/** Peers a gate tracks (a cluster's nodes): a message from one more is a counted drop. */
export const FRESH_PEERS_MAX = 64;
/** A peer's unverified datagrams draw at most one challenge per this long (µs). */
export const CHALLENGE_RETRY_US = 50_000;
/** A challenger gets at most one answer per stream per this long (µs). */
export const RESPONSE_INTERVAL_US = 10_000;
/** The last sequence of an incarnation; the sender then draws a new incarnation. */
export const SEQ_MAX = 0xffffffff;

export interface Nonce {
  readonly hi: number;
  readonly lo: number;
}

/** What the gate says of an authenticated datagram. */
export type Admission =
  | { readonly kind: 'accept' }
  /** A believed incarnation, and not above the last sequence seen: a replay or a reordered copy. */
  | { readonly kind: 'replay' }
  /** An incarnation not (yet) believed; `challenge` is set when one should be sent now. */
  | { readonly kind: 'unverified'; readonly challenge?: Nonce }
  /** A new peer and the table holds FRESH_PEERS_MAX already. */
  | { readonly kind: 'full' };

/** What the gate says of an authenticated response. */
export type Answer<T> =
  | { readonly kind: 'adopted'; readonly inc: number; readonly seq: number; readonly previous: number | undefined; readonly released: T | undefined }
  /** No challenge of ours is waiting with that nonce (late, duplicated or replayed). */
  | { readonly kind: 'unexpected' };

interface Peer<T> {
  /** The believed incarnation (undefined: none yet) and the highest sequence seen in it. */
  inc: number | undefined;
  last: number;
  /** The challenge waiting for an answer, when sent, and the datagram that drew it. */
  pending: { nonce: Nonce; at: number; held: { inc: number; seq: number; msg: T } } | undefined;
}

/** Nonces never used before by this process: (own incarnation, counter). */
export class NonceSource {
  #count = 0;
  constructor(readonly incarnation: () => number) {}
  next(): Nonce {
    this.#count = (this.#count + 1) >>> 0;
    return { hi: this.incarnation(), lo: this.#count };
  }
}

/** The receiving side for one stream: per peer node id, the believed incarnation and sequence. */
export class FreshGate<T> {
  readonly #peers = new Map<number, Peer<T>>();

  constructor(
    readonly stream: FreshStream,
    readonly nonces: NonceSource,
  ) {}

  /** Judge datagram `msg` of peer `node`, incarnation `inc`, sequence `seq` (authenticated by the caller). */
  admit(now: Instant, node: number, inc: number, seq: number, msg: T): Admission {
    let p = this.#peers.get(node);
    if (p === undefined) {
      if (this.#peers.size >= FRESH_PEERS_MAX) return { kind: 'full' };
      p = { inc: undefined, last: 0, pending: undefined };
      this.#peers.set(node, p);
    }
    if (p.inc === inc) {
      if (seq <= p.last) return { kind: 'replay' };
      p.last = seq;
      return { kind: 'accept' };
    }
    // Unknown incarnation: hold the newest such datagram, challenge at most once per retry interval.
    const held = { inc, seq, msg };
    if (p.pending !== undefined && now - p.pending.at < CHALLENGE_RETRY_US) {
      if (inc === p.pending.held.inc && seq > p.pending.held.seq) p.pending.held = held;
      return { kind: 'unverified' };
    }
    const nonce = this.nonces.next();
    p.pending = { nonce, at: now, held };
    return { kind: 'unverified', challenge: nonce };
  }

  /**
   * Peer `node` answered nonce `nonce`: its incarnation is `inc` and its last sequence on this
   * stream `seq`. Adopt them; the held datagram is released when it was exactly that latest one.
   */
  answer(node: number, nonce: Nonce, inc: number, seq: number): Answer<T> {
    const p = this.#peers.get(node);
    const w = p?.pending;
    if (p === undefined || w === undefined || w.nonce.hi !== nonce.hi || w.nonce.lo !== nonce.lo) return { kind: 'unexpected' };
    const previous = p.inc;
    p.pending = undefined;
    if (previous === inc && seq <= p.last) return { kind: 'adopted', inc, seq: p.last, previous, released: undefined };
    p.inc = inc;
    p.last = seq;
    const released = w.held.inc === inc && w.held.seq === seq ? w.held.msg : undefined;
    return { kind: 'adopted', inc, seq, previous, released };
  }

  /** The believed incarnation and last sequence of `node` (tests, status). */
  peer(node: number): { inc: number | undefined; last: number } | undefined {
    const p = this.#peers.get(node);
    return p === undefined ? undefined : { inc: p.inc, last: p.last };
  }
}

/** The sending side: this process's incarnation, a sequence per stream, and the answer budget. */
export class FreshSender {
  #inc: number;
  readonly #last: Record<FreshStream, number> = { bidd: 0, sync: 0 };
  /** Last answer per (stream, challenger), bounded by FRESH_PEERS_MAX per stream. */
  readonly #answered: Record<FreshStream, Map<number, number>> = { bidd: new Map(), sync: new Map() };

  /**
   * `draw` gives a non-zero random u32 (a fresh incarnation); called now and at sequence
   * exhaustion, after `seqMax` datagrams on a stream (SEQ_MAX; smaller in tests).
   */
  constructor(
    readonly draw: () => number,
    readonly seqMax: number = SEQ_MAX,
  ) {
    this.#inc = this.#drawInc();
  }

  get incarnation(): number {
    return this.#inc;
  }

  /** The incarnation and sequence for the next datagram on `stream`. */
  next(stream: FreshStream): { inc: number; seq: number } {
    if (this.#last[stream] >= this.seqMax) {
      // 2^32 datagrams: start a new incarnation (peers verify it with one challenge).
      this.#inc = this.#drawInc();
      this.#last.bidd = 0;
      this.#last.sync = 0;
    }
    this.#last[stream]++;
    return { inc: this.#inc, seq: this.#last[stream] };
  }

  /** The last sequence sent on `stream` in the current incarnation (0: none). */
  last(stream: FreshStream): number {
    return this.#last[stream];
  }

  /** Whether to answer `challenger`'s challenge on `stream` now (at most one per RESPONSE_INTERVAL_US). */
  mayAnswer(now: Instant, stream: FreshStream, challenger: number): boolean {
    const m = this.#answered[stream];
    const at = m.get(challenger);
    if (at !== undefined && now - at < RESPONSE_INTERVAL_US) return false;
    if (at === undefined && m.size >= FRESH_PEERS_MAX) {
      // Forget the oldest answer: the bound holds and a new peer is still answered.
      const oldest = m.keys().next().value;
      if (oldest !== undefined) m.delete(oldest);
    }
    m.delete(challenger);
    m.set(challenger, now);
    return true;
  }

  #drawInc(): number {
    // A non-zero u32 other than the current one; a fair source needs one draw, a few at worst.
    for (let i = 0; i < 16; i++) {
      const v = this.draw() >>> 0;
      if (v !== 0 && v !== this.#inc) return v;
    }
    assert(false, 'the incarnation source gives only 0 or the current incarnation');
  }
}
