/**
 * DNS messages (RFC 1035 4.1) with dynamic update (RFC 2136): the codec of the simulator's
 * authoritative DNS service and its client workload. No I/O here. The engine's own reading of
 * DNS (a request's id, read or write, a reply's status) is the packet analyzer,
 * src/rw/analyzers/dns.ts, which takes its constants from this file.
 *
 *   Header (12 bytes, DNS_HEADER_LEN)
 *     0  ID       u16  chosen by the client, echoed in the reply
 *     2  flags    u16  QR (bit 15), OPCODE (14-11), AA (10), TC (9), RD (8), RA (7), Z, RCODE (3-0)
 *     4  QDCOUNT  u16  questions; in an UPDATE the zone section (ZOCOUNT)
 *     6  ANCOUNT  u16  answers;  the prerequisites (PRCOUNT)
 *     8  NSCOUNT  u16  authority; the updates (UPCOUNT)
 *    10  ARCOUNT  u16  additional (OPT, TSIG)
 *   then QDCOUNT questions (name, type u16, class u16) and the three record sections, each record
 *   name, type u16, class u16, TTL u32, RDLENGTH u16, RDATA.
 *
 * Choices, each a rule of the parser or the encoder:
 * - Names are text in master-file form: labels joined by '.', a trailing '.', the root '.'; a
 *   byte of a label that is '.', '\' or not printable ASCII is written `\DDD` (decimal, RFC 1035
 *   5.1), so every name on the wire has one text and survives a round trip. Case is kept
 *   (comparisons are the service's business: `dnsNameKey`).
 * - On the wire a name has labels of at most 63 bytes (DNS_LABEL_MAX) and is at most 255 bytes
 *   long (DNS_NAME_MAX); a compression pointer must point backwards, to a name after the header
 *   (so it cannot loop); a label type 0x40 or 0x80 is refused. Each is 'bad-name'.
 * - RDATA is decoded for A (4 bytes) and SOA (two names and five u32, filling RDATA exactly);
 *   every other record, and an A or SOA of another length (an UPDATE's delete carries an empty
 *   one), is `{ kind: 'unknown', bytes }`, the RDATA as on the wire (names inside it are not
 *   decompressed).
 * - Bytes after the last record are ignored. The encoder never compresses names, so
 *   `dnsLength(m)` is a plain sum.
 *
 * Not a `ParseLayer` of src/wire/result.ts: no part of the engine drops DNS messages by this
 * codec (the analyzer has its own reasons), so its errors are its own small union.
 */

import { assert, assertNever } from '../assert.ts';
import { readU16, readU32, writeU16, writeU32, type Ipv4Addr } from './addr.ts';

export const DNS_HEADER_LEN = 12;
export const DNS_OFF = { id: 0, flags: 2, qdcount: 4, ancount: 6, nscount: 8, arcount: 10 } as const;
export const DNS_OPCODE = { query: 0, iquery: 1, status: 2, notify: 4, update: 5, dso: 6 } as const;
/** RCODEs of RFC 1035 and RFC 2136 (6-10 are the update's). */
export const DNS_RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5, yxDomain: 6, yxRrset: 7, nxRrset: 8, notAuth: 9, notZone: 10 } as const;
export const DNS_TYPE = { a: 1, ns: 2, cname: 5, soa: 6, txt: 16, opt: 41, any: 255 } as const;
/** Classes: IN, and RFC 2136's NONE and ANY (deletes and prerequisites). */
export const DNS_CLASS = { in: 1, none: 254, any: 255 } as const;
/** Header flag bits (OPCODE and RCODE are fields: `dnsOpcode`, `dnsRcode`). */
export const DNS_FLAG = { qr: 0x8000, aa: 0x0400, tc: 0x0200, rd: 0x0100, ra: 0x0080 } as const;
/** The longest name on the wire (RFC 1035 2.3.4) and label. */
export const DNS_NAME_MAX = 255;
export const DNS_LABEL_MAX = 63;
/** Questions and records per section this codec reads at most (a bound; a UDP datagram holds far fewer). */
export const DNS_SECTION_MAX = 4096;

export const dnsOpcode = (flags: number): number => (flags >> 11) & 0xf;
export const dnsRcode = (flags: number): number => flags & 0xf;
/** Flags from their parts (`bits`: DNS_FLAG bits or'ed). */
export const dnsFlags = (opcode: number, rcode: number, bits = 0): number => (bits | ((opcode & 0xf) << 11) | (rcode & 0xf)) & 0xffff;

export type DnsParseReason = 'truncated' | 'bad-name';
export type DnsParsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: { readonly layer: 'dns'; readonly reason: DnsParseReason; readonly detail?: string } };

export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly cls: number;
}

export interface DnsSoa {
  readonly kind: 'soa';
  readonly mname: string;
  readonly rname: string;
  readonly serial: number;
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  readonly minimum: number;
}

export type DnsRdata = { readonly kind: 'a'; readonly addr: Ipv4Addr } | DnsSoa | { readonly kind: 'unknown'; readonly bytes: Uint8Array };

export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly cls: number;
  /** u32 (an OPT record's TTL carries the extended RCODE and flags). */
  readonly ttl: number;
  readonly rdata: DnsRdata;
}

export interface DnsMessage {
  readonly id: number;
  /** The whole flags word (u16): `dnsOpcode`, `dnsRcode`, DNS_FLAG bits. */
  readonly flags: number;
  /** Questions; the zone section of an UPDATE. */
  readonly questions: readonly DnsQuestion[];
  /** Answers; an UPDATE's prerequisites. */
  readonly answers: readonly DnsRecord[];
  /** Authority; an UPDATE's updates. */
  readonly authority: readonly DnsRecord[];
  readonly additional: readonly DnsRecord[];
}

/** A view over a DNS header at `off` in `buf`. */
export class DnsHeaderView {
  constructor(
    readonly buf: Uint8Array,
    readonly off = 0,
  ) {}
  /** The structural gate: the 12 header bytes are there. */
  checkLength(): boolean {
    return this.buf.length - this.off >= DNS_HEADER_LEN;
  }
  get id(): number {
    return readU16(this.buf, this.off + DNS_OFF.id);
  }
  set id(v: number) {
    writeU16(this.buf, this.off + DNS_OFF.id, v);
  }
  get flags(): number {
    return readU16(this.buf, this.off + DNS_OFF.flags);
  }
  set flags(v: number) {
    writeU16(this.buf, this.off + DNS_OFF.flags, v);
  }
  count(section: 'qdcount' | 'ancount' | 'nscount' | 'arcount'): number {
    return readU16(this.buf, this.off + DNS_OFF[section]);
  }
  setCount(section: 'qdcount' | 'ancount' | 'nscount' | 'arcount', v: number): void {
    writeU16(this.buf, this.off + DNS_OFF[section], v);
  }
}

// ---- names ----

const PLAIN = (c: number): boolean => c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c;

/** A label's bytes in master-file text. */
function labelText(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len; i++) {
    const c = b[i]!;
    s += PLAIN(c) ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`;
  }
  return s;
}

/** A name's labels (bytes each) from its text, or a reason it is not one. */
function nameLabels(text: string): Uint8Array[] | string {
  if (text === '.') return [];
  if (!text.endsWith('.')) return `name ${JSON.stringify(text)} does not end with '.' (absolute names only)`;
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  let total = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x2e) {
      if (cur.length === 0) return `name ${JSON.stringify(text)} has an empty label`;
      if (cur.length > DNS_LABEL_MAX) return `name ${JSON.stringify(text)} has a label of ${cur.length} bytes (at most ${DNS_LABEL_MAX})`;
      labels.push(Uint8Array.from(cur));
      total += cur.length + 1;
      cur = [];
      continue;
    }
    if (ch === 0x5c) {
      const d = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (d !== null) {
        const v = Number(d[0]);
        if (v > 255) return `name ${JSON.stringify(text)}: \\${d[0]} is not a byte`;
        cur.push(v);
        i += 3;
      } else {
        if (i + 1 >= text.length) return `name ${JSON.stringify(text)} ends in a lone '\\'`;
        cur.push(text.charCodeAt(++i));
      }
      continue;
    }
    if (ch > 0x7e || ch < 0x21) return `name ${JSON.stringify(text)} has a character that is not printable ASCII (write it \\DDD)`;
    cur.push(ch);
  }
  if (cur.length > 0) return `name ${JSON.stringify(text)} does not end with an unescaped '.' (absolute names only)`;
  if (total > DNS_NAME_MAX) return `name ${JSON.stringify(text)} is ${total} bytes on the wire (at most ${DNS_NAME_MAX})`;
  return labels;
}

/** Why `text` is not a name this codec can encode (undefined: it is one). */
export function dnsNameProblem(text: string): string | undefined {
  const l = nameLabels(text);
  return typeof l === 'string' ? l : undefined;
}

/** Bytes of `text` on the wire, uncompressed. */
export function dnsNameLength(text: string): number {
  const l = nameLabels(text);
  assert(typeof l !== 'string', `dnsNameLength: ${l as string}`);
  return l.reduce((n, x) => n + x.length + 1, 1);
}

/** The key names compare by: ASCII letters lower-cased (RFC 4343), escapes kept. */
export function dnsNameKey(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Whether `name` is `zone` or under it (both texts, compared by `dnsNameKey`). */
export function dnsInZone(name: string, zone: string): boolean {
  const n = dnsNameKey(name);
  const z = dnsNameKey(zone);
  if (z === '.') return true;
  if (n === z) return true;
  if (!n.endsWith(`.${z}`)) return false;
  // The character before '.zone' must not be an escaping backslash (`a\.zone.` is one label).
  let bs = 0;
  for (let i = n.length - z.length - 2; i >= 0 && n[i] === '\\'; i--) bs++;
  return bs % 2 === 0;
}

/** The name at `off`: its text and the offset past it (where a pointer ends it), or a reason. */
function readName(b: Uint8Array, off: number): { text: string; end: number } | DnsParseReason {
  let p = off;
  let end = -1;
  let text = '';
  let wire = 1;
  let floor = off; // a pointer must go below every place read so far
  for (;;) {
    if (p >= b.length) return 'truncated';
    const l = b[p]!;
    if (l === 0) {
      if (end < 0) end = p + 1;
      return { text: text === '' ? '.' : text, end };
    }
    const top = l & 0xc0;
    if (top === 0xc0) {
      if (p + 2 > b.length) return 'truncated';
      const target = ((l & 0x3f) << 8) | b[p + 1]!;
      if (!(target >= DNS_HEADER_LEN && target < floor)) return 'bad-name';
      if (end < 0) end = p + 2;
      floor = target;
      p = target;
      continue;
    }
    if (top !== 0) return 'bad-name';
    if (p + 1 + l > b.length) return 'truncated';
    wire += l + 1;
    if (wire > DNS_NAME_MAX) return 'bad-name';
    text += `${labelText(b, p + 1, l)}.`;
    p += l + 1;
  }
}

function writeName(text: string, buf: Uint8Array, off: number): number {
  const labels = nameLabels(text);
  assert(typeof labels !== 'string', `emitDns: ${labels as string}`);
  let p = off;
  for (const l of labels) {
    buf[p++] = l.length;
    buf.set(l, p);
    p += l.length;
  }
  buf[p++] = 0;
  return p - off;
}

// ---- parse ----

type Cursor = { p: number };
type Fail = { readonly reason: DnsParseReason; readonly detail: string };
const failed = (x: unknown): x is Fail => typeof x === 'object' && x !== null && 'reason' in x;

function readQuestion(b: Uint8Array, c: Cursor): DnsQuestion | Fail {
  const n = readName(b, c.p);
  if (typeof n === 'string') return { reason: n, detail: `question name at ${c.p}` };
  if (n.end + 4 > b.length) return { reason: 'truncated', detail: `question at ${c.p}` };
  c.p = n.end + 4;
  return { name: n.text, type: readU16(b, n.end), cls: readU16(b, n.end + 2) };
}

function readRdata(b: Uint8Array, type: number, off: number, len: number): DnsRdata {
  if (type === DNS_TYPE.a && len === 4) return { kind: 'a', addr: readU32(b, off) as Ipv4Addr };
  if (type === DNS_TYPE.soa) {
    const m = readName(b, off);
    const r = typeof m === 'string' ? m : readName(b, m.end);
    if (typeof m !== 'string' && typeof r !== 'string' && r.end + 20 === off + len) {
      const q = r.end;
      return { kind: 'soa', mname: m.text, rname: r.text, serial: readU32(b, q), refresh: readU32(b, q + 4), retry: readU32(b, q + 8), expire: readU32(b, q + 12), minimum: readU32(b, q + 16) };
    }
  }
  return { kind: 'unknown', bytes: b.slice(off, off + len) };
}

function readRecord(b: Uint8Array, c: Cursor): DnsRecord | Fail {
  const n = readName(b, c.p);
  if (typeof n === 'string') return { reason: n, detail: `record name at ${c.p}` };
  const q = n.end;
  if (q + 10 > b.length) return { reason: 'truncated', detail: `record at ${c.p}` };
  const type = readU16(b, q);
  const len = readU16(b, q + 8);
  if (q + 10 + len > b.length) return { reason: 'truncated', detail: `rdata of ${len} bytes at ${q + 10}` };
  c.p = q + 10 + len;
  return { name: n.text, type, cls: readU16(b, q + 2), ttl: readU32(b, q + 4), rdata: readRdata(b, type, q + 10, len) };
}

/** Parse a whole DNS message (bytes after its last record are ignored). Never throws. */
export function parseDns(b: Uint8Array): DnsParsed<DnsMessage> {
  const h = new DnsHeaderView(b);
  if (!h.checkLength()) return { ok: false, error: { layer: 'dns', reason: 'truncated', detail: `${b.length} bytes, a header is ${DNS_HEADER_LEN}` } };
  const c: Cursor = { p: DNS_HEADER_LEN };
  const sections: DnsRecord[][] = [];
  const questions: DnsQuestion[] = [];
  const qd = h.count('qdcount');
  // A count no datagram could hold is truncation: each question takes 5 bytes at least, a record 11.
  if (qd > DNS_SECTION_MAX) return { ok: false, error: { layer: 'dns', reason: 'truncated', detail: `${qd} questions` } };
  for (let i = 0; i < qd; i++) {
    const q = readQuestion(b, c);
    if (failed(q)) return { ok: false, error: { layer: 'dns', ...q } };
    questions.push(q);
  }
  for (const s of ['ancount', 'nscount', 'arcount'] as const) {
    const n = h.count(s);
    if (n > DNS_SECTION_MAX) return { ok: false, error: { layer: 'dns', reason: 'truncated', detail: `${n} records` } };
    const out: DnsRecord[] = [];
    for (let i = 0; i < n; i++) {
      const r = readRecord(b, c);
      if (failed(r)) return { ok: false, error: { layer: 'dns', ...r } };
      out.push(r);
    }
    sections.push(out);
  }
  return { ok: true, value: { id: h.id, flags: h.flags, questions, answers: sections[0]!, authority: sections[1]!, additional: sections[2]! } };
}

// ---- emit ----

const isUint = (x: number, max: number): boolean => Number.isInteger(x) && x >= 0 && x <= max;

function rdataLength(r: DnsRdata): number {
  switch (r.kind) {
    case 'a':
      return 4;
    case 'soa':
      return dnsNameLength(r.mname) + dnsNameLength(r.rname) + 20;
    case 'unknown':
      return r.bytes.length;
    default:
      return assertNever(r, 'dns rdata');
  }
}

/** Why `m` cannot be encoded (undefined: it can). */
export function dnsProblem(m: DnsMessage): string | undefined {
  if (!isUint(m.id, 0xffff)) return `id ${m.id} is not a u16`;
  if (!isUint(m.flags, 0xffff)) return `flags ${m.flags} is not a u16`;
  const sections = [m.questions, m.answers, m.authority, m.additional];
  for (const s of sections) if (s.length > Math.min(0xffff, DNS_SECTION_MAX)) return `a section of ${s.length} entries (at most ${DNS_SECTION_MAX})`;
  for (const q of m.questions) {
    const p = dnsNameProblem(q.name) ?? (!isUint(q.type, 0xffff) || !isUint(q.cls, 0xffff) ? `question ${q.name}: type or class is not a u16` : undefined);
    if (p !== undefined) return p;
  }
  for (const r of [...m.answers, ...m.authority, ...m.additional]) {
    const p = dnsNameProblem(r.name);
    if (p !== undefined) return p;
    if (!isUint(r.type, 0xffff) || !isUint(r.cls, 0xffff) || !isUint(r.ttl, 0xffffffff)) return `record ${r.name}: type, class or ttl out of range`;
    if (r.rdata.kind === 'a' && r.type !== DNS_TYPE.a) return `record ${r.name}: A rdata on type ${r.type}`;
    if (r.rdata.kind === 'soa') {
      if (r.type !== DNS_TYPE.soa) return `record ${r.name}: SOA rdata on type ${r.type}`;
      const s = r.rdata;
      const np = dnsNameProblem(s.mname) ?? dnsNameProblem(s.rname);
      if (np !== undefined) return np;
      if (![s.serial, s.refresh, s.retry, s.expire, s.minimum].every((v) => isUint(v, 0xffffffff))) return `record ${r.name}: an SOA field is not a u32`;
    }
    if (r.rdata.kind === 'unknown' && (r.rdata.bytes.length > 0xffff || (r.type === DNS_TYPE.a && r.rdata.bytes.length === 4))) return `record ${r.name}: unknown rdata of ${r.rdata.bytes.length} bytes on type ${r.type}`;
    if (r.rdata.kind === 'a' && !isUint(r.rdata.addr, 0xffffffff)) return `record ${r.name}: address is not a u32`;
    if (rdataLength(r.rdata) > 0xffff) return `record ${r.name}: rdata longer than 65535 bytes`;
  }
  return undefined;
}

/** The bytes `emitDns(m)` writes. */
export function dnsLength(m: DnsMessage): number {
  let n = DNS_HEADER_LEN;
  for (const q of m.questions) n += dnsNameLength(q.name) + 4;
  for (const r of [...m.answers, ...m.authority, ...m.additional]) n += dnsNameLength(r.name) + 10 + rdataLength(r.rdata);
  return n;
}

function writeRecord(r: DnsRecord, buf: Uint8Array, off: number): number {
  let p = off + writeName(r.name, buf, off);
  writeU16(buf, p, r.type);
  writeU16(buf, p + 2, r.cls);
  writeU32(buf, p + 4, r.ttl);
  writeU16(buf, p + 8, rdataLength(r.rdata));
  p += 10;
  const d = r.rdata;
  switch (d.kind) {
    case 'a':
      writeU32(buf, p, d.addr);
      return p + 4 - off;
    case 'soa': {
      p += writeName(d.mname, buf, p);
      p += writeName(d.rname, buf, p);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) {
        writeU32(buf, p, v);
        p += 4;
      }
      return p - off;
    }
    case 'unknown':
      buf.set(d.bytes, p);
      return p + d.bytes.length - off;
    default:
      return assertNever(d, 'dns rdata');
  }
}

/** Writes exactly `dnsLength(m)` bytes at `off` (names uncompressed); returns that count. */
export function emitDns(m: DnsMessage, buf: Uint8Array, off = 0): number {
  const problem = dnsProblem(m);
  assert(problem === undefined, `emitDns: ${problem}`);
  const len = dnsLength(m);
  assert(buf.length - off >= len, `emitDns: ${buf.length - off} bytes of room, the message needs ${len}`);
  const h = new DnsHeaderView(buf, off);
  h.id = m.id;
  h.flags = m.flags;
  h.setCount('qdcount', m.questions.length);
  h.setCount('ancount', m.answers.length);
  h.setCount('nscount', m.authority.length);
  h.setCount('arcount', m.additional.length);
  let p = off + DNS_HEADER_LEN;
  for (const q of m.questions) {
    p += writeName(q.name, buf, p);
    writeU16(buf, p, q.type);
    writeU16(buf, p + 2, q.cls);
    p += 4;
  }
  for (const r of [...m.answers, ...m.authority, ...m.additional]) p += writeRecord(r, buf, p);
  assert(p - off === len, 'emitDns: wrote a different length than dnsLength');
  return len;
}

export function encodeDns(m: DnsMessage): Uint8Array {
  const out = new Uint8Array(dnsLength(m));
  emitDns(m, out);
  return out;
}
