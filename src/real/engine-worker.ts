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
  /** CLOCK_MONOTONIC in µs that is time 0 of the engine and the trace. */
  readonly t0: number;
  readonly port: MessagePort;
  /** Send trace events to the main thread (only when it writes a trace). */
  readonly trace: boolean;
}

/** Main -> worker. */
export type ToWorker =
  | { readonly kind: 'resign' }
  | { readonly kind: 'watched'; readonly up: boolean }
  | { readonly kind: 'carrier'; readonly iface: string; readonly up: boolean }
  | { readonly kind: 'stop' };

/** Worker -> main. */
export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'trace'; readonly events: readonly TraceEventInput[] }
  | { readonly kind: 'script'; readonly call: ScriptCall }
  | { readonly kind: 'stopped'; readonly stats: Record<string, number> }
  | { readonly kind: 'error'; readonly message: string };

/** Longest poll: how late a control message (signal, stop) may be noticed. */
const POLL_MAX_MS = 5;
const TRACE_FLUSH_EVENTS = 512;
const TRACE_FLUSH_MS = 50;

export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function run(init: WorkerInit): void {
  // A t0 in the future is a synchronized start (the lab starts every node at the same instant).
  const wait = init.t0 - monotonicUs();
  if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait / 1000);
  const post = (m: FromWorker) => init.port.postMessage(m);
  const now = (): Instant => Math.max(0, monotonicUs() - init.t0) as Instant;
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
  const cfg = init.cfg;
  const pub = new RawSocket(cfg.public.name);
  const priv = new RawSocket(cfg.private.name);
  const socks = [pub, priv];
  const names: IfaceName[] = [ifaceName(cfg.public.name), ifaceName(cfg.private.name)];
  const node = new SgNode(cfg, { ...(trace ? { trace } : {}), now: now(), onScript: (call) => post({ kind: 'script', call }), wallClockUs: () => Date.now() * 1000, incarnation: () => randomInt(1, 2 ** 32) });
  const transmit = () => {
    for (let tx = node.pollTransmit(); tx !== undefined; tx = node.pollTransmit()) (tx.iface === names[0] ? pub : priv).send(tx.frame);
    pub.flush();
    priv.flush();
  };
  transmit();
  post({ kind: 'ready' });
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
          post({ kind: 'stopped', stats: { rxPub: pub.stats.rxFrames, rxPriv: priv.stats.rxFrames, txPub: pub.stats.txFrames, txPriv: priv.stats.txFrames, txDropped: pub.stats.txDropped + priv.stats.txDropped, links: node.links.size } });
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
    if (d !== undefined && d <= t2) node.handleTimeout(t2);
    transmit();
    if (trace !== undefined && t2 - lastTraceFlush > TRACE_FLUSH_MS * 1000) flushTrace();
  }
}

if (parentPort !== null && workerData !== undefined) {
  const init = workerData as WorkerInit;
  try {
    run(init);
  } catch (e) {
    init.port.postMessage({ kind: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromWorker);
  }
}
