/**
 * The simulator's authoritative DNS server: one zone of A records in memory, answering QUERY
 * (RFC 1035) and applying dynamic UPDATE (RFC 2136) over the simulated UDP socket. It plays the
 * part of the lab's knotd (src/real/lab.ts), so a read/write group with `analyzer: dns` can be
 * run in the simulator: identical servers give byte-identical replies to one request, and the
 * analyzer's vote sees them agree.
 *
 * `DnsZone` and `dnsAnswer` are pure (data plus a function of the request); `DnsService` is the
 * process: its socket, lifecycle and counters.
 *
 * Answers:
 * - QUERY, one question of class IN (or ANY), name in the zone: the A records of the name (type
 *   A or ANY), the SOA and NS at the apex; NOERROR with AA, or NOERROR with no answer when the
 *   name exists without that type (an empty non-terminal too), NXDOMAIN when it does not; both
 *   negative answers carry the zone's SOA in the authority section (RFC 2308). A name outside
 *   the zone is REFUSED, without AA. RD is echoed, RA is 0; no OPT is sent back.
 * - UPDATE (RFC 2136 3): the zone section must be the zone's SOA (else NOTAUTH; not exactly one
 *   zone, or another type, FORMERR); prerequisites of RFC 2136 2.4.1-2.4.4 are checked (name in
 *   use or not, A RRset exists or not; the value-dependent 2.4.2 form is NOTIMP); every update
 *   must be in the zone (NOTZONE) and be an add of an A record (class IN), a delete of the A
 *   RRset or of every RRset of a name (class ANY), or a delete of one A record (class NONE);
 *   another type is NOTIMP (the zone holds A records only; the apex SOA and NS are never
 *   deleted). The checks come first, then every change is applied (all or nothing), and the
 *   SOA serial goes up by one when something changed. With `refuseUpdates` every UPDATE is
 *   REFUSED. The reply copies the zone section and has every other count zero (RFC 2136 3.8).
 * - Another opcode: NOTIMP; a query with other than one question: FORMERR; both echo the
 *   questions.
 * - A reply longer than 512 bytes (the client's buffer without EDNS) is sent with TC set and
 *   its record sections empty.
 * - A datagram that is not a DNS message (`parseDns` fails) or is a response (QR=1) is dropped
 *   and counted by reason (`DnsService.dropped`), never answered.
 *
 * The zone is loaded from the service's options at every start: updates live in memory and are
 * lost when the process is killed or its host crashes (kept across a hang), as with a server
 * whose zone file is never written back.
 */

import { assert } from '../src/assert.ts';
import { millis, type Duration } from '../src/time.ts';
import { formatIpv4, type Ipv4Addr } from '../src/wire/addr.ts';
import {
  DNS_CLASS, DNS_FLAG, DNS_OPCODE, DNS_RCODE, DNS_TYPE, dnsFlags, dnsInZone, dnsLength, dnsNameKey, dnsOpcode, encodeDns, parseDns,
  type DnsMessage, type DnsParseReason, type DnsRecord,
} from '../src/wire/dns.ts';
import type { Rng } from '../src/rng.ts';
import type { Cancel, Host } from './host/host.ts';
import type { UdpSocket } from './host/udp.ts';
import { drawServiceTime, Service, type ServiceTime } from './services.ts';

/** A records a zone holds at most (the apex SOA and NS not counted); an update beyond it is SERVFAIL. */
export const DNS_ZONE_RECORDS_MAX = 65_536;
/** A reply to a client without EDNS fits in this (RFC 1035 4.2.1). */
export const DNS_UDP_REPLY_MAX = 512;
/** TTL of the SOA, NS and initial records, and the SOA's timers (as in the lab's zone file). */
export const DNS_TTL_DEFAULT = 300;
export const DNS_SOA_TIMERS = { refresh: 3600, retry: 600, expire: 86_400, minimum: 300 } as const;

interface RRset {
  /** The owner name as first written. */
  readonly name: string;
  ttl: number;
  readonly addrs: Ipv4Addr[];
}

/** The zone's contents: A RRsets by owner name (`dnsNameKey`), in insertion order. */
export class DnsZone {
  readonly origin: string;
  readonly #key: string;
  serial: number;
  readonly #sets = new Map<string, RRset>();
  #count = 0;

  /** `records`: absolute owner names (in the zone) and their addresses. */
  constructor(origin: string, records: readonly (readonly [string, Ipv4Addr])[] = [], serial = 1) {
    this.origin = origin;
    this.#key = dnsNameKey(origin);
    this.serial = serial;
    for (const [name, addr] of records) {
      assert(dnsInZone(name, origin), `DnsZone: ${name} is not in ${origin}`);
      this.add(name, addr, DNS_TTL_DEFAULT);
    }
  }

  get records(): number {
    return this.#count;
  }

  /** The A addresses of `name` (empty: none). */
  lookup(name: string): readonly Ipv4Addr[] {
    return this.#sets.get(dnsNameKey(name))?.addrs ?? [];
  }

  isApex(name: string): boolean {
    return dnsNameKey(name) === this.#key;
  }

  /** Whether `name` owns a record or is an empty non-terminal above one (the apex always). */
  exists(name: string): boolean {
    const k = dnsNameKey(name);
    if (k === this.#key || this.#sets.has(k)) return true;
    for (const other of this.#sets.keys()) if (other.endsWith(`.${k}`)) return true;
    return false;
  }

  /** Add one A record (a duplicate changes nothing but the TTL); whether the zone changed. */
  add(name: string, addr: Ipv4Addr, ttl: number): boolean {
    const k = dnsNameKey(name);
    let s = this.#sets.get(k);
    if (s === undefined) this.#sets.set(k, (s = { name, ttl, addrs: [] }));
    const changed = s.ttl !== ttl || !s.addrs.includes(addr);
    s.ttl = ttl;
    if (!s.addrs.includes(addr)) {
      assert(this.#count < DNS_ZONE_RECORDS_MAX, 'DnsZone: full (the caller checks room first)');
      s.addrs.push(addr);
      this.#count++;
    }
    return changed;
  }

  /** Delete one A record, or (addr undefined) the name's A RRset; whether the zone changed. */
  delete(name: string, addr?: Ipv4Addr): boolean {
    const k = dnsNameKey(name);
    const s = this.#sets.get(k);
    if (s === undefined) return false;
    if (addr === undefined) {
      this.#count -= s.addrs.length;
      this.#sets.delete(k);
      return true;
    }
    const i = s.addrs.indexOf(addr);
    if (i < 0) return false;
    s.addrs.splice(i, 1);
    this.#count--;
    if (s.addrs.length === 0) this.#sets.delete(k);
    return true;
  }

  ttlOf(name: string): number {
    return this.#sets.get(dnsNameKey(name))?.ttl ?? DNS_TTL_DEFAULT;
  }

  soa(): DnsRecord {
    const o = this.origin === '.' ? '' : this.origin;
    return { name: this.origin, type: DNS_TYPE.soa, cls: DNS_CLASS.in, ttl: DNS_TTL_DEFAULT, rdata: { kind: 'soa', mname: `ns.${o}`, rname: `hostmaster.${o}`, serial: this.serial, ...DNS_SOA_TIMERS } };
  }

  ns(): DnsRecord {
    const o = this.origin === '.' ? '' : this.origin;
    return { name: this.origin, type: DNS_TYPE.ns, cls: DNS_CLASS.in, ttl: DNS_TTL_DEFAULT, rdata: { kind: 'unknown', bytes: nameWire(`ns.${o}`) } };
  }

  /** Every A record, as (name, address) pairs in insertion order (for tests and dumps). */
  entries(): [string, Ipv4Addr][] {
    return [...this.#sets.values()].flatMap((s) => s.addrs.map((a): [string, Ipv4Addr] => [s.name, a]));
  }
}

/** A name's uncompressed wire form (the NS record's rdata). */
function nameWire(text: string): Uint8Array {
  const m = encodeDns({ id: 0, flags: 0, questions: [{ name: text, type: 0, cls: 0 }], answers: [], authority: [], additional: [] });
  return m.slice(12, m.length - 4);
}

const aRecord = (name: string, addr: Ipv4Addr, ttl: number): DnsRecord => ({ name, type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl, rdata: { kind: 'a', addr } });

/** The reply to `req` (a parsed request, QR=0) from `zone`; the zone is changed by an applied UPDATE. */
export function dnsAnswer(zone: DnsZone, req: DnsMessage, opts: { readonly refuseUpdates?: boolean } = {}): DnsMessage {
  const opcode = dnsOpcode(req.flags);
  const reply = (rcode: number, bits: number, rest: Partial<Pick<DnsMessage, 'answers' | 'authority'>> = {}): DnsMessage => ({
    id: req.id,
    flags: dnsFlags(opcode, rcode, DNS_FLAG.qr | bits | (opcode === DNS_OPCODE.query ? req.flags & DNS_FLAG.rd : 0)),
    questions: req.questions,
    answers: rest.answers ?? [],
    authority: rest.authority ?? [],
    additional: [],
  });
  if (opcode === DNS_OPCODE.update) return update(zone, req, opts.refuseUpdates === true, reply);
  if (opcode !== DNS_OPCODE.query) return reply(DNS_RCODE.notImp, 0);
  const q = req.questions[0];
  if (req.questions.length !== 1 || q === undefined) return reply(DNS_RCODE.formErr, 0);
  if ((q.cls !== DNS_CLASS.in && q.cls !== DNS_CLASS.any) || !dnsInZone(q.name, zone.origin)) return reply(DNS_RCODE.refused, 0);
  const answers: DnsRecord[] = [];
  const any = q.type === DNS_TYPE.any;
  if (zone.isApex(q.name) && (q.type === DNS_TYPE.soa || any)) answers.push(zone.soa());
  if (zone.isApex(q.name) && (q.type === DNS_TYPE.ns || any)) answers.push(zone.ns());
  if (q.type === DNS_TYPE.a || any) for (const a of zone.lookup(q.name)) answers.push(aRecord(q.name, a, zone.ttlOf(q.name)));
  if (answers.length > 0) return reply(DNS_RCODE.noError, DNS_FLAG.aa, { answers });
  return reply(zone.exists(q.name) ? DNS_RCODE.noError : DNS_RCODE.nxDomain, DNS_FLAG.aa, { authority: [zone.soa()] });
}

type Reply = (rcode: number, bits: number) => DnsMessage;

function update(zone: DnsZone, req: DnsMessage, refuse: boolean, reply: Reply): DnsMessage {
  if (refuse) return reply(DNS_RCODE.refused, 0);
  const z = req.questions[0];
  if (req.questions.length !== 1 || z === undefined || z.type !== DNS_TYPE.soa) return reply(DNS_RCODE.formErr, 0);
  if (!zone.isApex(z.name) || (z.cls !== DNS_CLASS.in && z.cls !== DNS_CLASS.any)) return reply(DNS_RCODE.notAuth, 0);
  // Prerequisites (RFC 2136 3.2).
  for (const p of req.answers) {
    if (!dnsInZone(p.name, zone.origin)) return reply(DNS_RCODE.notZone, 0);
    if (p.ttl !== 0) return reply(DNS_RCODE.formErr, 0);
    // In use: the name owns a record (the apex its SOA); an empty non-terminal is not.
    const inUse = zone.isApex(p.name) || zone.lookup(p.name).length > 0;
    if (p.cls === DNS_CLASS.any && p.type === DNS_TYPE.any) {
      if (!inUse) return reply(DNS_RCODE.nxDomain, 0);
    } else if (p.cls === DNS_CLASS.any && p.type === DNS_TYPE.a) {
      if (zone.lookup(p.name).length === 0) return reply(DNS_RCODE.nxRrset, 0);
    } else if (p.cls === DNS_CLASS.none && p.type === DNS_TYPE.any) {
      if (inUse) return reply(DNS_RCODE.yxDomain, 0);
    } else if (p.cls === DNS_CLASS.none && p.type === DNS_TYPE.a) {
      if (zone.lookup(p.name).length > 0) return reply(DNS_RCODE.yxRrset, 0);
    } else if (p.cls === DNS_CLASS.in || p.cls === DNS_CLASS.any || p.cls === DNS_CLASS.none) return reply(DNS_RCODE.notImp, 0);
    else return reply(DNS_RCODE.formErr, 0);
  }
  // Prescan (RFC 2136 3.4.1): everything is checked before anything changes.
  let adds = 0;
  for (const u of req.authority) {
    if (!dnsInZone(u.name, zone.origin)) return reply(DNS_RCODE.notZone, 0);
    if (u.cls === DNS_CLASS.in) {
      if (u.type !== DNS_TYPE.a) return reply(DNS_RCODE.notImp, 0);
      if (u.rdata.kind !== 'a') return reply(DNS_RCODE.formErr, 0);
      adds++;
    } else if (u.cls === DNS_CLASS.any) {
      if (u.ttl !== 0 || !(u.rdata.kind === 'unknown' && u.rdata.bytes.length === 0)) return reply(DNS_RCODE.formErr, 0);
      if (u.type !== DNS_TYPE.a && u.type !== DNS_TYPE.any) return reply(DNS_RCODE.notImp, 0);
    } else if (u.cls === DNS_CLASS.none) {
      if (u.ttl !== 0) return reply(DNS_RCODE.formErr, 0);
      if (u.type !== DNS_TYPE.a) return reply(DNS_RCODE.notImp, 0);
      if (u.rdata.kind !== 'a') return reply(DNS_RCODE.formErr, 0);
    } else return reply(DNS_RCODE.formErr, 0);
  }
  if (zone.records + adds > DNS_ZONE_RECORDS_MAX) return reply(DNS_RCODE.servFail, 0);
  let changed = false;
  for (const u of req.authority) {
    if (u.cls === DNS_CLASS.in && u.rdata.kind === 'a') changed = zone.add(u.name, u.rdata.addr, u.ttl) || changed;
    else if (u.cls === DNS_CLASS.any) changed = zone.delete(u.name) || changed;
    else if (u.rdata.kind === 'a') changed = zone.delete(u.name, u.rdata.addr) || changed;
  }
  if (changed) zone.serial = (zone.serial + 1) >>> 0;
  return reply(DNS_RCODE.noError, 0);
}

/** The reply's bytes: TC set and the record sections emptied when it would not fit in 512 bytes. */
export function encodeDnsReply(m: DnsMessage): Uint8Array {
  if (dnsLength(m) <= DNS_UDP_REPLY_MAX) return encodeDns(m);
  return encodeDns({ ...m, flags: m.flags | DNS_FLAG.tc, answers: [], authority: [], additional: [] });
}

export interface DnsServiceOptions {
  readonly name?: string;
  /** The zone's origin, absolute (`example.test.`). */
  readonly zone: string;
  /** Initial A records: absolute names in the zone. */
  readonly records?: readonly (readonly [string, Ipv4Addr])[];
  /** Answer every UPDATE with REFUSED (a server that does not take writes). */
  readonly refuseUpdates?: boolean;
  /** Multicast group to join at start (a WriteAll group's write-group). */
  readonly group?: Ipv4Addr;
  /** Time to answer; default none (at once). */
  readonly serviceTime?: ServiceTime;
  readonly autostart?: boolean;
}

/** Why a datagram was dropped unanswered. */
export type DnsDropReason = DnsParseReason | 'not-a-request';

export class DnsService extends Service {
  readonly opts: DnsServiceOptions;
  zone: DnsZone;
  /** Datagrams dropped unanswered, by reason. */
  readonly dropped: Record<DnsDropReason, number> = { truncated: 0, 'bad-name': 0, 'not-a-request': 0 };
  /** Requests by opcode: queries, updates, and updates that changed the zone. */
  readonly seen = { queries: 0, updates: 0, applied: 0 };
  readonly #rng: Rng;
  #sock: UdpSocket | undefined;
  readonly #timers = new Set<Cancel>();

  constructor(host: Host, readonly port: number, opts: DnsServiceOptions) {
    super(host, opts.name ?? `dns:${port}`, opts.autostart ?? true);
    this.opts = opts;
    this.zone = new DnsZone(opts.zone, opts.records);
    this.#rng = host.world.rngFor(`service:${host.name}:${this.name}`);
  }

  protected open(): void {
    this.zone = new DnsZone(this.opts.zone, this.opts.records);
    const sock = this.host.udpBind(this.port, {
      reuseAddr: true,
      onMessage: (payload, from) => this.#request(payload, from.addr, from.port),
    });
    if (this.opts.group !== undefined) sock.joinGroup(this.opts.group);
    this.#sock = sock;
  }

  #drop(reason: DnsDropReason, from: Ipv4Addr): void {
    this.dropped[reason]++;
    const w = this.host.world;
    w.emit({ kind: 'log', t: w.now, node: this.host.name, level: 'debug', msg: `${this.name}: dropped a datagram from ${formatIpv4(from)} (${reason})` });
  }

  #request(payload: Uint8Array, addr: Ipv4Addr, port: number): void {
    const parsed = parseDns(payload);
    if (!parsed.ok) return this.#drop(parsed.error.reason, addr);
    const req = parsed.value;
    if ((req.flags & DNS_FLAG.qr) !== 0) return this.#drop('not-a-request', addr);
    this.counters.requests++;
    if (!this.running) return;
    const answer = (): void => {
      if (!this.running || this.#sock === undefined) return;
      const isUpdate = dnsOpcode(req.flags) === DNS_OPCODE.update;
      if (isUpdate) this.seen.updates++;
      else this.seen.queries++;
      const serial = this.zone.serial;
      const reply = dnsAnswer(this.zone, req, { refuseUpdates: this.opts.refuseUpdates === true });
      if (isUpdate && this.zone.serial !== serial) this.seen.applied++;
      if ((reply.flags & 0xf) === DNS_RCODE.refused) this.counters.rejected++;
      this.#sock.sendTo(addr, port, encodeDnsReply(reply));
      this.counters.replies++;
    };
    const st = this.opts.serviceTime;
    if (st === undefined) return answer();
    const d: Duration = drawServiceTime(st, this.#rng);
    if (d <= millis(0)) return answer();
    const cancel = this.host.timer(d, () => {
      this.#timers.delete(cancel);
      answer();
    });
    this.#timers.add(cancel);
  }

  protected stop(): void {
    this.#sock?.close();
    this.forget();
  }

  protected forget(): void {
    this.#sock = undefined;
    for (const c of this.#timers) c();
    this.#timers.clear();
  }
}
