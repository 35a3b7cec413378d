/**
 * Per-source rate limiting for SGctrld (slide 47's spirit applied to the control port): two
 * token buckets per source address, checked before any parsing or MAC work.
 *
 *   serve bucket   `perSecond` sustained, `burst` at once: a message that gets a token is
 *                  handled normally ('pass');
 *   reject bucket  `rejectsPerSecond`, `rejectBurst`: a message over the serve bucket that gets
 *                  a token here is answered 'rate-limited' ('limited');
 *   neither        dropped without a word ('drop'), so a flood (or a flood spoofing a victim's
 *                  address) draws at most `rejectsPerSecond` small replies per source address
 *                  per second beyond the normal service: no amplification.
 *
 * Buckets start full and refill continuously with time (µs, the node's clock). The table of
 * sources is bounded (`sourcesMax`) and kept in least-recently-seen order. When it is full, the
 * least recently seen source is forgotten if both its buckets have refilled (it is then the same
 * as a new source); otherwise the newcomer is dropped ('drop', counted in `sourcesFull`): a flood
 * from many addresses cannot make the limiter forget who is over its limit. A consequence to
 * know: while `sourcesMax` addresses are all active, a new address (the administrator's, too)
 * is not served until one of them has been quiet long enough for both its buckets to refill: up
 * to max(burst / perSecond, rejectBurst / rejectsPerSecond) seconds, 5 s with the defaults (the
 * reject bucket's 5 answers at 1/s; the serve bucket's 200 at 100/s take only 2 s).
 */

import type { Instant } from '../time.ts';
import { assert } from '../assert.ts';

export interface RateLimitConfig {
  /** Messages per second one source may send, sustained. */
  readonly perSecond: number;
  /** Messages one source may send at once after a quiet spell. */
  readonly burst: number;
  /** 'rate-limited' replies per second to one source over its limit. */
  readonly rejectsPerSecond: number;
  /** 'rate-limited' replies at once before silence. */
  readonly rejectBurst: number;
}

export const RATE_LIMIT_DEFAULTS: RateLimitConfig = { perSecond: 100, burst: 200, rejectsPerSecond: 1, rejectBurst: 5 };
/** Source addresses the limiter remembers at most. */
export const SOURCES_MAX_DEFAULT = 4_096;

export type RateVerdict = 'pass' | 'limited' | 'drop';

interface Source {
  tokens: number;
  rejects: number;
  /** When the buckets were last brought up to date (µs). */
  at: number;
}

const US_PER_S = 1_000_000;

export class SourceLimiter {
  readonly config: RateLimitConfig;
  readonly sourcesMax: number;
  /** Newcomers dropped because the table was full of active sources. */
  sourcesFull = 0;
  /** Insertion order is recency order: every access moves the source to the end. */
  readonly #sources = new Map<number, Source>();
  #now = 0;

  constructor(config: RateLimitConfig = RATE_LIMIT_DEFAULTS, sourcesMax = SOURCES_MAX_DEFAULT) {
    for (const k of ['perSecond', 'burst', 'rejectsPerSecond', 'rejectBurst'] as const) {
      assert(Number.isFinite(config[k]) && config[k] >= 0, `rate limit ${k} must be a finite number >= 0, got ${config[k]}`);
    }
    assert(config.burst >= 1, `rate limit burst must be at least 1, got ${config.burst}`);
    assert(Number.isSafeInteger(sourcesMax) && sourcesMax >= 1, `sourcesMax must be a positive integer, got ${sourcesMax}`);
    this.config = config;
    this.sourcesMax = sourcesMax;
  }

  /** Sources remembered now. */
  get size(): number {
    return this.#sources.size;
  }

  /** The verdict for one message from `addr` at `now` (which never goes backwards). */
  take(addr: number, now: Instant): RateVerdict {
    assert(now >= this.#now, `rate limiter: time went backwards (${now} < ${this.#now})`);
    this.#now = now;
    let s = this.#sources.get(addr);
    if (s !== undefined) {
      this.#sources.delete(addr);
      this.#refill(s, now);
    } else {
      if (this.#sources.size >= this.sourcesMax && !this.#evictOldest(now)) {
        this.sourcesFull++;
        return 'drop';
      }
      s = { tokens: this.config.burst, rejects: this.config.rejectBurst, at: now };
    }
    this.#sources.set(addr, s);
    if (s.tokens >= 1) {
      s.tokens -= 1;
      return 'pass';
    }
    if (s.rejects >= 1) {
      s.rejects -= 1;
      return 'limited';
    }
    return 'drop';
  }

  #refill(s: Source, now: number): void {
    const dt = now - s.at;
    s.at = now;
    if (dt <= 0) return;
    const c = this.config;
    s.tokens = Math.min(c.burst, s.tokens + (dt * c.perSecond) / US_PER_S);
    s.rejects = Math.min(c.rejectBurst, s.rejects + (dt * c.rejectsPerSecond) / US_PER_S);
  }

  /** Forget the least recently seen source if its buckets are full again; whether it did. */
  #evictOldest(now: number): boolean {
    const first = this.#sources.entries().next();
    if (first.done === true) return true;
    const [addr, s] = first.value;
    this.#refill(s, now);
    if (s.tokens < this.config.burst || s.rejects < this.config.rejectBurst) return false;
    this.#sources.delete(addr);
    return true;
  }
}
