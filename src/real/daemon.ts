/**
 * `sg daemon`: one SG node on real interfaces. The control plane runs here on the main thread:
 * it loads the configuration (a scenario file's cluster, the same file the simulator runs), reads
 * the interfaces' MAC addresses, starts the data-plane worker (`engine-worker.ts`), writes the
 * trace, runs the failover scripts (`scripts.ts`), watches the interfaces' carrier, and turns
 * signals into engine calls:
 *
 *   SIGHUP           graceful step-down (resign): the others are told at once; the node stays up
 *                    but out of the election until restarted (slide 9's "signal HUP/INT")
 *   SIGINT, SIGTERM  the same step-down, then a clean exit (sockets closed, trace flushed)
 *   SIGUSR1          the watched process died (`watched-down`); SIGUSR2: it runs again
 *
 * With `watch` (`--watch-process` / `--watch-pidfile`, or else the node's `watch:` in the
 * configuration, `daemonWatch`) the daemon also polls /proc itself (`procwatch.ts`) and makes the
 * same engine call when the process goes away or comes back.
 *
 * The feedback protocol (SGctrld, `sg cmd`) is part of the engine and answers on the node's
 * addresses through the same raw sockets.
 */

import { createWriteStream, existsSync, readFileSync, renameSync, writeFileSync, type WriteStream } from 'node:fs';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { SgNodeConfig } from '../engine/config.ts';
import { Rng } from '../rng.ts';
import { formatScenarioError, loadScenario, type ClusterNodeModel } from '../scenario/load.ts';
import { sgNodeConfig, sgNodeSeed } from '../scenario/sg-config.ts';
import { JsonlTrace, type TraceEventInput } from '../trace.ts';
import type { Instant } from '../time.ts';
import { mac, type MacAddr } from '../wire/addr.ts';
import { workerEntry } from './worker-entry.ts';
import { monotonicUs, type FromWorker, type ToWorker, type WorkerInit } from './engine-worker.ts';
import { describeTarget, ProcWatcher, type WatchTarget } from './procwatch.ts';
import { ScriptRunner } from './scripts.ts';
import { secretFileProblem } from './secrets.ts';

export interface DaemonOptions {
  readonly config: string;
  readonly node: string;
  readonly publicIface?: string;
  readonly privateIface?: string;
  readonly trace?: string;
  /** CLOCK_MONOTONIC µs that is time 0 (default: now). */
  readonly t0?: number;
  /**
   * Synchronised start (the lab's): once bound, wait for this file (JSON `{"t0": US, "at": US}`,
   * `StartFile`) and start the engine at `at`, its trace's time 0 being `t0`. Overrides `t0`.
   */
  readonly startFile?: string;
  /** Keep this JSON file up to date with the daemon's phase and timing (`DaemonStatus`). */
  readonly status?: string;
  /** Watch this process in /proc: its death is watched-down, its return watched-up (as SIGUSR1/2). */
  readonly watch?: WatchTarget;
  /** The /proc poll period for `watch` (ms, default 150). */
  readonly watchIntervalMs?: number;
  /** Ignore the node's `watch:` in the configuration (the lab's daemons: `sg daemon --no-watch`); `watch` still applies. */
  readonly noWatch?: boolean;
  /**
   * Pin the link table's hash seed (a u32; `--hash-seed`), e.g. so that two runs hash alike;
   * without it each start draws one from node:crypto (engine-worker.ts `realRandomness`).
   */
  readonly hashSeed?: number;
  readonly log?: (line: string) => void;
}

/** What `--status FILE` holds; rewritten (atomically) at each phase. */
export interface DaemonStatus {
  readonly node: string;
  readonly pid: number;
  /** bound: sockets open, waiting for the start; running: the engine runs; stopped: it stopped. */
  readonly phase: 'bound' | 'running' | 'stopped' | 'failed';
  /** CLOCK_MONOTONIC µs: when the sockets were bound. */
  readonly boundAt?: number;
  readonly t0?: number;
  /** The scheduled start instant, and how late after it the engine started (µs). */
  readonly at?: number;
  readonly startLateUs?: number;
  /** The worst timer lateness so far (deadline to handling, µs): the scheduling delay it saw. */
  readonly timerLateMaxUs?: number;
  readonly stats?: Record<string, number>;
  readonly error?: string;
}

function writeStatus(file: string, s: DaemonStatus): void {
  try {
    writeFileSync(`${file}.tmp`, JSON.stringify(s) + '\n');
    renameSync(`${file}.tmp`, file);
  } catch {
    // a status file is a report: never the reason a daemon stops
  }
}

/** A daemon's status file, or undefined while there is none (or it is unreadable). */
export function readDaemonStatus(file: string): DaemonStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DaemonStatus;
  } catch {
    return undefined;
  }
}

export function interfaceMac(iface: string): MacAddr {
  const text = readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim();
  return mac(text);
}

function carrier(iface: string): boolean | undefined {
  try {
    return readFileSync(`/sys/class/net/${iface}/carrier`, 'utf8').trim() === '1';
  } catch {
    return undefined; // down interfaces may refuse the read
  }
}

/** The node's engine configuration from the scenario file. Throws with a file:line message on bad input. */
export function daemonConfig(opts: DaemonOptions): SgNodeConfig {
  return daemonSetup(opts).cfg;
}

/** What the daemon watches, and where that was said. */
export interface DaemonWatch {
  readonly target: WatchTarget;
  readonly intervalMs: number;
  /** flag: `--watch-process` / `--watch-pidfile` (DaemonOptions.watch); config: the node's `watch:`. */
  readonly from: 'flag' | 'config';
}

/** The watch a daemon runs: the flag's (it overrides the file, interval included), else the node's `watch:` unless `noWatch`. */
export function daemonWatch(opts: DaemonOptions, node: ClusterNodeModel): DaemonWatch | undefined {
  if (opts.watch !== undefined) return { target: opts.watch, intervalMs: opts.watchIntervalMs ?? 150, from: 'flag' };
  if (node.watch === undefined || opts.noWatch === true) return undefined;
  return { target: node.watch.target, intervalMs: node.watch.interval / 1000, from: 'config' };
}

/** The engine configuration and the node's scenario model. */
export function daemonSetup(opts: DaemonOptions): { cfg: SgNodeConfig; node: ClusterNodeModel } {
  const text = readFileSync(opts.config, 'utf8');
  const loaded = loadScenario(text, opts.config, { fileExists: existsSync });
  if (!loaded.ok) throw new Error(loaded.errors.map(formatScenarioError).join('\n'));
  const sc = loaded.scenario;
  const c = sc.cluster;
  if (c === undefined) throw new Error(`${opts.config}: no cluster: section`);
  const index = c.nodes.findIndex((n) => n.name === opts.node);
  if (index < 0) throw new Error(`${opts.config}: no SG node '${opts.node}' (nodes: ${c.nodes.map((n) => n.name).join(', ')})`);
  // Secrets in the configuration: the same rule as for key files (src/real/secrets.ts).
  const secrets = [...(c.keys.length > 0 ? ['cluster.keys'] : []), ...(c.failover !== undefined ? ['cluster.failover.key'] : [])];
  if (secrets.length > 0) {
    const problem = secretFileProblem(opts.config, `configuration holding secrets (${secrets.join(', ')})`);
    if (problem !== undefined) throw new Error(problem);
  }
  const pubIface = opts.publicIface ?? 'eth0';
  const privIface = opts.privateIface ?? 'eth1';
  // The simulator's seed for this node (its port-test schedule); incarnations and the hash seed stay random (engine-worker.ts).
  const seed = sgNodeSeed(Rng.fromSeed(sc.seed), opts.node);
  return { cfg: sgNodeConfig(c, index, sc.segments, { pubMac: interfaceMac(pubIface), privMac: interfaceMac(privIface), seed, pubIface, privIface }), node: c.nodes[index]! };
}

/** Run the daemon until SIGINT/SIGTERM (or `stop()`); resolves with the exit status. */
export function runDaemon(opts: DaemonOptions): { done: Promise<number>; stop: () => void } {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { cfg, node } = daemonSetup(opts);
  const watch = daemonWatch(opts, node);
  if (watch !== undefined) log(`${cfg.name}: watching ${describeTarget(watch.target)} every ${watch.intervalMs} ms (${watch.from === 'flag' ? 'command line' : `${opts.config} cluster.nodes.${cfg.name}.watch`})`);
  else if (node.watch !== undefined) log(`${cfg.name}: not watching ${describeTarget(node.watch.target)} of ${opts.config} (--no-watch): only SIGUSR1/SIGUSR2 say the process died / runs again`);
  let t0 = opts.t0 ?? monotonicUs();
  let status: DaemonStatus = { node: cfg.name, pid: process.pid, phase: 'bound' };
  const report = (s: Partial<DaemonStatus>) => {
    status = { ...status, ...s };
    if (opts.status !== undefined) writeStatus(opts.status, status);
  };
  let out: WriteStream | undefined;
  let sink: JsonlTrace | undefined;
  if (opts.trace !== undefined) {
    const stream = createWriteStream(opts.trace, { flags: 'a' }); // a restarted daemon appends
    out = stream;
    sink = new JsonlTrace((line) => stream.write(`${line}\n`), { scenario: opts.config, startedAt: new Date().toISOString() });
  }
  const writeTrace = (ev: TraceEventInput) => void sink?.emit(ev);
  const scripts = new ScriptRunner({
    onResult: (r) => {
      log(`${cfg.name}: script ${r.which} (${r.command}) exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''} in ${r.ms.toFixed(0)} ms`);
      writeTrace({ kind: 'log', t: Math.max(0, monotonicUs() - t0) as Instant, node: cfg.name, level: r.code === 0 ? 'info' : 'warn', msg: `script ${r.which} exit ${r.code ?? r.signal}${r.timedOut ? ' timed out' : ''}` });
    },
  });
  const { port1, port2 } = new MessageChannel();
  const init: WorkerInit = { cfg, t0, port: port2, trace: out !== undefined, ...(opts.startFile !== undefined ? { startFile: opts.startFile } : {}), ...(opts.hashSeed !== undefined ? { hashSeed: opts.hashSeed } : {}) };
  const worker = new Worker(workerEntry(new URL('./engine-worker.ts', import.meta.url)), { workerData: init, transferList: [port2] });
  const send = (m: ToWorker) => port1.postMessage(m);
  let exiting = false;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((res) => (resolveDone = res));
  const carriers = new Map<string, boolean | undefined>([cfg.public.name, cfg.private.name].map((i) => [i, carrier(i)]));
  const carrierTimer = setInterval(() => {
    for (const [iface, was] of carriers) {
      const now = carrier(iface);
      if (now !== undefined && now !== was) {
        carriers.set(iface, now);
        send({ kind: 'carrier', iface, up: now });
      }
    }
  }, 200);
  let watchStarted = false;
  const watcher =
    watch === undefined
      ? undefined
      : new ProcWatcher(watch.target, {
          intervalMs: watch.intervalMs,
          onChange: (up) => {
            log(`${cfg.name}: watched ${describeTarget(watch.target)} ${up ? 'runs' : 'is not running'}`);
            // At start a running process needs no call: the engine assumes it runs.
            if (up && !watchStarted) return;
            send({ kind: 'watched', up });
          },
        });
  watchStarted = true;
  const finish = (code: number) => {
    clearInterval(carrierTimer);
    watcher?.stop();
    for (const s of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'] as const) process.removeListener(s, handlers[s]);
    port1.close();
    void scripts.idle().then(() => {
      out?.end(() => resolveDone(code));
      if (out === undefined) resolveDone(code);
    });
  };
  const stop = () => {
    if (exiting) return;
    exiting = true;
    if (status.phase === 'bound') return void send({ kind: 'stop' }); // not started: nothing to resign
    send({ kind: 'resign' });
    // Let the resign and the last frames leave, then close the sockets.
    setTimeout(() => send({ kind: 'stop' }), 100);
  };
  const handlers = {
    SIGHUP: () => send({ kind: 'resign' }),
    SIGINT: stop,
    SIGTERM: stop,
    SIGUSR1: () => send({ kind: 'watched', up: false }),
    SIGUSR2: () => send({ kind: 'watched', up: true }),
  };
  for (const [s, h] of Object.entries(handlers)) process.on(s, h);
  port1.on('message', (m: FromWorker) => {
    switch (m.kind) {
      case 'bound':
        report({ phase: 'bound', boundAt: monotonicUs() });
        break;
      case 'ready':
        t0 = m.t0;
        report({ phase: 'running', t0: m.t0, at: m.at, startLateUs: m.lateUs });
        if (m.lateUs > 100_000) log(`${cfg.name}: started ${(m.lateUs / 1000).toFixed(0)} ms after its start time`);
        log(`${cfg.name}: serving on ${cfg.public.name} and ${cfg.private.name} (pid ${process.pid})`);
        break;
      case 'timing':
        report({ timerLateMaxUs: m.timerLateMaxUs });
        break;
      case 'trace':
        for (const ev of m.events) writeTrace(ev);
        break;
      case 'script':
        scripts.run(m.call);
        break;
      case 'stopped':
        log(`${cfg.name}: stopped ${JSON.stringify(m.stats)}`);
        report({ phase: 'stopped', stats: m.stats, ...(m.stats['timerLateMaxUs'] !== undefined ? { timerLateMaxUs: m.stats['timerLateMaxUs'] } : {}) });
        void worker.terminate();
        finish(0);
        break;
      case 'error':
        log(`${cfg.name}: data plane failed: ${m.message}`);
        report({ phase: 'failed', error: m.message });
        void worker.terminate();
        finish(1);
        break;
    }
  });
  worker.on('error', (e) => {
    log(`${cfg.name}: data plane failed: ${e.message}`);
    report({ phase: 'failed', error: e.message });
    finish(1);
  });
  return { done, stop };
}
