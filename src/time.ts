/**
 * Time as values (STYLE.md 4). The engine never reads a clock: it is handed an `Instant`.
 *
 * - `Instant`: integer microseconds since the run's epoch (simulation start, or process start in
 *   real mode). Never negative.
 * - `Duration`: integer microseconds between two instants. May be negative only as the result of
 *   `durationBetween` on instants in the "wrong" order; constructors accept any finite value and
 *   round to the nearest microsecond.
 *
 * Both are plain numbers (exact up to 2^53 µs, about 285 years), branded so a millisecond count
 * cannot be passed where microseconds are meant.
 */

import { assert } from './assert.ts';

export type Instant = number & { readonly __brand: 'Instant' };
export type Duration = number & { readonly __brand: 'Duration' };

/** The run's epoch. */
export const EPOCH = 0 as Instant;

export const MICROS_PER_MS = 1_000;
export const MICROS_PER_S = 1_000_000;

/**
 * Longest configured duration (a timeout, interval, mean service time...): 365 days. An instant
 * within a run plus such a duration, or an exponential draw with it as the mean (below 40 times
 * the mean), stays far below 2^53 µs.
 */
export const DURATION_MAX_US = 365 * 24 * 3600 * MICROS_PER_S;

/** An instant from integer microseconds since the epoch; asserts it is a non-negative safe integer. */
export function instant(us: number): Instant {
  assert(Number.isSafeInteger(us) && us >= 0, `instant must be a non-negative integer of µs, got ${us}`);
  return us as Instant;
}

function toMicros(value: number, scale: number, unit: string): Duration {
  assert(Number.isFinite(value), `duration in ${unit} must be finite, got ${value}`);
  const us = Math.round(value * scale);
  assert(Number.isSafeInteger(us), `duration ${value}${unit} out of range`);
  // Math.round(-0.4) is -0; normalise so Object.is and JSON see a plain 0.
  return (us === 0 ? 0 : us) as Duration;
}

export function micros(n: number): Duration {
  return toMicros(n, 1, 'us');
}

export function millis(n: number): Duration {
  return toMicros(n, MICROS_PER_MS, 'ms');
}

export function seconds(n: number): Duration {
  return toMicros(n, MICROS_PER_S, 's');
}

export const ZERO_DURATION = 0 as Duration;

/** `i + d`; asserts the result is still a valid instant (not before the epoch). */
export function addDuration(i: Instant, d: Duration): Instant {
  return instant(i + d);
}

/** `to - from` (negative when `to` is earlier). */
export function durationBetween(from: Instant, to: Instant): Duration {
  return (to - from) as Duration;
}

export function minInstant(a: Instant, b: Instant): Instant {
  return a <= b ? a : b;
}

/** Whole milliseconds in a duration, truncated toward zero (for display and coarse counters). */
export function toMillis(d: Duration): number {
  return Math.trunc(d / MICROS_PER_MS);
}

/** `value / unit` as exact decimal text without float formatting: 2_500_000 / 1e6 -> '2.5'. */
function decimal(value: number, unit: number, fracDigits: number): string {
  const whole = Math.trunc(value / unit);
  const frac = value - whole * unit;
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(fracDigits, '0').replace(/0+$/, '')}`;
}

/**
 * Human text for a duration in the largest unit that keeps it short and exact:
 * 12 -> '12us', 150_000 -> '150ms', 1_500 -> '1.5ms', 2_500_000 -> '2.5s', 0 -> '0us'.
 * Integer math only, so the same duration prints the same everywhere.
 */
export function formatDuration(d: Duration): string {
  const sign = d < 0 ? '-' : '';
  const abs = Math.abs(d);
  if (abs >= MICROS_PER_S) return `${sign}${decimal(abs, MICROS_PER_S, 6)}s`;
  if (abs >= MICROS_PER_MS) return `${sign}${decimal(abs, MICROS_PER_MS, 3)}ms`;
  return `${sign}${abs}us`;
}

/** An instant as time since the epoch, e.g. '2.5s'. */
export function formatInstant(i: Instant): string {
  return formatDuration(i as number as Duration);
}

const DURATION_RE = /^(-?\d+(?:\.\d{1,6})?)\s*(us|µs|ms|s|m|h)$/;
const UNIT_US: Readonly<Record<string, number>> = {
  us: 1,
  µs: 1,
  ms: MICROS_PER_MS,
  s: MICROS_PER_S,
  m: 60 * MICROS_PER_S,
  h: 3600 * MICROS_PER_S,
};

/**
 * Parse '150ms', '2.5s', '12us', '1m', '1h' (the inverse of `formatDuration` for config files).
 * Undefined when the text is not a duration or is not a whole number of microseconds.
 */
export function parseDuration(text: string): Duration | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const scale = UNIT_US[m[2] as string];
  if (scale === undefined) return undefined;
  const [wholeText, fracText = ''] = (m[1] as string).split('.');
  const negative = (wholeText as string).startsWith('-');
  // Exact decimal arithmetic: whole * scale + frac * scale / 10^len, rejecting sub-µs remainders.
  const whole = Math.abs(Number(wholeText));
  const fracDen = 10 ** fracText.length;
  const fracNum = fracText === '' ? 0 : Number(fracText) * scale;
  if (fracNum % fracDen !== 0) return undefined;
  const us = whole * scale + fracNum / fracDen;
  if (!Number.isSafeInteger(us)) return undefined;
  return (negative && us !== 0 ? -us : us) as Duration;
}

/** A source of the current time. The engine is handed instants; drivers own a Clock. */
export interface Clock {
  now(): Instant;
}

/**
 * The simulated clock: advanced explicitly by the event loop. It refuses to go backwards; an
 * attempt is our bug (an event scheduled in the past) and fails an assertion.
 */
export class ManualClock implements Clock {
  #now: Instant;

  constructor(start: Instant = EPOCH) {
    this.#now = instant(start);
  }

  now(): Instant {
    return this.#now;
  }

  /** Move to `t`; asserts `t >= now()`. Staying at the same instant is allowed. */
  advanceTo(t: Instant): void {
    assert(t >= this.#now, `clock would go backwards: ${t} < ${this.#now}`);
    this.#now = instant(t);
  }

  /** Move forward by `d`; asserts `d >= 0`. */
  advanceBy(d: Duration): void {
    assert(d >= 0, `clock would go backwards by ${-d}us`);
    this.#now = addDuration(this.#now, d);
  }
}
