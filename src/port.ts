/**
 * The engine's port: how frames get in and out (smoltcp `phy` style, pull model).
 *
 * - `Port` is the device side: per-interface Ethernet frames. The simulator, AF_PACKET raw
 *   sockets and tests each implement it; wrappers (`TapPort`: a tracer or a capture; `LossPort`:
 *   loss) are a Port around a Port (STYLE.md 10).
 * - `Endpoint` is the engine side, in quinn's shape (STYLE.md 3): handed frames and the time,
 *   it hands back frames to send and the next deadline. It never reads a clock or a socket.
 * - `drive` is one step of the loop that joins the two; drivers (the simulator's node, the real
 *   daemon) call it whenever a frame arrives or the returned deadline passes.
 */

import type { Rng } from './rng.ts';
import type { Instant } from './time.ts';
import type { MacAddr } from './wire/addr.ts';
import { assert } from './assert.ts';

export type IfaceName = string & { readonly __brand: 'IfaceName' };

/** An interface name literal, e.g. `ifaceName('eth0')`; asserts it is non-empty. */
export function ifaceName(name: string): IfaceName {
  assert(name.length > 0, 'interface name must not be empty');
  return name as IfaceName;
}

export interface IfaceInfo {
  readonly name: IfaceName;
  readonly mac: MacAddr;
  /** Largest IP packet the link carries (the Ethernet payload), e.g. 1500. */
  readonly mtu: number;
}

export interface RxFrame {
  readonly iface: IfaceName;
  readonly frame: Uint8Array;
  /** When the device received it. */
  readonly at: Instant;
}

export interface TxFrame {
  readonly iface: IfaceName;
  readonly frame: Uint8Array;
  /** trace id of the event that caused it, if any */
  readonly cause?: number;
}

export interface Port {
  readonly ifaces: readonly IfaceInfo[];
  /** Next received frame, or undefined when none is waiting. */
  recv(): RxFrame | undefined;
  /** Hand a frame to the device; false when the device dropped it (e.g. queue full). */
  send(tx: TxFrame, now: Instant): boolean;
}

/**
 * A sans-IO endpoint (an SG node's engine, a simulated host's stack). Time only moves forward
 * across calls: every `now` is >= the previous one.
 */
export interface Endpoint {
  /** Call once for every frame received on `iface`, with the current time. */
  handleFrame(now: Instant, iface: IfaceName, frame: Uint8Array): void;
  /** Call when `now` has reached the deadline last returned by `pollTimeout()`. */
  handleTimeout(now: Instant): void;
  /**
   * Call after every `handleFrame` / `handleTimeout` (and after any command given to the
   * endpoint), repeatedly until it returns undefined: the next frame to hand to the port.
   */
  pollTransmit(): TxFrame | undefined;
  /**
   * Call after draining `pollTransmit()`: the earliest instant at which `handleTimeout` must be
   * called, or undefined when no timer is armed. It may change after any other call.
   */
  pollTimeout(): Instant | undefined;
  /**
   * Optional: the carrier of `iface` went down (false) or came back (true), as a NIC reports it
   * (netlink in real mode, `Link.setUp` in the simulator). Drain `pollTransmit()` after it.
   */
  handleLinkState?(now: Instant, iface: IfaceName, up: boolean): void;
}

/** Most frames `drive` feeds in one step, so a flood cannot starve timers. */
export const DRIVE_RX_BUDGET = 4_096;
/** Most frames `drive` drains from the endpoint in one step. */
export const DRIVE_TX_BUDGET = 65_536;

export interface DriveBudget {
  readonly rxFrames?: number;
  readonly txFrames?: number;
}

/**
 * One step of the loop: feed every waiting frame (up to the rx budget) to the endpoint at `now`,
 * call `handleTimeout(now)` if its deadline has passed, and drain its transmits into the port.
 *
 * Returns the next deadline at which to call `drive` again (undefined: only when a frame
 * arrives). Returns `now` itself when a budget ran out with work left, meaning "call again
 * right away". Frames are fed at `now`, not at their `RxFrame.at`, so the endpoint's time never
 * goes backwards even when a device timestamps a batch before the driver's clock read.
 */
export function drive(endpoint: Endpoint, port: Port, now: Instant, budget: DriveBudget = {}): Instant | undefined {
  const rxMax = budget.rxFrames ?? DRIVE_RX_BUDGET;
  const txMax = budget.txFrames ?? DRIVE_TX_BUDGET;
  let more = false;

  let rxCount = 0;
  for (; rxCount < rxMax; rxCount++) {
    const rx = port.recv();
    if (rx === undefined) break;
    endpoint.handleFrame(now, rx.iface, rx.frame);
  }
  if (rxCount === rxMax) more = true; // the port may still hold frames

  const deadline = endpoint.pollTimeout();
  if (deadline !== undefined && deadline <= now) endpoint.handleTimeout(now);

  let txCount = 0;
  for (; txCount < txMax; txCount++) {
    const tx = endpoint.pollTransmit();
    if (tx === undefined) break;
    port.send(tx, now);
  }
  if (txCount === txMax) more = true;

  if (more) return now;
  return endpoint.pollTimeout();
}

/** What a `TapPort` sees: every frame received, and every frame sent with the device's verdict. */
export type TapEvent =
  | { readonly dir: 'rx'; readonly rx: RxFrame }
  | { readonly dir: 'tx'; readonly tx: TxFrame; readonly at: Instant; readonly accepted: boolean };

/** A Port around a Port that reports every frame in and out (tracer, pcap writer). */
export class TapPort implements Port {
  readonly #inner: Port;
  readonly #onFrame: (ev: TapEvent) => void;

  constructor(inner: Port, onFrame: (ev: TapEvent) => void) {
    this.#inner = inner;
    this.#onFrame = onFrame;
  }

  get ifaces(): readonly IfaceInfo[] {
    return this.#inner.ifaces;
  }

  recv(): RxFrame | undefined {
    const rx = this.#inner.recv();
    if (rx !== undefined) this.#onFrame({ dir: 'rx', rx });
    return rx;
  }

  send(tx: TxFrame, now: Instant): boolean {
    const accepted = this.#inner.send(tx, now);
    this.#onFrame({ dir: 'tx', tx, at: now, accepted });
    return accepted;
  }
}

export type LossDirection = 'rx' | 'tx';

export interface LossRates {
  /** Probability of losing each received frame. */
  readonly rx: number;
  /** Probability of losing each sent frame. */
  readonly tx: number;
}

export interface LossPortOptions {
  /** Called for every frame lost (e.g. to trace a `frame` event with dir 'drop'). */
  readonly onDrop?: (dir: LossDirection, iface: IfaceName, frame: Uint8Array, at: Instant) => void;
}

/**
 * A Port around a Port that loses frames with probability p in either direction, counting them.
 * A lost send still returns true: the device took the frame and the wire lost it, which the
 * sender cannot see. The generator is drawn only when 0 < p < 1, so p = 0 and p = 1 consume no
 * randomness.
 */
export class LossPort implements Port {
  readonly #inner: Port;
  readonly #rng: Rng;
  readonly #onDrop: LossPortOptions['onDrop'];
  #rates: LossRates;
  droppedRx = 0;
  droppedTx = 0;

  /** `loss` is one probability for both directions or one per direction. */
  constructor(inner: Port, rng: Rng, loss: number | LossRates, options: LossPortOptions = {}) {
    this.#inner = inner;
    this.#rng = rng;
    this.#onDrop = options.onDrop;
    this.#rates = LossPort.#check(loss);
  }

  static #check(loss: number | LossRates): LossRates {
    const rates = typeof loss === 'number' ? { rx: loss, tx: loss } : loss;
    for (const p of [rates.rx, rates.tx]) assert(p >= 0 && p <= 1, `loss probability out of [0, 1]: ${p}`);
    return { rx: rates.rx, tx: rates.tx };
  }

  get ifaces(): readonly IfaceInfo[] {
    return this.#inner.ifaces;
  }

  get dropped(): number {
    return this.droppedRx + this.droppedTx;
  }

  get rates(): LossRates {
    return this.#rates;
  }

  /** Change the loss rates (a fault starting or ending at some time). */
  setLoss(loss: number | LossRates): void {
    this.#rates = LossPort.#check(loss);
  }

  #lose(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.#rng.bool(p);
  }

  /** Skips lost frames; bounded by the inner port's (bounded) receive queue. */
  recv(): RxFrame | undefined {
    for (;;) {
      const rx = this.#inner.recv();
      if (rx === undefined) return undefined;
      if (!this.#lose(this.#rates.rx)) return rx;
      this.droppedRx++;
      this.#onDrop?.('rx', rx.iface, rx.frame, rx.at);
    }
  }

  send(tx: TxFrame, now: Instant): boolean {
    if (!this.#lose(this.#rates.tx)) return this.#inner.send(tx, now);
    this.droppedTx++;
    this.#onDrop?.('tx', tx.iface, tx.frame, now);
    return true;
  }
}

export interface SentFrame extends TxFrame {
  /** The `now` given to `send`. */
  readonly at: Instant;
}

export interface MemoryPortOptions {
  /** Most frames waiting to be received; `inject` beyond it drops and returns false. */
  readonly rxQueueMax?: number;
  /** Most frames kept in `sent`; `send` beyond it drops and returns false. */
  readonly sentMax?: number;
}

export const MEMORY_PORT_QUEUE_MAX = 65_536;

/** A Port that queues in memory, for tests: `inject` frames to receive, read back `sent`. */
export class MemoryPort implements Port {
  readonly ifaces: readonly IfaceInfo[];
  readonly rxQueueMax: number;
  readonly sentMax: number;
  /** Every frame accepted by `send`, in order. Tests may read and clear it (`takeSent`). */
  readonly sent: SentFrame[] = [];
  rxDropped = 0;
  txDropped = 0;
  #rx: RxFrame[] = [];
  #rxHead = 0;

  constructor(ifaces: readonly IfaceInfo[], options: MemoryPortOptions = {}) {
    this.ifaces = ifaces;
    this.rxQueueMax = options.rxQueueMax ?? MEMORY_PORT_QUEUE_MAX;
    this.sentMax = options.sentMax ?? MEMORY_PORT_QUEUE_MAX;
  }

  #hasIface(name: IfaceName): boolean {
    return this.ifaces.some((i) => i.name === name);
  }

  /** Number of frames waiting to be received. */
  get pending(): number {
    return this.#rx.length - this.#rxHead;
  }

  /** Queue a frame to be returned by `recv`; false (and counted) when the queue is full. */
  inject(rx: RxFrame): boolean {
    assert(this.#hasIface(rx.iface), `MemoryPort has no interface ${rx.iface}`);
    if (this.pending >= this.rxQueueMax) {
      this.rxDropped++;
      return false;
    }
    this.#rx.push(rx);
    return true;
  }

  recv(): RxFrame | undefined {
    const rx = this.#rx[this.#rxHead];
    if (rx === undefined) return undefined;
    this.#rxHead++;
    if (this.#rxHead === this.#rx.length) {
      this.#rx = [];
      this.#rxHead = 0;
    } else if (this.#rxHead >= 1024 && this.#rxHead * 2 >= this.#rx.length) {
      this.#rx = this.#rx.slice(this.#rxHead);
      this.#rxHead = 0;
    }
    return rx;
  }

  send(tx: TxFrame, now: Instant): boolean {
    assert(this.#hasIface(tx.iface), `MemoryPort has no interface ${tx.iface}`);
    if (this.sent.length >= this.sentMax) {
      this.txDropped++;
      return false;
    }
    this.sent.push({ ...tx, at: now });
    return true;
  }

  /** Return and forget everything sent so far. */
  takeSent(): SentFrame[] {
    return this.sent.splice(0, this.sent.length);
  }
}
