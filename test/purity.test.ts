/**
 * The engine is sans-IO (ARCHITECTURE.md): nothing under src/ outside src/real/ and src/cli/
 * imports a Node builtin or reads the wall clock, real randomness or real timers. This test
 * scans the source text, so it also covers files no other test imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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
      "import { assert } from './wire/result.ts';",
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
