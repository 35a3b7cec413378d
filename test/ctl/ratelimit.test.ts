/**
 * Per-source rate limiting of the control port (src/ctl/ratelimit.ts): a serve bucket, a reject
 * bucket for 'rate-limited' answers, silence beyond both, and a bounded table of sources.
 */

import { describe, expect, it } from 'vitest';
import { RATE_LIMIT_DEFAULTS, SourceLimiter, type RateVerdict } from '../../src/ctl/ratelimit.ts';
import type { Instant } from '../../src/time.ts';

const at = (us: number) => us as Instant;
const CFG = { perSecond: 10, burst: 5, rejectsPerSecond: 1, rejectBurst: 2 };

function takeN(l: SourceLimiter, addr: number, n: number, now: number): RateVerdict[] {
  return Array.from({ length: n }, () => l.take(addr, at(now)));
}

describe('SourceLimiter', () => {
  it('serves a burst, answers a few over it, then drops silently', () => {
    const l = new SourceLimiter(CFG);
    expect(takeN(l, 1, 10, 0)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'limited', 'limited', 'drop', 'drop', 'drop']);
  });

  it('refills with time: perSecond for service, rejectsPerSecond for answers', () => {
    const l = new SourceLimiter(CFG);
    takeN(l, 1, 10, 0);
    // 100 ms later: one service token back (10/s), a tenth of a reject token.
    expect(takeN(l, 1, 2, 100_000)).toEqual(['pass', 'drop']);
    // One second after the start: service is back to its burst (5), the reject bucket has one answer.
    expect(takeN(l, 1, 6, 1_000_000)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'limited']);
  });

  it('bounds the answers to a flood by rejectsPerSecond', () => {
    const l = new SourceLimiter(CFG);
    const counts = { pass: 0, limited: 0, drop: 0 };
    // 1000 messages a second for 10 s from one address.
    for (let t = 0; t < 10_000_000; t += 1_000) counts[l.take(7, at(t))]++;
    expect(counts.pass).toBeLessThanOrEqual(5 + 10 * 10);
    expect(counts.limited).toBeLessThanOrEqual(2 + 10);
    expect(counts.pass + counts.limited + counts.drop).toBe(10_000);
  });

  it('keeps sources apart', () => {
    const l = new SourceLimiter(CFG);
    takeN(l, 1, 10, 0);
    expect(l.take(2, at(0))).toBe('pass');
  });

  it('forgets a quiet source when full, but not one still over its limit', () => {
    const l = new SourceLimiter(CFG, 2);
    takeN(l, 1, 10, 0); // source 1: deep in its limit
    l.take(2, at(0));
    expect(l.take(3, at(0))).toBe('drop'); // table full, oldest (1) not refilled
    expect(l.sourcesFull).toBe(1);
    // After 2 s both buckets of source 1 are full again: it may be forgotten for a newcomer.
    expect(l.take(3, at(2_000_000))).toBe('pass');
    expect(l.size).toBe(2);
  });

  it('with the defaults, a full table locks a newcomer out for up to 5 s, the reject bucket\'s refill', () => {
    // The time the module comment gives: max(burst / perSecond, rejectBurst / rejectsPerSecond).
    const l = new SourceLimiter(RATE_LIMIT_DEFAULTS, 1);
    const d = RATE_LIMIT_DEFAULTS;
    const lockoutUs = Math.max(d.burst / d.perSecond, d.rejectBurst / d.rejectsPerSecond) * 1_000_000;
    expect(lockoutUs).toBe(5_000_000);
    takeN(l, 1, d.burst + d.rejectBurst + 1, 0); // source 1 empties both buckets, then goes quiet
    expect(l.take(2, at((d.burst / d.perSecond) * 1_000_000))).toBe('drop'); // serve bucket full, reject bucket not
    expect(l.take(2, at(lockoutUs - 1))).toBe('drop');
    expect(l.take(2, at(lockoutUs))).toBe('pass');
  });

  it('refuses time going backwards (our bug)', () => {
    const l = new SourceLimiter(CFG);
    l.take(1, at(10));
    expect(() => l.take(1, at(9))).toThrow(/backwards/);
  });
});
