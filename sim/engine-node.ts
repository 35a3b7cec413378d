/**
 * A simulated node that runs a sans-IO `Endpoint` (an SG node's engine) through the same `Port`
 * interface real mode uses: frames delivered by links queue in the node's receive buffer, and the
 * node drives the endpoint at the current time, hands its transmits to the links, and wakes it at
 * the deadline it asks for.
 *
 * The node has its own clock: `setClockRate` makes it run fast or slow relative to the world, and
 * `stall` freezes the process (SIGSTOP, a VM pause): frames wait in the bounded receive buffer,
 * nothing is sent, no timer fires, but the monotonic clock keeps running, so on resume the endpoint
 * sees its timers fire late by the length of the stall.
 *
 * The clock belongs to the node (the machine), not to the process: a crash ends a stall (the
 * frozen process is gone) but keeps the clock, its rate and its reading, and `restart` builds the
 * fresh endpoint at the node's local time, never the world's (a node whose clock runs slow would
 * otherwise start its engine in its own future, and its next call would step time back).
 */

import { drive, type Endpoint, type IfaceInfo, type IfaceName, type Port, type RxFrame, type TxFrame } from '../src/port.ts';
import type { Duration, Instant } from '../src/time.ts';
import type { MacAddr } from '../src/wire/addr.ts';
import type { EventId } from './kernel.ts';

/** An endpoint, or how to build one at the node's local time (what a restart needs). */
export type EndpointStart = Endpoint | ((localNow: Instant) => Endpoint);
import type { Attachment, Device, World } from './world.ts';
import { CLOCK_RATE_MAX, CLOCK_RATE_MIN } from './host/host.ts';

/** Frames a node buffers while busy or stalled (a socket receive buffer); more are dropped. */
export const ENGINE_RX_QUEUE_MAX = 4096;

class EngineDevice implements Device {
  attachment: Attachment | undefined = undefined;
  constructor(
    readonly owner: EngineNode,
    readonly node: string,
    readonly name: IfaceName,
    readonly mac: MacAddr,
    readonly mtu: number,
  ) {}
  deliver(frame: Uint8Array): void {
    this.owner.receive(this.name, frame);
  }
  carrier(up: boolean): void {
    const name = this.name;
    this.owner.signal(up ? 'carrier-up' : 'carrier-down', (ep, now) => ep.handleLinkState?.(now, name, up), false);
  }
}

export interface EngineNodeCounters {
  rxFrames: number;
  txFrames: number;
  /** Receive-buffer overflow, or frames that arrived while crashed. */
  rxDropped: number;
  /** Transmits the link refused (down, queue full, no link). */
  txDropped: number;
}

export class EngineNode implements Port {
  readonly world: World;
  readonly name: string;
  readonly ifaces: readonly IfaceInfo[];
  readonly devices: ReadonlyMap<IfaceName, Device>;
  readonly counters: EngineNodeCounters = { rxFrames: 0, txFrames: 0, rxDropped: 0, txDropped: 0 };
  #endpoint: Endpoint | undefined;
  #rx: RxFrame[] = [];
  #rxHead = 0;
  #driveScheduled = false;
  #wake: { at: Instant; id: EventId } | undefined;
  // Local clock: local = base + (world - worldBase) * rate, frozen while stalled.
  #rate = 1;
  #localBase = 0;
  #worldBase = 0;
  #stalled = false;
  /** The end of a stall given a length (see `stall`). */
  #unstall: { id: EventId; end: Instant } | undefined;
  /** Outside events waiting for the process (see `signal`). */
  #pending: ((ep: Endpoint, now: Instant) => void)[] = [];
  #lastLocal = 0;

  constructor(world: World, name: string, ifaces: readonly IfaceInfo[], endpoint?: EndpointStart) {
    world.claimName(name);
    this.world = world;
    this.name = name;
    this.ifaces = ifaces;
    const devices = new Map<IfaceName, Device>();
    for (const i of ifaces) devices.set(i.name, new EngineDevice(this, name, i.name, i.mac, i.mtu));
    this.devices = devices;
    // A new node's clock starts in step with the world.
    this.#localBase = world.now;
    this.#worldBase = world.now;
    this.#lastLocal = world.now;
    this.#endpoint = typeof endpoint === 'function' ? endpoint(this.localNow()) : endpoint;
    this.#scheduleDrive();
  }

  device(name: string): Device {
    const d = this.devices.get(name as IfaceName);
    if (d === undefined) throw new Error(`${this.name} has no interface '${name}'`);
    return d;
  }

  get endpoint(): Endpoint | undefined {
    return this.#endpoint;
  }
  get crashed(): boolean {
    return this.#endpoint === undefined;
  }
  get stalled(): boolean {
    return this.#stalled;
  }

  /** The node's local time now (what its endpoint is handed). */
  localNow(): Instant {
    const t = Math.floor(this.#localBase + (this.world.now - this.#worldBase) * this.#rate);
    // Rounding at a rate change must not step the clock back.
    this.#lastLocal = Math.max(this.#lastLocal, t);
    return this.#lastLocal as Instant;
  }

  /** Run the local clock at `rate` times world time from now on (1 = in step). */
  setClockRate(rate: number): void {
    if (!(rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX)) throw new Error(`clock rate must be in [${CLOCK_RATE_MIN}, ${CLOCK_RATE_MAX}], got ${rate}`);
    this.#rebase();
    this.#rate = rate;
    this.#rescheduleWake();
  }

  /**
   * Freeze the process: no frame handled, no timer fired, until `resume` or, given a length, until
   * it has passed in world time (a second stall while frozen extends it to the later end). A crash
   * ends the stall.
   */
  stall(length?: Duration): void {
    if (length !== undefined) {
      const end = (this.world.now + length) as Instant;
      if (this.#unstall === undefined || end > this.#unstall.end) {
        this.#cancelUnstall();
        const id = this.world.at(end, () => {
          this.#unstall = undefined;
          this.resume();
        });
        this.#unstall = { id, end };
      }
    }
    if (this.#stalled) return;
    this.#stalled = true;
    this.#cancelWake();
    this.world.emit({ kind: 'fault', t: this.world.now, node: this.name, what: 'stall', target: this.name });
  }

  /** Unfreeze: queued frames are handled and overdue timers fire, at a clock that kept running. */
  resume(): void {
    this.#cancelUnstall();
    if (!this.#stalled) return;
    this.#stalled = false;
    this.world.emit({ kind: 'fault', t: this.world.now, node: this.name, what: 'resume', target: this.name });
    this.#scheduleDrive();
  }

  /**
   * Deliver an outside event to the process (a signal, its watched process dying): `fn` runs with
   * the endpoint at the node's local time, and what it queued is sent. A stalled process gets it
   * when it resumes; a crashed one never does.
   */
  signal(what: string, fn: (ep: Endpoint, now: Instant) => void, traced = true): void {
    if (traced) this.world.emit({ kind: 'fault', t: this.world.now, node: this.name, what, target: this.name });
    if (this.#endpoint === undefined) return;
    this.#pending.push(fn);
    this.#scheduleDrive();
  }

  /**
   * Crash: the endpoint and everything it held are gone (a stall with it); frames are dropped until
   * `restart`. The node's clock runs on.
   */
  crash(): void {
    this.#endpoint = undefined;
    this.#stalled = false;
    this.#cancelUnstall();
    this.#pending = [];
    this.#rx = [];
    this.#rxHead = 0;
    this.#cancelWake();
    this.world.emit({ kind: 'fault', t: this.world.now, node: this.name, what: 'crash', target: this.name });
  }

  /**
   * Start a fresh endpoint (state is whatever the new endpoint starts with); a factory is handed the
   * node's local time to build it at.
   */
  restart(endpoint: EndpointStart): void {
    this.#endpoint = typeof endpoint === 'function' ? endpoint(this.localNow()) : endpoint;
    this.world.emit({ kind: 'fault', t: this.world.now, node: this.name, what: 'restart', target: this.name });
    this.#scheduleDrive();
  }

  /** Called by the node's devices. */
  receive(iface: IfaceName, frame: Uint8Array): void {
    if (this.#endpoint === undefined || this.#rx.length - this.#rxHead >= ENGINE_RX_QUEUE_MAX) {
      this.counters.rxDropped++;
      this.world.traceFrame({ link: `${this.name}:${iface}`, dir: 'drop', frame, node: this.name, reason: this.#endpoint ? 'rx-queue-full' : 'node-down' });
      return;
    }
    this.counters.rxFrames++;
    this.#rx.push({ iface, frame, at: this.localNow() });
    this.#scheduleDrive();
  }

  // ---- Port, as seen by drive() ----

  recv(): RxFrame | undefined {
    const rx = this.#rx[this.#rxHead];
    if (rx === undefined) return undefined;
    this.#rxHead++;
    if (this.#rxHead === this.#rx.length) {
      this.#rx = [];
      this.#rxHead = 0;
    }
    return rx;
  }

  send(tx: TxFrame, _now: Instant): boolean {
    const dev = this.devices.get(tx.iface);
    const ok = dev?.attachment?.send(tx.frame) ?? false;
    if (ok) this.counters.txFrames++;
    else this.counters.txDropped++;
    return ok;
  }

  // ---- scheduling ----

  #scheduleDrive(): void {
    if (this.#driveScheduled || this.#stalled || this.#endpoint === undefined) return;
    this.#driveScheduled = true;
    this.world.at(this.world.now, () => this.#drive(), this.world.cause);
  }

  #drive(): void {
    this.#driveScheduled = false;
    const ep = this.#endpoint;
    if (ep === undefined || this.#stalled) return;
    if (this.#pending.length > 0) {
      const calls = this.#pending;
      this.#pending = [];
      for (const fn of calls) fn(ep, this.localNow());
    }
    const next = drive(ep, this, this.localNow());
    if (next !== undefined && next <= this.localNow()) {
      this.#scheduleDrive(); // budget ran out with work left
      return;
    }
    this.#setWake(next);
  }

  #setWake(localDeadline: Instant | undefined): void {
    if (this.#wake !== undefined && this.#wake.at === localDeadline) return;
    this.#cancelWake();
    if (localDeadline === undefined) return;
    const worldAt = this.#toWorld(localDeadline);
    const id = this.world.at(worldAt, () => {
      this.#wake = undefined;
      this.#drive();
    });
    this.#wake = { at: localDeadline, id };
  }

  #rescheduleWake(): void {
    const w = this.#wake;
    if (w === undefined) return;
    this.#cancelWake();
    if (!this.#stalled) this.#setWake(w.at);
  }

  #cancelUnstall(): void {
    if (this.#unstall !== undefined) this.world.kernel.cancel(this.#unstall.id);
    this.#unstall = undefined;
  }

  #cancelWake(): void {
    if (this.#wake !== undefined) this.world.kernel.cancel(this.#wake.id);
    this.#wake = undefined;
  }

  /** The world instant at which the local clock reaches `local` (never before now). */
  #toWorld(local: Instant): Instant {
    const dl = local - this.localNow();
    const dw = Math.ceil(Math.max(0, dl) / this.#rate);
    return (this.world.now + dw) as Instant;
  }

  #rebase(): void {
    this.#localBase = this.localNow();
    this.#worldBase = this.world.now;
  }
}

export type { Duration };
