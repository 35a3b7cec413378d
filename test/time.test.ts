import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  addDuration,
  durationBetween,
  EPOCH,
  formatDuration,
  instant,
  ManualClock,
  micros,
  millis,
  parseDuration,
  seconds,
  type Duration,
} from '../src/time.ts';

describe('durations', () => {
  it('construct in microseconds', () => {
    expect(micros(12)).toBe(12);
    expect(millis(150)).toBe(150_000);
    expect(seconds(2.5)).toBe(2_500_000);
    expect(millis(2.3)).toBe(2_300); // rounded, not 2299.999...
    expect(Object.is(micros(-0.4), 0)).toBe(true);
  });

  it('reject non-finite values', () => {
    expect(() => millis(Number.NaN)).toThrow(/assertion failed/);
    expect(() => seconds(Infinity)).toThrow(/assertion failed/);
  });

  it('format in the largest exact unit', () => {
    expect(formatDuration(millis(150))).toBe('150ms');
    expect(formatDuration(seconds(2.5))).toBe('2.5s');
    expect(formatDuration(micros(12))).toBe('12us');
    expect(formatDuration(micros(0))).toBe('0us');
    expect(formatDuration(micros(1_500))).toBe('1.5ms');
    expect(formatDuration(micros(1_000_001))).toBe('1.000001s');
    expect(formatDuration(seconds(60))).toBe('60s');
    expect(formatDuration(micros(-1_500))).toBe('-1.5ms');
  });

  it('parse what they format', () => {
    expect(parseDuration('150ms')).toBe(150_000);
    expect(parseDuration('2.5s')).toBe(2_500_000);
    expect(parseDuration('12us')).toBe(12);
    expect(parseDuration('1m')).toBe(60_000_000);
    expect(parseDuration('0.5us')).toBeUndefined(); // below a microsecond
    expect(parseDuration('fast')).toBeUndefined();
    expect(parseDuration('10')).toBeUndefined(); // a unit is required
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), (us) => {
        expect(parseDuration(formatDuration(us as Duration))).toBe(us);
      }),
    );
  });
});

describe('instants', () => {
  it('are non-negative integers', () => {
    expect(instant(5)).toBe(5);
    expect(() => instant(-1)).toThrow(/assertion failed/);
    expect(() => instant(1.5)).toThrow(/assertion failed/);
  });

  it('add and subtract durations', () => {
    const t = addDuration(instant(1_000), millis(2));
    expect(t).toBe(3_000);
    expect(durationBetween(instant(1_000), t)).toBe(2_000);
    expect(durationBetween(t, instant(1_000))).toBe(-2_000);
    expect(() => addDuration(EPOCH, micros(-1))).toThrow(/assertion failed/);
  });
});

describe('ManualClock', () => {
  it('starts at the epoch and moves forward', () => {
    const clock = new ManualClock();
    expect(clock.now()).toBe(0);
    clock.advanceBy(millis(1));
    expect(clock.now()).toBe(1_000);
    clock.advanceTo(instant(5_000));
    clock.advanceTo(instant(5_000)); // staying put is fine
    expect(clock.now()).toBe(5_000);
  });

  it('refuses to go backwards', () => {
    const clock = new ManualClock(instant(10));
    expect(() => clock.advanceTo(instant(9))).toThrow(/backwards/);
    expect(() => clock.advanceBy(micros(-1))).toThrow(/backwards/);
    expect(clock.now()).toBe(10);
  });
});
