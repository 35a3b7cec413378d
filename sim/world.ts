/**
 * The simulated world: one kernel (virtual time), one root generator split per component, one
 * trace, and optional pcapng capture with one interface per link. Every component (links,
 * switches, hosts, routers, SG nodes) holds a reference to the `World` it lives in.
 *
 * Causality: while a component handles a frame or a timer, `world.cause` is the trace id of that
 * frame's delivery (or undefined for a timer); frames sent meanwhile record it as their cause, so
 * a trace reader can walk from any frame back to what triggered it.
 */

import { PcapngWriter } from '../src/capture/pcapng.ts';
import type { IfaceName } from '../src/port.ts';
import { Rng } from '../src/rng.ts';
import type { Instant } from '../src/time.ts';
import { NullTrace, type FrameDropReason, type TraceEventInput, type TraceSink } from '../src/trace.ts';
import { summarizeFrame } from '../src/wire/frame.ts';
import type { MacAddr } from '../src/wire/addr.ts';
import { Kernel, type EventId, type Handler } from './kernel.ts';

export interface WorldOptions {
  readonly seed?: number | string;
  readonly trace?: TraceSink;
  /** Emit a `frame` trace event for every frame sent, delivered or dropped (default true when a trace is given). */
  readonly traceFrames?: boolean;
  /** Receives pcapng bytes; one interface per link. */
  readonly pcap?: (chunk: Uint8Array) => void;
}

/**
 * A network interface of a simulated node (host NIC, switch port, router port, SG node NIC).
 * The link it is attached to calls `deliver`; the owner sends through `transmit`.
 */
export interface Device {
  /** Owning node's name, e.g. 'client1' or 'sw0'. */
  readonly node: string;
  readonly name: IfaceName;
  readonly mac: MacAddr;
  /** Largest Ethernet payload (IP packet) this interface sends, e.g. 1500. */
  readonly mtu: number;
  /** The medium this device is plugged into, set by `Link.attach`. */
  attachment: Attachment | undefined;
  /** Called by the medium for each frame that arrives at this device. */
  deliver(frame: Uint8Array): void;
  /** Called by the medium when its carrier goes down or comes back (optional). */
  carrier?(up: boolean): void;
}

/** The device's view of the medium it is plugged into. */
export interface Attachment {
  /** Queue a frame for transmission; false when it was dropped at once (link down, queue full). */
  send(frame: Uint8Array): boolean;
  /** Carrier: false while the link is down. */
  readonly up: boolean;
}

/** Frame event fields without id/time, filled in by `World.traceFrame`. */
export interface FrameNote {
  readonly link: string;
  readonly dir: 'tx' | 'rx' | 'drop';
  readonly frame: Uint8Array;
  readonly node?: string;
  readonly reason?: FrameDropReason;
}

export class World {
  readonly kernel = new Kernel();
  readonly rng: Rng;
  readonly trace: TraceSink;
  readonly traceFrames: boolean;
  readonly pcap: PcapngWriter | undefined;
  /** Trace id of the frame delivery or event being handled; see the module doc. */
  cause: number | undefined = undefined;
  /** Names already taken by nodes and links (unique per world). */
  readonly #names = new Set<string>();
  /** Which node owns each MAC address plugged into a link (for partitions and traces). */
  readonly #macOwner = new Map<number, string>();
  /** Partition side of each node named in the current partition; absent nodes see everyone. */
  #side: Map<string, number> | undefined;

  constructor(opts: WorldOptions = {}) {
    this.rng = Rng.fromSeed(opts.seed ?? 1);
    this.trace = opts.trace ?? new NullTrace();
    this.traceFrames = opts.traceFrames ?? opts.trace !== undefined;
    this.pcap = opts.pcap ? new PcapngWriter({ sink: opts.pcap, application: 'sg-cluster simulator' }) : undefined;
  }

  get now(): Instant {
    return this.kernel.now;
  }

  /** Reserve a unique component name; a duplicate is a configuration error. */
  claimName(name: string): void {
    if (this.#names.has(name)) throw new Error(`duplicate name in the simulated world: '${name}'`);
    this.#names.add(name);
  }

  registerMac(mac: MacAddr, node: string): void {
    this.#macOwner.set(mac, node);
  }

  /** Node that owns `mac`, if it is plugged into a link. */
  macOwner(mac: MacAddr): string | undefined {
    return this.#macOwner.get(mac);
  }

  /**
   * Split the network: frames between nodes of different groups are dropped at the last link
   * before the receiver (reason 'partition'). Nodes in no group (switches, unlisted hosts) talk
   * to everyone. Layer 2 semantics: a router is a node like any other, on one side or none.
   */
  setPartition(groups: readonly (readonly string[])[]): void {
    const side = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const n of g) {
        if (side.has(n)) throw new Error(`partition: node '${n}' is in two groups`);
        side.set(n, i);
      }
    });
    this.#side = side;
    this.emit({ kind: 'fault', t: this.now, what: 'partition', target: groups.map((g) => g.join(',')).join(' | ') });
  }

  healPartition(): void {
    if (this.#side === undefined) return;
    this.#side = undefined;
    this.emit({ kind: 'fault', t: this.now, what: 'heal', target: 'network' });
  }

  get partitioned(): boolean {
    return this.#side !== undefined;
  }

  /** True when a frame from `srcMac`'s owner must not reach `toNode`. */
  partitionBlocks(srcMac: MacAddr, toNode: string): boolean {
    const side = this.#side;
    if (side === undefined) return false;
    const from = this.#macOwner.get(srcMac);
    if (from === undefined) return false;
    const a = side.get(from);
    const b = side.get(toNode);
    return a !== undefined && b !== undefined && a !== b;
  }

  /** The generator for one component, independent of every other component's draws. */
  rngFor(label: string): Rng {
    return this.rng.split(label);
  }

  /** Schedule `fn` at `at`, running with `cause` set to the given trace id. */
  at(at: Instant, fn: Handler, cause?: number): EventId {
    if (cause === undefined) {
      return this.kernel.at(at, () => {
        this.cause = undefined;
        fn();
      });
    }
    return this.kernel.at(at, () => {
      this.cause = cause;
      fn();
      this.cause = undefined;
    });
  }

  emit(ev: TraceEventInput): number {
    return this.trace.emit(ev);
  }

  /** Trace one frame event (when frame tracing is on); returns its id, or undefined. */
  traceFrame(n: FrameNote): number | undefined {
    if (!this.traceFrames) return undefined;
    const ev: TraceEventInput = {
      kind: 'frame',
      t: this.now,
      link: n.link,
      dir: n.dir,
      len: n.frame.length,
      summary: summarizeFrame(n.frame),
      ...(this.cause !== undefined ? { cause: this.cause } : {}),
      ...(n.node !== undefined ? { node: n.node } : {}),
      ...(n.reason !== undefined ? { reason: n.reason } : {}),
    };
    return this.trace.emit(ev);
  }
}
