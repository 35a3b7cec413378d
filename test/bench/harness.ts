/**
 * A small throughput harness. tinybench and vitest bench time each call separately, which adds
 * tens of nanoseconds per call and swamps sub-microsecond work such as one frame rewrite; here a
 * benchmark processes a batch of `n` items per call and we time whole batches.
 */
import { performance } from 'node:perf_hooks';

export interface Bench {
  readonly name: string;
  /** What one item is, for the report: 'frames', 'events'. */
  readonly unit: string;
  /** Process `n` items; return something derived from the work so it is not optimised away. */
  run(n: number): unknown;
  /** Goal in items per second, if the benchmark has one. */
  readonly goalPerSec?: number;
}

export interface BenchResult {
  readonly name: string;
  readonly unit: string;
  readonly medianPerSec: number;
  readonly minPerSec: number;
  readonly maxPerSec: number;
  readonly rounds: number;
  readonly goalPerSec?: number;
}

let sinkValue: unknown;
/** Last result of each run, kept so the JIT cannot drop the work. */
export function sink(): unknown {
  return sinkValue;
}

export function measure(b: Bench, opts: { roundMs?: number; rounds?: number } = {}): BenchResult {
  const roundMs = opts.roundMs ?? 300;
  const rounds = opts.rounds ?? 7;
  // Lazy setup (fixtures built on first use) must not count in calibration.
  sinkValue = b.run(1);
  // Warm up and calibrate a batch size that takes about roundMs.
  let n = 1000;
  for (;;) {
    const t0 = performance.now();
    sinkValue = b.run(n);
    const dt = performance.now() - t0;
    if (dt >= roundMs / 4) {
      n = Math.max(1, Math.round((n * roundMs) / dt));
      break;
    }
    n *= 4;
  }
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    sinkValue = b.run(n);
    const dt = (performance.now() - t0) / 1000;
    rates.push(n / dt);
  }
  rates.sort((a, c) => a - c);
  const res: BenchResult = {
    name: b.name,
    unit: b.unit,
    medianPerSec: rates[Math.floor(rates.length / 2)]!,
    minPerSec: rates[0]!,
    maxPerSec: rates[rates.length - 1]!,
    rounds,
    ...(b.goalPerSec !== undefined ? { goalPerSec: b.goalPerSec } : {}),
  };
  return res;
}

export function formatRate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(1);
}

/** Min, median (the lower middle for an even count) and max of a sample. */
export interface Stat {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function stat(xs: readonly number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? NaN, median: s[Math.floor((s.length - 1) / 2)] ?? NaN, max: s[s.length - 1] ?? NaN };
}
