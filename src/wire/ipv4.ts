/**
 * IPv4 (RFC 791) with options, plus an in-place view for the NAT fast path.
 *
 *  0 ver/ihl | 1 tos(dscp:6 ecn:2) | 2 total length | 4 identification | 6 flags(3)/frag offset(13)
 *  8 ttl | 9 protocol | 10 header checksum | 12 src | 16 dst | 20 options (ihl*4 - 20 bytes)
 */

import { HeaderView } from './view.ts';
import { readIpv4, readU16, writeIpv4, writeU16, type Ipv4Addr } from './addr.ts';
import { internetChecksum, updateChecksum16, updateChecksum32 } from './checksum.ts';
import { assert } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';
import { SG_WRITE_STATUS_LEN, SG_WRITE_STATUS_TYPE, type SgWriteStatus } from './sgopt.ts';

export const IP_PROTO = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
} as const;

export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_TOTAL_LEN = 65535;

/** Flag bits in the 3-bit field (bit 2 is the reserved "evil" bit, carried as it is). */
export const IPV4_FLAG = { reserved: 4, dontFragment: 2, moreFragments: 1 } as const;

export const IPV4_OPT = {
  eol: 0,
  nop: 1,
  routerAlert: 148,
  sgWriteStatus: SG_WRITE_STATUS_TYPE,
} as const;

export type Ipv4Option =
  | { readonly kind: 'nop' }
  /** RFC 2113; IGMP messages carry it with value 0. */
  | { readonly kind: 'router-alert'; readonly value: number }
  | SgWriteStatus
  /** Any other option, type and data kept byte for byte. */
  | { readonly kind: 'unknown'; readonly type: number; readonly data: Uint8Array };

export interface Ipv4Header {
  readonly dscp: number;
  readonly ecn: number;
  readonly identification: number;
  /** The 3-bit flags field; see IPV4_FLAG. */
  readonly flags: number;
  /** In 8-byte units. */
  readonly fragmentOffset: number;
  readonly ttl: number;
  /** Any value survives; see IP_PROTO. */
  readonly protocol: number;
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  /** In wire order. End-of-list and the padding after it are implied, not listed. */
  readonly options: readonly Ipv4Option[];
}

export interface Ipv4Packet extends Ipv4Header {
  /** Exactly the bytes the total-length field covers; trailing link padding is not included. */
  readonly payload: Uint8Array;
}

export interface Ipv4ParseOptions {
  /** Verify the header checksum (default true). */
  readonly verifyChecksum?: boolean;
}

function optionLength(o: Ipv4Option): number {
  switch (o.kind) {
    case 'nop':
      return 1;
    case 'router-alert':
      return 4;
    case 'sg-write-status':
      return SG_WRITE_STATUS_LEN;
    case 'unknown':
      return 2 + o.data.length;
  }
}

/** Bytes of options as emitted, padded with end-of-list to a multiple of 4. */
export function ipv4OptionsLength(options: readonly Ipv4Option[]): number {
  let n = 0;
  for (const o of options) n += optionLength(o);
  return (n + 3) & ~3;
}

export function ipv4HeaderLength(h: Ipv4Header): number {
  return IPV4_MIN_HEADER_LEN + ipv4OptionsLength(h.options);
}

export function ipv4Length(v: Ipv4Packet): number {
  return ipv4HeaderLength(v) + v.payload.length;
}

/** Parse the options area `b[off, end)`. */
export function parseIpv4Options(b: Uint8Array, off: number, end: number): Parsed<Ipv4Option[]> {
  const out: Ipv4Option[] = [];
  let p = off;
  while (p < end) {
    const type = b[p]!;
    if (type === IPV4_OPT.eol) break;
    if (type === IPV4_OPT.nop) {
      out.push({ kind: 'nop' });
      p += 1;
      continue;
    }
    if (p + 2 > end) return fail('ipv4', 'bad-option', `option ${type} has no length`);
    const len = b[p + 1]!;
    if (len < 2 || p + len > end) return fail('ipv4', 'bad-option', `option ${type} length ${len}`);
    if (type === IPV4_OPT.routerAlert && len === 4) {
      out.push({ kind: 'router-alert', value: readU16(b, p + 2) });
    } else if (type === SG_WRITE_STATUS_TYPE && len === SG_WRITE_STATUS_LEN) {
      out.push({
        kind: 'sg-write-status',
        status: readU16(b, p + 2),
        retval: (b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!,
      });
    } else {
      out.push({ kind: 'unknown', type, data: b.slice(p + 2, p + len) });
    }
    p += len;
  }
  return ok(out);
}

function parseHeaderFields(b: Uint8Array, ihl: number, payload: Uint8Array): Parsed<Ipv4Packet> {
  let options: Ipv4Option[] = NO_OPTIONS;
  if (ihl > IPV4_MIN_HEADER_LEN) {
    const opts = parseIpv4Options(b, IPV4_MIN_HEADER_LEN, ihl);
    if (!opts.ok) return opts;
    options = opts.value;
  }
  const tos = b[1]!;
  const ff = readU16(b, 6);
  return ok({
    dscp: tos >>> 2,
    ecn: tos & 3,
    identification: readU16(b, 4),
    flags: ff >>> 13,
    fragmentOffset: ff & 0x1fff,
    ttl: b[8]!,
    protocol: b[9]!,
    src: readIpv4(b, 12),
    dst: readIpv4(b, 16),
    options,
    payload,
  });
}

/** Shared by every option-less header; frozen so no caller can grow it. */
const NO_OPTIONS: Ipv4Option[] = Object.freeze([]) as unknown as Ipv4Option[];

/** Structural gate: the header length if `b` holds a whole IPv4 header, else a failure. */
function checkHeader(b: Uint8Array): Parsed<number> {
  if (b.length < IPV4_MIN_HEADER_LEN) return fail('ipv4', 'truncated');
  if (b[0]! >>> 4 !== 4) return fail('ipv4', 'bad-version', `version ${b[0]! >>> 4}`);
  const ihl = (b[0]! & 15) * 4;
  if (ihl < IPV4_MIN_HEADER_LEN) return fail('ipv4', 'bad-header-length', `ihl ${ihl}`);
  if (b.length < ihl) return fail('ipv4', 'truncated');
  return ok(ihl);
}

/**
 * Parse an IPv4 packet. Bytes past the total length (Ethernet padding) are ignored; fewer bytes
 * than the total length is 'truncated'.
 */
export function parseIpv4(b: Uint8Array, opts: Ipv4ParseOptions = {}): Parsed<Ipv4Packet> {
  const c = checkHeader(b);
  if (!c.ok) return c;
  const ihl = c.value;
  const total = readU16(b, 2);
  if (total < ihl) return fail('ipv4', 'bad-length', `total length ${total} < header ${ihl}`);
  if (b.length < total) return fail('ipv4', 'truncated');
  if (opts.verifyChecksum !== false && internetChecksum(b, 0, ihl) !== 0) return fail('ipv4', 'bad-checksum');
  return parseHeaderFields(b, ihl, b.subarray(ihl, total));
}

export interface QuotedIpv4 {
  readonly header: Ipv4Header;
  /** The original datagram's total length, which may exceed what was quoted. */
  readonly totalLength: number;
  /** The quoted part of the original payload (at least 8 bytes in a conforming ICMP error). */
  readonly payload: Uint8Array;
}

/**
 * Parse the datagram an ICMP error quotes (RFC 792: the header plus at least 8 bytes). The
 * checksum is not verified and a short payload is expected.
 */
export function parseQuotedIpv4(b: Uint8Array): Parsed<QuotedIpv4> {
  const c = checkHeader(b);
  if (!c.ok) return c;
  const total = readU16(b, 2);
  const h = parseHeaderFields(b, c.value, b.subarray(c.value, Math.max(c.value, Math.min(total, b.length))));
  if (!h.ok) return h;
  const { payload, ...header } = h.value;
  return ok({ header, totalLength: total, payload });
}

/**
 * Write `options` in wire order at `off`, without the end-of-list padding; returns the offset
 * after the last option. The bytes are what `setsockopt(IP_OPTIONS)` takes once padded to
 * `ipv4OptionsLength(options)` with zeros (end-of-list).
 */
export function emitIpv4Options(options: readonly Ipv4Option[], buf: Uint8Array, off = 0): number {
  let p = off;
  for (const o of options) {
    switch (o.kind) {
      case 'nop':
        buf[p++] = IPV4_OPT.nop;
        break;
      case 'router-alert':
        buf[p] = IPV4_OPT.routerAlert;
        buf[p + 1] = 4;
        writeU16(buf, p + 2, o.value);
        p += 4;
        break;
      case 'sg-write-status':
        buf[p] = SG_WRITE_STATUS_TYPE;
        buf[p + 1] = SG_WRITE_STATUS_LEN;
        writeU16(buf, p + 2, o.status);
        buf[p + 4] = o.retval >>> 24;
        buf[p + 5] = (o.retval >>> 16) & 255;
        buf[p + 6] = (o.retval >>> 8) & 255;
        buf[p + 7] = o.retval & 255;
        p += SG_WRITE_STATUS_LEN;
        break;
      case 'unknown':
        buf[p] = o.type;
        buf[p + 1] = 2 + o.data.length;
        buf.set(o.data, p + 2);
        p += 2 + o.data.length;
        break;
    }
  }
  return p;
}

/** `options` as the padded options area of a header: `ipv4OptionsLength(options)` bytes. */
export function encodeIpv4Options(options: readonly Ipv4Option[]): Uint8Array {
  const out = new Uint8Array(ipv4OptionsLength(options));
  emitIpv4Options(options, out);
  return out;
}

/**
 * Write the header of `h` for a payload of `payloadLength` bytes at `off`, checksum included;
 * returns the header length. Options longer than 40 bytes are our bug and fail an assertion.
 */
export function emitIpv4Header(h: Ipv4Header, payloadLength: number, buf: Uint8Array, off = 0): number {
  const hl = ipv4HeaderLength(h);
  assert(hl <= IPV4_MAX_HEADER_LEN, `IPv4 options too long (${hl - 20} bytes)`);
  assert(hl + payloadLength <= IPV4_MAX_TOTAL_LEN, 'IPv4 datagram over 65535 bytes');
  buf[off] = 0x40 | (hl >>> 2);
  buf[off + 1] = ((h.dscp & 63) << 2) | (h.ecn & 3);
  writeU16(buf, off + 2, hl + payloadLength);
  writeU16(buf, off + 4, h.identification);
  writeU16(buf, off + 6, ((h.flags & 7) << 13) | (h.fragmentOffset & 0x1fff));
  buf[off + 8] = h.ttl;
  buf[off + 9] = h.protocol;
  writeU16(buf, off + 10, 0);
  writeIpv4(buf, off + 12, h.src);
  writeIpv4(buf, off + 16, h.dst);
  const p = emitIpv4Options(h.options, buf, off + IPV4_MIN_HEADER_LEN);
  buf.fill(0, p, off + hl); // end-of-list and padding
  writeU16(buf, off + 10, internetChecksum(buf, off, hl));
  return hl;
}

/** Writes exactly `ipv4Length(v)` bytes at `off`; returns that count. */
export function emitIpv4(v: Ipv4Packet, buf: Uint8Array, off = 0): number {
  const hl = emitIpv4Header(v, v.payload.length, buf, off);
  buf.set(v.payload, off + hl);
  return hl + v.payload.length;
}

export function encodeIpv4(v: Ipv4Packet): Uint8Array {
  const out = new Uint8Array(ipv4Length(v));
  emitIpv4(v, out);
  return out;
}

/** The SG write status a reply carries, if any (slide 43). */
export function findWriteStatus(h: Ipv4Header): SgWriteStatus | undefined {
  for (const o of h.options) if (o.kind === 'sg-write-status') return o;
  return undefined;
}

/**
 * In-place view of an IPv4 header at `off` in a frame buffer, for the NAT path: no copies, and
 * setters keep the header checksum right with RFC 1624 incremental updates. Construct it only
 * over bytes a parser has accepted.
 */
export class Ipv4View extends HeaderView {
  get headerLength(): number {
    return (this.buf[this.off]! & 15) * 4;
  }
  get totalLength(): number {
    return readU16(this.buf, this.off + 2);
  }
  get ttl(): number {
    return this.buf[this.off + 8]!;
  }
  get protocol(): number {
    return this.buf[this.off + 9]!;
  }
  get checksum(): number {
    return readU16(this.buf, this.off + 10);
  }
  get src(): Ipv4Addr {
    return readIpv4(this.buf, this.off + 12);
  }
  get dst(): Ipv4Addr {
    return readIpv4(this.buf, this.off + 16);
  }
  /** Offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  get isFragment(): boolean {
    return (readU16(this.buf, this.off + 6) & 0x3fff) !== 0;
  }

  setSrc(a: Ipv4Addr): void {
    const old = this.src;
    writeIpv4(this.buf, this.off + 12, a);
    writeU16(this.buf, this.off + 10, updateChecksum32(this.checksum, old, a));
  }
  setDst(a: Ipv4Addr): void {
    const old = this.dst;
    writeIpv4(this.buf, this.off + 16, a);
    writeU16(this.buf, this.off + 10, updateChecksum32(this.checksum, old, a));
  }
  /** Decrement TTL (the word holding ttl and protocol changes). */
  decrementTtl(): void {
    const oldWord = readU16(this.buf, this.off + 8);
    this.buf[this.off + 8] = this.ttl - 1;
    writeU16(this.buf, this.off + 10, updateChecksum16(this.checksum, oldWord, oldWord - 0x100));
  }
}
