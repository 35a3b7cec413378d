/**
 * Real mode's failover scripts (slide 9): the engine hands over a `ScriptCall` for every
 * transition (start on becoming master, stop on leaving, continue on re-announcing after a split);
 * this runner executes its command with `/bin/sh -c`, the SG_* variables added to the environment,
 * one at a time in the order the transitions happened (a stop never overtakes the start before
 * it), each bounded by its timeout.
 *
 * keepalived users know the failure modes this avoids: a notify script that hangs forever and
 * blocks every later one (here: SIGTERM to the script's whole process group at the timeout, then
 * SIGKILL after `killGrace`), scripts that run twice or not at all (here: exactly one run per call,
 * its result reported), and scripts that never see which address they hold (here: SG_VIPS and
 * SG_PRIVATE_VIP).
 */

import { spawn } from 'node:child_process';
import type { ScriptCall } from '../engine/config.ts';

export interface ScriptResult {
  readonly which: ScriptCall['which'];
  readonly command: string;
  /** Exit status, or undefined when a signal ended it. */
  readonly code: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly ms: number;
  /** The last 2 KiB of what it wrote to stderr (for the log). */
  readonly stderr: string;
}

export interface ScriptRunnerOptions {
  /** Called with each finished script's result (success or not). */
  readonly onResult?: (r: ScriptResult) => void;
  /** Between SIGTERM at the timeout and SIGKILL (default 1000 ms). */
  readonly killGrace?: number;
}

const STDERR_KEEP = 2048;

export class ScriptRunner {
  readonly #queue: ScriptCall[] = [];
  readonly #opts: ScriptRunnerOptions;
  #running: Promise<void> | undefined;
  readonly results: ScriptResult[] = [];

  constructor(opts: ScriptRunnerOptions = {}) {
    this.#opts = opts;
  }

  /** Queue a call (a call without a command is a no-op). Returns at once. */
  run(call: ScriptCall): void {
    if (call.command === undefined) return;
    this.#queue.push(call);
    this.#running ??= this.#drain();
  }

  /** Resolves when every queued script has finished. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #drain(): Promise<void> {
    for (let c = this.#queue.shift(); c !== undefined; c = this.#queue.shift()) {
      const r = await this.#exec(c);
      this.results.push(r);
      this.#opts.onResult?.(r);
    }
    this.#running = undefined;
  }

  #exec(call: ScriptCall): Promise<ScriptResult> {
    const command = call.command!;
    const started = performance.now();
    return new Promise((resolve) => {
      // detached: the script leads its own process group, so a timeout ends its children too.
      const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...call.env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        stderr = (stderr + d).slice(-STDERR_KEEP);
      });
      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      const killGroup = (sig: NodeJS.Signals) => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, sig);
        } catch {
          // already gone
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), this.#opts.killGrace ?? 1000);
      }, Math.max(1, Math.round(call.timeout / 1000)));
      const done = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
        clearTimeout(timer);
        if (killTimer !== undefined) clearTimeout(killTimer);
        resolve({ which: call.which, command, code: code ?? undefined, signal: signal ?? undefined, timedOut, ms: performance.now() - started, stderr: err ? String(err) : stderr });
      };
      child.once('error', (err) => done(null, null, err));
      child.once('close', (code, signal) => done(code, signal));
    });
  }
}
