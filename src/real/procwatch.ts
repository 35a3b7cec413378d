/**
 * The daemon's own watch of its service process (slide 6: bidd "watches the named process in the
 * process table"). Instead of waiting for SIGUSR1/SIGUSR2 from outside, `sg daemon
 * --watch-process NAME` / `--watch-pidfile FILE` polls /proc and reports the process going away
 * (watched-down) and coming back (watched-up), through the same engine call the signals use.
 *
 * A process counts as running when /proc/PID exists and its state (/proc/PID/stat) is not Z
 * (zombie) or X (dead). By name: some such PID whose /proc/PID/comm, or the basename of argv[0]
 * (/proc/PID/cmdline), is NAME. By pid file: the PID written in FILE (a missing, empty or bad
 * file is "not running").
 */

import { readdirSync, readFileSync } from 'node:fs';

export type WatchTarget = { readonly kind: 'name'; readonly name: string } | { readonly kind: 'pidfile'; readonly file: string };

/** The state letter of a /proc/PID/stat line (the field after the parenthesised comm, which may hold spaces and parentheses). */
export function statState(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const m = /^\s+(\S)/.exec(stat.slice(close + 1));
  return m?.[1];
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // gone (or never there): not running
  }
}

/** Whether process `pid` exists under `root` and is not a zombie. */
export function pidRunning(pid: number, root = '/proc'): boolean {
  const stat = read(`${root}/${pid}/stat`);
  if (stat === undefined) return false;
  const s = statState(stat);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

function nameMatches(dir: string, name: string): boolean {
  if (read(`${dir}/comm`)?.trim() === name) return true;
  const argv0 = read(`${dir}/cmdline`)?.split('\0')[0];
  return argv0 !== undefined && argv0 !== '' && argv0.slice(argv0.lastIndexOf('/') + 1) === name;
}

/** The pid in a pid file, or undefined when the file is missing or holds no positive integer. */
export function readPidFile(file: string): number | undefined {
  const text = read(file)?.trim();
  if (text === undefined || !/^[0-9]+$/.test(text)) return undefined;
  const pid = Number(text);
  return pid > 0 && Number.isSafeInteger(pid) ? pid : undefined;
}

/** Whether the watched process runs now, judged from the /proc tree at `root`. */
export function targetUp(target: WatchTarget, root = '/proc'): boolean {
  if (target.kind === 'pidfile') {
    const pid = readPidFile(target.file);
    return pid !== undefined && pidRunning(pid, root);
  }
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return false;
  }
  for (const d of entries) {
    if (!/^[0-9]+$/.test(d)) continue;
    if (nameMatches(`${root}/${d}`, target.name) && pidRunning(Number(d), root)) return true;
  }
  return false;
}

export function describeTarget(t: WatchTarget): string {
  return t.kind === 'name' ? `process '${t.name}'` : `the process in pid file ${t.file}`;
}

export interface ProcWatchOptions {
  readonly root?: string;
  /** Poll period (ms); default 150. */
  readonly intervalMs?: number;
  /** Called with the state at start, then at every change. */
  readonly onChange: (up: boolean) => void;
}

/** Polls `targetUp` and reports changes; `stop()` ends it. */
export class ProcWatcher {
  #up: boolean | undefined;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(
    readonly target: WatchTarget,
    private readonly opts: ProcWatchOptions,
  ) {
    this.#poll();
    this.#timer = setInterval(() => this.#poll(), opts.intervalMs ?? 150);
  }

  get up(): boolean | undefined {
    return this.#up;
  }

  #poll(): void {
    const now = targetUp(this.target, this.opts.root);
    if (now === this.#up) return;
    this.#up = now;
    this.opts.onChange(now);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
