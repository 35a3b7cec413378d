/**
 * The engine is sans-IO (ARCHITECTURE.md): nothing under src/ outside src/real/ and src/cli/
 * imports a Node builtin or reads the wall clock, real randomness or real timers. Two checks:
 * a scan of the source text (it also covers files no other test imports, and the wall clock and
 * `Math.random`, which the ES library declares), and a compile of the same files with no Node
 * types and no DOM (tsconfig.engine.json), so a Node module, timers, the console or the DOM
 * there is a type error.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
/** Directories allowed to touch the outside world, relative to src/. */
const IMPURE_DIRS = ['real', 'cli'];
const SOURCE_EXT = /\.(ts|mts|cts)$/;
const FILES_MAX = 10_000;

const BUILTINS = new Set(builtinModules);

/** Forbidden uses of ambient APIs: [name, pattern] over code with comments and strings blanked. */
const FORBIDDEN_CALLS: readonly (readonly [string, RegExp])[] = [
  ['require(', /\brequire\s*\(/],
  ['Date.now', /\bDate\s*\.\s*now\b/],
  ['new Date()', /\bnew\s+Date\s*\(\s*\)/],
  ['Math.random', /\bMath\s*\.\s*random\b/],
  ['setTimeout', /\bsetTimeout\b/],
  ['setInterval', /\bsetInterval\b/],
  ['setImmediate', /\bsetImmediate\b/],
  ['performance.now', /\bperformance\s*\.\s*now\b/],
  ['process.hrtime', /\bprocess\s*\.\s*hrtime\b/],
  ['crypto.getRandomValues', /\bcrypto\s*\.\s*(getRandomValues|randomUUID)\b/],
];

/** Module specifiers: `from 'x'`, `import 'x'`, `import('x')`, `export ... from 'x'`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"\n]+)\1/g;

interface Violation {
  readonly line: number;
  readonly what: string;
}

/**
 * Blank out comments (and, with `blankStrings`, the contents of string and template literals)
 * while keeping every newline, so line numbers still match. A small lexer: it knows string,
 * template (with `${}` nesting), comment and regular-expression literals.
 */
function blank(text: string, blankStrings: boolean): string {
  const out = text.split('');
  const wipe = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Stack of open template literals: the brace depth at which each `${` started.
  const templates: number[] = [];
  let depth = 0;
  let lastSignificant = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      wipe(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      wipe(i, stop);
      i = stop;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      if (blankStrings) wipe(i + 1, Math.min(j, n));
      i = j + 1;
      lastSignificant = 'a';
      continue;
    }
    if (c === '`' || (c === '}' && templates.length > 0 && templates[templates.length - 1] === depth)) {
      if (c === '}') templates.pop();
      // Inside a template: scan to the closing backtick or the next `${`.
      let j = i + 1;
      while (j < n && text[j] !== '`' && !(text[j] === '$' && text[j + 1] === '{')) j += text[j] === '\\' ? 2 : 1;
      if (blankStrings) wipe(i + 1, Math.min(j, n));
      if (j < n && text[j] === '$') {
        templates.push(depth);
        i = j + 2;
        lastSignificant = '(';
      } else {
        i = j + 1;
        lastSignificant = 'a';
      }
      continue;
    }
    if (c === '/' && (lastSignificant === '' || '(,=:[!&|?{};+-*%<>~^'.includes(lastSignificant) || afterKeyword(text, i))) {
      // A regular-expression literal: skip to the unescaped closing slash outside a class.
      let j = i + 1;
      let inClass = false;
      while (j < n && text[j] !== '\n' && (inClass || text[j] !== '/')) {
        if (text[j] === '[') inClass = true;
        else if (text[j] === ']') inClass = false;
        j += text[j] === '\\' ? 2 : 1;
      }
      if (blankStrings) wipe(i + 1, Math.min(j, n));
      i = j + 1;
      lastSignificant = 'a';
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (!/\s/.test(c)) lastSignificant = /[\w$)\]]/.test(c) ? 'a' : c;
    i++;
  }
  return out.join('');
}

const KEYWORDS_BEFORE_EXPRESSION = new Set(['return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'yield', 'await']);

/** Whether the word just before index `i` is a keyword after which `/` starts a regex, not a division. */
function afterKeyword(text: string, i: number): boolean {
  const m = /([A-Za-z_$][\w$]*)\s*$/.exec(text.slice(Math.max(0, i - 32), i));
  return m !== null && KEYWORDS_BEFORE_EXPRESSION.has(m[1] as string);
}

function isBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  return BUILTINS.has(specifier) || BUILTINS.has(specifier.split('/')[0] as string);
}

/** Every purity violation in one file's text. */
function findViolations(text: string): Violation[] {
  const found: Violation[] = [];
  const lineOf = (code: string, index: number): number => code.slice(0, index).split('\n').length;

  const noComments = blank(text, false);
  for (const m of noComments.matchAll(SPECIFIER)) {
    const spec = m[2] as string;
    if (isBuiltin(spec)) found.push({ line: lineOf(noComments, m.index), what: `imports builtin '${spec}'` });
  }

  const codeOnly = blank(text, true).split('\n');
  codeOnly.forEach((lineText, k) => {
    for (const [name, re] of FORBIDDEN_CALLS) if (re.test(lineText)) found.push({ line: k + 1, what: `uses ${name}` });
  });
  return found.sort((a, b) => a.line - b.line);
}

function engineFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(SRC, path).split(sep);
      if (entry.isDirectory()) {
        if (rel.length === 1 && IMPURE_DIRS.includes(entry.name)) continue;
        walk(path);
      } else if (SOURCE_EXT.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push(path);
        if (files.length > FILES_MAX) throw new Error(`more than ${FILES_MAX} files under src/`);
      }
    }
  };
  walk(SRC);
  return files.sort();
}

describe('purity: the engine is sans-IO', () => {
  it('no file under src/ (outside real/ and cli/) touches Node, the clock, timers or real randomness', () => {
    const files = engineFiles();
    expect(files.length).toBeGreaterThan(0);
    const report: string[] = [];
    for (const file of files) {
      for (const v of findViolations(readFileSync(file, 'utf8'))) {
        report.push(`${relative(ROOT, file)}:${v.line}: ${v.what}`);
      }
    }
    expect(report, report.join('\n')).toEqual([]);
  });

  it('walks the engine files and skips real/ and cli/', () => {
    const rels = engineFiles().map((f) => relative(SRC, f).split(sep).join('/'));
    expect(rels).toContain('time.ts');
    expect(rels).toContain('rng.ts');
    expect(rels.some((r) => r.startsWith('real/') || r.startsWith('cli/'))).toBe(false);
  });
});

describe('purity checker self-test', () => {
  const IMPURE = [
    "import { readFileSync } from 'node:fs';", // 1
    "import * as fs from 'fs';", // 2
    "import type { Socket } from 'net';", // 3
    "export { join } from 'path/posix';", // 4
    "const os = await import('os');", // 5
    "const cp = require('child_process');", // 6
    'const t0 = Date.now();', // 7
    'const r = Math.random();', // 8
    'setTimeout(() => {}, 10);', // 9
    'const h = setInterval(tick, 5);', // 10
    'const p = performance.now();', // 11
    'const late = `${Date.now()}ms`;', // 12
    'const d = new Date();', // 13
  ].join('\n');

  it('flags every impure line with its line number', () => {
    const lines = findViolations(IMPURE).map((v) => v.line);
    expect([...new Set(lines)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(findViolations(IMPURE).map((v) => v.what)).toContain("imports builtin 'node:fs'");
  });

  it('ignores comments, strings, regexes and our own modules', () => {
    const PURE = [
      "import { assert } from './assert.ts';",
      "import type { Instant } from '../time.ts';",
      "import fc from 'fast-check';", // not a builtin (tests only, but the checker must not care)
      '// never call Date.now() or Math.random() here',
      '/* setTimeout is for drivers;',
      '   require( nothing ) */',
      "const msg = 'do not use Date.now';",
      'const tpl = `setInterval ${1 + 1} performance.now`;',
      'const re = /Math.random/;',
      "function q(s: string) { return /'/.test(s) && Date.parse(s) > 0; }",
      'const ratio = a / b; const other = c / d;',
      "const fake = { from: 'fs' }.from;",
      'const nowish = clock.now();',
    ].join('\n');
    expect(findViolations(PURE)).toEqual([]);
  });

  it('keeps line numbers through blanked block comments', () => {
    expect(findViolations('/*\n\n*/\nconst x = Math.random();')).toEqual([{ line: 4, what: 'uses Math.random' }]);
  });
});

/** `tsc -p config` (the project's TypeScript): exit status and output, file list included. */
function tsc(config: string): { status: number | null; lines: string[] } {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config, '--noEmit', '--pretty', 'false', '--listFiles'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, lines: `${r.stdout}${r.stderr}`.split('\n').filter((l) => l !== '') };
}

const isError = (line: string): boolean => / error TS\d+:/.test(line);

describe('purity as a compile error (tsconfig.engine.json)', () => {
  it('the sans-IO files compile without Node types or the DOM, and they are the files the scan reads', () => {
    const { status, lines } = tsc(join(ROOT, 'tsconfig.engine.json'));
    const errors = lines.filter(isError);
    expect(errors, errors.join('\n')).toEqual([]);
    expect(status).toBe(0);
    const compiled = new Set(lines.filter((l) => !isError(l)).map((l) => relative(ROOT, l).split(sep).join('/')));
    const scanned = engineFiles().map((f) => relative(ROOT, f).split(sep).join('/'));
    expect(scanned.filter((f) => !compiled.has(f))).toEqual([]);
    expect([...compiled].filter((f) => f.startsWith('src/real/') || f.startsWith('src/cli/') || f.includes('@types/node'))).toEqual([]);
  }, 180_000);

  describe('on a fixture', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-purity-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const BAD = [
      "import { readFileSync } from 'node:fs';", // 1
      "import type { Socket } from 'net';", // 2
      'setTimeout(() => {}, 10);', // 3
      "console.log('x');", // 4
      "export const home = process.env['HOME'];", // 5
      'export const body = document.body;', // 6
      "export const b = Buffer.from('x');", // 7
      'export const later = queueMicrotask;', // 8
      'export const r: [typeof readFileSync, Socket] | undefined = undefined;', // 9: fine
    ].join('\n');
    // What the compile cannot see: Date and Math.random are ES (the text scan's job).
    const GOOD = ["export const t = Date.now();", 'export const r = Math.random();', "export const u = new TextEncoder().encode('x');", "export const s = new TextDecoder('utf-8', { fatal: true }).decode(u);"].join('\n');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' })); // ES modules, as the project's
    writeFileSync(join(dir, 'bad.ts'), BAD);
    writeFileSync(join(dir, 'good.ts'), GOOD);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: join(ROOT, 'tsconfig.engine.json'), include: [join(dir, '*.ts'), join(ROOT, 'types/sans-io.d.ts')], exclude: [] }),
    );

    it('fails on every line that reaches Node, timers, the console or the DOM, and on no other', () => {
      const { status, lines } = tsc(join(dir, 'tsconfig.json'));
      const errors = lines.filter(isError);
      expect(status).not.toBe(0);
      const badLines = [...new Set(errors.filter((e) => e.includes('bad.ts(')).map((e) => Number(/bad\.ts\((\d+),/.exec(e)?.[1])))].sort((a, b) => a - b);
      expect(badLines, errors.join('\n')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(errors.filter((e) => e.includes('good.ts('))).toEqual([]);
      // ... which the text scan catches instead.
      expect(findViolations(GOOD).map((v) => v.what)).toEqual(['uses Date.now', 'uses Math.random']);
    }, 180_000);
  });
});
