/**
 * A scenario's golden (scenarios/<name>.golden.json): the hash of its whole trace, frames
 * included, so any change of behaviour shows, and the decision summary (src/scenario/summary.ts),
 * so a reviewer sees which decisions moved. Used by test/scenarios.test.ts and its own test.
 */
import { createHash } from 'node:crypto';
import { runScenario } from '../../sim/scenario.ts';
import type { Scenario } from '../../src/scenario/load.ts';
import { diffSummaries, formatSummaryDiff, readSummary, SummarizingTrace, SummaryBuilder, type DecisionSummary } from '../../src/scenario/summary.ts';
import { JsonlTrace } from '../../src/trace.ts';

export interface Golden {
  readonly scenario: string;
  readonly seed: number;
  readonly events: number;
  readonly traceEvents: number;
  readonly traceSha256: string;
  readonly summary: DecisionSummary;
}

export interface GoldenRun {
  readonly golden: Golden;
  /** Expectations that failed, one line each. */
  readonly failed: readonly string[];
  readonly aborted?: string;
}

/** Replay a scenario with frames traced and compute its golden. */
export function runGolden(sc: Scenario): GoldenRun {
  const hash = createHash('sha256');
  let traceEvents = 0;
  const builder = new SummaryBuilder();
  const jsonl = new JsonlTrace((line) => {
    hash.update(line);
    hash.update('\n');
    traceEvents++;
  }, { seed: sc.seed, scenario: sc.name });
  // Frames are part of the golden: any change in what goes on the wire shows.
  const r = runScenario(sc, { trace: new SummarizingTrace(builder, jsonl), traceFrames: true });
  const failed = r.expectations.filter((e) => !e.pass).map((e) => `${e.path} (line ${e.line}): ${e.measured} [expected ${e.bound}]`);
  const golden: Golden = { scenario: sc.name, seed: sc.seed, events: r.events, traceEvents, traceSha256: hash.digest('hex'), summary: builder.finish(r.expectations) };
  return { golden, failed, ...(r.aborted !== undefined ? { aborted: r.aborted } : {}) };
}

/** The golden file's text. */
export function formatGolden(g: Golden): string {
  return JSON.stringify(g, null, 2) + '\n';
}

const HASH_FIELDS = ['scenario', 'seed', 'events', 'traceEvents', 'traceSha256'] as const;

/**
 * Where this run differs from the stored golden `want` (parsed JSON), as text: the decisions that
 * moved first, then the hash fields that differ. Undefined when they are the same.
 */
export function goldenMismatch(want: unknown, got: Golden): string | undefined {
  const w = (typeof want === 'object' && want !== null ? want : {}) as Record<string, unknown>;
  const hashes = HASH_FIELDS.filter((k) => w[k] !== got[k]).map((k) => `  ${k}: ${JSON.stringify(w[k])} -> ${JSON.stringify(got[k])}`);
  const ws = readSummary(w['summary']);
  const moved = ws.ok ? diffSummaries(ws.value, got.summary) : [];
  if (hashes.length === 0 && moved.length === 0 && ws.ok) return undefined;
  const decisions = ws.ok ? formatSummaryDiff(moved) : ws.message;
  return [decisions, ...(hashes.length > 0 ? ['trace (golden -> this run):', ...hashes] : [])].join('\n');
}
