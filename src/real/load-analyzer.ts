/**
 * Loading a user's packet analyzer: a module named in the configuration (`analyzer: ./line.ts`),
 * for the simulator (`sg run`) and real mode alike. It is here, outside the engine, because it
 * imports a file by path; the engine gets an `Analyzer` and never knows where it came from.
 *
 * The module's default export is either
 * - a factory, `() => Analyzer`: each group that names the module gets its own analyzer; or
 * - an `Analyzer` object: one instance, so it can serve one group only (a second `create` is an
 *   error saying to export a factory).
 * Every analyzer it gives is checked for the members of `Analyzer` (the error names each one
 * missing) and wrapped in `GuardedAnalyzer`, so its throws and broken answers are counted drops.
 * A `.ts` module needs the TypeScript loader the `sg` command runs under (tsx); `.js`/`.mjs`
 * load anywhere.
 */

import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GroupConfig } from '../balance/types.ts';
import type { ClusterModel } from '../scenario/load.ts';
import { groupConfigs } from '../scenario/sg-config.ts';
import type { Analyzer } from '../rw/analyzer.ts';
import { GuardedAnalyzer, analyzerProblems } from '../rw/guard.ts';

export interface LoadedAnalyzer {
  /** The module's absolute path. */
  readonly file: string;
  /** A fresh guarded analyzer for one group, or an error (a module with one object, asked twice). */
  create(): { readonly ok: true; readonly analyzer: GuardedAnalyzer } | { readonly ok: false; readonly error: string };
}

export type LoadResult = { readonly ok: true; readonly loaded: LoadedAnalyzer } | { readonly ok: false; readonly error: string };

/** Import the analyzer module `spec` (a path, relative to `baseDir`, e.g. the config's directory). */
export async function loadAnalyzerModule(spec: string, baseDir: string): Promise<LoadResult> {
  const file = isAbsolute(spec) ? spec : resolve(baseDir, spec);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, error: `${file}: cannot import the analyzer module: ${e instanceof Error ? e.message : String(e)}` };
  }
  const exported = mod['default'];
  if (exported === undefined) return { ok: false, error: `${file}: no default export (export default an analyzer factory, () => Analyzer, or an analyzer object)` };
  const check = (a: unknown, what: string): { readonly ok: true; readonly analyzer: GuardedAnalyzer } | { readonly ok: false; readonly error: string } => {
    const problems = analyzerProblems(a);
    return problems.length === 0 ? { ok: true, analyzer: new GuardedAnalyzer(a as Analyzer) } : { ok: false, error: `${file}: ${what} is not an analyzer: ${problems.join('; ')}` };
  };
  if (typeof exported === 'function') {
    const factory = exported as () => unknown;
    // Check one now, so a broken module is an error at load time, not at the first group.
    const first = callFactory(factory, file);
    if (!first.ok) return first;
    const checked = check(first.value, 'the object its default export (a factory) returned');
    if (!checked.ok) return checked;
    let spare: GuardedAnalyzer | undefined = checked.analyzer;
    return {
      ok: true,
      loaded: {
        file,
        create: () => {
          if (spare !== undefined) {
            const a = spare;
            spare = undefined;
            return { ok: true, analyzer: a };
          }
          const next = callFactory(factory, file);
          return next.ok ? check(next.value, 'the object its default export (a factory) returned') : next;
        },
      },
    };
  }
  const only = check(exported, 'its default export');
  if (!only.ok) return only;
  let used = false;
  return {
    ok: true,
    loaded: {
      file,
      create: () => {
        if (used) return { ok: false, error: `${file}: exports one analyzer object, which serves one group; export a factory (() => Analyzer) to serve several` };
        used = true;
        return only;
      },
    },
  };
}

function callFactory(factory: () => unknown, file: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string } {
  try {
    return { ok: true, value: factory() };
  } catch (e) {
    return { ok: false, error: `${file}: the analyzer factory threw: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Makes a group's analyzer, once per engine (a simulated node's every boot makes one). */
export type AnalyzerMaker = () => Analyzer;

/**
 * The module analyzers of `groups` (index as the groups; undefined: a built-in analyzer or a
 * read-any group, which the engine makes itself). Each group naming a module gets a maker; a
 * module that exports one object serves its one group on every boot (the same instance).
 */
export async function loadGroupAnalyzers(groups: readonly GroupConfig[]): Promise<{ readonly ok: true; readonly makers: readonly (AnalyzerMaker | undefined)[] } | { readonly ok: false; readonly error: string }> {
  const byFile = new Map<string, LoadedAnalyzer>();
  const makers: (AnalyzerMaker | undefined)[] = [];
  for (const g of groups) {
    const m = g.model;
    if (m === undefined || m.kind === 'read-any' || m.writeAll.analyzer.kind !== 'module') {
      makers.push(undefined);
      continue;
    }
    const ref = m.writeAll.analyzer;
    let loaded = byFile.get(ref.resolved);
    if (loaded === undefined) {
      const r = await loadAnalyzerModule(ref.resolved, process.cwd());
      if (!r.ok) return { ok: false, error: `group ${g.name}: ${r.error}` };
      loaded = r.loaded;
      byFile.set(ref.resolved, loaded);
    }
    const first = loaded.create();
    if (!first.ok) return { ok: false, error: `group ${g.name}: ${first.error}` };
    let spare: Analyzer | undefined = first.analyzer;
    const again = loaded;
    makers.push(() => {
      if (spare !== undefined) {
        const a = spare;
        spare = undefined;
        return a;
      }
      const next = again.create();
      return next.ok ? next.analyzer : first.analyzer; // one object: the same instance, initialised again
    });
  }
  return { ok: true, makers };
}

/** Whether any group names a module analyzer (the caller then loads them before the run). */
export function needsAnalyzerModules(groups: readonly GroupConfig[]): boolean {
  return groups.some((g) => g.model !== undefined && g.model.kind !== 'read-any' && g.model.writeAll.analyzer.kind === 'module');
}

/** The module analyzers a scenario's cluster needs, for `runScenario`'s `analyzers` (undefined: none needed). */
export async function scenarioAnalyzers(cluster: ClusterModel | undefined): Promise<{ readonly ok: true; readonly makers?: readonly (AnalyzerMaker | undefined)[] } | { readonly ok: false; readonly error: string }> {
  if (cluster === undefined) return { ok: true };
  const groups = groupConfigs(cluster);
  if (!needsAnalyzerModules(groups)) return { ok: true };
  return loadGroupAnalyzers(groups);
}
