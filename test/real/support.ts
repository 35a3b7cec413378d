/**
 * What the real-mode suites share: whether a lab can run here (said, never skipped silently),
 * running a command in a lab namespace with a deadline, curl through the VIP, reading a node's
 * trace as it grows, and waiting for a condition with a deadline instead of sleeping.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { alive, labDown, nsName, type LabState } from '../../src/real/lab.ts';

/** Why a lab cannot run on this machine (undefined: it can). */
export function canRunLab(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'no iproute2 / network namespaces';
  }
  return undefined;
}

/** A deadline, not a wait: a Node command (sg cmd) can take many seconds to start on a busy machine. */
export const SH_TIMEOUT_MS = 60_000;

/** Run `cmd` in namespace `ns`; its stdout. Throws on a non-zero exit or at the deadline. */
export function sh(ns: string, cmd: string, args: string[], timeout = SH_TIMEOUT_MS): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** GET http://VIP/ from the lab's client namespace: the body, or '' on any failure. */
export function curl(lab: LabState, vip: string, timeoutS = 5): string {
  try {
    return sh(nsName(lab.prefix, 'client'), 'curl', ['-s', '-m', String(timeoutS), `http://${vip}/`]).trim();
  } catch {
    return '';
  }
}

/** Poll `cond` every 50 ms until it holds (the ms it took) or `ms` pass (throws, naming `what`). */
export async function until(what: string, cond: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (cond()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A trace event as the lab tests read it. */
export type TraceEv = { kind: string; what?: string; machine?: string; to?: string; entity?: string; detail?: Record<string, unknown> };

/** Trace events of node `name` written after byte `from` of its trace file. */
export function traceSince(lab: LabState, name: string, from: number): TraceEv[] {
  let text = '';
  try {
    text = readFileSync(`${lab.dir}/${name}.jsonl`, 'utf8').slice(from);
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    try {
      return l.trim() === '' ? [] : [JSON.parse(l)];
    } catch {
      return []; // a line being written
    }
  });
}

export function traceSize(lab: LabState, name: string): number {
  try {
    return statSync(`${lab.dir}/${name}.jsonl`).size;
  } catch {
    return 0;
  }
}

/**
 * Start node `name`'s daemon as a process manager would: its lab command line `argv` (the argv of
 * the lab's process) without the lab's shared start (`--t0`, `--start-file`, `--status`), so its
 * engine clock starts from zero, plus `extra`; its output goes to the node's log.
 */
export function spawnDaemonAgain(lab: LabState, name: string, argv: readonly string[], extra: readonly string[] = []): ChildProcess {
  const cmd: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--t0' || argv[i] === '--start-file' || argv[i] === '--status') i++;
    else cmd.push(argv[i]!);
  }
  const fd = openSync(`${lab.dir}/${name}.log`, 'a');
  const child = spawn('ip', ['netns', 'exec', nsName(lab.prefix, name), ...cmd, ...extra], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

/** A suite's teardown: SIGKILL the processes it started itself, remove its lab, check no namespace is left. */
export function tearDownLab(lab: LabState | undefined, ours: readonly ChildProcess[]): void {
  for (const c of ours) if (c.pid !== undefined && alive(c.pid)) process.kill(c.pid, 'SIGKILL');
  if (lab === undefined) return;
  labDown(lab.prefix);
  if (execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`${lab.prefix}-`)) throw new Error(`lab ${lab.prefix}: namespaces left after labDown`);
}
