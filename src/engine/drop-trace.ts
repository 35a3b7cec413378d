/**
 * How an SG node traces bad input under a flood: a bounded sample one by one, the rest as
 * periodic summaries, so a flood of junk datagrams (forged control commands, forged bidd or sync
 * messages, junk the rate limiter drops unread) costs trace bytes in proportion to its duration,
 * not to its number of datagrams, and cannot fill a node's disk through its trace.
 *
 * Rule, per (layer, reason) key, e.g. 'ctl/unauthenticated', 'bidd/replay':
 *   - an interval opens at the first traced drop while none is open, and lasts
 *     DROP_SUMMARY_INTERVAL_US of engine time;
 *   - within it, the first DROP_SAMPLES_PER_INTERVAL drops of each key are traced one by one, as
 *     before (a `drop` event with its detail, or for the control port its `decision` 'ctl');
 *   - the rest are only counted; when the interval ends, one `drop` event per key that had any
 *     carries `count` (how many drops it stands for, none of them traced one by one) and `since`
 *     (when the interval began), with `t` the interval's end;
 *   - so the drops of a key are its events traced one by one plus the `count` of its summaries:
 *     every drop is in the trace exactly once, alone or counted. `count:` expectations weigh a
 *     summary by its `count`.
 * At most DROP_KEYS_MAX keys are told apart per interval; drops of further keys count under
 * 'other/other' (reason codes are a closed set, so this is a guard, not a working limit). The
 * per-node totals since start stay in `SgCounters.drops`.
 *
 * Sans-IO: the node asks `take` whether to trace a drop, and emits the summaries `close` hands
 * back when its 'drops' timer (at `due`) fires, or when it is told to finish.
 */

import type { DropCause, DropKey, DropLayer, DropReason } from '../trace.ts';
import { assert } from '../assert.ts';
import { dropKey } from './drops.ts';

/** Length of a summary interval (µs of engine time). */
export const DROP_SUMMARY_INTERVAL_US = 1_000_000;
/** Drops of one (layer, reason) traced one by one per interval. */
export const DROP_SAMPLES_PER_INTERVAL = 3;
/** Distinct (layer, reason) keys told apart per interval. */
export const DROP_KEYS_MAX = 64;

/** Drops of one key not traced one by one in an interval. */
export type DropSummary = DropCause & {
  readonly count: number;
  /** When the interval began (µs). */
  readonly since: number;
};

interface KeyCount {
  readonly cause: DropCause;
  traced: number;
  more: number;
}

const OTHER: DropCause = { layer: 'other', reason: 'other' };

export class DropSampler {
  /** Start of the open interval, or -1 when none is open. */
  #since = -1;
  readonly #keys = new Map<DropKey, KeyCount>();
  /** Drops counted but not traced in the open interval. */
  #more = 0;

  /**
   * One drop at `now` (never before the last call's). Whether to trace it one by one. Call
   * `close(now)` first: an interval that has ended must be closed before the next drop counts.
   */
  take<L extends DropLayer>(now: number, layer: L, reason: DropReason<L>): boolean {
    assert(this.#since < 0 || now < this.#since + DROP_SUMMARY_INTERVAL_US, 'drop sampler: interval not closed');
    if (this.#since < 0) this.#since = now;
    let k = dropKey(layer, reason);
    let c = this.#keys.get(k);
    if (c === undefined) {
      if (this.#keys.size >= DROP_KEYS_MAX) {
        k = dropKey('other', 'other');
        c = this.#keys.get(k);
        if (c === undefined) this.#keys.set(k, (c = { cause: OTHER, traced: DROP_SAMPLES_PER_INTERVAL, more: 0 }));
      } else this.#keys.set(k, (c = { cause: { layer, reason } as DropCause, traced: 0, more: 0 }));
    }
    if (c.traced < DROP_SAMPLES_PER_INTERVAL) {
      c.traced++;
      return true;
    }
    c.more++;
    this.#more++;
    return false;
  }

  /** When the open interval's summaries are due; undefined when there is nothing to summarise. */
  get due(): number | undefined {
    return this.#more > 0 ? this.#since + DROP_SUMMARY_INTERVAL_US : undefined;
  }

  /**
   * Close the open interval if it has ended by `now` (or at once, `force`: the end of a run or
   * a stop): its summaries, one per key with drops not traced one by one, in first-seen order.
   */
  close(now: number, force = false): DropSummary[] {
    if (this.#since < 0 || (!force && now < this.#since + DROP_SUMMARY_INTERVAL_US)) return [];
    const out: DropSummary[] = [];
    if (this.#more > 0) for (const c of this.#keys.values()) if (c.more > 0) out.push({ ...c.cause, count: c.more, since: this.#since });
    this.#since = -1;
    this.#keys.clear();
    this.#more = 0;
    return out;
  }
}
