/**
 * A pair (or more) of TCP stacks wired through simulated paths, stepped by a `Kernel` (STYLE 8:
 * quinn's `Pair`). Each direction between two addresses is a path with one-way delay, optional
 * bandwidth serialisation behind a drop-tail queue, random loss and random extra delay
 * (reordering), all drawn from the harness's seeded `Rng`. Segments cross the path as bytes:
 * encoded with the real codec and parsed back with the checksum verified, so whatever a stack
 * emits must be a valid TCP segment.
 *
 * Besides stacks, a harness can hold raw hosts: addresses with no stack that record what reaches
 * them and can inject hand-made segments (a SYN flood from spoofed ports, say).
 */

import { Kernel } from '../../sim/kernel.ts';
import { TcpStack, type TcpOptions } from '../../sim/host/tcp.ts';
import type { TcpConnInfo, TcpEnv, TcpStateName } from '../../sim/host/tcp-api.ts';
import { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { formatIpv4, ip, type Ipv4Addr } from '../../src/wire/addr.ts';
import { encodeTcp, parseTcp, tcpFlagNames, type TcpSegment } from '../../src/wire/tcp.ts';

/** IPv4 header bytes added to every segment on the wire (no options). */
const IP_HEADER_BYTES = 20;
/** Events one `run` may handle before the test calls it a livelock. */
export const HARNESS_EVENTS_MAX = 5_000_000;

export interface PathOptions {
  /** One-way propagation delay. */
  readonly delay: Duration;
  /** Serialisation rate in bit/s; undefined: infinitely fast. */
  readonly bandwidthBps?: number;
  /** Packets that may wait for the transmitter (drop-tail); undefined: unbounded. */
  readonly queuePackets?: number;
  /** Probability that a packet is lost. */
  readonly loss?: number;
  /** Probability that a packet is delayed by an extra uniform 0..reorderDelay (so overtaken). */
  readonly reorder?: number;
  readonly reorderDelay?: Duration;
}

export type SegmentFate = 'delivered' | 'lost' | 'queue-drop' | 'host-down';

export interface SegmentRecord {
  /** When it was sent (µs). */
  readonly t: number;
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly seg: TcpSegment;
  readonly fate: SegmentFate;
}

export interface StateRecord {
  readonly t: number;
  readonly host: string;
  readonly conn: string;
  readonly from: TcpStateName;
  readonly to: TcpStateName;
}

interface PathState {
  readonly opts: PathOptions;
  busyUntil: number;
  /** Transmission start times of packets still waiting in the queue. */
  readonly waiting: number[];
}

interface Endpoint {
  readonly name: string;
  readonly addr: Ipv4Addr;
  readonly stack: TcpStack | undefined;
  /** Segments that reached a raw host. */
  readonly received: TcpSegment[];
  down: boolean;
}

export function describeSegment(r: SegmentRecord): string {
  const s = r.seg;
  return `${r.t} ${formatIpv4(r.src)}:${s.srcPort}>${formatIpv4(r.dst)}:${s.dstPort} ${tcpFlagNames(s.flags)} ` +
    `seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length} ${r.fate}`;
}

export class TcpHarness {
  readonly kernel = new Kernel();
  readonly rng: Rng;
  /** Every segment sent, in order, with its fate. */
  readonly log: SegmentRecord[] = [];
  readonly states: StateRecord[] = [];
  readonly defaultPath: PathOptions;
  /** Called for every segment as it is sent (after its fate is decided). */
  onSegment: ((r: SegmentRecord) => void) | undefined;
  /** Return true to lose this segment (a targeted fault, on top of the path's random loss). */
  dropIf: ((src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment) => boolean) | undefined;
  readonly #endpoints = new Map<Ipv4Addr, Endpoint>();
  readonly #paths = new Map<string, PathState>();
  readonly #pathRng: Rng;

  constructor(seed: number | string, defaultPath: PathOptions) {
    this.rng = Rng.fromSeed(seed);
    this.#pathRng = this.rng.split('paths');
    this.defaultPath = defaultPath;
  }

  get now(): number {
    return this.kernel.now;
  }

  /** A host with a TCP stack at `addr` (dotted quad). */
  addStack(name: string, addr: string, opts: TcpOptions = {}, mtu = 1500): TcpStack {
    const a = ip(addr);
    const env: TcpEnv = {
      now: () => this.kernel.now,
      timer: (d, fn) => {
        const id = this.kernel.after(d, fn);
        return () => void this.kernel.cancel(id);
      },
      output: (src, dst, seg) => this.#send(src, dst, seg),
      mtuTo: () => mtu,
      rng: this.rng.split(`tcp:${name}`),
      onState: (conn: TcpConnInfo, from: TcpStateName, to: TcpStateName) => {
        this.states.push({ t: this.kernel.now, host: name, conn: `${conn.localPort}>${conn.remotePort}`, from, to });
      },
    };
    const stack = new TcpStack(env, opts);
    this.#endpoints.set(a, { name, addr: a, stack, received: [], down: false });
    return stack;
  }

  /** A host without a stack: records what it receives. */
  addRaw(name: string, addr: string): TcpSegment[] {
    const a = ip(addr);
    const received: TcpSegment[] = [];
    this.#endpoints.set(a, { name, addr: a, stack: undefined, received, down: false });
    return received;
  }

  /** Set the path from `src` to `dst` (one direction). */
  setPath(src: string, dst: string, opts: PathOptions): void {
    this.#paths.set(`${ip(src)}>${ip(dst)}`, { opts, busyUntil: 0, waiting: [] });
  }

  /** A powered-off host neither sends nor receives. */
  setDown(addr: string, down: boolean): void {
    const e = this.#endpoints.get(ip(addr));
    if (e !== undefined) e.down = down;
  }

  /** Send a hand-made segment from `src` (a raw host or any address) to `dst`. */
  inject(src: string, dst: string, seg: TcpSegment): void {
    this.#send(ip(src), ip(dst), seg);
  }

  run(until?: Instant): void {
    const r = this.kernel.run(until === undefined ? { maxEvents: HARNESS_EVENTS_MAX } : { until, maxEvents: HARNESS_EVENTS_MAX });
    if (r.reason === 'budget') throw new Error(`harness: more than ${HARNESS_EVENTS_MAX} events`);
  }

  /** Run for `d` more. */
  runFor(d: Duration): void {
    this.run((this.kernel.now + d) as Instant);
  }

  #path(src: Ipv4Addr, dst: Ipv4Addr): PathState {
    const key = `${src}>${dst}`;
    let p = this.#paths.get(key);
    if (p === undefined) {
      p = { opts: this.defaultPath, busyUntil: 0, waiting: [] };
      this.#paths.set(key, p);
    }
    return p;
  }

  #send(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void {
    const now = this.kernel.now;
    const bytes = encodeTcp(seg, { src, dst });
    const from = this.#endpoints.get(src);
    const to = this.#endpoints.get(dst);
    const p = this.#path(src, dst);
    const o = p.opts;
    let fate: SegmentFate = 'delivered';
    let arrival: number = now;
    if (from?.down === true) fate = 'host-down';
    else if (this.dropIf?.(src, dst, seg) === true) fate = 'lost';
    else if (o.loss !== undefined && o.loss > 0 && this.#pathRng.bool(o.loss)) fate = 'lost';
    else {
      let sent: number = now;
      if (o.bandwidthBps !== undefined) {
        while (p.waiting.length > 0 && (p.waiting[0] as number) <= now) p.waiting.shift();
        if (o.queuePackets !== undefined && p.waiting.length >= o.queuePackets) fate = 'queue-drop';
        else {
          const start = Math.max(now, p.busyUntil);
          const txUs = Math.ceil(((bytes.length + IP_HEADER_BYTES) * 8 * 1_000_000) / o.bandwidthBps);
          p.busyUntil = start + txUs;
          if (start > now) p.waiting.push(start);
          sent = p.busyUntil;
        }
      }
      arrival = sent + o.delay;
      if (o.reorder !== undefined && o.reorder > 0 && this.#pathRng.bool(o.reorder)) {
        arrival += this.#pathRng.int(0, o.reorderDelay ?? 0);
      }
    }
    const record: SegmentRecord = { t: now, src, dst, seg, fate };
    this.log.push(record);
    this.onSegment?.(record);
    if (fate !== 'delivered') return;
    this.kernel.at(arrival as Instant, () => {
      if (to === undefined || to.down) return;
      const parsed = parseTcp(bytes, { pseudo: { src, dst } });
      if (!parsed.ok) throw new Error(`harness: a stack sent a bad segment: ${parsed.error.reason}`);
      if (to.stack !== undefined) to.stack.input(src, dst, parsed.value);
      else to.received.push(parsed.value);
    });
  }
}

/** Deterministic pseudo-random bytes for payloads. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed | 0) + 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i;
    out[i] = (x >>> 24) & 0xff;
  }
  return out;
}


