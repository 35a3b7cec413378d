/**
 * Recent history without per-event timestamps (slide 30: load is the change of a count within a
 * period of time, not the total). A `BucketWindow` keeps, for each of `rows` servers, a ring of
 * `LOAD_WINDOW_BUCKETS` counters, each covering `bucketWidth` µs of absolute time:
 *
 *   bucket b covers [b * bucketWidth, (b + 1) * bucketWidth)
 *
 * The newest bucket is the one holding the latest instant seen (`head`); moving forward clears
 * the buckets that fall out. `sum(row, k)` is the count in the newest `k` buckets: with
 * `k = LOAD_WINDOW_BUCKETS` that is the last (B - 1) whole buckets plus the current partial one,
 * i.e. between 90% and 100% of the window. Memory and work are O(rows * B), whatever the rate.
 */

import type { Duration, Instant } from '../time.ts';
import { assert } from '../assert.ts';

/** Buckets per load window: the window's time resolution is loadWindow / 10. */
export const LOAD_WINDOW_BUCKETS = 10;

export class BucketWindow {
  readonly rows: number;
  /** Width of one bucket: ceil(window / LOAD_WINDOW_BUCKETS) µs, at least 1. */
  readonly bucketWidth: Duration;
  /** Column-major: bucket column c of row r is at c * rows + r, so clearing a column is one fill. */
  readonly #counts: Float64Array;
  /** Absolute index of the newest bucket (floor(t / bucketWidth) of the latest instant seen). */
  #head: number;

  constructor(rows: number, window: Duration, now: Instant) {
    assert(Number.isSafeInteger(rows) && rows >= 0, `rows must be a non-negative integer, got ${rows}`);
    assert(Number.isSafeInteger(window) && window > 0, `load window must be a positive number of µs, got ${window}`);
    this.rows = rows;
    this.bucketWidth = Math.max(1, Math.ceil(window / LOAD_WINDOW_BUCKETS)) as Duration;
    this.#counts = new Float64Array(rows * LOAD_WINDOW_BUCKETS);
    this.#head = this.bucketOf(now);
  }

  /** Absolute bucket index of an instant. */
  bucketOf(t: Instant): number {
    return Math.floor(t / this.bucketWidth);
  }

  /** Absolute index of the newest bucket. */
  get head(): number {
    return this.#head;
  }

  /** Move the newest bucket to the one holding `now`, clearing those that leave the window. */
  advance(now: Instant): void {
    const cur = this.bucketOf(now);
    assert(cur >= this.#head, `load window would go backwards: bucket ${cur} < ${this.#head}`);
    const steps = Math.min(cur - this.#head, LOAD_WINDOW_BUCKETS);
    for (let s = 1; s <= steps; s++) {
      const col = (this.#head + s) % LOAD_WINDOW_BUCKETS;
      this.#counts.fill(0, col * this.rows, (col + 1) * this.rows);
    }
    this.#head = cur;
  }

  /** Count `n` events for `row` at `now` (advances first). */
  add(row: number, n: number, now: Instant): void {
    this.advance(now);
    const col = this.#head % LOAD_WINDOW_BUCKETS;
    const i = col * this.rows + row;
    this.#counts[i] = (this.#counts[i] as number) + n;
  }

  /** Events of `row` in the newest `k` buckets (1 <= k <= LOAD_WINDOW_BUCKETS), as of the last advance. */
  sum(row: number, k: number = LOAD_WINDOW_BUCKETS): number {
    assert(k >= 1 && k <= LOAD_WINDOW_BUCKETS, `bucket count out of range: ${k}`);
    let total = 0;
    for (let j = 0; j < k; j++) {
      const b = this.#head - j;
      if (b < 0) break; // before the epoch: nothing was counted there
      const col = b % LOAD_WINDOW_BUCKETS;
      total += this.#counts[col * this.rows + row] as number;
    }
    return total;
  }

  /** Forget the history of one row (a server that joins starts with none). */
  clearRow(row: number): void {
    for (let col = 0; col < LOAD_WINDOW_BUCKETS; col++) this.#counts[col * this.rows + row] = 0;
  }
}
