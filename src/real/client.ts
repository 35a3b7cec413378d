/**
 * A scenario workload with real sockets (`sg lab client JSON`, run in the client host's
 * namespace by `sg run --real`): open-loop Poisson arrivals or closed-loop users, exactly as the
 * simulator's workload generator, writing one `request` trace event per request to stdout as JSON
 * Lines, stamped in CLOCK_MONOTONIC µs since the lab's t0 (the daemons' clock). Request kinds:
 * http (GET, the body names the server), bulk (`GET <size>`, the bytes counted), tcp-echo and
 * udp-echo (`size` bytes out and back), ping (one ICMP echo from the client's own ICMP socket,
 * `icmp.ts`: no process is spawned, the round trip is the socket's). Closed-loop users think
 * between requests (`think:`, drawn as the simulator draws it) and each issues its first request
 * at the workload's start even when the client woke after the stop (a busy machine, a short
 * window): the simulator issues it then, so the lab does too. multicast: one datagram of
 * max(12, size) bytes to the group (TTL 16) from the workload's one socket, the xid (u32, from 1)
 * at offset 0 and the send's CLOCK_MONOTONIC µs (f64, absolute: the sinks' clock) at 4, 'ok' once
 * sent (the sinks record delivery, `sg lab serve multicast-sink`). Not yet: rpc.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import type { WorkloadModel } from '../scenario/load.ts';
import { Rng } from '../rng.ts';
import { formatIpv4, type Ipv4Addr } from '../wire/addr.ts';
import { encodeStamp, stampSize } from '../wire/stamp.ts';
import { monotonicUs } from './engine-worker.ts';
import { Pinger } from './icmp.ts';

export interface ClientSpec {
  readonly workload: WorkloadModel;
  /** CLOCK_MONOTONIC µs that is time 0 (`sg lab client` without it: read from stdin once loaded). */
  readonly t0: number;
  readonly seed: number;
}

/**
 * The JSON argument of `sg lab client`, checked: a message instead of a throw when it is not JSON
 * or not a spec (the fields `runClient` reads, of the right types).
 */
export function parseClientSpec(json: string): { readonly ok: true; readonly spec: Omit<ClientSpec, 't0'> & { readonly t0?: number } } | { readonly ok: false; readonly message: string } {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    return { ok: false, message: `not JSON: ${(e as Error).message}` };
  }
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!obj(v)) return { ok: false, message: 'the spec is a JSON object { workload, seed, t0? }' };
  const w = v['workload'];
  // Without t0 the client says 'ready' and reads it from stdin (sg run --real).
  if (v['t0'] !== undefined && !(typeof v['t0'] === 'number' && Number.isFinite(v['t0']))) return { ok: false, message: 't0: a finite number of µs (or absent: read from stdin)' };
  if (!(typeof v['seed'] === 'number' && Number.isSafeInteger(v['seed']))) return { ok: false, message: 'seed: an integer' };
  if (!obj(w)) return { ok: false, message: 'workload: an object (a resolved scenario workload)' };
  if (typeof w['name'] !== 'string' || typeof w['from'] !== 'string') return { ok: false, message: 'workload.name and workload.from: strings' };
  if (!(typeof w['to'] === 'number' && Number.isInteger(w['to']) && w['to'] >= 0 && w['to'] <= 0xffffffff)) return { ok: false, message: 'workload.to: an IPv4 address as a u32' };
  const r = w['request'];
  if (!obj(r) || typeof r['kind'] !== 'string') return { ok: false, message: 'workload.request: an object with a kind' };
  const a = w['arrival'];
  const poisson = obj(a) && a['kind'] === 'poisson' && typeof a['rate'] === 'number' && a['rate'] > 0 && Number.isFinite(a['rate']);
  const closed = obj(a) && a['kind'] === 'closed' && typeof a['users'] === 'number' && Number.isSafeInteger(a['users']) && a['users'] >= 1;
  if (!poisson && !closed) return { ok: false, message: 'workload.arrival: { kind: poisson, rate > 0 } or { kind: closed, users >= 1 }' };
  return { ok: true, spec: v as unknown as ClientSpec };
}

type Status = 'ok' | 'timeout' | 'refused' | 'reset' | 'unreachable' | 'error';

function statusOf(e: NodeJS.ErrnoException): Status {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    default:
      return 'error';
  }
}

/** A multicast workload's one socket (TTL 16, an ephemeral port) and its xids, as the simulator's. */
export class McastSender {
  readonly #sock = createSocket('udp4');
  #xid = 1;
  #bindError: NodeJS.ErrnoException | undefined;
  /** Resolves once bound (a bind error is each send's status). */
  readonly ready: Promise<void>;
  constructor() {
    this.ready = new Promise((res) => {
      // Only a bind fails this way (a send's error goes to its callback).
      this.#sock.on('error', (e) => {
        this.#bindError ??= e;
        res();
      });
      this.#sock.bind(0, () => {
        try {
          this.#sock.setMulticastTTL(16);
        } catch (e) {
          this.#bindError = e as NodeJS.ErrnoException;
        }
        res();
      });
    });
  }
  /** Send one datagram of max(12, size) bytes to host:port; resolves with the send's status. */
  send(host: string, port: number, size: number): Promise<Status> {
    if (this.#bindError !== undefined) return Promise.resolve(statusOf(this.#bindError));
    const payload = encodeStamp({ kind: 'time', xid: this.#xid++ >>> 0, sentUs: monotonicUs(), size: stampSize('time', size) });
    return new Promise((res) => this.#sock.send(payload, port, host, (e) => res(e ? statusOf(e) : 'ok')));
  }
  close(): void {
    try {
      this.#sock.close();
    } catch {
      // closed already
    }
  }
}

/** What a workload opens before its first request (see `openClient`). */
export interface Opened {
  readonly pinger?: Pinger;
  readonly mcast?: McastSender;
}

/** One request; resolves with its status and the server that answered (http). */
function once(w: WorkloadModel, timeoutMs: number, opened: Opened): Promise<{ status: Status; server?: string; bytes?: number; rttUs?: number }> {
  const host = formatIpv4(w.to as Ipv4Addr);
  const port = w.port ?? (w.request.kind === 'multicast' ? 5000 : 80);
  const pinger = opened.pinger;
  const r = w.request;
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: { status: Status; server?: string; bytes?: number; rttUs?: number }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    let cancel = () => {};
    const timer = setTimeout(() => {
      cancel();
      done({ status: 'timeout' });
    }, timeoutMs);
    switch (r.kind) {
      case 'http': {
        const req = httpRequest({ host, port, path: r.path ?? '/', agent: false, headers: { connection: 'close' } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => done({ status: (res.statusCode ?? 0) < 400 ? 'ok' : 'error', server: body.trim().slice(0, 64), bytes: body.length }));
          res.on('error', (e) => done({ status: statusOf(e) }));
        });
        req.on('error', (e) => done({ status: statusOf(e) }));
        req.end();
        cancel = () => req.destroy();
        break;
      }
      case 'bulk': {
        const s = connect(port, host);
        let got = 0;
        s.on('connect', () => s.write(`GET ${r.size}\n`));
        s.on('data', (d) => (got += d.length));
        s.on('end', () => done({ status: got >= r.size ? 'ok' : 'error', bytes: got }));
        s.on('error', (e) => done({ status: statusOf(e) }));
        cancel = () => s.destroy();
        break;
      }
      case 'ping': {
        if (pinger === undefined) {
          done({ status: 'error' });
          break;
        }
        // The pinger's own timeout is the request's (the outer timer is a backstop).
        void pinger.ping(w.to, r.size ?? 56, timeoutMs).then((p) => done({ status: p.status, ...(p.bytes !== undefined ? { bytes: p.bytes } : {}), ...(p.rttUs !== undefined ? { rttUs: p.rttUs } : {}) }));
        break;
      }
      case 'tcp-echo': {
        const s = connect(port, host);
        const payload = Buffer.alloc(r.size, 0x61);
        let got = 0;
        s.on('connect', () => s.write(payload));
        s.on('data', (d) => {
          got += d.length;
          if (got >= r.size) {
            s.end();
            done({ status: 'ok', bytes: got });
          }
        });
        s.on('error', (e) => done({ status: statusOf(e) }));
        cancel = () => s.destroy();
        break;
      }
      case 'multicast': {
        if (opened.mcast === undefined) {
          done({ status: 'error' });
          break;
        }
        void opened.mcast.send(host, port, r.size).then((status) => done({ status }));
        break;
      }
      case 'udp-echo': {
        const s = createSocket('udp4');
        s.on('message', (m) => {
          s.close();
          done({ status: 'ok', bytes: m.length });
        });
        s.on('error', (e) => done({ status: statusOf(e) }));
        s.send(Buffer.alloc(r.size, 0x61), port, host);
        cancel = () => s.close();
        break;
      }
      default:
        done({ status: 'error' });
    }
  });
}

/**
 * What the workload needs opened before it says 'ready' (an ICMP socket for ping); throws an
 * Error saying what is missing, so `sg lab client` fails at start, not at the first request.
 */
export function openClient(spec: Pick<ClientSpec, 'workload' | 'seed'>): Opened {
  if (spec.workload.request.kind === 'multicast') return { mcast: new McastSender() };
  // The echo id the simulator draws (a raw socket sends it; a datagram socket's is the kernel's).
  return spec.workload.request.kind === 'ping' ? { pinger: new Pinger(workloadRng(spec).int(1, 0xffff)) } : {};
}

/** The simulator's random stream for this workload (sim/workload.ts: world.rngFor('workload:NAME')). */
function workloadRng(spec: Pick<ClientSpec, 'workload' | 'seed'>): Rng {
  return Rng.fromSeed(spec.seed).split(`workload:${spec.workload.name}`);
}

/** Run the workload to its stop time (plus its timeout); `emit` gets each request event. */
export async function runClient(spec: ClientSpec, emit: (line: string) => void, opened: Opened = openClient(spec)): Promise<void> {
  const w = spec.workload;
  // The simulator's stream, drawn in its order (the echo id first, then the arrival gaps or the
  // think times), so an open-loop workload issues the simulator's requests at its times.
  const rng = workloadRng(spec);
  rng.int(1, 0xffff);
  const now = () => monotonicUs() - spec.t0;
  const startUs = w.start ?? 0;
  const stopUs = w.stop ?? Number.POSITIVE_INFINITY;
  const timeoutMs = (w.timeout ?? 5_000_000) / 1000;
  // setTimeout alone fires up to 1.7 ms early against CLOCK_MONOTONIC: wait again until it is time.
  const sleepUntil = async (tUs: number): Promise<void> => {
    while (now() < tUs) await new Promise<void>((res) => setTimeout(res, Math.max(1, (tUs - now()) / 1000)));
  };
  const opName = w.request.kind;
  const fire = async () => {
    let start = now();
    const r = await once(w, timeoutMs, opened);
    const t = now();
    // A ping's latency is the socket's round trip (send to reply, monotonic), not the promise's.
    if (r.rttUs !== undefined) start = t - r.rttUs;
    emit(JSON.stringify({ kind: 'request', t, node: w.from, service: w.name, op: opName, status: r.status, start, latency: t - start, ...(r.bytes !== undefined ? { bytes: r.bytes } : {}), ...(r.server ? { server: r.server } : {}) }));
  };
  await opened.mcast?.ready;
  await sleepUntil(startUs);
  // For the lab's timing report (not a trace event: sg run --real takes it out).
  emit(JSON.stringify({ kind: 'client-start', t: now(), late: Math.max(0, now() - startUs) }));
  const inflight = new Set<Promise<void>>();
  if (w.arrival.kind === 'poisson') {
    const rate = w.arrival.rate;
    let next = startUs;
    for (;;) {
      next += Math.max(1, Math.round(rng.exponential(1_000_000 / rate)));
      if (next >= stopUs) break;
      await sleepUntil(next);
      const p = fire().finally(() => inflight.delete(p));
      inflight.add(p);
    }
  } else {
    const a = w.arrival;
    // The simulator's user: a request at the start (before the stop, always), then think, and
    // another while the stop has not come.
    const think = (): number => (a.think === undefined ? 0 : a.think.kind === 'fixed' ? a.think.d : Math.round(rng.exponential(a.think.mean)));
    const users = Array.from({ length: a.users }, async () => {
      do {
        await fire();
        const d = think();
        if (d > 0) await sleepUntil(now() + d);
      } while (now() < stopUs);
    });
    await Promise.all(users);
  }
  await Promise.all(inflight);
  opened.pinger?.close();
  opened.mcast?.close();
}
