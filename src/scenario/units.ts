/**
 * Quantities as people write them in scenario files: durations `150ms`, rates `100/s`, sizes
 * `64KiB`, bandwidth `100Mbit`, ratios `99.9%`. Each has a regular expression (used in the JSON
 * Schema so editors flag a bad value as it is typed) and a parser to base units: microseconds,
 * per second, bytes, bits per second, and a fraction in [0, 1].
 */

import { parseDuration, type Duration } from '../time.ts';

export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(us|µs|ms|s|m|h)\\s*$';
export const RATE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*/\\s*(s|ms|m|min|h)\\s*$';
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(B|KB|KiB|MB|MiB|GB|GiB|kB)?\\s*$';
export const BANDWIDTH_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(bit|kbit|Kbit|Mbit|Gbit|bps|kbps|Mbps|Gbps)\\s*$';
export const PERCENT_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*%\\s*$';

export function duration(text: string): Duration | undefined {
  return parseDuration(text.replace(/\s+/g, ''));
}

const DURATION_UNIT_US: Record<string, number> = { us: 1, µs: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

/** Roughly how many µs a duration text is (a float: for saying "too long" when it is not exact). */
export function durationApproxUs(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)\s*$/.exec(text);
  return m ? Number(m[1]) * DURATION_UNIT_US[m[2]!]! : undefined;
}

const RATE_UNIT_S: Record<string, number> = { s: 1, ms: 0.001, m: 60, min: 60, h: 3600 };

/** Events per second. */
export function rate(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(s|ms|m|min|h)\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) / RATE_UNIT_S[m[2]!]!;
}

const SIZE_UNIT: Record<string, number> = { B: 1, KB: 1000, kB: 1000, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 };

/** Bytes (a plain number is bytes); undefined unless a whole number of bytes. */
export function size(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|kB)?\s*$/.exec(text);
  if (!m) return undefined;
  const v = Number(m[1]) * SIZE_UNIT[m[2] ?? 'B']!;
  return Number.isSafeInteger(v) ? v : undefined;
}

const BW_UNIT: Record<string, number> = { bit: 1, bps: 1, kbit: 1e3, Kbit: 1e3, kbps: 1e3, Mbit: 1e6, Mbps: 1e6, Gbit: 1e9, Gbps: 1e9 };

/** Bits per second. */
export function bandwidth(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|Kbit|Mbit|Gbit|bps|kbps|Mbps|Gbps)\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * BW_UNIT[m[2]!]!;
}

/** `99.9%` or a number in [0, 1], as a fraction. */
export function fraction(v: string | number): number | undefined {
  if (typeof v === 'number') return v >= 0 && v <= 1 ? v : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
  if (!m) return undefined;
  const f = Number(`${m[1]}e-2`); // decimal shift, so 99.9% is exactly 0.999
  return f <= 1 ? f : undefined;
}
