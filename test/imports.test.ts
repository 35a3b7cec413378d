/**
 * The import graph of src/ and sim/ (dpdm's parser, type-only and dynamic imports included): no
 * file imports itself through others, and the layers import only downwards: a codec in src/wire/
 * imports no engine part, the engine imports nothing outside the engine, the lab (src/real/)
 * nothing of the CLI, and only the CLI runs the simulator's scenario runner. Each check is also
 * run on a small fixture that breaks it, so a check that cannot fail shows up here.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCircular, parseDependencyTree, type DependencyTree } from 'dpdm';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The engine's parts (relative to the repository, a trailing slash for a directory). */
const ENGINE_PARTS: readonly string[] = [
  'src/assert.ts',
  'src/wire/',
  'src/crypto/',
  'src/engine/',
  'src/nat/',
  'src/balance/',
  'src/health/',
  'src/failover/',
  'src/ctl/',
  'src/rw/',
  'src/port.ts',
  'src/time.ts',
  'src/timers.ts',
  'src/rng.ts',
  'src/trace.ts',
  'src/arp-limits.ts',
  'src/machine.ts',
];

const under = (parts: readonly string[]) => (file: string): boolean => parts.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));

/** One layering rule: every import of a file `from` accepts must be one `allowed` accepts. */
interface Rule {
  readonly name: string;
  readonly from: (file: string) => boolean;
  readonly allowed: (target: string) => boolean;
}

const RULES: readonly Rule[] = [
  { name: 'a codec in src/wire/ imports only src/wire/, src/crypto/ and src/assert.ts', from: under(['src/wire/']), allowed: under(['src/wire/', 'src/crypto/', 'src/assert.ts']) },
  { name: 'the engine imports only the engine', from: under(ENGINE_PARTS), allowed: under(ENGINE_PARTS) },
  { name: 'src/real/ imports nothing from src/cli/', from: under(['src/real/']), allowed: (t) => !t.startsWith('src/cli/') },
  { name: 'only src/cli/ runs the simulator (sim/scenario.ts)', from: (f) => f.startsWith('src/') && !f.startsWith('src/cli/'), allowed: (t) => t !== 'sim/scenario.ts' },
];

/** An import the graph could not follow. */
interface Unresolved {
  readonly file: string;
  readonly request: string;
}

interface ImportGraph {
  /** file -> the files (or, unresolved, the specifiers) it imports, paths relative to the root. */
  readonly edges: ReadonlyMap<string, readonly string[]>;
  readonly tree: DependencyTree;
  /** Relative imports that resolve to no file: they would hide edges, so they fail the test. */
  readonly unresolved: readonly Unresolved[];
}

async function importGraph(root: string, globs: readonly string[]): Promise<ImportGraph> {
  const tree = await parseDependencyTree([...globs], { context: root, cwd: root, transform: false, skipDynamicImports: false });
  const edges = new Map<string, string[]>();
  const unresolved: Unresolved[] = [];
  for (const [file, deps] of Object.entries(tree)) {
    if (deps === null) continue; // a package's file: not followed
    edges.set(
      file,
      deps.map((d) => {
        if (d.id === null && d.request.startsWith('.')) unresolved.push({ file, request: d.request });
        // A builtin is not a file: dpdm names it as a path from the working directory.
        return d.id === null || isBuiltin(d.request) ? d.request : d.id;
      }),
    );
  }
  return { edges, tree, unresolved };
}

function isBuiltin(request: string): boolean {
  return request.startsWith('node:') || builtinModules.includes(request.split('/')[0] as string);
}

/** Each import circle found, from its first file in sort order, printed `a -> b -> a`. */
function cycles(g: ImportGraph): string[] {
  return parseCircular(g.tree)
    .map((c) => {
      const first = c.indexOf([...c].sort()[0] as string);
      const rotated = [...c.slice(first), ...c.slice(0, first)];
      return [...rotated, rotated[0]].join(' -> ');
    })
    .sort();
}

/** Each import that breaks a rule, printed `file -> target: rule`. */
function ruleViolations(g: ImportGraph, rules: readonly Rule[]): string[] {
  const out = new Set<string>();
  for (const [file, targets] of g.edges) {
    for (const rule of rules) {
      if (!rule.from(file)) continue;
      for (const t of targets) if (!rule.allowed(t)) out.add(`${file} -> ${t}: ${rule.name}`);
    }
  }
  return [...out].sort();
}

describe('imports of src/ and sim/', async () => {
  const g = await importGraph(ROOT, ['src/**/*.ts', 'sim/**/*.ts']);

  it('reads every file and resolves every relative import', () => {
    expect(g.edges.size).toBeGreaterThan(100);
    expect(g.edges.has('src/engine/sg-node.ts')).toBe(true);
    expect(g.edges.get('src/engine/sg-node.ts')).toContain('src/engine/ctl-target.ts');
    expect(g.unresolved).toEqual([]);
  });

  it('has no import circle', () => {
    const found = cycles(g);
    expect(found, `import circles:\n${found.join('\n')}`).toEqual([]);
  });

  it('imports only downwards', () => {
    const found = ruleViolations(g, RULES);
    expect(found, `wrong-way imports:\n${found.join('\n')}`).toEqual([]);
  });
});

describe('import checks self-test', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-imports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, text: string): void => {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };
  // A circle through a type-only import, one through a value import, a dynamic import, and a
  // wrong-way import for each rule.
  write('src/ctl/ctld.ts', "import type { SgNode } from '../engine/sg-node.ts';\nexport type T = SgNode;\n");
  write('src/engine/sg-node.ts', "import type { T } from '../ctl/ctld.ts';\nexport class SgNode { t?: T; }\n");
  write('src/scenario/load.ts', "import { b } from './expect.ts';\nexport const a = () => b;\n");
  write('src/scenario/expect.ts', "export const b = async () => (await import('./load.ts')).a;\n");
  write('src/wire/feedback.ts', "import { LinkTable } from '../nat/linktable.ts';\nexport const x = LinkTable;\n");
  write('src/nat/linktable.ts', "import { readFileSync } from 'node:fs';\nexport class LinkTable { r = readFileSync; }\n");
  write('src/real/daemon.ts', "import { w } from '../cli/sweep.ts';\nimport { run } from '../../sim/scenario.ts';\nexport const d = [w, run];\n");
  write('src/cli/sweep.ts', 'export const w = 1;\n');
  write('sim/scenario.ts', "import { missing } from './nowhere.ts';\nexport const run = missing;\n");

  it('finds the circles, type-only and dynamic ones too', async () => {
    const found = cycles(await importGraph(dir, ['src/**/*.ts', 'sim/**/*.ts']));
    expect(found).toEqual(['src/ctl/ctld.ts -> src/engine/sg-node.ts -> src/ctl/ctld.ts', 'src/scenario/expect.ts -> src/scenario/load.ts -> src/scenario/expect.ts']);
  });

  it('finds the wrong-way imports and the unresolved one', async () => {
    const fixture = await importGraph(dir, ['src/**/*.ts', 'sim/**/*.ts']);
    expect(ruleViolations(fixture, RULES)).toEqual([
      'src/nat/linktable.ts -> node:fs: the engine imports only the engine',
      'src/real/daemon.ts -> sim/scenario.ts: only src/cli/ runs the simulator (sim/scenario.ts)',
      'src/real/daemon.ts -> src/cli/sweep.ts: src/real/ imports nothing from src/cli/',
      'src/wire/feedback.ts -> src/nat/linktable.ts: a codec in src/wire/ imports only src/wire/, src/crypto/ and src/assert.ts',
    ]);
    expect(fixture.unresolved).toEqual([{ file: 'sim/scenario.ts', request: './nowhere.ts' }]);
  });
});
