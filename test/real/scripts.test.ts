/**
 * The real-mode failover script runner (src/real/scripts.ts) with real shell commands: the SG_*
 * environment reaches the command, scripts run one at a time in call order, failures are
 * reported, and a hanging script (and its children) is ended at its timeout without blocking the
 * next one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ScriptCall } from '../../src/engine/config.ts';
import type { Duration } from '../../src/time.ts';
import { ScriptRunner } from '../../src/real/scripts.ts';

const env = { SG_SCRIPT: 'start', SG_STATE: 'master', SG_NODE: '2', SG_NAME: 'sg2', SG_GROUP: '224.1.1.1', SG_EPOCH: '3', SG_VIPS: '140.116.72.114', SG_PRIVATE_VIP: '192.168.1.254' };
const call = (which: ScriptCall['which'], command: string | undefined, timeoutMs = 5000): ScriptCall => ({ which, command, timeout: (timeoutMs * 1000) as Duration, env: { ...env, SG_SCRIPT: which } });

describe('ScriptRunner', () => {
  it('runs each command once, in order, with the SG_* environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-scripts-'));
    const log = join(dir, 'log');
    const r = new ScriptRunner();
    // The first sleeps, so a runner that did not serialise would log stop before start.
    r.run(call('start', `sleep 0.2; echo "$SG_SCRIPT $SG_STATE $SG_NODE $SG_VIPS $SG_PRIVATE_VIP" >> ${log}`));
    r.run(call('stop', `echo "$SG_SCRIPT" >> ${log}`));
    r.run(call('continue', undefined)); // no command configured: nothing runs
    r.run(call('continue', `echo "$SG_SCRIPT $SG_EPOCH" >> ${log}; exit 3`));
    await r.idle();
    expect(readFileSync(log, 'utf8')).toBe('start master 2 140.116.72.114 192.168.1.254\nstop\ncontinue 3\n');
    expect(r.results.map((x) => [x.which, x.code, x.timedOut])).toEqual([['start', 0, false], ['stop', 0, false], ['continue', 3, false]]);
  });

  it('ends a hanging script and its children at the timeout, and goes on with the next', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-scripts-'));
    const log = join(dir, 'log');
    const r = new ScriptRunner({ killGrace: 200 });
    const t0 = performance.now();
    r.run(call('start', `(sleep 31.7; echo child-survived >> ${log}) & sleep 31.7`, 300));
    r.run(call('stop', `echo next >> ${log}`));
    await r.idle();
    const took = performance.now() - t0;
    expect(r.results[0]!.timedOut).toBe(true);
    expect(r.results[0]!.signal).toBe('SIGTERM');
    expect(took).toBeLessThan(5000);
    expect(readFileSync(log, 'utf8')).toBe('next\n');
    // Neither the script nor the child it started is left running (a SIGKILLed process may take
    // a moment to be reaped: poll, bounded).
    const running = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes('sleep 31.7');
    for (const since = performance.now(); running() && performance.now() - since < 5000; ) await new Promise((res) => setTimeout(res, 20));
    expect(running()).toBe(false);
  });

  it('reports a command that cannot run', async () => {
    const r = new ScriptRunner();
    r.run(call('start', '/nonexistent/sg-start 2>&1 1>/dev/null; echo oops >&2; exit 127'));
    await r.idle();
    expect(r.results[0]!.code).toBe(127);
    expect(r.results[0]!.stderr).toContain('oops');
  });
});
