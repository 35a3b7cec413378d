/**
 * `sg diff A.jsonl B.jsonl`: where two traces of one scenario made different decisions
 * (src/scenario/diff.ts), e.g. the simulator's against the lab's.
 */
import { readFileSync } from 'node:fs';
import { diffTraces, formatDiff, readTrace } from '../scenario/diff.ts';
import { duration } from '../scenario/units.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

export const DIFF_USAGE = `usage: sg diff A.jsonl B.jsonl [--tolerance T]

Compare the decisions of two traces of one scenario (say 'sg run s.yaml --trace sim.jsonl' and
'sg run s.yaml --real --trace real.jsonl'): the order in which nodes became master, each server's
state transitions (each within T of the other run's, default 250ms), and the servers each SG
node's new links went to between server state changes (the same servers, and the same cycle
under round robin).
exit status: 0 the decisions agree, 1 they differ, 2 bad usage, or a file unreadable or not a trace`;

export function diffCommand(argv: readonly string[], io: Io): number {
  const args = parseCommand('diff', argv, { tolerance: { type: 'string' } }, DIFF_USAGE, io);
  if (typeof args === 'number') return args;
  const [a, b] = args.positionals;
  if (a === undefined || b === undefined || args.positionals.length !== 2) return usageError('diff', 'give two trace files', DIFF_USAGE, io);
  const tol = duration(args.values.tolerance ?? '250ms');
  if (tol === undefined || tol < 0) return usageError('diff', `--tolerance must be a duration such as 250ms`, DIFF_USAGE, io);
  let ta: string;
  let tb: string;
  try {
    ta = readFileSync(a, 'utf8');
    tb = readFileSync(b, 'utf8');
  } catch (e) {
    io.err(`sg diff: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.usage;
  }
  const ra = readTrace(ta);
  const rb = readTrace(tb);
  for (const [file, r] of [[a, ra], [b, rb]] as const) {
    if (!r.ok) {
      io.err(`sg diff: ${file}:${r.line}: ${r.message}\n`);
      return EXIT.usage;
    }
  }
  if (!ra.ok || !rb.ok) return EXIT.usage;
  const checks = diffTraces(ra.events, rb.events, tol);
  io.out(formatDiff(checks, a, b));
  return checks.every((c) => c.agree) ? EXIT.ok : EXIT.failed;
}
