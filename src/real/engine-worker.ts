/**
 * The data plane of `sg daemon`: one worker thread that owns the AF_PACKET sockets and the SG
 * engine. It loops on `poll` (bounded by the engine's next deadline), hands every received frame
 * to the engine, fires its timers, and sends what it queued in batches. The main thread (the
 * control plane) talks to it through a MessagePort: signals, watched resources and carrier
 * changes go in; trace events (batched), script calls and the final counters come out.
 *
 * Time is the system-wide monotonic clock (CLOCK_MONOTONIC, the same in every network namespace)
 * in microseconds since `t0`, so the traces of several daemons and of the lab line up.
 */

import { readFileSync } from 'node:fs';
import { loadGroupAnalyzers, needsAnalyzerModules, type AnalyzerMaker } from './load-analyzer.ts';
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { randomInt } from 'node:crypto';
import type { ScriptCall, SgNodeConfig } from '../engine/config.ts';
import { SgNode } from '../engine/sg-node.ts';
import { ifaceName, type IfaceName } from '../port.ts';
import type { Instant } from '../time.ts';
import type { TraceEventInput } from '../trace.ts';
import { pollReadable, RawSocket } from './afpacket.ts';

export interface WorkerInit {
  readonly cfg: SgNodeConfig;
  /**
   * CLOCK_MONOTONIC in µs that is time 0 of the engine and the trace (the engine starts then, or
   * at once when it is past). Ignored when `startFile` is given.
   */
  readonly t0: number;
  /**
   * Synchronised start: once the sockets are bound the worker reports `bound` and waits for this
   * file to appear (the lab writes it atomically; `StartFile`), then starts its engine at `at`.
   */
  readonly startFile?: string;
  readonly port: MessagePort;
  /** Send trace events to the main thread (only when it writes a trace). */
  readonly trace: boolean;
  /** Pins the link table's hash seed (`sg daemon --hash-seed`); else `realRandomness` draws one. */
  readonly hashSeed?: number;
}

/** Main -> worker. */
export type ToWorker =
  | { readonly kind: 'resign' }
  | { readonly kind: 'watched'; readonly up: boolean }
  | { readonly kind: 'carrier'; readonly iface: string; readonly up: boolean }
  | { readonly kind: 'stop' };

/** The start file's content: time 0 of the trace and the instant the engine starts (both CLOCK_MONOTONIC µs). */
export interface StartFile {
  readonly t0: number;
  readonly at: number;
}

/** Worker -> main. */
export type FromWorker =
  /** Sockets bound, code loaded: all that is left is the start. */
  | { readonly kind: 'bound' }
  /** The engine runs; `lateUs`: how long after its scheduled instant it did. */
  | { readonly kind: 'ready'; readonly t0: number; readonly at: number; readonly lateUs: number }
  /** The worst lateness of a timer (deadline to handling) so far: the scheduling delay this node saw. */
  | { readonly kind: 'timing'; readonly timerLateMaxUs: number }
  | { readonly kind: 'trace'; readonly events: readonly TraceEventInput[] }
  | { readonly kind: 'script'; readonly call: ScriptCall }
  | { readonly kind: 'stopped'; readonly stats: Record<string, number> }
  | { readonly kind: 'error'; readonly message: string };

/** Longest poll: how late a control message (signal, stop) may be noticed. */
const POLL_MAX_MS = 5;
const TRACE_FLUSH_EVENTS = 512;
const TRACE_FLUSH_MS = 50;
/** How often a worker waiting for its start file looks for it. */
const START_POLL_MS = 2;
/** How long a worker waits for its start file before giving up (the lab's own wait is shorter). */
const START_WAIT_MAX_MS = 600_000;
/** At most this often the worst timer lateness goes to the main thread (when it grew). */
const TIMING_REPORT_MS = 250;

/**
 * What the engine draws at random in real mode, from node:crypto: its incarnations and its link
 * table's hash seed (the configuration's seed, which a client may have read, sets neither), unless
 * `pinnedHashSeed` is given. Every daemon start draws a new hash seed.
 */
export function realRandomness(pinnedHashSeed?: number): { readonly incarnation: () => number; readonly hashSeed: number } {
  return { incarnation: () => randomInt(1, 2 ** 32), hashSeed: pinnedHashSeed ?? randomInt(0, 2 ** 32) };
}

export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function readStartFile(file: string): StartFile | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<StartFile>;
    return Number.isSafeInteger(v.t0) && Number.isSafeInteger(v.at) ? { t0: v.t0!, at: v.at! } : undefined;
  } catch {
    return undefined; // not there yet
  }
}

/** Wait for the start file; undefined when a `stop` came first. Throws after START_WAIT_MAX_MS. */
function awaitStart(init: WorkerInit, file: string): StartFile | undefined {
  const since = monotonicUs();
  for (;;) {
    const s = readStartFile(file);
    if (s !== undefined) return s;
    for (let m = receiveMessageOnPort(init.port); m !== undefined; m = receiveMessageOnPort(init.port)) {
      if ((m.message as ToWorker).kind === 'stop') return undefined; // the rest means nothing before the start
    }
    if (monotonicUs() - since > START_WAIT_MAX_MS * 1000) throw new Error(`no start file ${file} after ${START_WAIT_MAX_MS / 1000} s`);
    sleepMs(START_POLL_MS);
  }
}

function run(init: WorkerInit, analyzers: readonly (AnalyzerMaker | undefined)[] | undefined): void {
  const post = (m: FromWorker) => init.port.postMessage(m);
  const cfg = init.cfg;
  const pub = new RawSocket(cfg.public.name);
  const priv = new RawSocket(cfg.private.name);
  const socks = [pub, priv];
  post({ kind: 'bound' });
  const start = init.startFile !== undefined ? awaitStart(init, init.startFile) : { t0: init.t0, at: init.t0 };
  if (start === undefined) {
    pub.close();
    priv.close();
    post({ kind: 'stopped', stats: { rxPub: 0, rxPriv: 0, txPub: 0, txPriv: 0, txDropped: 0, links: 0 } });
    return;
  }
  // A start in the future is a synchronized start (the lab starts every node at the same instant).
  sleepMs((start.at - monotonicUs()) / 1000);
  // Frames that arrived before the start are not this node's to see (in the simulator it did not exist yet).
  for (const s of socks) while (s.receive(() => {}) > 0);
  const t0 = start.t0;
  const now = (): Instant => Math.max(0, monotonicUs() - t0) as Instant;
  let pending: TraceEventInput[] = [];
  let lastTraceFlush = now();
  const flushTrace = () => {
    if (pending.length === 0) return;
    post({ kind: 'trace', events: pending });
    pending = [];
    lastTraceFlush = now();
  };
  const trace = init.trace
    ? {
        emit: (ev: TraceEventInput) => {
          pending.push(ev);
          if (pending.length >= TRACE_FLUSH_EVENTS) flushTrace();
          return 0;
        },
      }
    : undefined;
  const names: IfaceName[] = [ifaceName(cfg.public.name), ifaceName(cfg.private.name)];
  const node = new SgNode(cfg, {
    ...(trace ? { trace } : {}),
    now: now(),
    onScript: (call) => post({ kind: 'script', call }),
    wallClockUs: () => Date.now() * 1000,
    ...realRandomness(init.hashSeed),
    ...(analyzers !== undefined ? { analyzers: analyzers.map((m) => m?.()) } : {}),
  });
  const transmit = () => {
    for (let tx = node.pollTransmit(); tx !== undefined; tx = node.pollTransmit()) (tx.iface === names[0] ? pub : priv).send(tx.frame);
    pub.flush();
    priv.flush();
  };
  transmit();
  post({ kind: 'ready', t0, at: start.at, lateUs: Math.max(0, monotonicUs() - start.at) });
  let timerLateMax = 0;
  let timerLateSent = 0;
  let lastTiming = now();
  for (;;) {
    // Control messages first: they are rare and must not wait behind traffic.
    for (let m = receiveMessageOnPort(init.port); m !== undefined; m = receiveMessageOnPort(init.port)) {
      const msg = m.message as ToWorker;
      const t = now();
      switch (msg.kind) {
        case 'resign':
          node.resign(t);
          break;
        case 'watched':
          node.watchedProcess(t, msg.up);
          break;
        case 'carrier':
          node.handleLinkState(t, ifaceName(msg.iface), msg.up);
          break;
        case 'stop':
          transmit();
          node.finishTrace(t);
          flushTrace();
          pub.close();
          priv.close();
          post({ kind: 'stopped', stats: { timerLateMaxUs: timerLateMax, rxPub: pub.stats.rxFrames, rxPriv: priv.stats.rxFrames, txPub: pub.stats.txFrames, txPriv: priv.stats.txFrames, txDropped: pub.stats.txDropped + priv.stats.txDropped, links: node.links.size } });
          return;
      }
      transmit();
    }
    const deadline = node.pollTimeout();
    const t = now();
    const wait = deadline === undefined ? POLL_MAX_MS : Math.min(POLL_MAX_MS, Math.max(0, (deadline - t) / 1000));
    const ready = pollReadable(socks, wait);
    for (const i of ready) {
      const s = socks[i]!;
      const iface = names[i]!;
      // A frame view is reused by the next batch; the engine may keep a frame (ARP queue), so copy.
      while (s.receive((f) => node.handleFrame(now(), iface, f.slice())) > 0) transmit();
    }
    const d = node.pollTimeout();
    const t2 = now();
    if (d !== undefined && d <= t2) {
      timerLateMax = Math.max(timerLateMax, t2 - d);
      node.handleTimeout(t2);
    }
    transmit();
    if (timerLateMax > timerLateSent && t2 - lastTiming > TIMING_REPORT_MS * 1000) {
      post({ kind: 'timing', timerLateMaxUs: timerLateMax });
      timerLateSent = timerLateMax;
      lastTiming = t2;
    }
    if (trace !== undefined && t2 - lastTraceFlush > TRACE_FLUSH_MS * 1000) flushTrace();
  }
}

if (parentPort !== null && workerData !== undefined) {
  const init = workerData as WorkerInit;
  void (async () => {
    try {
      // A group's analyzer module (its configuration names a file) is imported before the engine starts.
      const mods = needsAnalyzerModules(init.cfg.groups) ? await loadGroupAnalyzers(init.cfg.groups) : undefined;
      if (mods !== undefined && !mods.ok) throw new Error(mods.error);
      run(init, mods?.makers);
    } catch (e) {
      init.port.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromWorker);
    }
  })();
}
