/**
 * A full-duplex point-to-point Ethernet cable between two devices (a host NIC and a switch port,
 * or two hosts). Each direction is an independent channel with its own transmitter, queue,
 * counters and random streams:
 *
 *   send(frame) --> [ drop-tail queue ] --> transmitter (bits / bandwidth) --> wire (latency
 *   + jitter, loss) --> receiver.deliver(frame)
 *
 * The timing model (serialisation, queue, jitter, loss, carrier) is at `LinkProps`; what is
 * traced and captured at `#trace`. Times are integer microseconds and the arithmetic is exact.
 *
 * Frame ownership: a frame handed to `send` belongs to the link until it is delivered, and then
 * to the receiver; nobody may change it meanwhile.
 *
 * The hot path (tracing off, no pcap) allocates nothing per frame: queue and wire are ring
 * buffers over typed arrays, and each direction keeps at most one pending kernel event for its
 * transmitter and one for its wire.
 */

import { readMac } from '../../src/wire/addr.ts';
import type { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { ETH_MIN_FRAME_LEN } from '../../src/wire/ethernet.ts';
import { assert } from '../../src/assert.ts';
import type { EventId, Kernel } from '../kernel.ts';
import type { Attachment, Device, World } from '../world.ts';

/** One microsecond, the clock's unit: every hop moves time forward, so a loop cannot spin at one instant. */
export const LINK_LATENCY_DEFAULT = 1 as Duration;
/** Linux's default txqueuelen. */
export const LINK_QUEUE_FRAMES_DEFAULT = 1_000;
/** 1000 full-size VLAN-tagged frames: the frame limit binds first for ordinary traffic. */
export const LINK_QUEUE_BYTES_DEFAULT = 1_000 * 1_522;
/** Largest queue a link may be configured with (frames). */
export const LINK_QUEUE_FRAMES_MAX = 1 << 20;
/** Frames on the wire in one direction at once; more means an absurd bandwidth-delay product. */
export const LINK_IN_FLIGHT_MAX = 1 << 20;
/** Fastest link we model: 1 Tbit/s keeps the exact serialisation arithmetic below 2^53. */
export const LINK_BANDWIDTH_MAX_BPS = 1e12;
/** Largest latency (and delay spike): one hour. */
export const LINK_DELAY_MAX_US = 3_600_000_000;
/** Largest jitter: 30 minutes (a uniform draw's 2 * jitter + 1 values must fit the generator's 2^32). */
export const LINK_JITTER_MAX_US = 1_800_000_000;

export type LinkDropReason = 'loss' | 'queue-full' | 'link-down' | 'partition';
export const LINK_DROP_REASONS = ['loss', 'queue-full', 'link-down', 'partition'] as const satisfies readonly LinkDropReason[];

export type JitterDistribution = 'uniform' | 'normal';

/** 'ab': frames sent by device a to device b; 'ba': the other way. */
export type LinkDirection = 'ab' | 'ba';
export const LINK_DIRECTIONS = ['ab', 'ba'] as const satisfies readonly LinkDirection[];

/**
 * A link's properties, per direction. The timing model (all arithmetic exact, times integer
 * microseconds):
 * - Serialisation: a frame occupies the transmitter for `8 * max(len, 60) / bandwidthBps` s
 *   (frames shorter than the Ethernet minimum are padded by the sender; preamble, FCS and the
 *   inter-frame gap are not modelled). The transmitter keeps sub-microsecond remainders, so
 *   back-to-back frames reach the exact line rate; event times are rounded up to whole µs.
 *   `bandwidthBps` undefined is an infinitely fast transmitter: no serialisation, no queueing.
 * - The queue holds the frames waiting for the transmitter (not the one being sent); a frame
 *   that would exceed `queueLimitFrames` or `queueLimitBytes` is dropped ('queue-full') and
 *   `send` returns false.
 * - Arrival = end of transmission + latency + jitter. Jitter follows netem: uniform in
 *   [-jitter, +jitter] (default) or normal with standard deviation `jitter`, rounded to whole µs,
 *   the total delay never below zero. Unless `reorder` is set, a frame never arrives before the
 *   one sent before it on the same direction: arrival = max(previous arrival, computed).
 * - Loss is decided when the frame starts onto the wire: a lost frame still occupies the
 *   transmitter, is captured and traced as 'tx', then traced as a 'drop' with reason 'loss'.
 * - Carrier: while down, `send` drops at once ('link-down') and returns false; `setUp(false)`
 *   drops every queued and in-flight frame ('link-down'). Carrier changes are traced as 'state'
 *   events (machine 'link', entity the link's name).
 * - Randomness: each direction draws loss and jitter from its own streams,
 *   `world.rngFor('link:<name>:<ab|ba>:<loss|jitter>')`, only when loss is strictly between 0
 *   and 1 or jitter is non-zero, so traffic one way never shifts the other way's draws.
 */
export interface LinkProps {
  /** Propagation delay; default `LINK_LATENCY_DEFAULT` (1 µs). */
  readonly latency?: Duration;
  /** Line rate in bits per second (a positive integer); undefined: infinitely fast. */
  readonly bandwidthBps?: number | undefined;
  /** Frames waiting for the transmitter, per direction; default `LINK_QUEUE_FRAMES_DEFAULT`. */
  readonly queueLimitFrames?: number;
  /** Bytes waiting for the transmitter, per direction; default `LINK_QUEUE_BYTES_DEFAULT`. */
  readonly queueLimitBytes?: number;
  /** Probability that a frame is lost on the wire, 0..1; default 0. */
  readonly loss?: number;
  /** Delay variation, see above; default 0. */
  readonly jitter?: Duration;
  /** Default 'uniform'. */
  readonly jitterDistribution?: JitterDistribution;
  /** Let jitter reorder frames; default false. */
  readonly reorder?: boolean;
  /** Carrier at creation; default true. */
  readonly up?: boolean;
}

/** Counters of one direction: a live view, updated as frames move. */
export interface LinkStats {
  /** `send` calls (accepted or not). */
  readonly offered: number;
  /** Frames that started onto the wire (lost ones included). */
  readonly sent: number;
  readonly delivered: number;
  readonly bytesSent: number;
  readonly bytesDelivered: number;
  readonly dropped: Readonly<Record<LinkDropReason, number>>;
}

interface MutableStats {
  offered: number;
  sent: number;
  delivered: number;
  bytesSent: number;
  bytesDelivered: number;
  dropped: Record<LinkDropReason, number>;
}

const NO_ID = -1;
const RING_INITIAL = 16;
const BITS_PER_BYTE_US = 8 * 1_000_000;

/** A FIFO of frames with two numbers each (a time and a trace id), over growable typed arrays. */
class FrameRing {
  frames: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(RING_INITIAL).fill(undefined);
  times = new Float64Array(RING_INITIAL);
  ids = new Float64Array(RING_INITIAL);
  head = 0;
  count = 0;
  mask = RING_INITIAL - 1;

  constructor(readonly max: number) {}

  push(frame: Uint8Array, time: number, id: number): void {
    if (this.count > this.mask) this.#grow();
    const i = (this.head + this.count) & this.mask;
    this.frames[i] = frame;
    this.times[i] = time;
    this.ids[i] = id;
    this.count++;
  }

  get headTime(): number {
    return this.times[this.head]!;
  }

  get headId(): number {
    return this.ids[this.head]!;
  }

  /** Remove and return the head; read `headTime` / `headId` first. */
  shift(): Uint8Array {
    const h = this.head;
    const f = this.frames[h]!;
    this.frames[h] = undefined;
    this.head = (h + 1) & this.mask;
    this.count--;
    return f;
  }

  #grow(): void {
    const cap = (this.mask + 1) * 2;
    assert(cap <= 2 * this.max, `frame ring over its bound ${this.max}`);
    const frames = new Array<Uint8Array | undefined>(cap).fill(undefined);
    const times = new Float64Array(cap);
    const ids = new Float64Array(cap);
    for (let k = 0; k < this.count; k++) {
      const j = (this.head + k) & this.mask;
      frames[k] = this.frames[j];
      times[k] = this.times[j]!;
      ids[k] = this.ids[j]!;
    }
    this.frames = frames;
    this.times = times;
    this.ids = ids;
    this.head = 0;
    this.mask = cap - 1;
  }
}

/** A frame on the wire of a reordering channel, with its own delivery event. */
interface Flight {
  readonly frame: Uint8Array;
  readonly txId: number;
  event: EventId;
}

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) assert(false, `${what} must be a probability in [0, 1], got ${p}`);
}

function checkDelay(d: number, what: string): void {
  if (!(Number.isSafeInteger(d) && d >= 0 && d <= LINK_DELAY_MAX_US)) {
    assert(false, `${what} must be whole µs in [0, ${LINK_DELAY_MAX_US}], got ${d}`);
  }
}

function checkJitter(d: number): void {
  if (!(Number.isSafeInteger(d) && d >= 0 && d <= LINK_JITTER_MAX_US)) assert(false, `jitter must be whole µs in [0, ${LINK_JITTER_MAX_US}], got ${d}`);
}

function checkBandwidth(bps: number | undefined): number {
  if (bps === undefined) return 0;
  if (!(Number.isSafeInteger(bps) && bps > 0 && bps <= LINK_BANDWIDTH_MAX_BPS)) {
    assert(false, `bandwidthBps must be an integer in [1, ${LINK_BANDWIDTH_MAX_BPS}] or undefined, got ${bps}`);
  }
  return bps;
}

function checkLimit(n: number, max: number, what: string): void {
  if (!(Number.isSafeInteger(n) && n >= 0 && n <= max)) assert(false, `${what} must be an integer in [0, ${max}], got ${n}`);
}

/** One direction of a link. */
class Channel {
  readonly stats: MutableStats = {
    offered: 0,
    sent: 0,
    delivered: 0,
    bytesSent: 0,
    bytesDelivered: 0,
    dropped: { loss: 0, 'queue-full': 0, 'link-down': 0, partition: 0 },
  };

  // Configuration (mutable for fault injection).
  latency: number;
  /** Sum of active delay spikes. */
  latencyExtra = 0;
  lossBase: number;
  /** Active loss bursts; the effective loss is the largest of these and the base. */
  readonly bursts: number[] = [];
  loss: number;
  jitter: number;
  jitterDist: JitterDistribution;
  reorder: boolean;
  /** 0: infinitely fast. */
  bps: number;
  queueFrames: number;
  queueBytes: number;

  // Transmitter: busy until busyUs + busyRem / bps (µs), exactly.
  busyUs = 0;
  busyRem = 0;
  readonly queue: FrameRing;
  queuedBytes = 0;
  startEvent: EventId | undefined = undefined;

  // Wire.
  readonly flight = new FrameRing(LINK_IN_FLIGHT_MAX);
  readonly reordered = new Set<Flight>();
  lastArrival = 0;
  arriveEvent: EventId | undefined = undefined;

  readonly #link: Link;
  readonly #world: World;
  readonly #kernel: Kernel;
  readonly #lossRng: Rng;
  readonly #jitterRng: Rng;
  readonly #tracing: boolean;
  readonly #from: Device;
  readonly #to: Device;
  readonly #pcapDirection: 'in' | 'out';
  readonly #onStart = (): void => this.#start();
  readonly #onArrive = (): void => this.#arrive();

  constructor(link: Link, world: World, from: Device, to: Device, dir: LinkDirection, props: LinkProps) {
    this.#link = link;
    this.#world = world;
    this.#kernel = world.kernel;
    this.#tracing = world.traceFrames;
    this.#from = from;
    this.#to = to;
    this.#pcapDirection = dir === 'ab' ? 'out' : 'in';
    this.#lossRng = world.rngFor(`link:${link.name}:${dir}:loss`);
    this.#jitterRng = world.rngFor(`link:${link.name}:${dir}:jitter`);
    this.latency = props.latency ?? LINK_LATENCY_DEFAULT;
    checkDelay(this.latency, 'latency');
    this.lossBase = props.loss ?? 0;
    checkProbability(this.lossBase, 'loss');
    this.loss = this.lossBase;
    this.jitter = props.jitter ?? 0;
    checkJitter(this.jitter);
    this.jitterDist = props.jitterDistribution ?? 'uniform';
    this.reorder = props.reorder ?? false;
    this.bps = checkBandwidth(props.bandwidthBps);
    this.queueFrames = props.queueLimitFrames ?? LINK_QUEUE_FRAMES_DEFAULT;
    checkLimit(this.queueFrames, LINK_QUEUE_FRAMES_MAX, 'queueLimitFrames');
    this.queueBytes = props.queueLimitBytes ?? LINK_QUEUE_BYTES_DEFAULT;
    checkLimit(this.queueBytes, Number.MAX_SAFE_INTEGER, 'queueLimitBytes');
    this.queue = new FrameRing(LINK_QUEUE_FRAMES_MAX);
  }

  updateLoss(): void {
    let p = this.lossBase;
    for (const b of this.bursts) if (b > p) p = b;
    this.loss = p;
  }

  /** The device's `send`. */
  send(frame: Uint8Array): boolean {
    const stats = this.stats;
    stats.offered++;
    if (!this.#link.up) {
      this.#drop(frame, 'link-down', this.#world.cause ?? NO_ID);
      return false;
    }
    const now = this.#kernel.now;
    const q = this.queue;
    if (q.count === 0 && (this.busyUs < now || (this.busyUs === now && this.busyRem === 0))) {
      this.busyUs = now;
      this.busyRem = 0;
      this.#transmit(frame, this.#world.cause ?? NO_ID);
      return true;
    }
    if (q.count >= this.queueFrames || this.queuedBytes + frame.length > this.queueBytes) {
      this.#drop(frame, 'queue-full', this.#world.cause ?? NO_ID);
      return false;
    }
    q.push(frame, 0, this.#world.cause ?? NO_ID);
    this.queuedBytes += frame.length;
    if (this.startEvent === undefined) this.startEvent = this.#kernel.at(this.#busyCeil(), this.#onStart);
    return true;
  }

  /** End of the current transmission, rounded up to whole µs. */
  #busyCeil(): Instant {
    return (this.busyRem > 0 ? this.busyUs + 1 : this.busyUs) as Instant;
  }

  /** The transmitter is free: send queued frames whose start time has come. */
  #start(): void {
    this.startEvent = undefined;
    const now = this.#kernel.now;
    const q = this.queue;
    while (q.count > 0 && (this.busyUs < now || (this.busyUs === now && this.busyRem === 0))) {
      const cause = q.headId;
      const frame = q.shift();
      this.queuedBytes -= frame.length;
      this.#transmit(frame, cause);
    }
    if (q.count > 0) this.startEvent = this.#kernel.at(this.#busyCeil(), this.#onStart);
  }

  /** Put `frame` onto the wire; it starts at the transmitter's current busy-until time. */
  #transmit(frame: Uint8Array, cause: number): void {
    const len = frame.length;
    const bps = this.bps;
    if (bps > 0) {
      const total = this.busyRem + (len < ETH_MIN_FRAME_LEN ? ETH_MIN_FRAME_LEN : len) * BITS_PER_BYTE_US;
      const whole = Math.floor(total / bps);
      this.busyUs += whole;
      this.busyRem = total - whole * bps;
    }
    const stats = this.stats;
    stats.sent++;
    stats.bytesSent += len;
    let txId = NO_ID;
    if (this.#tracing) txId = this.#trace(frame, 'tx', this.#from.node, cause, undefined);
    const pcap = this.#world.pcap;
    if (pcap !== undefined) {
      pcap.writePacket(
        this.#link.pcapInterface,
        this.#kernel.now,
        frame,
        txId === NO_ID ? { direction: this.#pcapDirection } : { comment: `event ${txId}`, direction: this.#pcapDirection },
      );
    }
    const loss = this.loss;
    if (loss > 0 && (loss >= 1 || this.#lossRng.float() < loss)) {
      this.#drop(frame, 'loss', txId);
      return;
    }
    const end = this.busyRem > 0 ? this.busyUs + 1 : this.busyUs;
    let arrival = end + this.latency + this.latencyExtra;
    if (this.jitter > 0) {
      arrival += this.#jitterSample();
      if (arrival < end) arrival = end;
    }
    if (this.reorder) {
      this.#fly(frame, txId, arrival);
      return;
    }
    if (arrival < this.lastArrival) arrival = this.lastArrival;
    this.lastArrival = arrival;
    const f = this.flight;
    if (f.count >= LINK_IN_FLIGHT_MAX) {
      assert(false, `link ${this.#link.name}: more than ${LINK_IN_FLIGHT_MAX} frames in flight; give it a bandwidth`);
    }
    f.push(frame, arrival, txId);
    if (this.arriveEvent === undefined) this.arriveEvent = this.#kernel.at(arrival as Instant, this.#onArrive);
  }

  #jitterSample(): number {
    const j = this.jitter;
    if (this.jitterDist === 'uniform') return this.#jitterRng.int(-j, j);
    return Math.round(this.#jitterRng.normal(0, j));
  }

  /** Reordering wire: each frame has its own delivery event. */
  #fly(frame: Uint8Array, txId: number, arrival: number): void {
    assert(this.reordered.size < LINK_IN_FLIGHT_MAX, `link ${this.#link.name}: too many frames in flight`);
    const flight: Flight = { frame, txId, event: 0 as EventId };
    flight.event = this.#kernel.at(arrival as Instant, () => {
      this.reordered.delete(flight);
      this.#deliver(frame, txId);
    });
    this.reordered.add(flight);
  }

  /** Deliver every in-order frame due now. */
  #arrive(): void {
    this.arriveEvent = undefined;
    const now = this.#kernel.now;
    const f = this.flight;
    while (f.count > 0 && f.headTime <= now) {
      const txId = f.headId;
      this.#deliver(f.shift(), txId);
    }
    if (f.count > 0 && this.arriveEvent === undefined) this.arriveEvent = this.#kernel.at(f.headTime as Instant, this.#onArrive);
  }

  #deliver(frame: Uint8Array, txId: number): void {
    const world = this.#world;
    // A partition cuts the last hop: the frame's sender and receiver are on different sides.
    if (world.partitioned && world.partitionBlocks(readMac(frame, 6), this.#to.node)) {
      this.#drop(frame, 'partition', txId);
      return;
    }
    const stats = this.stats;
    stats.delivered++;
    stats.bytesDelivered += frame.length;
    if (this.#tracing) {
      const rxId = this.#trace(frame, 'rx', this.#to.node, txId, undefined);
      world.cause = rxId;
    } else {
      world.cause = undefined;
    }
    this.#to.deliver(frame);
    world.cause = undefined;
  }

  #drop(frame: Uint8Array, reason: LinkDropReason, cause: number): void {
    this.stats.dropped[reason]++;
    if (this.#tracing) this.#trace(frame, 'drop', this.#from.node, cause, reason);
  }

  /**
   * Emit one frame event with `cause` as its cause; returns its id.
   *
   * Tracing (STYLE.md 12): when `world.traceFrames` is on, each frame gives a 'tx' event when
   * it starts onto the wire (cause: the event being handled when it was sent), then an 'rx'
   * event at the receiver (node: the receiving node, cause: the 'tx' event) or a 'drop' event
   * with its reason. The receiver runs with `world.cause` = the 'rx' event's id. When
   * `world.pcap` is set the link has its own pcapng interface, named after the link, and each
   * frame is written once at the start of its transmission with the comment `event <tx id>`
   * (direction flag: 'out' for frames from device a, 'in' for frames from device b, as a
   * capture on a's NIC would show).
   */
  #trace(frame: Uint8Array, dir: 'tx' | 'rx' | 'drop', node: string, cause: number, reason: LinkDropReason | undefined): number {
    const world = this.#world;
    const saved = world.cause;
    world.cause = cause === NO_ID ? undefined : cause;
    const id = world.traceFrame(
      reason === undefined
        ? { link: this.#link.name, dir, frame, node }
        : { link: this.#link.name, dir, frame, node, reason },
    );
    world.cause = saved;
    return id ?? NO_ID;
  }

  /** Carrier lost: drop everything on the wire, then everything queued. */
  flush(): void {
    const kernel = this.#kernel;
    if (this.arriveEvent !== undefined) kernel.cancel(this.arriveEvent);
    this.arriveEvent = undefined;
    if (this.startEvent !== undefined) kernel.cancel(this.startEvent);
    this.startEvent = undefined;
    const f = this.flight;
    while (f.count > 0) {
      const txId = f.headId;
      this.#drop(f.shift(), 'link-down', txId);
    }
    for (const flight of this.reordered) {
      kernel.cancel(flight.event);
      this.#drop(flight.frame, 'link-down', flight.txId);
    }
    this.reordered.clear();
    const q = this.queue;
    while (q.count > 0) {
      const cause = q.headId;
      this.#drop(q.shift(), 'link-down', cause);
    }
    this.queuedBytes = 0;
    this.busyUs = kernel.now;
    this.busyRem = 0;
    this.lastArrival = 0;
  }

  get inFlight(): number {
    return this.flight.count + this.reordered.size;
  }
}

/** One end of a link as its device sees it. */
class LinkEnd implements Attachment {
  readonly #link: Link;
  readonly #channel: Channel;

  constructor(link: Link, channel: Channel) {
    this.#link = link;
    this.#channel = channel;
  }

  send(frame: Uint8Array): boolean {
    return this.#channel.send(frame);
  }

  get up(): boolean {
    return this.#link.up;
  }
}

export class Link {
  readonly name: string;
  readonly a: Device;
  readonly b: Device;
  /** This link's pcapng interface id (-1 without capture). */
  readonly pcapInterface: number;
  readonly #world: World;
  readonly #ab: Channel;
  readonly #ba: Channel;
  #up: boolean;

  /** Plug `a` and `b` into a new cable; both must be unattached. `name` is unique in the world. */
  constructor(world: World, name: string, a: Device, b: Device, props: LinkProps = {}) {
    assert(a !== b, `link ${name}: both ends are the same device`);
    assert(a.attachment === undefined, `link ${name}: ${a.node}:${a.name} is already attached`);
    assert(b.attachment === undefined, `link ${name}: ${b.node}:${b.name} is already attached`);
    world.claimName(name);
    world.registerMac(a.mac, a.node);
    world.registerMac(b.mac, b.node);
    this.name = name;
    this.a = a;
    this.b = b;
    this.#world = world;
    this.#up = props.up ?? true;
    this.pcapInterface = world.pcap === undefined
      ? -1
      : world.pcap.addInterface({ name, description: `${a.node}:${a.name} <-> ${b.node}:${b.name}` });
    this.#ab = new Channel(this, world, a, b, 'ab', props);
    this.#ba = new Channel(this, world, b, a, 'ba', props);
    a.attachment = new LinkEnd(this, this.#ab);
    b.attachment = new LinkEnd(this, this.#ba);
  }

  /** Carrier state. */
  get up(): boolean {
    return this.#up;
  }

  /**
   * Bring the carrier down (dropping every queued and in-flight frame in both directions, counted
   * as 'link-down') or back up. Traced as a 'state' event of machine 'link'.
   */
  setUp(up: boolean): void {
    if (up === this.#up) return;
    this.#up = up;
    if (!up) {
      this.#ab.flush();
      this.#ba.flush();
    }
    const w = this.#world;
    w.emit({
      kind: 'state',
      t: w.now,
      ...(w.cause !== undefined ? { cause: w.cause } : {}),
      entity: this.name,
      machine: 'link',
      from: up ? 'down' : 'up',
      to: up ? 'up' : 'down',
      reason: 'set-up',
    });
    this.a.carrier?.(up);
    this.b.carrier?.(up);
  }

  /** Counters of one direction (a live view). */
  stats(dir: LinkDirection): LinkStats {
    return this.#channel(dir).stats;
  }

  /** Frames waiting for the transmitter in one direction. */
  queued(dir: LinkDirection): number {
    return this.#channel(dir).queue.count;
  }

  /** Frames on the wire in one direction (being serialised or propagating). */
  inFlight(dir: LinkDirection): number {
    return this.#channel(dir).inFlight;
  }

  /** The direction in which `from` sends. */
  directionFrom(from: Device): LinkDirection {
    if (from === this.a) return 'ab';
    assert(from === this.b, `link ${this.name}: ${from.node}:${from.name} is not one of its ends`);
    return 'ba';
  }

  /** Loss probability (both directions unless `dir` is given); active bursts still apply on top. */
  setLoss(p: number, dir?: LinkDirection): void {
    checkProbability(p, 'loss');
    for (const c of this.#channels(dir)) {
      c.lossBase = p;
      c.updateLoss();
    }
  }

  /** Loss of at least `p` for `duration` from now, then back to the base value. */
  lossBurst(p: number, duration: Duration, dir?: LinkDirection): void {
    checkProbability(p, 'loss');
    checkDelay(duration, 'loss burst duration');
    const channels = this.#channels(dir);
    for (const c of channels) {
      c.bursts.push(p);
      c.updateLoss();
    }
    this.#world.at((this.#world.now + duration) as Instant, () => {
      for (const c of channels) {
        c.bursts.splice(c.bursts.indexOf(p), 1);
        c.updateLoss();
      }
    });
  }

  /** Propagation delay for frames sent from now on. */
  setLatency(d: Duration, dir?: LinkDirection): void {
    checkDelay(d, 'latency');
    for (const c of this.#channels(dir)) c.latency = d;
  }

  /** Add `extra` to the latency for `duration` from now (spikes add up). */
  delaySpike(extra: Duration, duration: Duration, dir?: LinkDirection): void {
    checkDelay(extra, 'delay spike');
    checkDelay(duration, 'delay spike duration');
    const channels = this.#channels(dir);
    for (const c of channels) c.latencyExtra += extra;
    this.#world.at((this.#world.now + duration) as Instant, () => {
      for (const c of channels) c.latencyExtra -= extra;
    });
  }

  setJitter(d: Duration, distribution?: JitterDistribution, dir?: LinkDirection): void {
    checkJitter(d);
    for (const c of this.#channels(dir)) {
      c.jitter = d;
      if (distribution !== undefined) c.jitterDist = distribution;
    }
  }

  /** Line rate for frames that start from now on; undefined: infinitely fast. */
  setBandwidth(bps: number | undefined, dir?: LinkDirection): void {
    const v = checkBandwidth(bps);
    for (const c of this.#channels(dir)) c.bps = v;
  }

  #channel(dir: LinkDirection): Channel {
    return dir === 'ab' ? this.#ab : this.#ba;
  }

  #channels(dir: LinkDirection | undefined): readonly Channel[] {
    return dir === undefined ? [this.#ab, this.#ba] : [this.#channel(dir)];
  }
}
