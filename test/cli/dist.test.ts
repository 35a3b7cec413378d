/**
 * The compiled daemon (bin/dist.mjs): dist/ counts as fresh only while the sources are those it
 * was built from, so a stale build never runs; `sg daemon` runs dist/ when it is fresh.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build, distState, ROOT, sourceHash } from '../../bin/dist.mjs';

const tmp = mkdtempSync(join(tmpdir(), 'sg-dist-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tree with the project's tsconfigs and node_modules and a two-module program. */
function tree(): string {
  const root = mkdtempSync(join(tmp, 'tree-'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json']) copyFileSync(join(ROOT, f), join(root, f));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'sim'));
  writeFileSync(join(root, 'src', 'a.ts'), "import { b } from '../sim/b.ts';\nexport const a: number = b + 1;\n");
  writeFileSync(join(root, 'sim', 'b.ts'), 'export const b: number = 41;\n');
  return root;
}

describe('dist/ freshness', () => {
  it('is absent before a build, fresh after, stale after any source change, fresh again after a rebuild', async () => {
    const root = tree();
    expect(distState(root)).toBe('absent');
    expect(build(root)).toBe('built');
    expect(distState(root)).toBe('fresh');
    expect((await import(join(root, 'dist', 'src', 'a.js'))).a).toBe(42);
    expect(build(root)).toBe('fresh'); // nothing to do
    writeFileSync(join(root, 'sim', 'b.ts'), 'export const b: number = 1;\n');
    expect(distState(root)).toBe('stale');
    writeFileSync(join(root, 'sim', 'b.ts'), 'export const b: number = 41;\n');
    expect(distState(root)).toBe('fresh'); // the content counts, not the time
    writeFileSync(join(root, 'src', 'new.ts'), 'export {};\n');
    expect(distState(root)).toBe('stale'); // a new source too
    expect(build(root)).toBe('built');
    expect(distState(root)).toBe('fresh');
    expect(readdirSync(root).filter((f) => f.startsWith('dist.'))).toEqual([]); // no half builds left
  }, 60_000);

  it('a failed compile leaves dist/ as it was, stale, and throws', () => {
    const root = tree();
    build(root);
    const before = sourceHash(root);
    writeFileSync(join(root, 'src', 'a.ts'), 'export const a: number = "not a number";\n');
    expect(() => build(root)).toThrow();
    expect(sourceHash(root)).not.toBe(before);
    expect(distState(root)).toBe('stale');
    expect(existsSync(join(root, 'dist', 'src', 'a.js'))).toBe(true);
  }, 60_000);
});

describe('sg daemon', () => {
  it('runs dist/ when it is fresh, the sources through tsx (saying so) when told to', () => {
    execFileSync(process.execPath, [join(ROOT, 'bin', 'build.mjs')], { stdio: 'ignore' });
    expect(distState()).toBe('fresh');
    const fast = spawnSync(process.execPath, [join(ROOT, 'bin', 'sg.mjs'), 'daemon', '--help'], { encoding: 'utf8' });
    expect(fast.status).toBe(0);
    expect(fast.stdout + fast.stderr).toContain('usage: sg daemon');
    expect(fast.stderr).not.toContain('through tsx');
    const slow = spawnSync(process.execPath, [join(ROOT, 'bin', 'sg.mjs'), 'daemon', '--help'], { encoding: 'utf8', env: { ...process.env, SG_NO_DIST: '1' } });
    expect(slow.status).toBe(0);
    expect(slow.stdout + slow.stderr).toContain('usage: sg daemon');
  }, 60_000);
});
