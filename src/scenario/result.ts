/**
 * What a scenario run gives back, the same from the simulator (sim/scenario.ts) and from the lab
 * (src/real/run.ts): the expectations' results and a summary per workload.
 */

import type { Instant } from '../time.ts';
import type { ExpectationResult } from './expect.ts';

/** One workload's requests: how many, how many succeeded, by status, latency percentiles (µs). */
export interface WorkloadSummary {
  readonly name: string;
  readonly requests: number;
  readonly ok: number;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly p50?: number;
  readonly p99?: number;
}

export interface RunResult {
  readonly scenario: string;
  readonly seed: number;
  readonly end: Instant;
  readonly events: number;
  readonly expectations: readonly ExpectationResult[];
  readonly passed: boolean;
  readonly workloads: readonly WorkloadSummary[];
  /** Set when the run stopped early (event budget). */
  readonly aborted?: string;
}
