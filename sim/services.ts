/**
 * Services that run on simulated hosts: UDP and TCP echo, an HTTP-like request/response server
 * with a service time and a concurrency limit, a bulk download server (the FTP test of slide 55),
 * an RPC-over-UDP key-value service (the NFS-like service of slides 49-52, whose write replies
 * carry the SG write-status IP option, so the SG can compare write results, slide 43), and a
 * multicast sink. Their payloads are plain text or the codecs of src/wire/ (rpc.ts, stamp.ts),
 * chosen to be easy to read in a capture.
 *
 * Every service is a process on its host with a lifecycle the fault injector drives:
 * - `kill()`: the process is gone; its sockets close, so TCP connects are refused (RST) and UDP
 *   datagrams get ICMP port unreachable (the "process dead" case of slide 38);
 * - `hang()`: the process is alive but stuck; the kernel still completes TCP handshakes into the
 *   backlog and queues UDP datagrams, but nothing is ever answered (the "hung process" case);
 * - `start()`: (re)start from scratch.
 * When its host crashes the service dies with it; `autostart` services start again when the host
 * restarts (like a systemd unit).
 */

import { millis, type Duration } from '../src/time.ts';
import { assert } from '../src/assert.ts';
import { formatIpv4, type Ipv4Addr } from '../src/wire/addr.ts';
import { encodeRpc, parseRpc, RPC_OP } from '../src/wire/rpc.ts';
import { RPC_KEYS_MAX, RpcServer } from '../src/rw/rpc-server.ts';
import { McastSupport } from '../src/rw/support.ts';
import { simMcastSocket } from './mcast-socket.ts';
import { parseStamp } from '../src/wire/stamp.ts';
import { CtlSession, readResult } from '../src/ctl/client.ts';
import type { CtlKey } from '../src/ctl/types.ts';
import type { Rng } from '../src/rng.ts';
import type { Cancel, Host } from './host/host.ts';
import type { TcpConnection, TcpHandlers, TcpListener, TcpStack } from './host/tcp.ts';
import type { UdpSocket } from './host/udp.ts';

export type ServiceState = 'running' | 'hung' | 'dead';

/** A service time: a fixed duration, or exponentially distributed around a mean. */
export type ServiceTime = { readonly kind: 'fixed'; readonly d: Duration } | { readonly kind: 'exponential'; readonly mean: Duration };

export function drawServiceTime(t: ServiceTime, rng: Rng): Duration {
  return (t.kind === 'fixed' ? t.d : Math.round(rng.exponential(t.mean))) as Duration;
}

export interface ServiceCounters {
  requests: number;
  replies: number;
  /** Requests refused or dropped by the service itself (queue full). */
  rejected: number;
}

/** The part every service shares: name, host, state, lifecycle and trace. */
export abstract class Service {
  readonly name: string;
  readonly host: Host;
  readonly autostart: boolean;
  readonly counters: ServiceCounters = { requests: 0, replies: 0, rejected: 0 };
  #state: ServiceState = 'dead';

  constructor(host: Host, name: string, autostart: boolean) {
    this.host = host;
    this.name = name;
    this.autostart = autostart;
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** Start (or restart after kill/hang) with fresh state. On a crashed host this does nothing: the host's restart starts autostart services. */
  start(): void {
    if (!this.host.up) {
      const w = this.host.world;
      w.emit({ kind: 'drop', t: w.now, node: this.host.name, layer: 'service', reason: 'host-down', detail: `start ${this.name}` });
      return;
    }
    if (this.#state !== 'dead') this.stop();
    this.open();
    this.#setState('running', 'start');
  }

  /** The process dies: sockets close, in-flight work is lost. */
  kill(): void {
    if (this.#state === 'dead') return;
    this.stop();
    this.#setState('dead', 'kill');
  }

  /** The process stops answering but keeps its sockets open. */
  hang(): void {
    if (this.#state !== 'running') return;
    this.#setState('hung', 'hang');
  }

  /** The host crashed: everything is gone without a word (the host reset its sockets). */
  hostCrashed(): void {
    this.forget();
    if (this.#state !== 'dead') this.#setState('dead', 'host-crash');
  }

  protected get running(): boolean {
    return this.#state === 'running';
  }

  /** Open sockets and listeners. */
  protected abstract open(): void;
  /** Close sockets and listeners, dropping in-flight work. */
  protected abstract stop(): void;
  /** Drop references after the host reset its sockets behind our back. */
  protected abstract forget(): void;

  #setState(to: ServiceState, reason: string): void {
    const from = this.#state;
    this.#state = to;
    const w = this.host.world;
    w.emit({ kind: 'state', t: w.now, node: this.host.name, entity: `${this.host.name}:${this.name}`, machine: 'service', from, to, reason });
  }
}

// ---- UDP echo ----

export class UdpEchoService extends Service {
  #sock: UdpSocket | undefined;
  constructor(host: Host, readonly port: number, opts: { name?: string; autostart?: boolean } = {}) {
    super(host, opts.name ?? `udp-echo:${port}`, opts.autostart ?? true);
  }
  protected open(): void {
    this.#sock = this.host.udpBind(this.port, {
      onMessage: (payload, from) => {
        this.counters.requests++;
        if (!this.running) return;
        this.#sock?.sendTo(from.addr, from.port, payload);
        this.counters.replies++;
      },
    });
  }
  protected stop(): void {
    this.#sock?.close();
    this.#sock = undefined;
  }
  protected forget(): void {
    this.#sock = undefined;
  }
}

// ---- TCP services share listener handling ----

abstract class TcpService extends Service {
  #listener: TcpListener | undefined;
  readonly #conns = new Set<TcpConnection>();

  constructor(
    host: Host,
    readonly tcp: TcpStack,
    readonly port: number,
    readonly backlog: number,
    name: string,
    autostart: boolean,
  ) {
    super(host, name, autostart);
  }

  protected open(): void {
    this.#listener = this.tcp.listen('any', this.port, {
      backlog: this.backlog,
      onAccept: (c) => {
        this.#conns.add(c);
        this.accepted(c);
      },
    });
  }

  protected stop(): void {
    this.#listener?.close();
    this.#listener = undefined;
    for (const c of [...this.#conns]) c.abort();
    this.#conns.clear();
    this.dropWork();
  }

  protected forget(): void {
    this.#listener = undefined;
    this.#conns.clear();
    this.dropWork();
  }

  protected done(c: TcpConnection): void {
    this.#conns.delete(c);
  }

  get listener(): TcpListener | undefined {
    return this.#listener;
  }

  /** A new connection; set its handlers. */
  protected abstract accepted(c: TcpConnection): void;
  /** Forget queued requests and timers (on stop). */
  protected abstract dropWork(): void;
}

export class TcpEchoService extends TcpService {
  constructor(host: Host, tcp: TcpStack, port: number, opts: { name?: string; backlog?: number; autostart?: boolean } = {}) {
    super(host, tcp, port, opts.backlog ?? 128, opts.name ?? `tcp-echo:${port}`, opts.autostart ?? true);
  }
  /** One handlers object for every connection (a server may hold a million idle ones). */
  readonly #handlers: TcpHandlers = {
    onData: (bytes, c) => {
      this.counters.requests++;
      if (!this.running) return;
      c.send(bytes);
      this.counters.replies++;
    },
    onPeerClosed: (c) => c.close(),
    onClosed: (_reason, c) => this.done(c),
  };
  protected accepted(c: TcpConnection): void {
    c.setHandlers(this.#handlers);
  }
  protected dropWork(): void {}
}

/** Largest request line the HTTP-like server reads before giving up on a client. */
export const HTTP_REQUEST_LINE_MAX = 1024;
/** Largest response body a request may ask for. */
export const HTTP_BODY_MAX = 1 << 30;
/** Largest http `concurrency` (requests in service at once): one TCP connection each. */
export const HTTP_CONCURRENCY_MAX = 65_536;
/** Largest http `queue` (requests waiting for a worker). */
export const HTTP_QUEUE_MAX = 65_536;

export interface HttpServiceOptions {
  readonly name?: string;
  readonly serviceTime?: ServiceTime;
  /** Requests served at once (worker processes); default 64. */
  readonly concurrency?: number;
  /** Requests waiting for a worker; beyond it the server stops reading new connections. Default 1024. */
  readonly queueMax?: number;
  readonly backlog?: number;
  readonly autostart?: boolean;
}

interface HttpJob {
  readonly conn: TcpConnection;
  readonly size: number;
}

/**
 * The HTTP-like server: the client sends one line `GET <path> <size>\n`; the server waits the
 * service time and answers `200 <size>\n` followed by <size> bytes, then closes (HTTP/1.0
 * style). Requests beyond the concurrency limit wait in the server's queue (bounded); beyond
 * that a request's connection is reset. With a small limit and slow service this is the process
 * saturation of slide 46; a SYN flood (sim/raw-node.ts) fills the listen backlog instead.
 */
export class HttpService extends TcpService {
  readonly serviceTime: ServiceTime;
  readonly concurrency: number;
  readonly queueMax: number;
  readonly #rng: Rng;
  #busy = 0;
  #queue: HttpJob[] = [];
  readonly #timers = new Set<Cancel>();

  constructor(host: Host, tcp: TcpStack, port: number, opts: HttpServiceOptions = {}) {
    super(host, tcp, port, opts.backlog ?? 128, opts.name ?? `http:${port}`, opts.autostart ?? true);
    this.serviceTime = opts.serviceTime ?? { kind: 'fixed', d: millis(1) };
    this.concurrency = opts.concurrency ?? 64;
    this.queueMax = opts.queueMax ?? 1024;
    assert(
      Number.isSafeInteger(this.concurrency) && this.concurrency > 0 && this.concurrency <= HTTP_CONCURRENCY_MAX && Number.isSafeInteger(this.queueMax) && this.queueMax >= 0 && this.queueMax <= HTTP_QUEUE_MAX,
      `http service limits out of range: concurrency ${this.concurrency} (1..${HTTP_CONCURRENCY_MAX}), queue ${this.queueMax} (0..${HTTP_QUEUE_MAX})`,
    );
    this.#rng = host.world.rngFor(`service:${host.name}:${this.name}`);
  }

  /** Requests in service right now. */
  get busy(): number {
    return this.#busy;
  }

  readonly #writers = new WeakMap<TcpConnection, StreamWriter>();

  protected accepted(c: TcpConnection): void {
    let line = '';
    const writer = new StreamWriter(c);
    this.#writers.set(c, writer);
    c.setHandlers({
      onSendSpace: () => writer.pump(),
      onData: (bytes) => {
        if (line.endsWith('\n')) return; // one request per connection
        for (const b of bytes) {
          line += String.fromCharCode(b);
          if (b === 10) break;
        }
        if (!line.endsWith('\n')) {
          if (line.length > HTTP_REQUEST_LINE_MAX) c.abort();
          return;
        }
        this.counters.requests++;
        const m = /^GET (\S+) (\d+)\n$/.exec(line);
        const size = m ? Number(m[2]) : NaN;
        if (!m || !(size >= 0 && size <= HTTP_BODY_MAX)) {
          c.send(new TextEncoder().encode('400 0\n'));
          c.close();
          return;
        }
        this.#admit({ conn: c, size });
      },
      onPeerClosed: () => {
        if (!line.endsWith('\n')) c.close();
      },
      onClosed: () => this.done(c),
    });
  }

  #admit(job: HttpJob): void {
    if (!this.running) return; // hung: the request is read and never answered
    if (this.#busy < this.concurrency) this.#serve(job);
    else if (this.#queue.length < this.queueMax) this.#queue.push(job);
    else {
      this.counters.rejected++;
      job.conn.abort();
    }
  }

  #serve(job: HttpJob): void {
    this.#busy++;
    const cancel = this.host.timer(drawServiceTime(this.serviceTime, this.#rng), () => {
      this.#timers.delete(cancel);
      this.#busy--;
      if (this.running) {
        const w = this.#writers.get(job.conn);
        w?.write(new TextEncoder().encode(`200 ${job.size}\n`), job.size, () => job.conn.close());
        this.counters.replies++;
      }
      const next = this.#queue.shift();
      if (next !== undefined) this.#serve(next);
    });
    this.#timers.add(cancel);
  }

  protected dropWork(): void {
    for (const c of this.#timers) c();
    this.#timers.clear();
    this.#queue = [];
    this.#busy = 0;
  }
}

/** The bulk download server: sends `size` bytes (from the request line `GET <size>\n`) and closes. */
export class BulkService extends TcpService {
  constructor(host: Host, tcp: TcpStack, port: number, opts: { name?: string; backlog?: number; autostart?: boolean } = {}) {
    super(host, tcp, port, opts.backlog ?? 128, opts.name ?? `bulk:${port}`, opts.autostart ?? true);
  }
  protected accepted(c: TcpConnection): void {
    let line = '';
    const writer = new StreamWriter(c);
    c.setHandlers({
      onSendSpace: () => writer.pump(),
      onData: (bytes) => {
        if (line.endsWith('\n')) return;
        for (const b of bytes) {
          line += String.fromCharCode(b);
          if (b === 10) break;
        }
        if (!line.endsWith('\n')) {
          if (line.length > HTTP_REQUEST_LINE_MAX) c.abort();
          return;
        }
        this.counters.requests++;
        const size = Number(/^GET (\d+)\n$/.exec(line)?.[1] ?? NaN);
        if (!(size >= 0 && size <= HTTP_BODY_MAX) || !this.running) {
          if (this.running) c.abort();
          return;
        }
        writer.write(new Uint8Array(0), size, () => {
          this.counters.replies++;
          c.close();
        });
      },
      onClosed: () => this.done(c),
    });
  }
  protected dropWork(): void {}
}

// ---- RPC over UDP ----

export interface RpcServiceOptions {
  readonly name?: string;
  readonly serviceTime?: ServiceTime;
  /** Multicast group to join at start (ReadOne/WriteAll services, slide 49). */
  readonly group?: Ipv4Addr;
  /** Mark write replies with the SG write-status IP option (default true). */
  readonly writeStatusOption?: boolean;
  /** Answer every write with failure (src/rw/rpc-server.ts). */
  readonly failWrites?: boolean;
  /** Store value + 1 on every write: a divergent replica (src/rw/rpc-server.ts). */
  readonly diverge?: boolean;
  readonly autostart?: boolean;
  /** Partitioned data (ReadFirst, slide 20): answer a read only for the keys this server holds. */
  readonly partition?: RpcPartition;
  /** Slide 45's recovery on every restart (see RpcRecovery). */
  readonly recover?: RpcRecovery;
}

/**
 * How a partitioned RPC service learns which keys it answers reads for: it asks the SG node for
 * its group's `members` (the servers in service, in the configuration's order) over the feedback
 * protocol, with its own server key, at start and every `refresh`.
 */
export interface RpcPartition {
  /** Servers that answer a read of each key (1 or more). */
  readonly replicas: number;
  /** A server key: its role names the group and this server (the name `members` lists). */
  readonly key: CtlKey;
  /** The SG node's control address and port. */
  readonly node: Ipv4Addr;
  readonly port: number;
  readonly refresh: Duration;
}

/**
 * Slide 45's recovery, run by a service on every start after its first (a restart after a kill
 * or a crash, its store lost): with its own server key it sets its group read-only through the
 * feedback protocol, waits `settle` for the writes in progress to end, copies the store of the
 * first other server in the group's `members`, clears read-only and sets its own state alive.
 * Until then it answers no request ("the recovering server should not respond to requests
 * before the recovery is done").
 */
export interface RpcRecovery {
  readonly key: CtlKey;
  readonly node: Ipv4Addr;
  readonly port: number;
  readonly settle: Duration;
  /** The RPC service of the same port on host `name`, to copy from. */
  readonly peer: (name: string) => RpcService | undefined;
}

/** A recovering service's resend interval for a feedback-protocol command not yet answered. */
export const RPC_RECOVERY_RESEND_US = 200_000;
/** Copying costs this much per key, on top of one round trip (the state transfer's time). */
export const RPC_RECOVERY_COPY_US_PER_KEY = 2;

/** A partitioned service's conversation with the node: its socket, session, timer, the command awaited. */
interface MembershipPoll {
  readonly sock: UdpSocket;
  readonly session: CtlSession;
  poll: Cancel | undefined;
  waiting: number | undefined;
}

export { RPC_KEYS_MAX };
/** Bounds of a partitioned service's membership `refresh`. */
export const RPC_REFRESH_MIN_US = 10_000;
export const RPC_REFRESH_MAX_US = 60_000_000;
/** Servers a `members` answer may list (more is read as an unknown membership). */
export const RPC_MEMBERS_MAX = 4096;

/**
 * Whether `self` answers reads of `key` when the group's members are `members` (in order): with
 * n members, key k belongs to members (k mod n), (k+1 mod n), ... `replicas` of them (all of them
 * when replicas >= n). Unknown membership (undefined or no members) answers every read, so a
 * service that has not heard from the node yet (or whose group has nobody in service) still works.
 */
export function rpcResponsible(members: readonly string[] | undefined, self: string, key: number, replicas: number): boolean {
  if (members === undefined || members.length === 0) return true;
  const n = members.length;
  const i = members.indexOf(self);
  if (i < 0) return false;
  if (replicas >= n) return true;
  return (((i - key) % n) + n) % n < replicas;
}

/** A `members` answer: one server name per line; undefined when it is not a list of names. */
export function parseMembers(data: string): string[] | undefined {
  if (data === '') return [];
  const names = data.split('\n');
  if (names.length > RPC_MEMBERS_MAX || names.some((x) => x === '')) return undefined;
  return names;
}

/**
 * The RPC key-value service: src/rw/rpc-server.ts's store behind a UDP socket, its replies sent
 * through the service support routines (src/rw/support.ts), as a real service does (src/real/rpc.ts).
 */
export class RpcService extends Service {
  readonly opts: RpcServiceOptions;
  readonly #server: RpcServer;
  /** The service's data: key -> value. Kept across hang, lost on kill (no persistence). */
  readonly store: Map<number, number>;
  readonly #rng: Rng;
  #sock: UdpSocket | undefined;
  #support: McastSupport | undefined;
  readonly #timers = new Set<Cancel>();
  /** Partitioned: the group's members as last heard (undefined: not heard since start). */
  #members: string[] | undefined;
  /** Partitioned: reads of keys this server does not hold, dropped unanswered. */
  readsNotMine = 0;
  /** Starts so far (a recovery runs on every start after the first). */
  #starts = 0;
  /** Recovering: requests are not answered. */
  recovering = false;
  /** Requests dropped while recovering. */
  readsWhileRecovering = 0;
  #recovery: { sock: UdpSocket; session: CtlSession; waiting: number | undefined; timer: Cancel | undefined } | undefined;
  /** When the latest write will be applied (writes are applied in arrival order). */
  #lastWriteAt = 0;
  #ctl: MembershipPoll | undefined;

  constructor(host: Host, readonly port: number, opts: RpcServiceOptions = {}) {
    super(host, opts.name ?? `rpc:${port}`, opts.autostart ?? true);
    this.opts = opts;
    this.#server = new RpcServer({ ...(opts.failWrites !== undefined ? { failWrites: opts.failWrites } : {}), ...(opts.diverge !== undefined ? { diverge: opts.diverge } : {}) });
    this.store = this.#server.store;
    this.#rng = host.world.rngFor(`service:${host.name}:${this.name}`);
    const p = opts.partition;
    if (p !== undefined) {
      assert(p.key.role.kind === 'server', `rpc ${this.name}: a partition needs a server key`);
      assert(Number.isSafeInteger(p.replicas) && p.replicas >= 1, `rpc ${this.name}: replicas must be at least 1`);
      assert(p.refresh >= RPC_REFRESH_MIN_US && p.refresh <= RPC_REFRESH_MAX_US, `rpc ${this.name}: refresh out of range`);
    }
  }

  /** Partitioned: the group's members as last heard from the node (undefined: not yet). */
  get members(): readonly string[] | undefined {
    return this.#members;
  }

  protected open(): void {
    this.#server.clear(); // a (re)start: the store and the duplicate request cache are lost
    const sock = this.host.udpBind(this.port, {
      reuseAddr: true,
      onMessage: (payload, from) => this.#request(payload, from.addr, from.port),
    });
    const support = new McastSupport(simMcastSocket(sock));
    if (this.opts.group !== undefined) {
      const e = support.joinGroup(this.opts.group);
      if (e !== undefined) throw new Error(`${this.host.name}/${this.name}: cannot join ${formatIpv4(this.opts.group)}: ${e}`); // as sock.joinGroup throws
    }
    this.#sock = sock;
    this.#support = support;
    this.#members = undefined;
    if (this.opts.partition !== undefined) this.#openCtl(this.opts.partition);
    this.#starts++;
    if (this.opts.recover !== undefined && this.#starts > 1) this.#recover(this.opts.recover);
  }

  #log(msg: string): void {
    const w = this.host.world;
    w.emit({ kind: 'log', t: w.now, node: this.host.name, level: 'info', msg: `${this.name}: ${msg}` });
  }

  /** Slide 45's state transfer, as a chain of feedback-protocol commands (each resent until answered ok). */
  #recover(r: RpcRecovery): void {
    const role = r.key.role;
    assert(role.kind === 'server', 'recovery key');
    this.recovering = true;
    this.#log('recovering: setting the group read-only');
    let onOk: (data: string) => void = () => {};
    const sock = this.host.udpBind(0, {
      onMessage: (payload) => {
        const rec = this.#recovery;
        if (rec === undefined || rec.waiting === undefined) return;
        const res = readResult(payload, r.key, rec.waiting);
        if (!res.ok || res.result.status !== 'ok') return; // not ours, or refused: the resend tries again
        rec.waiting = undefined;
        rec.timer?.();
        rec.timer = undefined;
        onOk(res.result.data);
      },
    });
    const rec = { sock, session: new CtlSession(r.key), waiting: undefined as number | undefined, timer: undefined as Cancel | undefined };
    this.#recovery = rec;
    const send = (req: Parameters<CtlSession['command']>[0], then: (data: string) => void): void => {
      onOk = then;
      const go = (): void => {
        if (this.#recovery !== rec) return;
        const { bytes, command } = rec.session.command(req, this.host.now());
        rec.waiting = command.id;
        sock.sendTo(r.node, r.port, bytes);
        rec.timer = this.host.timer(RPC_RECOVERY_RESEND_US as Duration, go);
      };
      go();
    };
    const g = role.group;
    const me = role.server;
    send({ cls: 'group', op: 'set', group: g, server: '', property: 'read-only', data: 'true' }, () => {
      rec.timer = this.host.timer(r.settle, () => {
        rec.timer = undefined;
        send({ cls: 'group', op: 'get', group: g, server: '', property: 'members' }, (data) => {
          const from = (parseMembers(data) ?? []).map((n) => ({ n, svc: r.peer(n) })).find((x) => x.n !== me && x.svc !== undefined && x.svc.running && !x.svc.recovering);
          const keys = from?.svc?.store.size ?? 0;
          rec.timer = this.host.timer((1000 + keys * RPC_RECOVERY_COPY_US_PER_KEY) as Duration, () => {
            rec.timer = undefined;
            this.store.clear();
            if (from?.svc !== undefined) for (const [k, v] of from.svc.store) this.store.set(k, v);
            this.#log(from === undefined ? 'recovering: no member to copy from' : `recovering: copied ${keys} keys from ${from.n}`);
            send({ cls: 'group', op: 'set', group: g, server: '', property: 'read-only', data: 'false' }, () => {
              send({ cls: 'server', op: 'set', group: g, server: me, property: 'state', data: 'alive' }, () => {
                this.recovering = false;
                this.#recovery = undefined;
                sock.close();
                this.#log('recovered: read-only cleared, state alive');
              });
            });
          });
        });
      });
    });
  }

  #openCtl(p: RpcPartition): void {
    const role = p.key.role;
    assert(role.kind === 'server', 'partition key');
    const sock = this.host.udpBind(0, { onMessage: (payload) => this.#ctlReply(p, payload) });
    const ctl: MembershipPoll = { sock, session: new CtlSession(p.key), poll: undefined, waiting: undefined };
    this.#ctl = ctl;
    const ask = (): void => {
      ctl.poll = undefined;
      if (this.#ctl !== ctl) return;
      // A hung process asks nothing; it asks again when it runs (a restart opens a new session).
      if (this.running) {
        const { bytes, command } = ctl.session.command({ cls: 'group', op: 'get', group: role.group, property: 'members' }, this.host.now());
        ctl.waiting = command.id;
        sock.sendTo(p.node, p.port, bytes);
      }
      ctl.poll = this.host.timer(p.refresh, ask);
    };
    ask();
  }

  #ctlReply(p: RpcPartition, payload: Uint8Array): void {
    const ctl = this.#ctl;
    if (ctl === undefined || ctl.waiting === undefined) return;
    const r = readResult(payload, p.key, ctl.waiting);
    if (!r.ok || r.result.status !== 'ok') return; // not ours, or refused: keep what we knew
    ctl.waiting = undefined;
    const members = parseMembers(r.result.data);
    if (members === undefined) return;
    const before = this.#members;
    this.#members = members;
    if (before !== undefined && before.join('\n') === members.join('\n')) return;
    const w = this.host.world;
    w.emit({ kind: 'log', t: w.now, node: this.host.name, level: 'info', msg: `${this.name}: members ${members.join(', ') || '(none)'}; reads answered for keys k with (k mod ${members.length || 1}) among this server's ${Math.min(p.replicas, Math.max(1, members.length))} slot(s)` });
  }

  #request(payload: Uint8Array, addr: Ipv4Addr, port: number): void {
    const parsed = parseRpc(payload, 'request');
    if (!parsed.ok) return;
    const req = parsed.value;
    this.counters.requests++;
    if (!this.running) return;
    if (this.recovering) {
      this.readsWhileRecovering++;
      return;
    }
    const part = this.opts.partition;
    if (part !== undefined && req.op === RPC_OP.read && part.key.role.kind === 'server' && !rpcResponsible(this.#members, part.key.role.server, req.key, part.replicas)) {
      // Another server holds this key: it answers (slide 20); this one stays silent.
      this.readsNotMine++;
      const w = this.host.world;
      w.emit({ kind: 'drop', t: w.now, node: this.host.name, layer: 'service', reason: 'not-responsible', detail: `${this.name} key ${req.key}` });
      return;
    }
    let d: number = drawServiceTime(this.opts.serviceTime ?? { kind: 'fixed', d: millis(1) }, this.#rng);
    if (req.op === RPC_OP.write) {
      // Writes are applied in the order they arrive, as a single-threaded server does (reads may
      // overtake them): replicas that get the same writes in the same order stay identical,
      // which WriteAll needs (slide 17). Timers due at one instant run in insertion order.
      const now = this.host.now();
      d = Math.max(d, this.#lastWriteAt - now);
      this.#lastWriteAt = now + d;
    }
    const cancel = this.host.timer(d as Duration, () => {
      this.#timers.delete(cancel);
      if (!this.running || this.#support === undefined) return;
      // A write every server stores, partitioned or not: a server not responsible for a key just
      // returns ok (slide 20), with the same value, so the replies agree.
      const { reply, writeStatus } = this.#server.handle(req, `${addr}:${port}`);
      this.#support.reply(encodeRpc(reply), { addr, port }, this.opts.writeStatusOption !== false ? writeStatus : undefined);
      this.counters.replies++;
    });
    this.#timers.add(cancel);
  }

  protected stop(): void {
    this.#sock?.close();
    this.#ctl?.sock.close();
    this.forget();
  }

  protected forget(): void {
    this.#sock = undefined;
    this.#support = undefined;
    for (const c of this.#timers) c();
    this.#timers.clear();
    this.#ctl?.poll?.();
    this.#ctl = undefined;
    const rec = this.#recovery;
    if (rec !== undefined) {
      rec.timer?.();
      rec.sock.close();
      this.#recovery = undefined;
    }
    this.recovering = false;
  }
}

// ---- helpers ----

/** Bytes per `send` call when streaming a body (keeps allocations bounded). */
export const STREAM_CHUNK = 64 * 1024;

/**
 * Streams data into a connection as send space allows. The connection's handlers must route
 * `onSendSpace` to `pump()` (TCP handlers are set as a whole, so the owner wires it).
 */
export class StreamWriter {
  #head: Uint8Array | undefined;
  #zeroes = 0;
  #done: (() => void) | undefined;

  constructor(readonly conn: TcpConnection) {}

  /**
   * Queue `head` followed by `zeroBytes` zero bytes (a body of that size, streamed from one shared
   * chunk, so a 1 GiB download allocates nothing); `done` runs once the last byte is in the send
   * buffer. One write at a time.
   */
  write(head: Uint8Array, zeroBytes: number, done: () => void): void {
    assert(this.#done === undefined, 'StreamWriter: a write is already in progress');
    this.#head = head.length > 0 ? head : undefined;
    this.#zeroes = zeroBytes;
    this.#done = done;
    this.pump();
  }

  pump(): void {
    if (this.#done === undefined) return;
    while (this.#head !== undefined) {
      const n = this.conn.send(this.#head);
      if (n === 0) return; // wait for onSendSpace
      this.#head = n < this.#head.length ? this.#head.subarray(n) : undefined;
    }
    while (this.#zeroes > 0) {
      const n = this.conn.send(ZERO_CHUNK.subarray(0, Math.min(this.#zeroes, STREAM_CHUNK)));
      if (n === 0) return;
      this.#zeroes -= n;
    }
    const done = this.#done;
    this.#done = undefined;
    done();
  }
}

const ZERO_CHUNK = new Uint8Array(STREAM_CHUNK);

/**
 * A multicast receiver: joins `group` and records every datagram from a `multicast` workload as a
 * `request` event (service = this sink's name, op 'mcast-recv', latency from the send time in the
 * payload), so scenarios can count deliveries and see the stall after an mrouter restart.
 */
export class MulticastSink extends Service {
  #sock: UdpSocket | undefined;
  received = 0;
  constructor(host: Host, readonly port: number, readonly group: Ipv4Addr, opts: { name?: string; autostart?: boolean } = {}) {
    super(host, opts.name ?? `mcast:${port}`, opts.autostart ?? true);
  }
  protected open(): void {
    const sock = this.host.udpBind(this.port, {
      reuseAddr: true,
      onMessage: (payload) => {
        const stamp = parseStamp(payload, 'time');
        if (!this.running || !stamp.ok) return;
        this.received++;
        const w = this.host.world;
        const sent = stamp.value.sentUs;
        const start = Number.isSafeInteger(sent) && sent >= 0 && sent <= w.now ? sent : w.now;
        w.emit({ kind: 'request', t: w.now, node: this.host.name, service: this.name, op: 'mcast-recv', status: 'ok', start, latency: w.now - start });
      },
    });
    sock.joinGroup(this.group);
    this.#sock = sock;
  }
  protected stop(): void {
    this.#sock?.close();
    this.#sock = undefined;
  }
  protected forget(): void {
    this.#sock = undefined;
  }
}
