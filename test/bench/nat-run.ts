/**
 * The NAT path benchmark's work and nothing else, REPS x 100,000 frames, for counting
 * instructions: two runs under callgrind, REPS 2 and 6, and their difference over 400,000 frames
 * is the instructions per frame with start-up cancelled (the README's Performance section).
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null node --single-threaded --import tsx test/bench/nat-run.ts 6
 */
import { natBenches } from './nat.bench.ts';

const reps = Number(process.argv[2] ?? 2);
if (!(Number.isSafeInteger(reps) && reps >= 1)) {
  console.error(`usage: nat-run.ts REPS (a positive integer), got ${process.argv[2]}`);
  process.exit(2);
}
for (let i = 0; i < reps; i++) natBenches[0]!.run(100_000);
