/**
 * The daemon's own process watch in the lab (`scenarios/lab-basic.yaml`, slide 6): a node whose
 * daemon runs with `--watch-process NAME` and is master steps down when that process is
 * SIGKILLed, and the other node takes over; nobody sent SIGUSR1. Needs root and iproute2;
 * skipped elsewhere with the reason printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunLab, spawnDaemonAgain, tearDownLab, traceSince as traceEvents, traceSize as traceSizeOf, until } from './support.ts';
import { alive, labUp, nsName, type LabState } from '../../src/real/lab.ts';

const why = canRunLab();
if (why !== undefined) console.warn(`real-mode procwatch suite skipped: ${why}`);

type Ev = { kind: string; what?: string; machine?: string; to?: string; entity?: string };

describe.skipIf(why !== undefined)('real mode: the daemon watches its service process', () => {
  let lab: LabState;
  const ours: ChildProcess[] = [];
  const argv = new Map<string, string[]>();
  const daemonPids = new Map<string, number[]>();

  const traceSize = (name: string) => traceSizeOf(lab, name);
  const traceSince = (name: string, from: number): Ev[] => traceEvents(lab, name, from);
  const became = (name: string, from: number, to: string) => traceSince(name, from).some((e) => e.kind === 'state' && e.machine === 'bidd' && e.entity === name && e.to === to);

  async function kill(name: string): Promise<void> {
    for (const pid of daemonPids.get(name) ?? []) {
      if (!alive(pid)) continue;
      process.kill(pid, 'SIGKILL');
      await until(`${name} (pid ${pid}) to exit`, () => !alive(pid), 5_000);
    }
    daemonPids.set(name, []);
  }

  /** Start `name`'s daemon again with its lab command line minus the shared start, plus `extra`. */
  function restart(name: string, extra: string[] = []): void {
    const child = spawnDaemonAgain(lab, name, argv.get(name)!, extra);
    ours.push(child);
    daemonPids.set(name, [child.pid!]);
  }

  beforeAll(() => {
    lab = labUp('scenarios/lab-basic.yaml');
    for (const p of lab.processes.filter((x) => x.kind === 'daemon')) {
      argv.set(p.name, readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== ''));
      daemonPids.set(p.name, [p.pid]);
    }
    expect([...argv.keys()].sort()).toEqual(['sg1', 'sg2']);
  }, 60_000);

  afterAll(() => tearDownLab(lab, ours));

  it('a master whose watched process is SIGKILLed steps down and the other node takes over', async () => {
    await until('a master', () => became('sg1', 0, 'master') || became('sg2', 0, 'master'), 20_000);
    const master = became('sg1', 0, 'master') ? 'sg1' : 'sg2';
    const other = master === 'sg1' ? 'sg2' : 'sg1';
    // The service: a sleep with its own argv[0], in the master's namespace.
    const svcName = `sgsvc${process.pid}`;
    const svc = spawn('ip', ['netns', 'exec', nsName(lab.prefix, master), 'bash', '-c', `exec -a ${svcName} sleep 300`], { stdio: 'ignore' });
    ours.push(svc);
    // `ip netns exec` execs bash, which execs sleep: svc.pid is the service's pid.
    await until('the service to run', () => {
      try {
        return readFileSync(`/proc/${svc.pid}/cmdline`, 'utf8').startsWith(`${svcName}\0`);
      } catch {
        return false;
      }
    }, 10_000);
    // The master's daemon again, now watching the service; the other takes over meanwhile, then
    // is restarted so that the watching daemon becomes master once more.
    let from = traceSize(other);
    await kill(master);
    await until(`${other} to take over`, () => became(other, from, 'master'), 20_000);
    const fromM = traceSize(master);
    restart(master, ['--watch-process', svcName]);
    await until(`the watching ${master} to sync`, () => traceSince(master, fromM).some((e) => e.kind === 'decision' && e.what === 'sync-ready'), 20_000);
    from = traceSize(master);
    await kill(other);
    await until(`the watching ${master} to become master`, () => became(master, from, 'master'), 20_000);
    const fromO = traceSize(other);
    restart(other);
    await until(`${other} to sync`, () => traceSince(other, fromO).some((e) => e.kind === 'decision' && e.what === 'sync-ready'), 20_000);
    // Kill the service: the master notices by itself and steps down; the other takes over.
    const fromM2 = traceSize(master);
    const fromO2 = traceSize(other);
    const killedAt = performance.now();
    process.kill(svc.pid!, 'SIGKILL');
    await until(`${master} to trace watched-down`, () => traceSince(master, fromM2).some((e) => e.kind === 'decision' && e.what === 'watched-down'), 10_000);
    await until(`${other} to take over`, () => became(other, fromO2, 'master'), 10_000);
    // Seen through the trace files (flushed every 50 ms): an upper bound.
    console.log(`service SIGKILLed: ${other} master ${(performance.now() - killedAt).toFixed(0)} ms later (trace files seen by the test)`);
    expect(traceSince(master, fromM2).some((e) => e.kind === 'state' && e.machine === 'bidd' && e.entity === master && e.to !== 'master')).toBe(true);
  }, 180_000);
});
