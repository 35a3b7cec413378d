/**
 * Restart-to-serving time of `sg daemon`: from spawning the process to its sockets
 * bound and to its engine running, with the daemon run from the compiled dist/ (bin/dist.mjs,
 * built first if stale) and through tsx (SG_NO_DIST=1), alternately, RUNS times each.
 *
 * It builds the lab of scenarios/failover-stateful.yaml without daemons, then starts sg1's daemon
 * in its namespace the way the lab restarts a node without a standby: the start file is written
 * before the spawn with `at` = the spawn instant, so the engine starts as soon as it is bound and
 * the status file's `startLateUs` is spawn-to-running, on CLOCK_MONOTONIC (`boundAt` minus the
 * spawn: spawn-to-bound), and the CPU time the process used by then (from /proc, which the
 * machine's load does not inflate). Each daemon is stopped (SIGTERM) before the next. Needs root.
 *
 *   node --import tsx test/bench/daemon-start.ts [runs]
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { buildDaemon, labDown, labUp, nsName, SG_BIN } from '../../src/real/lab.ts';
import { readDaemonStatus } from '../../src/real/daemon.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';

const RUNS = Number(process.argv[2] ?? 5);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('usage: daemon-start.ts [runs >= 1]');
const SCENARIO = new URL('../../scenarios/failover-stateful.yaml', import.meta.url).pathname;
const NODE = 'sg1';

type Mode = 'dist' | 'tsx';
interface Sample { readonly boundMs: number; readonly runningMs: number; readonly cpuMs: number }

/** CPU time (user + system, all threads) process `pid` has used so far, ms: a figure the machine's load does not inflate. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in USER_HZ (100)
}

async function once(lab: ReturnType<typeof labUp>, mode: Mode, k: number): Promise<Sample> {
  const startFile = `${lab.dir}/bench-${mode}-${k}.start`;
  const status = `${lab.dir}/bench-${mode}-${k}.status`;
  const spawned = monotonicUs();
  writeFileSync(startFile, JSON.stringify({ t0: spawned, at: spawned }));
  const env = { ...process.env, SG_NO_DIST: mode === 'tsx' ? '1' : '0' };
  const child = spawn('ip', ['netns', 'exec', nsName(lab.prefix, NODE), process.execPath, SG_BIN, 'daemon', '--config', lab.config!, '--node', NODE, '--start-file', startFile, '--status', status], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  let dead = false;
  void exited.then(() => (dead = true));
  for (;;) {
    const s = readDaemonStatus(status);
    if (s?.phase === 'running' && s.boundAt !== undefined && s.startLateUs !== undefined) {
      const cpu = cpuMs(child.pid!); // ip netns exec execs node: the same process
      child.kill('SIGTERM');
      await exited;
      if (mode === 'dist' && err.includes('through tsx')) throw new Error(`the dist run ran through tsx: ${err}`);
      return { boundMs: (s.boundAt - spawned) / 1000, runningMs: s.startLateUs / 1000, cpuMs: cpu };
    }
    if (s?.phase === 'failed' || s?.phase === 'stopped' || dead) throw new Error(`daemon ${mode} #${k} did not start: ${s?.error ?? ''} ${err}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(0)} / median ${s[Math.floor(s.length / 2)]!.toFixed(0)} / max ${s[s.length - 1]!.toFixed(0)} ms`;
};

buildDaemon((l) => console.error(l));
const lab = labUp(SCENARIO, { daemons: false, log: () => {} });
const results: Record<Mode, Sample[]> = { dist: [], tsx: [] };
try {
  for (let k = 1; k <= RUNS; k++) {
    for (const mode of ['tsx', 'dist'] as const) {
      const r = await once(lab, mode, k);
      results[mode].push(r);
      console.log(`${mode} #${k}: bound ${r.boundMs.toFixed(0)} ms, running ${r.runningMs.toFixed(0)} ms, CPU ${r.cpuMs.toFixed(0)} ms`);
    }
  }
} finally {
  labDown(lab.prefix);
}
for (const mode of ['tsx', 'dist'] as const) {
  console.log(`${mode.padEnd(4)}  spawn to sockets bound: ${fmt(results[mode].map((r) => r.boundMs))}; to engine running: ${fmt(results[mode].map((r) => r.runningMs))}; CPU used by then: ${fmt(results[mode].map((r) => r.cpuMs))}`);
}
