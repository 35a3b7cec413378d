/**
 * Load generators for simulated clients: an open-loop Poisson arrival process (requests arrive at
 * a rate whatever happens to earlier ones, as independent users on the Internet do) and closed-loop
 * users (each waits for its answer, thinks, and asks again). Every request's outcome and latency is
 * recorded in an `OutcomeLog` and traced as a `request` event, the format expectations read.
 */

import { millis, seconds, type Duration, type Instant } from '../src/time.ts';
import type { RequestStatus } from '../src/trace.ts';
import type { Ipv4Addr } from '../src/wire/addr.ts';
import { assert } from '../src/assert.ts';
import type { Rng } from '../src/rng.ts';
import type { Cancel, Host } from './host/host.ts';
import type { TcpCloseReason, TcpConnection, TcpHandlers, TcpStack } from './host/tcp.ts';
import type { UdpSocket } from './host/udp.ts';
import { encodeRpc, parseRpc, RPC_OP, RPC_STATUS } from '../src/wire/rpc.ts';
import { encodeStamp, stampSize, stampXid } from '../src/wire/stamp.ts';
import { drawServiceTime, type ServiceTime } from './services.ts';
import { DnsClient, type DnsRequestSpec } from './dns-client.ts';

export type RequestSpec =
  /** The HTTP-like service: one connection per request, `size` response bytes. */
  | { readonly kind: 'http'; readonly size: number; readonly path?: string }
  /** The bulk download service: `size` bytes. */
  | { readonly kind: 'bulk'; readonly size: number }
  /**
   * RPC over UDP; `writeRatio` of requests are writes; keys uniform in [0, keys). With `retry` a
   * request is resent unchanged (same xid) every `retry` until a reply or the workload's timeout,
   * as NFS over UDP does. With `recordValues` every write stores a value no other write of the
   * run stores (see `rpcWriteValue`) and each request event carries `rw`, `key` and `value`, so
   * the consistency check can tell which write a read saw.
   */
  | { readonly kind: 'rpc'; readonly writeRatio?: number; readonly keys?: number; readonly retry?: Duration; readonly recordValues?: boolean }
  /** ICMP echo of `size` data bytes. */
  | { readonly kind: 'ping'; readonly size?: number }
  /** A UDP datagram of `size` bytes to an echo service. */
  | { readonly kind: 'udp-echo'; readonly size: number }
  /**
   * A TCP connection that sends `size` bytes to an echo service and reads them back; with `hold`
   * it then stays open and idle that long before it closes (long-lived links). A closed-loop user
   * waits for the close before its next request, so `users: N` keeps N connections open.
   */
  | { readonly kind: 'tcp-echo'; readonly size: number; readonly hold?: Duration }
  /**
   * A datagram to a multicast group (TTL 16), recorded 'ok' once sent: delivery is what the
   * receivers (`MulticastSink`) record. The payload starts with the send time, so sinks can
   * measure latency.
   */
  | { readonly kind: 'multicast'; readonly size: number }
  /** DNS queries and dynamic updates of names under a zone (sim/dns-client.ts). */
  | DnsRequestSpec;

export type Arrival =
  | { readonly kind: 'poisson'; /** requests per second */ readonly rate: number }
  | { readonly kind: 'closed'; readonly users: number; readonly think?: ServiceTime };

export interface WorkloadOptions {
  readonly name: string;
  readonly host: Host;
  /** Needed for http, bulk and tcp-echo requests. */
  readonly tcp?: TcpStack;
  readonly target: { readonly addr: Ipv4Addr; readonly port?: number };
  readonly request: RequestSpec;
  readonly arrival: Arrival;
  /** A request not answered within this is abandoned as 'timeout' (default 10 s). */
  readonly timeout?: Duration;
  /** World times (µs since the epoch) to start and stop issuing requests (default: now, never). */
  readonly start?: Instant | Duration;
  readonly stop?: Instant | Duration;
  /** Requests in flight at most (open loop); arrivals beyond it count as 'error' (default 10000). */
  readonly outstandingMax?: number;
  /**
   * This workload's position among the run's workloads (`index` of `of`), which makes the values
   * its recorded RPC writes store unique across the run (default: 0 of 1).
   */
  readonly valueTag?: { readonly index: number; readonly of: number };
}

/** Shortest RPC retransmission interval. */
export const RPC_RETRY_MIN_US = 1_000;

/**
 * Values a recording RPC workload writes, all workloads together: value 2(n·of + index + 1) for
 * its n-th write, even and positive, so every value names one write of the run, 0 (a key never
 * written) names none, and a value plus one (a diverging server's) names none either. Kept in an
 * i32, the RPC value's type.
 */
export const RPC_WRITE_VALUES_MAX = 0x3fffffff;

/** The value of a recording workload's `n`-th write (n from 0). */
export function rpcWriteValue(n: number, tag: { readonly index: number; readonly of: number }): number {
  const slot = n * tag.of + tag.index + 1;
  assert(Number.isSafeInteger(slot) && slot >= 1 && slot <= RPC_WRITE_VALUES_MAX, `rpc write value: write ${n} of workload ${tag.index}/${tag.of} is beyond ${RPC_WRITE_VALUES_MAX} unique values`);
  return 2 * slot;
}

/** What a recorded RPC request did, for its request event. */
interface RpcRecord {
  readonly rw: 'read' | 'write';
  readonly key: number;
  /** Written, or read (set when the reply arrives). */
  value: number | undefined;
  /** When the request began in the run's time (not the client's clock). */
  readonly since: number;
}

export interface Outcome {
  readonly op: string;
  readonly status: RequestStatus;
  readonly start: number;
  readonly end: number;
  readonly latency: number;
  readonly bytes?: number;
}

/** Outcomes kept in memory at most (STYLE.md 7); older ones are summarised only. */
export const OUTCOMES_MAX = 1_000_000;
/** Closed-loop users per workload at most: each holds a TCP connection (an ephemeral port). */
export const WORKLOAD_USERS_MAX = 10_000;
/** Fastest open-loop rate (requests per second): arrivals are at least 1 µs apart. */
export const WORKLOAD_RATE_MAX_PER_S = 1_000_000;
/** Slowest open-loop rate: the mean gap (1e12 µs) keeps every drawn arrival time a safe integer. */
export const WORKLOAD_RATE_MIN_PER_S = 1e-6;
/** Largest tcp-echo request: one write the echo server can take whole (TCP's default send buffer). */
export const TCP_ECHO_SIZE_MAX = 64 * 1024;

/** Request outcomes with the summaries expectations need. */
export class OutcomeLog {
  readonly outcomes: Outcome[] = [];
  readonly byStatus: Record<RequestStatus, number> = { ok: 0, timeout: 0, refused: 0, reset: 0, unreachable: 0, error: 0 };
  dropped = 0;

  add(o: Outcome): void {
    this.byStatus[o.status]++;
    if (this.outcomes.length < OUTCOMES_MAX) this.outcomes.push(o);
    else this.dropped++;
  }

  get total(): number {
    return this.outcomes.length + this.dropped;
  }

  /** Outcomes of requests that started in [from, to). */
  window(from = 0, to = Number.POSITIVE_INFINITY): Outcome[] {
    return this.outcomes.filter((o) => o.start >= from && o.start < to);
  }

  /** Fraction of requests started in [from, to) that succeeded (1 when there were none). */
  successRatio(from?: number, to?: number): number {
    const w = this.window(from, to);
    return w.length === 0 ? 1 : w.filter((o) => o.status === 'ok').length / w.length;
  }

  /** Latency percentile (0-100) of successful requests started in [from, to), in µs. */
  latencyPercentile(p: number, from?: number, to?: number): number | undefined {
    const lat = this.window(from, to).filter((o) => o.status === 'ok').map((o) => o.latency).sort((a, b) => a - b);
    if (lat.length === 0) return undefined;
    const i = Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1));
    return lat[i];
  }
}

const DEFAULT_PORT: Record<RequestSpec['kind'], number> = { http: 80, bulk: 21, rpc: 2049, ping: 0, 'udp-echo': 7, 'tcp-echo': 7, multicast: 5000, dns: 53 };

export class Workload {
  readonly opts: WorkloadOptions;
  readonly log = new OutcomeLog();
  /** Request datagrams sent again (rpc `retry`). */
  retransmissions = 0;
  readonly #rng: Rng;
  readonly #timeout: Duration;
  #running = false;
  #outstanding = 0;
  #arrivalCancel: Cancel | undefined;
  #udp: UdpSocket | undefined;
  readonly #pendingUdp = new Map<number, PendingUdp>();
  #xid = 1;
  /** Recorded RPC writes issued so far (the `n` of `rpcWriteValue`). */
  #writes = 0;
  #payload: Uint8Array | undefined;
  #pingSeq = 0;
  readonly #pingId: number;
  #dns: DnsClient | undefined;

  constructor(opts: WorkloadOptions) {
    this.opts = opts;
    this.#rng = opts.host.world.rngFor(`workload:${opts.name}`);
    this.#timeout = opts.timeout ?? seconds(10);
    this.#pingId = this.#rng.int(1, 0xffff);
    const k = opts.request.kind;
    const tag = opts.valueTag;
    assert(tag === undefined || (Number.isSafeInteger(tag.of) && tag.of >= 1 && Number.isSafeInteger(tag.index) && tag.index >= 0 && tag.index < tag.of), `workload ${opts.name}: bad value tag`);
    if (opts.request.kind === 'rpc' && opts.request.retry !== undefined) assert(opts.request.retry >= RPC_RETRY_MIN_US, `workload ${opts.name}: retry must be at least ${RPC_RETRY_MIN_US}us`);
    assert(!(k === 'http' || k === 'bulk' || k === 'tcp-echo') || opts.tcp !== undefined, `workload ${opts.name}: ${k} needs the host's TCP`);
    const a = opts.arrival;
    if (a.kind === 'poisson') assert(a.rate >= WORKLOAD_RATE_MIN_PER_S && a.rate <= WORKLOAD_RATE_MAX_PER_S, `workload ${opts.name}: rate must be in [${WORKLOAD_RATE_MIN_PER_S}, ${WORKLOAD_RATE_MAX_PER_S}]/s, got ${a.rate}`);
    else assert(Number.isSafeInteger(a.users) && a.users >= 1 && a.users <= WORKLOAD_USERS_MAX, `workload ${opts.name}: users must be 1..${WORKLOAD_USERS_MAX}, got ${a.users}`);
    const w = opts.host.world;
    opts.host.onCrash(() => this.#hostCrashed());
    w.at((opts.start ?? w.now) as Instant, () => this.#begin());
    if (opts.stop !== undefined) w.at(opts.stop as Instant, () => this.halt());
  }

  /** Stop issuing requests (those in flight finish or time out). */
  halt(): void {
    this.#running = false;
    this.#arrivalCancel?.();
    this.#arrivalCancel = undefined;
  }

  #begin(): void {
    this.#running = true;
    const a = this.opts.arrival;
    if (a.kind === 'poisson') this.#nextArrival();
    else for (let u = 0; u < a.users; u++) this.#userLoop();
  }

  #nextArrival(): void {
    const a = this.opts.arrival;
    if (!this.#running || a.kind !== 'poisson') return;
    const gap = Math.max(1, Math.round(this.#rng.exponential(1_000_000 / a.rate))) as Duration;
    this.#arrivalCancel = this.opts.host.timer(gap, () => {
      this.#arrivalCancel = undefined;
      if (!this.#running) return;
      if (this.#outstanding >= (this.opts.outstandingMax ?? 10_000)) this.#record('error', this.opts.host.now(), undefined);
      else this.#issue(NOTHING);
      this.#nextArrival();
    });
  }

  #userLoop(): void {
    if (!this.#running) return;
    this.#issue(() => {
      const a = this.opts.arrival;
      const think = a.kind === 'closed' && a.think ? drawServiceTime(a.think, this.#rng) : millis(0);
      if (think > 0) this.opts.host.timer(think, () => this.#userLoop());
      else this.opts.host.world.at(this.opts.host.world.now, () => this.#userLoop());
    });
  }

  /** Start one request; `then` runs when it has an outcome. */
  #issue(then: () => void): void {
    const host = this.opts.host;
    if (!host.up) {
      then();
      return;
    }
    this.#outstanding++;
    const req = new InFlight(this.#settler, host.now(), then);
    this.#inFlight.add(req);
    req.timer = host.timer(this.#timeout, () => req.expire());
    req.abort = this.#start(req);
  }

  /** What every `InFlight` of this workload reports to (one object per workload, not per request). */
  readonly #settler: Settler = {
    settled: (req, status, bytes) => {
      this.#outstanding--;
      this.#inFlight.delete(req);
      this.#record(status, req.start, bytes, req.rpc, req.op);
    },
  };

  /** Requests in flight, so that a crash of the client's host records them (as errors) instead of losing them. */
  readonly #inFlight = new Set<InFlight>();

  /** The client's host crashed: its requests in flight end now, unanswered (its users end with it). */
  #hostCrashed(): void {
    for (const req of [...this.#inFlight]) req.lost();
  }

  #record(status: RequestStatus, start: Instant, bytes: number | undefined, rpc?: RpcRecord, opOf?: string): void {
    const host = this.opts.host;
    const end = host.now();
    const op = opOf ?? this.#opName();
    const o: Outcome = { op, status, start, end, latency: end - start, ...(bytes !== undefined ? { bytes } : {}) };
    this.log.add(o);
    host.world.emit({
      kind: 'request',
      t: host.world.now,
      node: host.name,
      service: this.opts.name,
      op,
      status,
      start,
      latency: end - start,
      ...(bytes !== undefined ? { bytes } : {}),
      ...(rpc !== undefined ? { rw: rpc.rw, key: rpc.key, ...(rpc.value !== undefined ? { value: rpc.value } : {}), since: rpc.since } : {}),
    });
  }

  #opName(): string {
    const r = this.opts.request;
    return r.kind === 'rpc' ? 'rpc' : r.kind;
  }

  /** Begin the request's protocol exchange; returns how to abort it. */
  #start(req: InFlight): () => void {
    const finish = (s: RequestStatus, bytes?: number): void => req.finish(s, bytes);
    const r = this.opts.request;
    const dst = this.opts.target.addr;
    const port = this.opts.target.port ?? DEFAULT_PORT[r.kind];
    switch (r.kind) {
      case 'http':
        return this.#tcpRequest(req, port, this.#tcpPayload(() => new TextEncoder().encode(`GET ${r.path ?? '/'} ${r.size}\n`)), r.size, true, false, undefined);
      case 'bulk':
        return this.#tcpRequest(req, port, this.#tcpPayload(() => new TextEncoder().encode(`GET ${r.size}\n`)), r.size, false, false, undefined);
      case 'tcp-echo':
        return this.#tcpRequest(req, port, this.#tcpPayload(() => new Uint8Array(r.size).fill(0x2a)), r.size, false, true, r.hold);
      case 'ping': {
        const seq = this.#pingSeq++ & 0xffff;
        let aborted = false;
        this.opts.host.ping(dst, { id: this.#pingId, seq, size: r.size ?? 56, timeout: this.#timeout }, (res) => {
          if (aborted) return;
          if (res.kind === 'reply') finish('ok', res.bytes);
          else if (res.kind === 'timeout') finish('timeout');
          else if (res.kind === 'unreachable' || res.kind === 'time-exceeded') finish('unreachable');
          else finish('error');
        });
        return () => {
          aborted = true;
        };
      }
      case 'rpc': {
        const write = this.#rng.float() < (r.writeRatio ?? 0);
        const key = this.#rng.int(0, (r.keys ?? 100) - 1);
        const xid = this.#xid++ >>> 0;
        // A workload that does not record keeps its random values (and its random sequence).
        const value = !write ? 0 : r.recordValues === true ? rpcWriteValue(this.#writes++, this.opts.valueTag ?? { index: 0, of: 1 }) : this.#rng.int(0, 1_000_000);
        const rec: RpcRecord | undefined = r.recordValues === true ? { rw: write ? 'write' : 'read', key, value: write ? value : undefined, since: this.opts.host.world.now } : undefined;
        if (rec !== undefined) req.rpc = rec;
        const payload = encodeRpc({ kind: 'request', xid, op: write ? RPC_OP.write : RPC_OP.read, key, value });
        return this.#udpRequest(xid, port, payload, r.retry, (reply, status) => {
          if (reply === undefined) return finish(status);
          const rep = parseRpc(reply, 'reply');
          const ok = rep.ok && rep.value.status === RPC_STATUS.ok;
          if (rec !== undefined && rec.rw === 'read' && ok) rec.value = rep.value.value;
          finish(ok ? 'ok' : 'error', reply.length);
        });
      }
      case 'multicast': {
        const payload = encodeStamp({ kind: 'time', xid: this.#xid++ >>> 0, sentUs: this.opts.host.world.now, size: stampSize('time', r.size) });
        const res = this.#socket().sendTo(dst, port, payload);
        finish(res === 'sent' || res === 'queued' ? 'ok' : 'error');
        return () => {};
      }
      case 'dns':
        return this.#dnsRequest(req, r, port);
      case 'udp-echo': {
        const xid = this.#xid++ >>> 0;
        const payload = encodeStamp({ kind: 'xid', xid, size: stampSize('xid', r.size) });
        return this.#udpRequest(xid, port, payload, undefined, (reply, status) => finish(reply === undefined ? status : 'ok', reply?.length));
      }
    }
  }

  /** A DNS query or update (sim/dns-client.ts); its op ('dns-query', 'dns-update') names the request event. */
  #dnsRequest(req: InFlight, r: DnsRequestSpec, port: number): () => void {
    this.#dns ??= new DnsClient(this.opts.host, this.#rng, { addr: this.opts.target.addr, port }, r);
    const plan = this.#dns.plan();
    req.op = plan.op;
    return this.#dns.send(plan, (status, bytes) => req.finish(status, bytes));
  }

  /** The request bytes, the same for every TCP request of this workload (TCP copies what it sends). */
  #tcpPayload(make: () => Uint8Array): Uint8Array {
    this.#payload ??= make();
    return this.#payload;
  }

  #tcpRequest(
    req: InFlight,
    port: number,
    request: Uint8Array,
    expect: number,
    withHeader: boolean,
    echo: boolean,
    hold: Duration | undefined,
  ): () => void {
    const tcp = this.opts.tcp;
    assert(tcp !== undefined, 'tcp workload without TCP');
    const src = this.opts.host.sourceAddressFor(this.opts.target.addr);
    if (src === undefined) {
      req.finish('unreachable');
      return () => {};
    }
    const ex = new TcpExchange(req, this.opts.host, request, expect, withHeader, echo, hold);
    const conn = tcp.connect({ localAddr: src, remoteAddr: this.opts.target.addr, remotePort: port, handlers: ex });
    return () => conn.abort();
  }

  /**
   * Send one request datagram and wait for the reply with its xid; with `retry`, send the same
   * bytes again every `retry` until then (the request's timeout aborts it). Only the first send
   * failing locally fails the request: a retransmission that cannot leave (no route for now) is
   * simply tried again at the next interval.
   */
  #udpRequest(xid: number, port: number, payload: Uint8Array, retry: Duration | undefined, done: (reply: Uint8Array | undefined, status: RequestStatus) => void): () => void {
    const sock = this.#socket();
    const p = new PendingUdp(done);
    this.#pendingUdp.set(xid, p);
    const res = sock.sendTo(this.opts.target.addr, port, payload);
    if (res !== 'sent' && res !== 'queued') {
      this.#pendingUdp.delete(xid);
      done(undefined, res === 'no-route' ? 'unreachable' : 'error');
      return () => {};
    }
    if (retry !== undefined) {
      const host = this.opts.host;
      const again = (): void => {
        p.retry = host.timer(retry, () => {
          p.retry = undefined;
          if (this.#pendingUdp.get(xid) !== p) return;
          this.retransmissions++;
          sock.sendTo(this.opts.target.addr, port, payload);
          again();
        });
      };
      again();
    }
    return () => {
      if (this.#pendingUdp.get(xid) === p) this.#pendingUdp.delete(xid);
      p.cancel();
    };
  }


  #socket(): UdpSocket {
    if (this.#udp !== undefined) return this.#udp;
    this.#udp = this.opts.host.udpBind(0, {
      multicastTtl: 16,
      onMessage: (payload) => {
        // Every reply this socket waits for (an RPC reply, an echoed xid stamp) starts with the xid.
        const xid = stampXid(payload);
        if (xid === undefined) return;
        const p = this.#pendingUdp.get(xid);
        if (p === undefined) return; // late or duplicate reply
        this.#pendingUdp.delete(xid);
        p.cancel();
        p.done(payload, 'ok');
      },
      onError: (err) => {
        // A connectionless socket cannot tell which request failed: fail them all (as ECONNREFUSED would).
        const status: RequestStatus = err.kind === 'port-unreachable' ? 'refused' : 'unreachable';
        const all = [...this.#pendingUdp.values()];
        this.#pendingUdp.clear();
        for (const p of all) {
          p.cancel();
          p.done(undefined, status);
        }
      },
    });
    return this.#udp;
  }
}

const NOTHING = (): void => {};

/** A UDP request waiting for its reply, and its retransmission timer. */
class PendingUdp {
  retry: Cancel | undefined;
  constructor(readonly done: (payload: Uint8Array | undefined, status: RequestStatus) => void) {}
  cancel(): void {
    this.retry?.();
    this.retry = undefined;
  }
}

/** Where an `InFlight` reports its outcome. */
interface Settler {
  settled(req: InFlight, status: RequestStatus, bytes: number | undefined): void;
}

/**
 * One request in flight. A class with methods rather than closures: a run may hold a million of
 * them at once (long-lived connections), and every named closure costs a function object, its
 * context and (under tsx's keepNames) a property array of its own.
 */
class InFlight {
  finished = false;
  timer: Cancel | undefined;
  abort: (() => void) | undefined;
  /** `then` waits for the held connection to close (see `release`). */
  deferThen = false;
  /** A recorded RPC request's read/write, key and value. */
  rpc: RpcRecord | undefined;
  /** The request event's op when it is not the workload's (a dns workload's query or update). */
  op: string | undefined;

  constructor(
    readonly settler: Settler,
    readonly start: Instant,
    readonly then: () => void,
  ) {}

  finish(status: RequestStatus, bytes?: number): void {
    if (this.finished) return;
    this.finished = true;
    this.timer?.();
    this.timer = undefined;
    this.settler.settled(this, status, bytes);
    if (!this.deferThen) this.then();
  }

  /** Its host crashed: recorded as an error now, and nothing runs after it (the host's timers are gone). */
  lost(): void {
    if (this.finished) return;
    this.finished = true;
    this.timer = undefined;
    this.settler.settled(this, 'error', undefined);
  }

  /** The request timed out. */
  expire(): void {
    this.timer = undefined;
    this.finish('timeout'); // first: aborting may report a reset synchronously
    this.abort?.();
  }

  /** A held connection has closed: the closed-loop user may go on. */
  release(): void {
    if (!this.deferThen) return;
    this.deferThen = false;
    this.then();
  }
}

/** The client side of one TCP request (its handlers are its methods). */
class TcpExchange implements TcpHandlers {
  got = 0;
  headerDone: boolean;
  header = '';
  bodyExpected: number;
  /** Cancels the end of the hold (set while a completed connection is held open). */
  holdCancel: Cancel | undefined;

  constructor(
    readonly req: InFlight,
    readonly host: Host,
    readonly request: Uint8Array,
    expect: number,
    readonly withHeader: boolean,
    readonly echo: boolean,
    readonly hold: Duration | undefined,
  ) {
    this.headerDone = !withHeader;
    this.bodyExpected = expect;
  }

  complete(): boolean {
    return this.headerDone && this.got >= this.bodyExpected;
  }

  onEstablished(c: TcpConnection): void {
    c.send(this.request);
  }

  onData(bytes: Uint8Array, c: TcpConnection): void {
    let body = bytes;
    if (!this.headerDone) {
      let i = 0;
      for (; i < bytes.length && !this.header.endsWith('\n'); i++) this.header += String.fromCharCode(bytes[i]!);
      if (!this.header.endsWith('\n')) return;
      this.headerDone = true;
      const m = /^(\d+) (\d+)\n$/.exec(this.header);
      if (!m || m[1] !== '200') {
        this.req.finish('error');
        c.abort();
        return;
      }
      this.bodyExpected = Number(m[2]);
      body = bytes.subarray(i);
    }
    this.got += body.length;
    if (this.complete()) {
      if (this.hold !== undefined && !this.req.finished) {
        this.req.deferThen = true;
        this.req.finish('ok', this.got);
        this.holdCancel = this.host.timer(this.hold, () => {
          this.holdCancel = undefined;
          c.close();
        });
        return;
      }
      this.req.finish('ok', this.got);
      c.close();
    }
  }

  onPeerClosed(c: TcpConnection): void {
    if (!this.complete()) this.req.finish(this.echo ? 'error' : 'reset', this.got);
    c.close();
  }

  onClosed(reason: TcpCloseReason): void {
    this.holdCancel?.();
    this.holdCancel = undefined;
    if (reason === 'normal') this.req.finish(this.complete() ? 'ok' : 'error', this.got);
    else this.req.finish(reason === 'refused' ? 'refused' : reason === 'timeout' ? 'timeout' : 'reset', this.got);
    this.req.release();
  }
}
