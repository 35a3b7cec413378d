/**
 * `npm run bench`: every benchmark, median of 7 rounds, with min-max. `--json` prints the results
 * as JSON; a name filter as the first argument runs only matching benchmarks.
 */
import os from 'node:os';
import { codecBenches } from './codec.bench.ts';
import { kernelBenches } from './kernel.bench.ts';
import { linkTableBenches, linkTableMemory } from './linktable.bench.ts';
import { natBenches } from './nat.bench.ts';
import { simBenches } from './sim.bench.ts';
import { switchBenches } from './switch.bench.ts';
import { formatRate, measure, type Bench, type BenchResult } from './harness.ts';
import { failoverFigures } from './failover.figures.ts';
import { rwNatFigures } from './rw.bench.ts';
import { rwFigures } from './rw.figures.ts';
import { formatScale, runScale } from './scale.ts';

const all: Bench[] = [...codecBenches, ...natBenches, ...linkTableBenches, ...kernelBenches, ...switchBenches, ...simBenches];

const args = process.argv.slice(2);
const json = args.includes('--json');
const filter = args.find((a) => !a.startsWith('--'));
const chosen = filter ? all.filter((b) => b.name.includes(filter)) : all;

const results: BenchResult[] = [];
if (!json) {
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}`);
}
for (const b of chosen) {
  const r = measure(b);
  results.push(r);
  if (!json) {
    const goal = r.goalPerSec === undefined ? '' : `  goal ${formatRate(r.goalPerSec)}/s ${r.medianPerSec >= r.goalPerSec ? 'met' : 'NOT met'}`;
    console.log(`${r.name.padEnd(58)} ${formatRate(r.medianPerSec).padStart(8)} ${r.unit}/s  (${formatRate(r.minPerSec)}-${formatRate(r.maxPerSec)})${goal}`);
  }
}
const memory = !filter || 'link table memory'.includes(filter) ? linkTableMemory(1_000_000) : undefined;
if (memory && !json) console.log(`link table memory at 1M links: ${JSON.stringify(memory)}`);
if (json) console.log(JSON.stringify({ results, linkTableMemory: memory }, null, 2));
if (!json && (!filter || 'failover figures'.includes(filter))) failoverFigures();
// The read/write models: the vote on the NAT path (rw.bench.ts), then the simulator figures (rw.figures.ts).
if (!json && (!filter || 'rw NAT path vote'.includes(filter))) rwNatFigures();
if (!json && (!filter || 'rw figures'.includes(filter))) rwFigures();
// Simulator scale (about a minute of CPU): only when asked for, `npm run bench -- scale`.
if (!json && filter !== undefined && 'simulator scale'.includes(filter)) {
  for (const n of [10_000, 100_000]) {
    console.log(formatScale(runScale(n)));
    globalThis.gc?.();
  }
}
