/**
 * WriteAll's vote (slides 15-17, 19): a write goes to every member; the node collects their
 * replies by the request's id; a member that replies failure is turned off at once; successful
 * replies are grouped by return value, and the client gets the reply of the largest group.
 *
 * When the client is answered: as soon as one value holds a strict majority of the members the
 * write went to (no other group can then be larger, so waiting cannot change the answer), else
 * when every member has answered, else at the write timeout. Members are still heard after the
 * answer, until all have replied or the timeout: one outside the largest group is a value
 * mismatch, one that never replied a timeout mismatch (the health machine's M, slide 34). With
 * no successful reply at all the client gets the failure reply of the first member that failed,
 * or nothing (its retransmission retries).
 *
 * A request whose key is still being collected is a retransmission: it is not sent to the
 * members again. The answer is kept until one `writeTimeout` past the vote's deadline, so a
 * retransmission of an answered write gets the same answer, not a second write. Bounded:
 * `writesPending` collections and kept answers at most (a write beyond is refused, counted).
 *
 * Sans-IO and generic over the reply: the node keeps the bytes, this keeps the decision.
 */

import { assert } from '../assert.ts';
import type { Duration, Instant } from '../time.ts';

export interface VoteConfig {
  /** Writes being collected or answered and kept, at most. */
  readonly writesPending: number;
  /** From the write to its end: members that have not replied by then time out. */
  readonly writeTimeout: Duration;
  /** Replies held over all open collections, at most (one beyond is refused, 'full'). Default: unbounded. */
  readonly repliesHeld?: number;
}

/** `reply`'s answer: 'taken'; 'unexpected' (late, unknown, a second reply, a member outside the write); 'full' (`repliesHeld`). */
export type ReplyResult = 'taken' | 'unexpected' | 'full';

/** One member's reply: `value` is what is compared (the analyzer's reading of the return value). */
export interface MemberReply<R> {
  readonly member: number;
  readonly ok: boolean;
  readonly value: string;
  /** The reply itself, handed back when it is the one the client gets. */
  readonly reply: R;
}

/** What the node carries out, in order. */
export type VoteAction<R> =
  | { readonly kind: 'answer'; readonly key: string; readonly reply: R; readonly copies: number }
  | { readonly kind: 'turn-off'; readonly key: string; readonly member: number }
  | { readonly kind: 'mismatch'; readonly key: string; readonly member: number; readonly why: 'value' | 'timeout' }
  | { readonly kind: 'unanswered'; readonly key: string };

export type BeginResult<R> =
  | { readonly kind: 'started' }
  /** Still being collected: do not send it again. */
  | { readonly kind: 'collecting' }
  /** Answered lately: send this answer again. */
  | { readonly kind: 'answered'; readonly reply: R }
  | { readonly kind: 'full' };

interface Collection<R> {
  readonly key: string;
  readonly members: readonly number[];
  readonly deadline: Instant;
  readonly replies: Map<number, MemberReply<R>>;
  answer: R | undefined;
  answered: boolean;
  /** All replies in or timed out: only kept for retransmissions until `keepUntil`. */
  done: boolean;
  keepUntil: number;
}

export class WriteVotes<R> {
  readonly cfg: VoteConfig;
  /** By key, in start order (a Map keeps it): the oldest deadline first. */
  readonly #writes = new Map<string, Collection<R>>();
  /**
   * The collections still open, by key in start order. One timeout for all, so deadlines rise
   * along it, and so do the kept answers' ends along `#writes`: both walks stop at the first
   * entry not due (no scan of every write per call).
   */
  readonly #open = new Map<string, Collection<R>>();
  readonly #actions: VoteAction<R>[] = [];
  /** Replies held by open collections (a closed one lets its replies go, keeping only the answer). */
  #held = 0;

  constructor(cfg: VoteConfig) {
    assert(Number.isSafeInteger(cfg.writesPending) && cfg.writesPending >= 1, `writesPending must be a positive integer, got ${cfg.writesPending}`);
    assert(Number.isSafeInteger(cfg.writeTimeout) && cfg.writeTimeout > 0, `writeTimeout must be a positive duration, got ${cfg.writeTimeout}`);
    assert(cfg.repliesHeld === undefined || (Number.isSafeInteger(cfg.repliesHeld) && cfg.repliesHeld >= 1), `repliesHeld must be a positive integer, got ${cfg.repliesHeld}`);
    this.cfg = cfg;
  }

  /** Writes held (collecting, or answered and kept). */
  get size(): number {
    return this.#writes.size;
  }

  /** Replies held by the collections still open. */
  get held(): number {
    return this.#held;
  }

  /** A write request with this key arrived, to go to `members` (the members in service now). */
  begin(now: Instant, key: string, members: readonly number[]): BeginResult<R> {
    this.#expire(now);
    const w = this.#writes.get(key);
    if (w !== undefined) {
      if (!w.answered) return { kind: 'collecting' };
      if (w.answer !== undefined) return { kind: 'answered', reply: w.answer };
      return { kind: 'collecting' };
    }
    if (this.#writes.size >= this.cfg.writesPending) return { kind: 'full' };
    assert(members.length > 0, 'a write needs at least one member');
    const c: Collection<R> = { key, members: [...members], deadline: (now + this.cfg.writeTimeout) as Instant, replies: new Map(), answer: undefined, answered: false, done: false, keepUntil: 0 };
    this.#writes.set(key, c);
    this.#open.set(key, c);
    return { kind: 'started' };
  }

  /** A member's reply to a write. */
  reply(now: Instant, key: string, r: MemberReply<R>): ReplyResult {
    this.#expire(now);
    const w = this.#writes.get(key);
    if (w === undefined || w.done || !w.members.includes(r.member) || w.replies.has(r.member)) return 'unexpected';
    if (this.#held >= (this.cfg.repliesHeld ?? Infinity)) return 'full';
    w.replies.set(r.member, r);
    this.#held++;
    if (!r.ok) this.#actions.push({ kind: 'turn-off', key, member: r.member });
    if (!w.answered) {
      const lead = largest(w);
      if (lead !== undefined && lead.copies * 2 > w.members.length) this.#answer(w, lead.first.reply, lead.copies);
    }
    if (w.replies.size === w.members.length) this.#close(now, w, false);
    return 'taken';
  }

  /** The earliest deadline of a collection still open, or of a kept answer. */
  pollTimeout(): Instant | undefined {
    let t: number | undefined;
    for (const w of this.#open.values()) {
      t = w.deadline;
      break;
    }
    for (const w of this.#writes.values()) {
      if (w.done && (t === undefined || w.keepUntil < t)) t = w.keepUntil;
      break;
    }
    return t as Instant | undefined;
  }

  handleTimeout(now: Instant): void {
    this.#expire(now);
  }

  pollAction(): VoteAction<R> | undefined {
    return this.#actions.shift();
  }

  #expire(now: Instant): void {
    // Deleting the entry being visited is safe in a Map's iteration: no copy per call.
    for (const w of this.#open.values()) {
      if (w.deadline > now) break;
      this.#close(now, w, true);
    }
    // A kept answer behind a write still open waits for it (at most one timeout more, bounded by writesPending).
    for (const w of this.#writes.values()) {
      if (!w.done || w.keepUntil > now) break;
      this.#writes.delete(w.key);
    }
  }

  #answer(w: Collection<R>, reply: R, copies: number): void {
    w.answered = true;
    w.answer = reply;
    this.#actions.push({ kind: 'answer', key: w.key, reply, copies });
  }

  /** Every member replied (`timedOut` false) or the deadline passed: decide if still open, then count the mismatches. */
  #close(now: Instant, w: Collection<R>, timedOut: boolean): void {
    const lead = largest(w);
    if (!w.answered) {
      if (lead !== undefined) this.#answer(w, lead.first.reply, lead.copies);
      else {
        const failed = [...w.replies.values()].find((r) => !r.ok);
        if (failed !== undefined) this.#answer(w, failed.reply, 0);
        else {
          w.answered = true;
          this.#actions.push({ kind: 'unanswered', key: w.key });
        }
      }
    }
    for (const m of w.members) {
      const r = w.replies.get(m);
      if (r === undefined) {
        if (timedOut) this.#actions.push({ kind: 'mismatch', key: w.key, member: m, why: 'timeout' });
      } else if (r.ok && lead !== undefined && r.value !== lead.value) this.#actions.push({ kind: 'mismatch', key: w.key, member: m, why: 'value' });
    }
    w.done = true;
    this.#open.delete(w.key);
    this.#held -= w.replies.size;
    w.replies.clear(); // only the answer is kept
    // Kept for retransmissions only when there is an answer to send again; else the next copy is a new write.
    if (w.answer === undefined) this.#writes.delete(w.key);
    else w.keepUntil = w.deadline + this.cfg.writeTimeout;
  }
}

/** The largest group of successful replies by value (ties: the value that reached its count first). */
function largest<R>(w: Collection<R>): { value: string; copies: number; first: MemberReply<R> } | undefined {
  const groups = new Map<string, { copies: number; first: MemberReply<R> }>();
  let best: { value: string; copies: number; first: MemberReply<R> } | undefined;
  for (const r of w.replies.values()) {
    if (!r.ok) continue;
    const g = groups.get(r.value);
    const copies = (g?.copies ?? 0) + 1;
    const entry = { copies, first: g?.first ?? r };
    groups.set(r.value, entry);
    if (best === undefined || copies > best.copies) best = { value: r.value, ...entry };
  }
  return best;
}
