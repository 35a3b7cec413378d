/**
 * One `sg sweep` worker thread: loads the scenario file once, then runs the seeds the parent
 * sends, one at a time, and replies with each outcome. The parent (sweep.ts) owns the queue.
 *
 * Protocol (postMessage, structured clone):
 *   parent -> worker  `{ kind: 'run', seed }`
 *   worker -> parent  `{ kind: 'ready' }` once the file is loaded, then one `result` per `run`;
 *                     `{ kind: 'load-error', message }` instead of `ready` if the file no longer
 *                     loads (it was validated in the parent, but it can change underneath us).
 * A seed whose run throws is answered with a `result` carrying `error` (the sweep continues).
 *
 * The thread is started through a bootstrap that registers tsx first (see `workerBootstrap` in
 * src/real/worker-entry.ts), so this file and everything it imports are TypeScript like the rest of the CLI.
 */

import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { runScenario } from '../../sim/scenario.ts';
import { scenarioAnalyzers } from '../real/load-analyzer.ts';
import { readScenario } from './files.ts';

/** What the parent passes as `workerData`. */
export interface WorkerInit {
  /** The scenario file, absolute (the parent keeps the path the user typed for messages). */
  readonly file: string;
}

export interface ToWorker {
  readonly kind: 'run';
  readonly seed: number;
}

/** One failed expectation of one seed. */
export interface SeedFailure {
  /** Where the expectation is in the file, e.g. `expect[1]`. */
  readonly path: string;
  readonly line: number;
  readonly text: string;
  readonly measured: string;
  readonly bound: string;
  readonly detail?: string;
}

export interface SeedResult {
  readonly kind: 'result';
  readonly seed: number;
  readonly passed: boolean;
  readonly failures: readonly SeedFailure[];
  /** Set when the run stopped early (event budget). */
  readonly aborted?: string;
  /** Set when the run threw: an engine or simulator bug, reported as a failure of this seed. */
  readonly error?: string;
  readonly events: number;
  readonly wallMs: number;
}

export type FromWorker = { readonly kind: 'ready' } | { readonly kind: 'load-error'; readonly message: string } | SeedResult;

function errorText(e: unknown): string {
  if (e instanceof Error) {
    // The message and the innermost frame where it was thrown: enough to start from; the
    // reproduce command gives the whole stack.
    const at = e.stack?.split('\n').find((l) => l.trimStart().startsWith('at '))?.trim();
    return at !== undefined ? `${e.name}: ${e.message} (${at})` : `${e.name}: ${e.message}`;
  }
  return String(e);
}

/** Run one seed; never throws. */
function runSeed(scenario: Parameters<typeof runScenario>[0], seed: number, analyzers: NonNullable<Parameters<typeof runScenario>[1]>['analyzers']): SeedResult {
  const t0 = performance.now();
  const ms = (): number => Math.round((performance.now() - t0) * 10) / 10;
  try {
    const r = runScenario(scenario, { seed, ...(analyzers !== undefined ? { analyzers } : {}) });
    const failures = r.expectations
      .filter((e) => !e.pass)
      .map((e): SeedFailure => ({ path: e.path, line: e.line, text: e.text, measured: e.measured, bound: e.bound, ...(e.detail !== undefined ? { detail: e.detail } : {}) }));
    return { kind: 'result', seed, passed: r.passed, failures, ...(r.aborted !== undefined ? { aborted: r.aborted } : {}), events: r.events, wallMs: ms() };
  } catch (e) {
    return { kind: 'result', seed, passed: false, failures: [], error: errorText(e), events: 0, wallMs: ms() };
  }
}

async function serve(port: NonNullable<typeof parentPort>): Promise<void> {
  const post = (m: FromWorker): void => port.postMessage(m);
  const init = workerData as WorkerInit;
  const loaded = readScenario(init.file);
  if (!loaded.ok) {
    post({ kind: 'load-error', message: loaded.message });
    return;
  }
  const scenario = loaded.scenario;
  // A group's analyzer module is imported once per worker, before its first seed.
  const modules = await scenarioAnalyzers(scenario.cluster);
  if (!modules.ok) {
    post({ kind: 'load-error', message: `${init.file}: ${modules.error}` });
    return;
  }
  port.on('message', (m: ToWorker) => {
    if (m.kind === 'run') post(runSeed(scenario, m.seed, modules.makers));
  });
  post({ kind: 'ready' });
}

// Only in a worker thread: the parent imports this module's types, never its code.
if (parentPort !== null) void serve(parentPort);
