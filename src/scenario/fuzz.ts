/**
 * Fault-schedule fuzzing, the pure part (VOPR-style, STYLE.md 9): fast-check arbitraries that
 * generate fault schedules on top of a scenario's own faults, the scenario document a generated
 * case becomes, the search (generate, run, shrink) over a caller-supplied runner, and the YAML of
 * the minimal failing scenario. File IO and the simulator live in src/cli/fuzz.ts.
 *
 * A case is a simulation seed plus a list of *episodes*. An episode is one injected fault and,
 * where it has one, its recovery: crash then restart, kill/hang then start, link down then up,
 * partition into two groups then heal, a loss burst, a delay spike, a clock rate change then back
 * to rate 1. Times are whole ticks of 100 ms (`FUZZ_TICK_MS`), so a shrunk file reads `at: 1.2s`.
 *
 * Shrinking is fast-check's own, and the arbitraries are built so that it goes toward fewer and
 * simpler faults: the episode list shrinks by dropping episodes; times shrink toward 0 (earlier);
 * outage lengths toward one tick; loss toward 1%, extra delay toward 1 ms, clock rates toward the
 * first of `CLOCK_RATES`; partition groups toward one host on its own; targets toward the first
 * host, service or link; the simulation seed toward 0.
 *
 * Schedules only name what the scenario has: its hosts, its services (`host/service`) and its links
 * (`linkNames`). One adjustment keeps a schedule valid: starting a service on a host that is down
 * at that moment is a scenario error in the simulator (nothing can bind), so a generated `start`
 * that lands while its host is down (after the scenario's and the case's own crashes and restarts,
 * in the order the simulator applies them) is left out; the host's restart starts its services.
 */

import fc from 'fast-check';
import { isMap, isScalar, parseDocument, YAMLSeq, type Pair, type YAMLMap } from 'yaml';
import { assert, assertNever } from '../assert.ts';
import type { FaultDoc, ScenarioDoc } from './schema.ts';
import { linkNames, type Scenario } from './load.ts';
import { duration } from './units.ts';

/** Fault times and lengths are whole multiples of this. */
export const FUZZ_TICK_MS = 100;
const TICK_US = FUZZ_TICK_MS * 1000;
/** Default and largest number of episodes (injected faults) per case. */
export const FUZZ_MAX_FAULTS_DEFAULT = 6;
export const FUZZ_MAX_FAULTS_LIMIT = 100;
/** Default and largest number of generated cases per session. */
export const FUZZ_RUNS_DEFAULT = 100;
export const FUZZ_RUNS_LIMIT = 1_000_000;
/** Runs spent shrinking a failure at most; beyond it the smallest failure so far is kept. */
export const FUZZ_SHRINK_RUNS_MAX = 1_000;
/** Largest simulation seed (the schema's bound). */
export const SEED_MAX = 0xffffffff;
/** Largest extra delay of a delay spike, in ms. */
export const DELAY_EXTRA_MS_MAX = 1_000;
/** Clock rates a clock fault picks from; shrinking goes toward the first. */
export const CLOCK_RATES = [0.5, 2, 0.25, 4, 0.1, 10] as const;
/** Marks the generated faults in a written file. */
export const FUZZ_COMMENT = ' fuzz';

/** What a scenario offers to break. */
export interface FuzzTargets {
  readonly hosts: readonly string[];
  /** `host/service`. */
  readonly services: readonly string[];
  /** `host.iface`. */
  readonly links: readonly string[];
  /** The run's length in ticks; faults start in [0, durationTicks). */
  readonly durationTicks: number;
  /** SG nodes with failover: also stalled, signalled (SIGHUP) and their watched process killed. */
  readonly sgNodes: readonly string[];
  /** The episode kinds to generate (undefined: every kind). */
  readonly kinds?: ReadonlySet<FaultEpisodeKind>;
}

/** Every kind of episode the fuzzer generates, as `sg fuzz --faults` names them. */
export const FAULT_EPISODE_KINDS = ['crash', 'kill', 'hang', 'link-down', 'partition', 'loss', 'delay', 'clock', 'stall', 'watched', 'signal'] as const;
export type FaultEpisodeKind = (typeof FAULT_EPISODE_KINDS)[number];

export function fuzzTargets(sc: Scenario): FuzzTargets {
  return {
    // SG nodes crash, restart, stall and get partitioned like hosts (that is what failover is for).
    hosts: [...sc.hosts.map((h) => h.name), ...(sc.cluster?.nodes.map((n) => n.name) ?? [])],
    services: sc.hosts.flatMap((h) => h.services.map((s) => `${h.name}/${s.name}`)),
    links: [...linkNames(sc.hosts), ...(sc.cluster?.nodes.flatMap((n) => [`${n.name}.eth0`, `${n.name}.eth1`]) ?? [])],
    durationTicks: Math.floor(sc.duration / TICK_US),
    sgNodes: sc.cluster?.failover !== undefined ? sc.cluster.nodes.map((n) => n.name) : [],
  };
}

/** One injected fault and its recovery; `at` and `for` in ticks. */
export type FaultEpisode =
  | { readonly kind: 'crash'; readonly host: string; readonly at: number; readonly for: number }
  | { readonly kind: 'kill' | 'hang'; readonly service: string; readonly at: number; readonly for: number }
  | { readonly kind: 'link-down'; readonly link: string; readonly at: number; readonly for: number }
  | { readonly kind: 'partition'; readonly side: readonly string[]; readonly at: number; readonly for: number }
  | { readonly kind: 'loss'; readonly link: string; readonly at: number; readonly for: number; readonly percent: number }
  | { readonly kind: 'delay'; readonly link: string; readonly at: number; readonly for: number; readonly extraMs: number }
  | { readonly kind: 'clock'; readonly host: string; readonly at: number; readonly for: number; readonly rate: number }
  | { readonly kind: 'stall' | 'watched' | 'signal'; readonly host: string; readonly at: number; readonly for: number };

/** A generated case: the simulation seed and the episodes injected on top of the scenario's faults. */
export interface FuzzCase {
  readonly seed: number;
  readonly episodes: readonly FaultEpisode[];
}

/** Episodes that can target something in this scenario (none: the scenario has no hosts). */
export function faultEpisodeArb(t: FuzzTargets): fc.Arbitrary<FaultEpisode> {
  assert(t.hosts.length > 0 && t.links.length > 0, 'fuzz targets need a host and a link');
  const last = Math.max(0, t.durationTicks - 1);
  const at = fc.integer({ min: 0, max: last });
  const len = fc.integer({ min: 1, max: Math.max(1, t.durationTicks) });
  const host = fc.constantFrom(...t.hosts);
  const link = fc.constantFrom(...t.links);
  const arbs: fc.Arbitrary<FaultEpisode>[] = [
    fc.record({ kind: fc.constant('crash' as const), host, at, for: len }),
    fc.record({ kind: fc.constant('link-down' as const), link, at, for: len }),
    fc.record({ kind: fc.constant('loss' as const), link, at, for: len, percent: fc.integer({ min: 1, max: 100 }) }),
    fc.record({ kind: fc.constant('delay' as const), link, at, for: len, extraMs: fc.integer({ min: 1, max: DELAY_EXTRA_MS_MAX }) }),
    fc.record({ kind: fc.constant('clock' as const), host, at, for: len, rate: fc.constantFrom(...CLOCK_RATES) }),
  ];
  if (t.services.length > 0) {
    arbs.push(fc.record({ kind: fc.constantFrom('kill' as const, 'hang' as const), service: fc.constantFrom(...t.services), at, for: len }));
  }
  if (t.sgNodes.length > 0) {
    // A process pause, the watched process dying for a while, a SIGHUP followed by a restart.
    arbs.push(fc.record({ kind: fc.constantFrom('stall' as const, 'watched' as const, 'signal' as const), host: fc.constantFrom(...t.sgNodes), at, for: len }));
  }
  if (t.hosts.length >= 2) {
    // Group one is a proper, non-empty subset (in topology order); group two is the rest.
    arbs.push(fc.record({ kind: fc.constant('partition' as const), side: fc.subarray([...t.hosts], { minLength: 1, maxLength: t.hosts.length - 1 }), at, for: len }));
  }
  const kinds = t.kinds;
  const chosen = kinds === undefined ? arbs : arbs.map((a) => a.filter((e) => kinds.has(e.kind)));
  return fc.oneof(...chosen.filter((_, i) => kinds === undefined || arbKinds(t)[i]!.some((k) => kinds.has(k))));
}

/** The kinds each entry of `faultEpisodeArb`'s list can generate, in its order. */
function arbKinds(t: FuzzTargets): FaultEpisodeKind[][] {
  const out: FaultEpisodeKind[][] = [['crash'], ['link-down'], ['loss'], ['delay'], ['clock']];
  if (t.services.length > 0) out.push(['kill', 'hang']);
  if (t.sgNodes.length > 0) out.push(['stall', 'watched', 'signal']);
  if (t.hosts.length >= 2) out.push(['partition']);
  return out;
}

/** A case: a seed and at most `maxFaults` episodes. */
export function fuzzCaseArb(t: FuzzTargets, maxFaults: number): fc.Arbitrary<FuzzCase> {
  assert(Number.isSafeInteger(maxFaults) && maxFaults >= 0 && maxFaults <= FUZZ_MAX_FAULTS_LIMIT, `maxFaults ${maxFaults} out of range`);
  return fc.record({ seed: fc.integer({ min: 0, max: SEED_MAX }), episodes: fc.array(faultEpisodeArb(t), { maxLength: maxFaults }) });
}

/** A tick count as a duration string: 0s, 0.1s, 1.2s, 15s. */
export function ticksText(ticks: number): string {
  return `${ticks / (1000 / FUZZ_TICK_MS)}s`;
}

/** The faults of one episode; a recovery after the end of the run is left out. */
export function episodeFaults(ep: FaultEpisode, t: FuzzTargets): FaultDoc[] {
  const at = ticksText(ep.at);
  const end = ep.at + ep.for;
  const recover = (f: FaultDoc): FaultDoc[] => (end <= t.durationTicks ? [f] : []);
  const until = ticksText(end);
  switch (ep.kind) {
    case 'crash':
      return [{ at, crash: ep.host }, ...recover({ at: until, restart: ep.host })];
    case 'kill':
      return [{ at, kill: ep.service }, ...recover({ at: until, start: ep.service })];
    case 'hang':
      return [{ at, hang: ep.service }, ...recover({ at: until, start: ep.service })];
    case 'link-down':
      return [{ at, 'link-down': ep.link }, ...recover({ at: until, 'link-up': ep.link })];
    case 'partition':
      return [{ at, partition: [[...ep.side], t.hosts.filter((h) => !ep.side.includes(h))] }, ...recover({ at: until, heal: true })];
    case 'loss':
      return [{ at, loss: { link: ep.link, p: `${ep.percent}%`, for: ticksText(ep.for) } }];
    case 'delay':
      return [{ at, delay: { link: ep.link, extra: `${ep.extraMs}ms`, for: ticksText(ep.for) } }];
    case 'clock':
      return [{ at, clock: { host: ep.host, rate: ep.rate } }, ...recover({ at: until, clock: { host: ep.host, rate: 1 } })];
    case 'stall':
      return [{ at, clock: { host: ep.host, stall: ticksText(ep.for) } }];
    case 'watched':
      return [{ at, 'watched-down': ep.host }, ...recover({ at: until, 'watched-up': ep.host })];
    case 'signal':
      return [{ at, signal: ep.host }, ...recover({ at: until, restart: ep.host })];
    default:
      return assertNever(ep, 'fault episode');
  }
}

/** One entry of a case's schedule: the fault, its time, and whether the fuzzer added it. */
export interface ScheduledFault {
  readonly fault: FaultDoc;
  readonly atUs: number;
  readonly generated: boolean;
}

function atUs(f: FaultDoc): number {
  const d = duration(f.at);
  assert(d !== undefined, `fault time '${f.at}' does not parse`);
  return d;
}

/**
 * The full schedule of a case: the scenario's own faults and the generated ones, sorted by time
 * (stable, so equal times keep the scenario's faults first, then the episodes in order, exactly as
 * the simulator will apply them), without generated service starts on hosts that are down.
 */
export function caseSchedule(doc: ScenarioDoc, t: FuzzTargets, c: FuzzCase): ScheduledFault[] {
  const all: ScheduledFault[] = [
    ...(doc.faults ?? []).map((fault) => ({ fault, atUs: atUs(fault), generated: false })),
    ...c.episodes.flatMap((ep) => episodeFaults(ep, t).map((fault) => ({ fault, atUs: atUs(fault), generated: true }))),
  ];
  const sorted = all.map((s, i) => ({ s, i })).sort((a, b) => a.s.atUs - b.s.atUs || a.i - b.i).map((x) => x.s);
  const down = new Set<string>();
  return sorted.filter((s) => {
    const f = s.fault;
    if ('crash' in f) down.add(f.crash);
    else if ('restart' in f) down.delete(f.restart);
    else if ('start' in f && s.generated) return !down.has(f.start.slice(0, f.start.indexOf('/')));
    return true;
  });
}

/** The scenario document a case runs: the original with its seed and the full fault schedule. */
export function caseDoc(doc: ScenarioDoc, t: FuzzTargets, c: FuzzCase): ScenarioDoc {
  return { ...doc, seed: c.seed, faults: caseSchedule(doc, t, c).map((s) => s.fault) };
}

// ---- the search ----

export interface FuzzProgress {
  readonly phase: 'search' | 'shrink';
  /** Cases run in the search phase so far. */
  readonly run: number;
  readonly runs: number;
  /** Successful shrink steps so far (shrink phase). */
  readonly shrinks: number;
  /** Generated faults in the smallest failure so far (shrink phase). */
  readonly faults: number;
}

export interface FuzzSearchOptions {
  readonly doc: ScenarioDoc;
  readonly targets: FuzzTargets;
  /** Cases to try (fast-check `numRuns`). */
  readonly runs: number;
  /** The fuzzer's own seed: the same seed gives the same cases and the same minimal failure. */
  readonly seed: number;
  readonly maxFaults: number;
  /** Runs spent shrinking at most (default FUZZ_SHRINK_RUNS_MAX). */
  readonly shrinkRunsMax?: number;
  /** Run one case's document; true when it failed (an expectation or check failed, or it aborted). */
  readonly fails: (doc: ScenarioDoc) => boolean;
  readonly onProgress?: (p: FuzzProgress) => void;
}

export type FuzzOutcome =
  | { readonly found: false; readonly runs: number }
  | {
      readonly found: true;
      /** The run (1-based) that first failed. */
      readonly run: number;
      /** Successful shrink steps from that failure to the minimal one. */
      readonly shrinks: number;
      /** Shrinking stopped at its run budget, so the case may not be minimal. */
      readonly shrinkBudgetHit: boolean;
      readonly case: FuzzCase;
      readonly schedule: readonly ScheduledFault[];
      readonly doc: ScenarioDoc;
    };

/**
 * Generate `runs` cases with fast-check, run each through `fails`, and on the first failure let
 * fast-check shrink it. Deterministic for a given seed (given a deterministic `fails`).
 */
export function searchFaults(o: FuzzSearchOptions): FuzzOutcome {
  const shrinkRunsMax = o.shrinkRunsMax ?? FUZZ_SHRINK_RUNS_MAX;
  let phase: 'search' | 'shrink' = 'search';
  let run = 0;
  let shrinkRuns = 0;
  let shrinks = 0;
  let budgetHit = false;
  let faults = 0;
  const generatedCount = (c: FuzzCase): number => caseSchedule(o.doc, o.targets, c).filter((s) => s.generated).length;
  const property = fc.property(fuzzCaseArb(o.targets, o.maxFaults), (c) => {
    if (phase === 'shrink') {
      // Past the budget every candidate "passes", so fast-check keeps the smallest failure so far.
      if (shrinkRuns >= shrinkRunsMax) {
        budgetHit = true;
        return true;
      }
      shrinkRuns++;
    } else run++;
    const failed = o.fails(caseDoc(o.doc, o.targets, c));
    if (failed) {
      if (phase === 'shrink') shrinks++;
      phase = 'shrink';
      faults = generatedCount(c);
    }
    o.onProgress?.({ phase, run, runs: o.runs, shrinks, faults });
    return !failed;
  });
  const details = fc.check(property, { seed: o.seed, numRuns: o.runs, endOnFailure: false, verbose: 0 });
  if (!details.failed) return { found: false, runs: details.numRuns };
  const counter = details.counterexample;
  assert(counter !== null, 'fast-check reported a failure without a counterexample');
  const c = counter[0];
  return {
    found: true,
    run: details.numRuns,
    shrinks: details.numShrinks,
    shrinkBudgetHit: budgetHit,
    case: c,
    schedule: caseSchedule(o.doc, o.targets, c),
    doc: caseDoc(o.doc, o.targets, c),
  };
}

// ---- the minimal failing scenario as a file ----

export interface FailureFileInfo {
  /** The scenario file fuzzed, as given on the command line. */
  readonly source: string;
  /** Where the failure is written, as it will be given to `sg run`. */
  readonly out: string;
  readonly fuzzSeed: number;
  readonly runs: number;
  readonly maxFaults: number;
  readonly run: number;
  readonly shrinks: number;
  readonly shrinkBudgetHit: boolean;
  /** One line per failed expectation or check. */
  readonly failures: readonly string[];
}

/** Scenario names are at most this long (the schema's Name pattern). */
const NAME_LENGTH_MAX = 63;

/** The name of the written scenario: `<name>-fuzz-<seed>`, cut to fit a Name. */
export function failureName(name: string, fuzzSeed: number): string {
  const suffix = `-fuzz-${fuzzSeed}`;
  return name.slice(0, NAME_LENGTH_MAX - suffix.length) + suffix;
}

/**
 * The minimal failing scenario as YAML: the original text (comments and layout kept) with a
 * header saying how it was found, its name suffixed, the case's seed, and the full fault schedule
 * with the generated faults marked `# fuzz`.
 */
export function renderFailure(originalText: string, schedule: readonly ScheduledFault[], seed: number, info: FailureFileInfo): string {
  const d = parseDocument(originalText, { uniqueKeys: true });
  assert(d.errors.length === 0 && isMap(d.contents), 'the fuzzed scenario text no longer parses');
  const map = d.contents as YAMLMap<unknown, unknown>;
  const generated = schedule.filter((s) => s.generated).length;
  const header = [
    `Found by: sg fuzz ${info.source} --seed ${info.fuzzSeed} --runs ${info.runs} --max-faults ${info.maxFaults}`,
    `Run ${info.run} failed; fast-check shrank it in ${info.shrinks} step(s) to this case${info.shrinkBudgetHit ? ' (shrinking stopped at its run budget; it may not be minimal)' : ''}:`,
    generated > 0
      ? `simulation seed ${seed} and ${generated} generated fault(s), marked '#${FUZZ_COMMENT}' below, added to the scenario's own.`
      : `simulation seed ${seed} and no generated faults: the scenario fails at this seed as it is.`,
    'Failed:',
    ...info.failures.map((f) => `  ${f}`),
    `Reproduce: sg run ${info.out}`,
    'As a regression test (commit it under scenarios/): its expectations fail until the bug is fixed.',
  ];
  d.commentBefore = header.map((l) => ` ${l}`).join('\n');
  const keyIndex = (k: string): number => map.items.findIndex((p: Pair<unknown, unknown>) => (isScalar(p.key) ? p.key.value : p.key) === k);
  const setOrInsert = (key: string, value: unknown, before: readonly string[]): void => {
    if (keyIndex(key) >= 0) {
      map.set(key, value);
      return;
    }
    const at = before.map(keyIndex).find((i) => i >= 0) ?? map.items.length;
    map.items.splice(at, 0, d.createPair(key, value));
  };
  map.set('name', failureName(String(map.get('name')), info.fuzzSeed));
  setOrInsert('seed', seed, ['duration', 'real', 'topology']);
  const seq = new YAMLSeq();
  for (const s of schedule) {
    const node = d.createNode(s.fault, { flow: true });
    if (s.generated) node.comment = FUZZ_COMMENT;
    seq.items.push(node);
  }
  setOrInsert('faults', seq, ['expect']);
  return d.toString({ lineWidth: 0 });
}
