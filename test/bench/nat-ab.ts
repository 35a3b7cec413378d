/**
 * The NAT path against another checkout of this project, in one process: both engines' 'NAT
 * path' benchmark (nat.bench.ts) in alternating rounds, so load and clock changes hit both
 * alike. Prints each side's median and the median of the per-round ratios (this tree / other).
 *
 *   git worktree add /tmp/sg-base <ref> && ln -s "$PWD/node_modules" /tmp/sg-base/node_modules
 *   node --expose-gc --import tsx test/bench/nat-ab.ts /tmp/sg-base [rounds]
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bench } from './harness.ts';

const [other, roundsArg] = process.argv.slice(2);
if (other === undefined || !existsSync(resolve(other, 'test/bench/nat.bench.ts'))) {
  console.error('usage: node --expose-gc --import tsx test/bench/nat-ab.ts OTHER_CHECKOUT [rounds]  (OTHER_CHECKOUT/test/bench/nat.bench.ts must exist)');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 21);
if (!(Number.isSafeInteger(rounds) && rounds >= 1)) {
  console.error(`rounds must be a positive integer, got ${roundsArg}`);
  process.exit(2);
}

const load = async (dir: string): Promise<Bench> => {
  const m = (await import(pathToFileURL(resolve(dir, 'test/bench/nat.bench.ts')).href)) as { natBenches: Bench[] };
  return m.natBenches[0]!;
};
const here = await load(resolve(import.meta.dirname, '../..'));
const base = await load(other);
const N = 200_000;
const rate = (b: Bench): number => {
  const t = process.hrtime.bigint();
  b.run(N);
  return N / (Number(process.hrtime.bigint() - t) / 1e9);
};
for (let i = 0; i < 5; i++) rate(here), rate(base); // warm both
const h: number[] = [];
const o: number[] = [];
for (let i = 0; i < rounds; i++) {
  // Alternate which goes first, so neither always runs on a just-warmed cache.
  if (i % 2 === 0) h.push(rate(here)), o.push(rate(base));
  else o.push(rate(base)), h.push(rate(here));
}
const median = (x: readonly number[]): number => [...x].sort((a, b) => a - b)[x.length >> 1]!;
const ratios = h.map((v, i) => v / o[i]!);
console.log(`NAT path, ${rounds} alternating rounds of ${N} frames`);
console.log(`  this tree: ${(median(h) / 1e6).toFixed(2)}M frames/s   other (${other}): ${(median(o) / 1e6).toFixed(2)}M frames/s`);
console.log(`  ratio this/other: median ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)})`);
