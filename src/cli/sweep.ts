/**
 * `sg sweep file.yaml --seeds 1..1000 [--shard i/n] [--jobs N] [--json] [--fail-fast]`
 *
 * Runs a scenario once per seed in `worker_threads` workers and reports every seed whose
 * expectations failed, each with the `sg run <file> --seed N` command that replays it (a run is
 * deterministic in file and seed). Exit 0 when every seed passed, 1 when one failed, 2 on bad
 * usage, a bad scenario file (nothing is started) or workers that could not start.
 *
 * Workers: each loads the file once, then takes seeds one at a time from the parent (a work
 * queue over postMessage; see sweep-worker.ts for the protocol). Workers are started from a
 * small ES module bootstrap (a `data:` URL) that registers tsx through `tsx/esm/api` and then
 * imports sweep-worker.ts, so they run TypeScript whether the parent itself runs under
 * `bin/sg.mjs` (tsx registered on the main thread only; hooks registered at run time are not
 * inherited by workers), under `node --import tsx`, or under vitest (its own module runner, no
 * Node loader at all).
 */

import { availableParallelism, cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../real/worker-entry.ts';
import { assertNever } from '../assert.ts';
import { readScenario } from './files.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';
import type { FromWorker, SeedResult, ToWorker, WorkerInit } from './sweep-worker.ts';

/** Seeds in one sweep at most (a shard may run fewer). */
export const SWEEP_SEEDS_MAX = 1_000_000;
/** The largest seed (`sg run --seed` takes the same range). */
export const SEED_MAX = 0xffffffff;
/** Worker threads at most, whatever `--jobs` says. */
export const JOBS_MAX = 256;
/** Workers replaced at most when one dies mid-seed (out of memory, process.exit) before the sweep gives up. */
export const WORKER_RESPAWNS_MAX = 16;
/** The progress bar is redrawn at most this often. */
export const PROGRESS_REDRAW_MS = 100;

function defaultJobs(): number {
  const n = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  return Math.max(1, Math.min(JOBS_MAX, n));
}

export const SWEEP_USAGE = `usage: sg sweep <scenario.yaml> --seeds SPEC [options]

Run a scenario once per seed in parallel worker threads and report each seed whose
expectations failed, with the command that replays it: a run is deterministic in
(file, seed), so 'sg run <scenario.yaml> --seed N' reproduces a failing seed exactly.

options:
  --seeds SPEC        the seeds: A..B (inclusive), a comma list, or a mix, e.g. 1..1000,
                      1,5,9 or 1..10,20 (integers in [0, ${SEED_MAX}]; a seed listed twice
                      runs once; at most ${SWEEP_SEEDS_MAX} seeds)
  --shard I/N         run only shard I of N (1-based: I in 1..N, as in CI matrices): the
                      seeds at positions p = 0, 1, 2, ... of the ascending seed list with
                      p % N == I - 1. The N shards are disjoint and together run every seed
                      once, so CI jobs or batch machines can split one sweep between them
  -j, --jobs N        worker threads (default: available parallelism, here ${defaultJobs()})
  --fail-fast         stop at the first failing seed (seeds still running are abandoned)
  --json              print the result as one JSON object instead of text
  -h, --help          this help

On a terminal, a progress bar on stderr shows seeds done, failures, rate and ETA.

exit status: 0 every seed passed; 1 a seed failed (an expectation, an aborted run, or an
error thrown by the run); 2 bad usage or scenario file, or workers that could not start`;

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const INT = /^\d+$/;
const RANGE = /^(\d+)\.\.(\d+)$/;

/**
 * Parse a seed list: comma-separated items, each `N` or `A..B` (inclusive, A <= B). The result
 * is ascending with duplicates removed. The size is checked on the merged ranges before any
 * list is built, so `0..4294967295` is refused at once.
 */
export function parseSeeds(spec: string): Parsed<readonly number[]> {
  const ranges: [number, number][] = [];
  const items = spec.split(',');
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') {
      return { ok: false, error: spec.trim() === '' ? 'the seed list is empty' : `empty item in seed list '${spec}'` };
    }
    const m = RANGE.exec(item);
    let lo: number;
    let hi: number;
    if (m !== null) {
      lo = Number(m[1]);
      hi = Number(m[2]);
    } else if (INT.test(item)) {
      lo = hi = Number(item);
    } else {
      return { ok: false, error: `bad seed item '${item}': expected an integer N or a range A..B` };
    }
    for (const v of [lo, hi]) if (v > SEED_MAX) return { ok: false, error: `seed ${m !== null ? `range '${item}'` : `'${item}'`} is out of range: seeds are integers in [0, ${SEED_MAX}]` };
    if (lo > hi) return { ok: false, error: `empty seed range '${item}': the start is above the end (ranges are A..B with A <= B)` };
    ranges.push([lo, hi]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  let count = 0;
  for (const [lo, hi] of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && lo <= last[1] + 1) {
      if (hi > last[1]) {
        count += hi - last[1];
        last[1] = hi;
      }
    } else {
      merged.push([lo, hi]);
      count += hi - lo + 1;
    }
  }
  if (count > SWEEP_SEEDS_MAX) return { ok: false, error: `${count} seeds is more than the limit of ${SWEEP_SEEDS_MAX} per sweep (split it into several sweeps)` };
  const seeds = new Array<number>(count);
  let i = 0;
  for (const [lo, hi] of merged) for (let s = lo; s <= hi; s++) seeds[i++] = s;
  return { ok: true, value: seeds };
}

/** Shard `index` (1-based) of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Parse `I/N` with 1 <= I <= N. */
export function parseShard(spec: string): Parsed<Shard> {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (m === null) return { ok: false, error: `bad shard '${spec}': expected I/N, e.g. 2/4 (shard 2 of 4, counted from 1)` };
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > SWEEP_SEEDS_MAX) return { ok: false, error: `bad shard '${spec}': the shard count N must be in [1, ${SWEEP_SEEDS_MAX}]` };
  if (index < 1 || index > count) return { ok: false, error: `bad shard '${spec}': the shard index I must be in [1, ${count}] (shards are counted from 1)` };
  return { ok: true, value: { index, count } };
}

/** The seeds of one shard: those at positions p of the (sorted) list with p % count === index - 1. */
export function shardSeeds(seeds: readonly number[], shard: Shard): number[] {
  const out: number[] = [];
  for (let p = shard.index - 1; p < seeds.length; p += shard.count) out.push(seeds[p]!);
  return out;
}

/** Quote a word for a POSIX shell only when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command that replays one seed, with the file as the user gave it. */
export function reproduceCommand(file: string, seed: number): string {
  return `sg run ${shellQuote(file)} --seed ${seed}`;
}

// ---------------------------------------------------------------------------------------------
// Workers

export interface SweepRunOptions {
  /** Absolute path of the scenario file, as the workers load it. */
  readonly file: string;
  /** Seeds in the order they are handed out. */
  readonly seeds: readonly number[];
  /** Worker threads at most (fewer when there are fewer seeds). */
  readonly jobs: number;
  readonly failFast: boolean;
  /** Called with each seed's result as it arrives. */
  readonly onResult?: (r: SeedResult) => void;
  /** The worker module (tests substitute one); default sweep-worker.ts beside this file. */
  readonly workerModule?: URL;
}

export interface SweepRunOutcome {
  /** Results in arrival order; with fail-fast or a stop, fewer than the seeds. */
  readonly results: readonly SeedResult[];
  /** Why the sweep ended before every seed ran. */
  readonly stopped?: 'fail-fast' | 'workers-died';
  /** Set when the sweep could not run at all (workers failed to start, the file no longer loads). */
  readonly fatal?: string;
  /** Worker threads started in all (replacements included). */
  readonly workersStarted: number;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Run `seeds` across at most `jobs` workers: each worker gets one seed at a time and the next
 * when it answers. A worker that dies mid-seed fails that seed and is replaced (at most
 * WORKER_RESPAWNS_MAX times); a worker that dies before it is ready is fatal. Every worker is
 * terminated before the promise resolves.
 */
export function runSweep(o: SweepRunOptions): Promise<SweepRunOutcome> {
  const entry = workerBootstrap(o.workerModule ?? new URL('./sweep-worker.ts', import.meta.url));
  const init: WorkerInit = { file: o.file };
  const results: SeedResult[] = [];
  const live = new Set<Worker>();
  let next = 0;
  let respawns = 0;
  let started = 0;
  let stopped: SweepRunOutcome['stopped'];
  let fatal: string | undefined;
  let finished = false;

  return new Promise((resolveOutcome) => {
    const finish = (): void => {
      if (finished) return;
      finished = true;
      const all = [...live];
      live.clear();
      void Promise.allSettled(all.map((w) => w.terminate())).then(() =>
        resolveOutcome({ results, workersStarted: started, ...(stopped !== undefined ? { stopped } : {}), ...(fatal !== undefined ? { fatal } : {}) }),
      );
    };
    const record = (r: SeedResult): void => {
      results.push(r);
      o.onResult?.(r);
      if (!r.passed && o.failFast) {
        stopped = 'fail-fast';
        finish();
      } else if (results.length === o.seeds.length) {
        finish();
      }
    };
    const spawn = (): void => {
      started++;
      const w = new Worker(entry, { workerData: init });
      live.add(w);
      let ready = false;
      let seed: number | undefined;
      let sentAt = 0;
      const give = (): void => {
        if (finished) return;
        if (next >= o.seeds.length) {
          // Nothing left to hand out: retire this worker; the last answer ends the sweep.
          live.delete(w);
          void w.terminate();
          return;
        }
        seed = o.seeds[next++]!;
        sentAt = performance.now();
        const msg: ToWorker = { kind: 'run', seed };
        w.postMessage(msg);
      };
      const died = (why: string): void => {
        if (!live.delete(w) || finished) return;
        if (!ready) {
          fatal = `a sweep worker failed to start: ${why}`;
          finish();
          return;
        }
        if (seed !== undefined) {
          const lost = seed;
          seed = undefined;
          record({ kind: 'result', seed: lost, passed: false, failures: [], error: `the worker running this seed died: ${why}`, events: 0, wallMs: performance.now() - sentAt });
          if (finished) return;
        }
        if (next < o.seeds.length) {
          if (respawns < WORKER_RESPAWNS_MAX) {
            respawns++;
            spawn();
          } else if (live.size === 0) {
            stopped = 'workers-died';
            finish();
          }
        }
      };
      w.on('message', (m: FromWorker) => {
        if (finished) return;
        switch (m.kind) {
          case 'ready':
            ready = true;
            give();
            break;
          case 'load-error':
            fatal = m.message;
            finish();
            break;
          case 'result':
            seed = undefined;
            record(m);
            give();
            break;
          default:
            assertNever(m, 'sweep worker message');
        }
      });
      w.on('error', (e) => died(errorText(e)));
      w.on('exit', (code) => died(`exited with code ${code}`));
    };

    if (o.seeds.length === 0) {
      finish();
      return;
    }
    const n = Math.max(1, Math.min(o.jobs, o.seeds.length));
    for (let i = 0; i < n; i++) spawn();
  });
}

// ---------------------------------------------------------------------------------------------
// The command

function formatWall(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

function formatEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.ceil(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor(t / 60) % 60).padStart(2, '0')}m`;
}

/** Seeds done / total, failures, rate and ETA on one stderr line, redrawn at most every PROGRESS_REDRAW_MS. */
class Progress {
  #last = -Infinity;
  #done = 0;
  #failed = 0;
  #firstFailed: number | undefined;
  readonly #t0: number;
  constructor(readonly io: Io, readonly total: number) {
    this.#t0 = io.clock();
    this.#draw(true);
  }
  add(r: SeedResult): void {
    this.#done++;
    if (!r.passed) {
      this.#failed++;
      if (this.#firstFailed === undefined || r.seed < this.#firstFailed) this.#firstFailed = r.seed;
    }
    this.#draw(this.#done === this.total);
  }
  #draw(force: boolean): void {
    const t = this.io.clock();
    if (!force && t - this.#last < PROGRESS_REDRAW_MS) return;
    this.#last = t;
    const width = 24;
    const full = this.total > 0 ? Math.round((this.#done / this.total) * width) : width;
    const secs = (t - this.#t0) / 1000;
    const rate = secs > 0 ? this.#done / secs : 0;
    const eta = rate > 0 ? formatEta((this.total - this.#done) / rate) : '?';
    const fails = this.#failed === 0 ? '0 failed' : `${this.#failed} failed (lowest seed ${this.#firstFailed})`;
    this.io.errRaw(`\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${this.#done}/${this.total} seeds, ${fails}, ${rate.toFixed(1)} seeds/s, ETA ${eta}\x1b[K`);
  }
  done(): void {
    this.io.errRaw('\r\x1b[K');
  }
}

function failureLine(file: string, r: SeedResult): string {
  const what: string[] = [];
  if (r.error !== undefined) what.push(`error: ${r.error}`);
  if (r.aborted !== undefined) what.push(`aborted: ${r.aborted}`);
  for (const f of r.failures) what.push(`${f.path} (line ${f.line}): ${f.measured} [expected ${f.bound}]`);
  return `${r.error !== undefined ? 'ERROR' : 'FAIL'} seed ${r.seed}: ${what.join('; ')}; reproduce: ${reproduceCommand(file, r.seed)}`;
}

export async function sweepCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('sweep', argv, {
    seeds: { type: 'string' },
    shard: { type: 'string' },
    jobs: { type: 'string', short: 'j' },
    json: { type: 'boolean' },
    'fail-fast': { type: 'boolean' },
  }, SWEEP_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string): number => usageError('sweep', msg, SWEEP_USAGE, io);
  if (args.positionals.length !== 1) return usage(`expected one scenario file, got ${args.positionals.length}`);
  if (v.seeds === undefined) return usage('--seeds is required, e.g. --seeds 1..100');
  const seeds = parseSeeds(v.seeds);
  if (!seeds.ok) return usage(`--seeds: ${seeds.error}`);
  let shard: Shard | undefined;
  if (v.shard !== undefined) {
    const s = parseShard(v.shard);
    if (!s.ok) return usage(`--shard: ${s.error}`);
    shard = s.value;
  }
  let jobs = defaultJobs();
  if (v.jobs !== undefined) {
    jobs = Number(v.jobs);
    if (!INT.test(v.jobs) || jobs < 1 || jobs > JOBS_MAX) return usage(`--jobs must be an integer in [1, ${JOBS_MAX}], got '${v.jobs}'`);
  }
  const failFast = v['fail-fast'] ?? false;

  const file = args.positionals[0]!;
  const loaded = readScenario(file);
  if (!loaded.ok) {
    io.err(loaded.message + '\n');
    return EXIT.usage;
  }
  const selected = shard !== undefined ? shardSeeds(seeds.value, shard) : seeds.value;

  const t0 = performance.now();
  const progress = io.isTTY ? new Progress(io, selected.length) : undefined;
  let outcome: SweepRunOutcome;
  try {
    outcome = await runSweep({
      file: resolvePath(file),
      seeds: selected,
      jobs,
      failFast,
      ...(progress ? { onResult: (r: SeedResult) => progress.add(r) } : {}),
    });
  } finally {
    progress?.done();
  }
  const wallMs = performance.now() - t0;
  if (outcome.fatal !== undefined) {
    io.err(`sg sweep: ${outcome.fatal}\n`);
    return EXIT.usage;
  }

  const results = [...outcome.results].sort((a, b) => a.seed - b.seed);
  const failed = results.filter((r) => !r.passed);
  const passed = results.length - failed.length;
  const rate = wallMs > 0 ? results.length / (wallMs / 1000) : 0;
  const workers = Math.max(1, Math.min(jobs, selected.length));

  if (v.json) {
    const report = {
      file,
      scenario: loaded.scenario.name,
      seeds: v.seeds,
      seedsTotal: seeds.value.length,
      shard: shard ?? null,
      seedsSelected: selected.length,
      seedsRun: results.length,
      passed,
      failed: failed.map((r) => ({ ...withoutKind(r), reproduce: reproduceCommand(file, r.seed) })),
      jobs,
      workers,
      failFast,
      stopped: outcome.stopped ?? null,
      wallMs: Math.round(wallMs),
      seedsPerSecond: Number(rate.toFixed(2)),
    };
    io.out(JSON.stringify(report, null, 2) + '\n');
  } else {
    const lines = failed.map((r) => failureLine(file, r));
    if (shard !== undefined) lines.push(`shard ${shard.index}/${shard.count}: ${selected.length} of ${seeds.value.length} seeds`);
    if (outcome.stopped === 'fail-fast') lines.push(`stopped at the first failure (--fail-fast): ${results.length} of ${selected.length} seeds run`);
    if (outcome.stopped === 'workers-died') lines.push(`stopped: workers died ${WORKER_RESPAWNS_MAX + 1} times; ${results.length} of ${selected.length} seeds run`);
    lines.push(`${results.length} seeds, ${passed} passed, ${failed.length} failed (${formatWall(wallMs)}, ${rate.toFixed(1)} seeds/s)`);
    io.out(lines.join('\n') + '\n');
  }
  return failed.length > 0 || outcome.stopped !== undefined ? EXIT.failed : EXIT.ok;
}

function withoutKind(r: SeedResult): Omit<SeedResult, 'kind'> {
  const { kind: _kind, ...rest } = r;
  return rest;
}
