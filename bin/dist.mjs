// The compiled daemon in dist/: whether it matches the sources, and how to build it.
// `sg daemon` (bin/sg.mjs) runs dist/ only when its stamp holds the hash of the sources it was
// built from and that hash is still the sources' hash: a stale build never runs.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(ROOT, 'dist');
const STAMP = 'stamp.json';
/** What the build compiles (besides the .ts files under these directories). */
const CONFIGS = ['package.json', 'tsconfig.json', 'tsconfig.build.json'];
const DIRS = ['src', 'sim'];

function tsFiles(dir, out) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** SHA-256 over the path and content of every source the build reads, in a fixed order. */
export function sourceHash(root = ROOT) {
  const files = [...CONFIGS.map((c) => join(root, c)), ...DIRS.flatMap((d) => tsFiles(join(root, d), []).sort())];
  const h = createHash('sha256');
  for (const f of files) {
    h.update(relative(root, f)).update('\0');
    h.update(existsSync(f) ? readFileSync(f) : '(absent)').update('\0');
  }
  return h.digest('hex');
}

/** 'fresh', 'absent' or 'stale' (built from other sources than the tree's). */
export function distState(root = ROOT) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, 'dist', STAMP), 'utf8'));
  } catch {
    return 'absent';
  }
  return stamp.sources === sourceHash(root) ? 'fresh' : 'stale';
}

/**
 * Compile src/ and sim/ into dist/ (tsconfig.build.json) unless dist/ is fresh. The build goes
 * to a directory of its own and replaces dist/ by a rename, so a process never sees half a
 * build, and two builds at once both end with a complete one. Returns what it did.
 */
export function build(root = ROOT, { force = false } = {}) {
  if (!force && distState(root) === 'fresh') return 'fresh';
  const sources = sourceHash(root);
  const tmp = join(root, `dist.build-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', tmp], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    writeFileSync(join(tmp, STAMP), JSON.stringify({ sources, builtAt: new Date().toISOString() }) + '\n');
    const old = join(root, `dist.old-${process.pid}`);
    if (existsSync(join(root, 'dist'))) renameSync(join(root, 'dist'), old);
    renameSync(tmp, join(root, 'dist'));
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (distState(root) === 'fresh') return 'fresh'; // another build of the same sources won the rename
    throw e;
  }
  return 'built';
}
