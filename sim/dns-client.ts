/**
 * The client side of the `dns` workload (sim/workload.ts): a mix of queries (reads) and dynamic
 * updates (writes, RFC 2136) of the names `n0.<zone>` .. `n<names-1>.<zone>`, over one UDP
 * socket of the client host.
 *
 * - A query asks for the A records of a name chosen uniformly, with RD set as dig sends it. It
 *   succeeds ('ok') with NOERROR or NXDOMAIN (a name never written has no address: that is an
 *   answer, not a failure).
 * - An update (with probability `updateRatio`) replaces the name's address: one UPDATE of the
 *   zone that deletes the name's A RRset and adds one A record, TTL 300, whose address no other
 *   update of this workload writes (198.18.0.0/15 counted up from a random start), so a read's
 *   answer names the write it saw. It succeeds with NOERROR only.
 * - Each request has a 16-bit ID not used by another request of this client still in flight; a
 *   reply is taken when its ID, opcode and question match. With `retry`, the same datagram
 *   (same ID) is sent again every `retry` until a reply or the workload's timeout: a WriteAll
 *   node recognises the retransmission by its ID.
 * - An ICMP error for the socket fails every request in flight ('refused' for port unreachable,
 *   else 'unreachable'), as the rpc workload's socket does.
 */

import type { RequestStatus } from '../src/trace.ts';
import type { Duration } from '../src/time.ts';
import type { Rng } from '../src/rng.ts';
import type { Ipv4Addr } from '../src/wire/addr.ts';
import { DNS_CLASS, DNS_FLAG, DNS_OPCODE, DNS_RCODE, DNS_TYPE, dnsFlags, dnsNameKey, dnsOpcode, dnsRcode, encodeDns, parseDns, type DnsMessage } from '../src/wire/dns.ts';
import type { Cancel, Host } from './host/host.ts';
import type { UdpSocket } from './host/udp.ts';

export interface DnsRequestSpec {
  readonly kind: 'dns';
  /** The zone's origin, absolute (`example.test.`). */
  readonly zone: string;
  /** Names `n0` .. `n<names-1>` under the zone. */
  readonly names: number;
  /** Fraction of requests that are updates. */
  readonly updateRatio: number;
  /** Resend an unanswered request (same ID) this often; undefined: never. */
  readonly retry?: Duration;
}

/** Names a workload updates and queries at most. */
export const DNS_NAMES_MAX = 65_536;
/** IDs in flight at most: the ID is 16 bits. */
export const DNS_CLIENT_PENDING_MAX = 0x10000;
/** The first address updates write (198.18.0.0/15, RFC 2544's benchmarking range) and how many there are. */
const VALUE_BASE = 0xc6120000;
const VALUE_SPAN = 0x20000;
export const DNS_UPDATE_TTL = 300;

export type DnsOp = 'dns-query' | 'dns-update';

interface Pending {
  readonly op: DnsOp;
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly done: (status: RequestStatus, bytes?: number) => void;
  retry: Cancel | undefined;
}

/** What the next request is: chosen before it is sent, so its op is known to the caller. */
export interface DnsPlan {
  readonly op: DnsOp;
  readonly name: string;
  readonly addr?: Ipv4Addr;
}

export class DnsClient {
  readonly #pending = new Map<number, Pending>();
  #sock: UdpSocket | undefined;
  #nextId: number;
  #value: number;

  constructor(
    readonly host: Host,
    readonly rng: Rng,
    readonly target: { readonly addr: Ipv4Addr; readonly port: number },
    readonly spec: DnsRequestSpec,
  ) {
    this.#nextId = rng.int(0, 0xffff);
    this.#value = rng.int(0, VALUE_SPAN - 1);
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Choose the next request (the workload's random stream: one draw for the op, one for the name). */
  plan(): DnsPlan {
    const update = this.rng.float() < this.spec.updateRatio;
    const name = `n${this.rng.int(0, this.spec.names - 1)}.${this.spec.zone === '.' ? '' : this.spec.zone}`;
    if (!update) return { op: 'dns-query', name };
    const addr = (VALUE_BASE + (this.#value++ % VALUE_SPAN)) as Ipv4Addr;
    return { op: 'dns-update', name, addr };
  }

  /** Send `plan`; `done` gets its outcome once (not after the returned abort). */
  send(plan: DnsPlan, done: (status: RequestStatus, bytes?: number) => void): () => void {
    if (this.#pending.size >= DNS_CLIENT_PENDING_MAX) {
      done('error');
      return () => {};
    }
    let id = this.#nextId;
    while (this.#pending.has(id)) id = (id + 1) & 0xffff;
    this.#nextId = (id + 1) & 0xffff;
    const bytes = encodeDns(plan.op === 'dns-query' ? query(id, plan.name) : update(id, this.spec.zone, plan.name, plan.addr!));
    const p: Pending = { op: plan.op, name: plan.name, bytes, done, retry: undefined };
    this.#pending.set(id, p);
    const sock = this.#socket();
    const res = sock.sendTo(this.target.addr, this.target.port, bytes);
    if (res !== 'sent' && res !== 'queued') {
      this.#pending.delete(id);
      done(res === 'no-route' ? 'unreachable' : 'error');
      return () => {};
    }
    if (this.spec.retry !== undefined) this.#armRetry(id, p);
    return () => this.#forget(id, p);
  }

  #armRetry(id: number, p: Pending): void {
    p.retry = this.host.timer(this.spec.retry!, () => {
      p.retry = undefined;
      if (this.#pending.get(id) !== p) return;
      this.#socket().sendTo(this.target.addr, this.target.port, p.bytes);
      this.#armRetry(id, p);
    });
  }

  #forget(id: number, p: Pending): void {
    p.retry?.();
    p.retry = undefined;
    if (this.#pending.get(id) === p) this.#pending.delete(id);
  }

  #reply(payload: Uint8Array): void {
    const m = parseDns(payload);
    if (!m.ok) return; // not a DNS message: the request waits for its retry or timeout
    const r = m.value;
    const p = this.#pending.get(r.id);
    if (p === undefined || (r.flags & DNS_FLAG.qr) === 0) return; // late, duplicate or not a reply
    const opcode = p.op === 'dns-query' ? DNS_OPCODE.query : DNS_OPCODE.update;
    const q = r.questions[0];
    if (dnsOpcode(r.flags) !== opcode) return;
    if (q !== undefined && dnsNameKey(q.name) !== dnsNameKey(p.op === 'dns-query' ? p.name : this.spec.zone)) return;
    this.#forget(r.id, p);
    const rcode = dnsRcode(r.flags);
    const good = rcode === DNS_RCODE.noError || (p.op === 'dns-query' && rcode === DNS_RCODE.nxDomain);
    p.done(good ? 'ok' : 'error', payload.length);
  }

  #socket(): UdpSocket {
    if (this.#sock !== undefined) return this.#sock;
    this.#sock = this.host.udpBind(0, {
      onMessage: (payload) => this.#reply(payload),
      onError: (err) => {
        const status: RequestStatus = err.kind === 'port-unreachable' ? 'refused' : 'unreachable';
        const all = [...this.#pending.entries()];
        for (const [id, p] of all) this.#forget(id, p);
        for (const [, p] of all) p.done(status);
      },
    });
    return this.#sock;
  }
}

function query(id: number, name: string): DnsMessage {
  return { id, flags: dnsFlags(DNS_OPCODE.query, 0, DNS_FLAG.rd), questions: [{ name, type: DNS_TYPE.a, cls: DNS_CLASS.in }], answers: [], authority: [], additional: [] };
}

function update(id: number, zone: string, name: string, addr: Ipv4Addr): DnsMessage {
  return {
    id,
    flags: dnsFlags(DNS_OPCODE.update, 0),
    questions: [{ name: zone, type: DNS_TYPE.soa, cls: DNS_CLASS.in }],
    answers: [],
    authority: [
      { name, type: DNS_TYPE.a, cls: DNS_CLASS.any, ttl: 0, rdata: { kind: 'unknown', bytes: new Uint8Array(0) } },
      { name, type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl: DNS_UPDATE_TTL, rdata: { kind: 'a', addr } },
    ],
    additional: [],
  };
}
