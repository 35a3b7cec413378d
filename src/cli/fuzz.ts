/**
 * `sg fuzz file.yaml [--runs N] [--seed S] [--out FILE] [--max-faults K] [--json]`
 *
 * Generates fault schedules on top of a scenario's own faults (src/scenario/fuzz.ts), runs each
 * case in the simulator exactly as a scenario file would run (the case document goes through YAML
 * and the loader), and fails a case when an expectation fails, the run aborts or throws, a safety
 * checker objects, or an SG node breaks one of its invariants (src/engine/invariants.ts, checked
 * after every frame and timeout each node handles). fast-check shrinks the first failure; the
 * minimal case is written as a scenario file, loaded and run once more to check that it
 * reproduces, and reported with the `sg run` command that replays it. Exit 0 no failure found, 1 a failure found and written, 2 bad
 * usage or a bad scenario file.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { stringify } from 'yaml';
import { runScenario, type RunResult } from '../../sim/scenario.ts';
import { checkNodeInvariants } from '../engine/invariants.ts';
import type { SgNode } from '../engine/sg-node.ts';
import { formatScenarioError, loadScenario, type Scenario } from '../scenario/load.ts';
import type { ScenarioDoc } from '../scenario/schema.ts';
import {
  FUZZ_MAX_FAULTS_DEFAULT,
  FUZZ_MAX_FAULTS_LIMIT,
  FUZZ_RUNS_DEFAULT,
  FUZZ_RUNS_LIMIT,
  SEED_MAX,
  FAULT_EPISODE_KINDS,
  fuzzTargets,
  type FaultEpisodeKind,
  renderFailure,
  searchFaults,
  type FuzzProgress,
  type ScheduledFault,
} from '../scenario/fuzz.ts';
import type { TraceEvent, TraceEventInput, TraceSink } from '../trace.ts';
import { scenarioAnalyzers } from '../real/load-analyzer.ts';
import { readScenario } from './files.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

export const FUZZ_USAGE = `usage: sg fuzz <scenario.yaml> [options]

Generate fault schedules on top of the scenario's own faults (crash/restart, service kill or
hang then start, link down/up, partition then heal, loss bursts, delay spikes, clock rates) and
simulation seeds; run each case and check its expectations; shrink the first failure to a
minimal scenario file that \`sg run\` replays.

options:
  --runs N            cases to try (default ${FUZZ_RUNS_DEFAULT})
  --seed S            the fuzzer's own seed (default: the scenario's seed); the same seed
                      repeats the same session and finds the same minimal failure
  --out FILE          where to write a failure (default <scenario>.fuzz-<seed>.yaml beside it)
  --max-faults K      injected faults per case at most, each with its recovery (default ${FUZZ_MAX_FAULTS_DEFAULT})
  --faults KINDS      only these kinds, comma-separated (default all): ${FAULT_EPISODE_KINDS.join(', ')}
  --json              print the result as JSON instead of text
  -h, --help          this help

exit status: 0 no failure found, 1 a failure found (and written), 2 bad usage or scenario file`;

// ---- safety checkers: the hook for built-in checks ----

/** What one checker sees of one run: every trace event as it happens, then the result. */
export interface SafetyRun {
  observe(ev: TraceEvent): void;
  /** Violations, one line each (empty: the run was safe). */
  finish(result: RunResult): readonly string[];
}

/**
 * A safety property checked on every fuzz case besides the scenario's own expectations. The
 * cluster's safety checks (no new link to a Dead server, one master) are built-in expectations the
 * loader adds, so every `sg run` checks them too; a checker here is for what only a fuzz case
 * should pay for, and SAFETY_CHECKERS is empty today.
 */
export interface SafetyChecker {
  readonly name: string;
  /** Needs frame events in the trace (costs time; off unless some checker asks). */
  readonly frames?: boolean;
  start(scenario: Scenario): SafetyRun;
}

/** The built-in checkers every `sg fuzz` runs. */
export const SAFETY_CHECKERS: readonly SafetyChecker[] = [];

/** The verdict on one case. */
export interface CaseVerdict {
  readonly failed: boolean;
  /** One line per failed expectation or check, or the abort / exception. */
  readonly failures: readonly string[];
  /** Failures `sg run` also sees (expectations, aborts, exceptions; not the fuzz checkers). */
  readonly runFailed: boolean;
}

/**
 * Run a loaded scenario as `sg run` does, plus the checkers and `checkEngine` (the SG nodes'
 * invariants) after every frame and timeout each node handles, neither of which `sg run` runs.
 * Never throws for a simulator error.
 */
export function judgeScenario(sc: Scenario, checkers: readonly SafetyChecker[], checkEngine: (node: SgNode) => void = checkNodeInvariants, analyzers?: Analyzers): CaseVerdict {
  const runs = checkers.map((c) => ({ name: c.name, run: c.start(sc) }));
  let trace: TraceSink | undefined;
  if (runs.length > 0) {
    let lastId = 0;
    trace = {
      emit(ev: TraceEventInput): number {
        const full = { ...ev, id: ++lastId } as TraceEvent;
        for (const r of runs) r.run.observe(full);
        return full.id;
      },
    };
  }
  let breach: string | undefined;
  const check = (node: SgNode): void => {
    try {
      checkEngine(node);
    } catch (e) {
      breach = e instanceof Error ? e.message : String(e);
      throw e;
    }
  };
  let result: RunResult;
  try {
    const wantsFrames = checkers.some((c) => c.frames === true) || sc.expectations.some((e) => (e.model.kind === 'count' || e.model.kind === 'never') && e.model.match.kind === 'frame');
    const mods = analyzers !== undefined ? { analyzers } : {};
    result = runScenario(sc, trace ? { trace, traceFrames: wantsFrames, checkEngine: check, ...mods } : { checkEngine: check, ...mods });
  } catch (e) {
    if (breach !== undefined) return { failed: true, runFailed: false, failures: [`engine invariant: ${breach}`] };
    return { failed: true, runFailed: true, failures: [`the run threw: ${e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 3).join(' | ') : String(e)}`] };
  }
  const failures: string[] = [];
  if (result.aborted) failures.push(`run aborted: ${result.aborted}`);
  for (const e of result.expectations) {
    if (!e.pass) failures.push(`${e.path} ${e.text}: ${e.measured}  [expected ${e.bound}]${e.detail ? ` (${e.detail})` : ''}`);
  }
  const runFailed = !result.passed;
  for (const r of runs) for (const v of r.run.finish(result)) failures.push(`${r.name}: ${v}`);
  return { failed: runFailed || failures.length > 0, runFailed, failures };
}

/** Run a case document exactly as a file holding it would run: through YAML and the loader. */
export function judgeDoc(doc: ScenarioDoc, checkers: readonly SafetyChecker[], file = '<fuzz case>', analyzers?: Analyzers): CaseVerdict {
  const loaded = loadScenario(stringify(doc), file);
  if (!loaded.ok) {
    // The generator only names what the scenario has; a case that does not load is our bug.
    throw new Error(`sg fuzz: a generated case does not load:\n${loaded.errors.map(formatScenarioError).join('\n')}`);
  }
  return judgeScenario(loaded.scenario, checkers, checkNodeInvariants, analyzers);
}

/** Per group, what makes a module analyzer (loaded once from the scenario; fuzz cases add faults only). */
type Analyzers = NonNullable<Parameters<typeof runScenario>[1]>['analyzers'];

// ---- the command ----

function parseCount(text: string | undefined, name: string, dflt: number, min: number, max: number): number | string {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) return `sg fuzz: --${name} must be an integer in [${min}, ${max}], got '${text}'`;
  return n;
}

/** The default output file: `<dir>/<stem>.fuzz-<seed>.yaml` beside the input. */
export function defaultOutPath(file: string, fuzzSeed: number): string {
  const ext = extname(file);
  const stem = basename(file, ext === '.yaml' || ext === '.yml' ? ext : '');
  return join(dirname(file), `${stem}.fuzz-${fuzzSeed}.yaml`);
}

export async function fuzzCommand(argv: readonly string[], io: Io, checkers: readonly SafetyChecker[] = SAFETY_CHECKERS): Promise<number> {
  const args = parseCommand('fuzz', argv, {
    runs: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'max-faults': { type: 'string' },
    faults: { type: 'string' },
    json: { type: 'boolean' },
  }, FUZZ_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  if (args.positionals.length !== 1) return usageError('fuzz', `expected one scenario file, got ${args.positionals.length}`, FUZZ_USAGE, io);
  const runs = parseCount(v.runs, 'runs', FUZZ_RUNS_DEFAULT, 1, FUZZ_RUNS_LIMIT);
  const maxFaults = parseCount(v['max-faults'], 'max-faults', FUZZ_MAX_FAULTS_DEFAULT, 0, FUZZ_MAX_FAULTS_LIMIT);
  const seedArg = parseCount(v.seed, 'seed', 0, 0, SEED_MAX);
  for (const x of [runs, maxFaults, seedArg]) {
    if (typeof x === 'string') {
      io.err(x + '\n');
      return EXIT.usage;
    }
  }
  const file = args.positionals[0]!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    io.err(`${file}: cannot read: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}\n`);
    return EXIT.usage;
  }
  const loaded = loadScenario(text, file, { fileExists: existsSync });
  if (!loaded.ok) {
    io.err(loaded.errors.map(formatScenarioError).join('\n') + '\n');
    return EXIT.usage;
  }
  const sc = loaded.scenario;
  let kinds: Set<FaultEpisodeKind> | undefined;
  if (v.faults !== undefined) {
    const names = v.faults.split(',').map((x) => x.trim()).filter((x) => x !== '');
    const bad = names.filter((x) => !(FAULT_EPISODE_KINDS as readonly string[]).includes(x));
    if (names.length === 0 || bad.length > 0) return usageError('fuzz', `--faults: ${bad.length > 0 ? `unknown kind(s) ${bad.join(', ')}` : 'no kind given'} (kinds: ${FAULT_EPISODE_KINDS.join(', ')})`, FUZZ_USAGE, io);
    kinds = new Set(names as FaultEpisodeKind[]);
  }
  const targets = { ...fuzzTargets(sc), ...(kinds !== undefined ? { kinds } : {}) };
  if (targets.hosts.length === 0) {
    io.err(`${file}: the scenario has no hosts to inject faults into\n`);
    return EXIT.usage;
  }
  const fuzzSeed = v.seed !== undefined ? (seedArg as number) : sc.seed;
  const out = v.out ?? defaultOutPath(file, fuzzSeed);
  const nRuns = runs as number;
  const nFaults = maxFaults as number;
  if (!v.json) io.out(`sg fuzz ${file}: ${nRuns} run(s), at most ${nFaults} injected fault(s) each; fuzz seed ${fuzzSeed} (repeat with --seed ${fuzzSeed})\n`);

  const modules = await scenarioAnalyzers(sc.cluster);
  if (!modules.ok) {
    io.err(`${file}: ${modules.error}\n`);
    return EXIT.usage;
  }
  const analyzers = modules.makers;
  const progress = io.isTTY && !v.json ? new Progress(io) : undefined;
  let outcome;
  try {
    outcome = searchFaults({
      doc: sc.doc,
      targets,
      runs: nRuns,
      seed: fuzzSeed,
      maxFaults: nFaults,
      fails: (doc) => judgeDoc(doc, checkers, undefined, analyzers).failed,
      ...(progress ? { onProgress: (p: FuzzProgress) => progress.update(p) } : {}),
    });
  } finally {
    progress?.done();
  }

  if (!outcome.found) {
    if (v.json) io.out(JSON.stringify({ file, fuzzSeed, runs: nRuns, maxFaults: nFaults, found: false }, null, 2) + '\n');
    else io.out(`PASS: no failure in ${outcome.runs} run(s) (fuzz seed ${fuzzSeed})\n`);
    return EXIT.ok;
  }

  // Judge the minimal case once more (outside fast-check, so a bug of ours surfaces as itself).
  const verdict = judgeDoc(outcome.doc, checkers, undefined, analyzers);
  const generated = outcome.schedule.filter((s) => s.generated).length;
  const fileText = renderFailure(text, outcome.schedule, outcome.case.seed, {
    source: file,
    out,
    fuzzSeed,
    runs: nRuns,
    maxFaults: nFaults,
    run: outcome.run,
    shrinks: outcome.shrinks,
    shrinkBudgetHit: outcome.shrinkBudgetHit,
    failures: verdict.failures,
  });
  try {
    writeFileSync(out, fileText);
  } catch (e) {
    io.err(`sg fuzz: cannot write ${out}: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  // Verify: the file as written loads and fails again.
  const reread = readScenario(out);
  const replay = reread.ok ? judgeScenario(reread.scenario, checkers, checkNodeInvariants, analyzers) : undefined;
  const reproduced = replay !== undefined && replay.failed;
  const command = `sg run ${out}`;

  if (v.json) {
    io.out(
      JSON.stringify(
        {
          file,
          fuzzSeed,
          runs: nRuns,
          maxFaults: nFaults,
          found: true,
          run: outcome.run,
          shrinks: outcome.shrinks,
          shrinkBudgetHit: outcome.shrinkBudgetHit,
          seed: outcome.case.seed,
          faultsAdded: generated,
          faults: outcome.schedule.map((s) => ({ ...s.fault, generated: s.generated })),
          failures: replay?.failures ?? verdict.failures,
          out,
          reproduced,
          replayedBySgRun: replay?.runFailed ?? false,
          command,
        },
        null,
        2,
      ) + '\n',
    );
    return EXIT.failed;
  }
  const lines: string[] = [];
  lines.push(`FAIL: run ${outcome.run} failed; shrunk in ${outcome.shrinks} step(s)${outcome.shrinkBudgetHit ? ' (stopped at the shrink budget)' : ''} to simulation seed ${outcome.case.seed} with ${generated} generated fault(s):`);
  lines.push(...scheduleLines(outcome.schedule));
  lines.push('', 'failed:');
  for (const f of replay?.failures ?? verdict.failures) lines.push(`  ${f}`);
  lines.push('');
  if (!reread.ok) lines.push(`WARNING: the written file does not load (a bug in sg fuzz):\n${reread.message}`);
  else if (!reproduced) lines.push(`WARNING: ${out} passed when run again: the failure did not reproduce (nondeterminism?)`);
  else lines.push(`wrote ${out} (verified: loaded and run again, it fails the same way)`);
  if (replay !== undefined && replay.failed && !replay.runFailed) lines.push('note: only the fuzz checks fail (safety checkers, engine invariants); `sg run` does not run them');
  lines.push(`reproduce: ${command}`);
  io.out(lines.join('\n') + '\n');
  return EXIT.failed;
}

function scheduleLines(schedule: readonly ScheduledFault[]): string[] {
  if (schedule.length === 0) return ['  (no faults)'];
  return schedule.map((s) => `  - ${stringify(s.fault, { collectionStyle: 'flow' }).trim()}${s.generated ? '   # fuzz' : ''}`);
}

/** A one-line status on a terminal (stderr), redrawn at most 10 times a second. */
class Progress {
  #last = -Infinity;
  constructor(readonly io: Io) {}
  update(p: FuzzProgress): void {
    const t = this.io.clock();
    if (t - this.#last < 100) return;
    this.#last = t;
    const text = p.phase === 'search' ? `fuzz: run ${p.run}/${p.runs}` : `fuzz: run ${p.run} failed; shrinking: ${p.shrinks} step(s), ${p.faults} generated fault(s)`;
    this.io.errRaw(`\r\x1b[K${text}`);
  }
  done(): void {
    this.io.errRaw('\r\x1b[K');
  }
}
