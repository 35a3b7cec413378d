/**
 * One rule for files that hold secrets, in real mode: such a file must not be readable (or
 * writable, or executable) by group or others, as ssh demands of private keys and keepalived of
 * its configuration. It applies to
 *
 *   - key files (`sg cmd --key`, `sg hb --key`): always secrets;
 *   - the configuration `sg daemon --config` reads, when it holds secrets: feedback-protocol keys
 *     (`cluster.keys`) or the failover group key (`cluster.failover.key`).
 *
 * A file that breaks it is refused before anything else happens (exit 2, a message naming the
 * file, its mode and the fix: `chmod 600 FILE`). The simulator (`sg run`, `sg sweep`, `sg fuzz`)
 * does not check: the scenarios in the repository hold test keys and are checked out 0644.
 * `sg lab up` / `sg run --real` read a scenario as the simulator does (its keys are test keys),
 * and give the daemons a copy written 0600 in the lab's own directory.
 */

import { statSync } from 'node:fs';

/** Permission bits a secret file may not have: anything for group or others. */
export const SECRET_FILE_MODE_MASK = 0o077;

/** The mode the lab writes its copies of secret files with. */
export const SECRET_FILE_MODE = 0o600;

/**
 * Why `path` may not hold secrets (`what` names what it is, e.g. 'key file'), or undefined when
 * it may. A file that cannot be stat'ed is a problem too (named as such).
 */
export function secretFileProblem(path: string, what: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    return `${path}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`;
  }
  if ((mode & SECRET_FILE_MODE_MASK) === 0) return undefined;
  return `${path}: ${what} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 ${path}`;
}
