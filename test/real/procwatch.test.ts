/**
 * The daemon's /proc watch of its service process (src/real/procwatch.ts, slide 6): the pure
 * part against a fake /proc tree, then a real `sleep` process watched by pid file and by name.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAEMON_USAGE } from '../../src/cli/daemon.ts';
import { daemonSetup, daemonWatch, type DaemonOptions } from '../../src/real/daemon.ts';
import { notRunInLab, simWatchLine } from '../../src/real/gaps.ts';
import { ProcWatcher, pidRunning, readPidFile, statState, targetUp, type WatchTarget } from '../../src/real/procwatch.ts';
import { loadScenario, type Scenario } from '../../src/scenario/load.ts';

function fakeProc(procs: Record<number, { comm: string; argv0?: string; state: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'sg-proc-'));
  mkdirSync(join(root, 'self')); // non-numeric entries are ignored
  for (const [pid, p] of Object.entries(procs)) {
    const d = join(root, pid);
    mkdirSync(d);
    writeFileSync(join(d, 'comm'), `${p.comm}\n`);
    writeFileSync(join(d, 'cmdline'), `${p.argv0 ?? p.comm}\0--flag\0`);
    writeFileSync(join(d, 'stat'), `${pid} (${p.comm}) ${p.state} 1 ${pid} ${pid} 0 -1 4194560\n`);
  }
  return root;
}

describe('statState', () => {
  it('reads the state after the comm, even a comm with spaces and parentheses', () => {
    expect(statState('42 (sleep) S 1 42 42 0')).toBe('S');
    expect(statState('42 (we (ird) name) Z 1 42')).toBe('Z');
    expect(statState('42 (x')).toBeUndefined();
    expect(statState('')).toBeUndefined();
  });
});

describe('targetUp against a fake /proc', () => {
  it('by name: comm or argv[0] basename, not a zombie', () => {
    const root = fakeProc({ 10: { comm: 'nginx', state: 'S' }, 11: { comm: 'python3', argv0: '/usr/local/bin/myservice', state: 'R' }, 12: { comm: 'dead', state: 'Z' } });
    expect(targetUp({ kind: 'name', name: 'nginx' }, root)).toBe(true);
    expect(targetUp({ kind: 'name', name: 'myservice' }, root)).toBe(true);
    expect(targetUp({ kind: 'name', name: 'dead' }, root)).toBe(false);
    expect(targetUp({ kind: 'name', name: 'ngin' }, root)).toBe(false);
    rmSync(join(root, '10'), { recursive: true });
    expect(targetUp({ kind: 'name', name: 'nginx' }, root)).toBe(false);
  });

  it('by pid file: the pid must exist and not be a zombie; a bad file is down', () => {
    const root = fakeProc({ 20: { comm: 'svc', state: 'S' }, 21: { comm: 'svc', state: 'Z' } });
    const file = join(root, 'svc.pid');
    const t: WatchTarget = { kind: 'pidfile', file };
    expect(targetUp(t, root)).toBe(false); // no file yet
    writeFileSync(file, '20\n');
    expect(targetUp(t, root)).toBe(true);
    writeFileSync(file, '21\n');
    expect(targetUp(t, root)).toBe(false);
    for (const bad of ['', 'abc', '-3', '0', '20 21']) {
      writeFileSync(file, bad);
      expect(readPidFile(file)).toBeUndefined();
      expect(targetUp(t, root)).toBe(false);
    }
    expect(pidRunning(99, root)).toBe(false);
  });

  it('the watcher reports the state at start and every change, once', async () => {
    const root = fakeProc({ 30: { comm: 'svc', state: 'S' } });
    const seen: boolean[] = [];
    let wake = () => {};
    const w = new ProcWatcher({ kind: 'name', name: 'svc' }, { root, intervalMs: 10, onChange: (up) => (seen.push(up), wake()) });
    const until = (n: number) => new Promise<void>((res) => { wake = () => seen.length >= n && res(); wake(); });
    expect(seen).toEqual([true]);
    rmSync(join(root, '30'), { recursive: true });
    await until(2);
    writeFileSync(join(root, 'x'), ''); // unrelated change: no report
    mkdirSync(join(root, '31'));
    writeFileSync(join(root, '31', 'comm'), 'svc\n');
    writeFileSync(join(root, '31', 'stat'), '31 (svc) R 1\n');
    await until(3);
    w.stop();
    expect(seen).toEqual([true, false, true]);
  });
});

describe('ProcWatcher on the real /proc', () => {
  for (const by of ['pidfile', 'name'] as const) {
    it(`reports down when a watched sleep (by ${by}) is killed`, async () => {
      // A distinct argv[0] so that no other sleep on the machine matches by name.
      const name = `sgpw${process.pid}${by === 'name' ? 'n' : 'p'}`;
      const child = spawn('bash', ['-c', `exec -a ${name} sleep 30`], { stdio: 'ignore' });
      const pid = child.pid!;
      const exited = new Promise<void>((res) => child.once('exit', () => res()));
      try {
        const dir = mkdtempSync(join(tmpdir(), 'sg-pw-'));
        const file = join(dir, 'svc.pid');
        writeFileSync(file, `${pid}\n`);
        const target: WatchTarget = by === 'pidfile' ? { kind: 'pidfile', file } : { kind: 'name', name };
        // Wait until the exec happened (argv[0] renamed) before judging.
        for (const since = performance.now(); !targetUp(target) && performance.now() - since < 5000; ) await new Promise((res) => setTimeout(res, 10));
        expect(targetUp(target)).toBe(true);
        const events: boolean[] = [];
        let onDown = () => {};
        const down = new Promise<void>((res) => (onDown = res));
        const w = new ProcWatcher(target, { intervalMs: 50, onChange: (up) => (events.push(up), up || onDown()) });
        expect(events).toEqual([true]);
        process.kill(pid, 'SIGKILL');
        await down;
        w.stop();
        expect(events).toEqual([true, false]);
      } finally {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
        await exited;
      }
    });
  }
});

describe("sg daemon: the configuration's watch (cluster.nodes.NAME.watch) and the flags", () => {
  // A copy of lab-basic whose sg1 watches `svc` every 20 ms; 0600: it holds the failover key.
  const dir = mkdtempSync(join(tmpdir(), 'sg-watchcfg-'));
  const config = join(dir, 'c.yaml');
  const SG1 = '    sg1: { public: { segment: public, ip: 10.10.1.11 }, private: { segment: pool, ip: 10.10.2.11 }, price: 200 }';
  const lab = readFileSync('scenarios/lab-basic.yaml', 'utf8');
  writeFileSync(config, lab.replace(SG1, `${SG1.slice(0, -2)}, watch: { process: svc, interval: 20ms } }`), { mode: 0o600 });
  writeFileSync(join(dir, 'plain.yaml'), lab, { mode: 0o600 }); // the same without watch:
  const base = { config, publicIface: 'lo', privateIface: 'lo' } as const;
  const resolved = (opts: DaemonOptions) => {
    const { node } = daemonSetup(opts);
    return daemonWatch(opts, node);
  };

  it('the file gives the watcher the flag gives (same target, same period, same reports)', async () => {
    const fromFile = resolved({ ...base, node: 'sg1' })!;
    const fromFlag = resolved({ ...base, config: join(dir, 'plain.yaml'), node: 'sg1', watch: { kind: 'name', name: 'svc' }, watchIntervalMs: 20 })!;
    expect(fromFile).toEqual({ target: { kind: 'name', name: 'svc' }, intervalMs: 20, from: 'config' });
    expect({ ...fromFlag, from: 'config' }).toEqual(fromFile);
    // Both watchers, on the same fake /proc, report the same changes.
    const root = fakeProc({ 40: { comm: 'svc', state: 'S' } });
    const seen: Record<string, boolean[]> = { file: [], flag: [] };
    let wake = () => {};
    const ws = Object.entries({ file: fromFile, flag: fromFlag }).map(([k, w]) => new ProcWatcher(w.target, { root, intervalMs: w.intervalMs, onChange: (up) => (seen[k]!.push(up), wake()) }));
    rmSync(join(root, '40'), { recursive: true });
    await new Promise<void>((res) => { wake = () => seen['file']!.length >= 2 && seen['flag']!.length >= 2 && res(); wake(); });
    for (const w of ws) w.stop();
    expect(seen).toEqual({ file: [true, false], flag: [true, false] });
  });

  it('a --watch-* flag overrides the file, interval included; --no-watch drops only the file', () => {
    const flag = { kind: 'pidfile', file: '/run/other.pid' } as const;
    expect(resolved({ ...base, node: 'sg1', watch: flag })).toEqual({ target: flag, intervalMs: 150, from: 'flag' });
    expect(resolved({ ...base, node: 'sg1', noWatch: true })).toBeUndefined();
    expect(resolved({ ...base, node: 'sg1', noWatch: true, watch: flag })).toEqual({ target: flag, intervalMs: 150, from: 'flag' });
    expect(resolved({ ...base, node: 'sg2' })).toBeUndefined(); // sg2 has no watch:
  });

  it("sg daemon --help says so; the lab's daemons run with --no-watch and the lab says why", () => {
    expect(DAEMON_USAGE).toMatch(/cluster\.nodes\.NAME\.watch[\s\S]*a flag\s+overrides the file's watch/);
    expect(DAEMON_USAGE).toContain('--no-watch');
    const r = loadScenario(readFileSync(config, 'utf8'), config);
    if (!r.ok) throw new Error('does not load');
    expect(notRunInLab(r.scenario)).toContainEqual(expect.stringMatching(/^watch of node\(s\) sg1 \(process 'svc'\): not watched \(the lab's daemons run with --no-watch/));
    expect(simWatchLine(r.scenario)).toMatch(/^note: cluster\.nodes\.\{sg1\}\.watch is for sg daemon \(real mode\); the simulator has no process table/);
    expect(simWatchLine({ ...r.scenario, cluster: undefined } as unknown as Scenario)).toBeUndefined();
  });
});
