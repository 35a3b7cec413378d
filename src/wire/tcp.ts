/**
 * TCP segments (RFC 793, 9293) with MSS, window scale, SACK-permitted, SACK and timestamp
 * options parsed and kept; other options survive byte for byte.
 *
 *  0 src port | 2 dst port | 4 seq | 8 ack | 12 data offset(4) reserved(3) flags(9) | 14 window
 *  16 checksum | 18 urgent pointer | 20 options (data offset*4 - 20) | payload
 */

import { HeaderView } from './view.ts';
import { readU16, readU32, writeU16, writeU32, type Ipv4Addr } from './addr.ts';
import { internetChecksum, pseudoHeaderSum, updateChecksum16, updateChecksum32 } from './checksum.ts';
import { IP_PROTO } from './ipv4.ts';
import { assert } from '../assert.ts';
import { fail, ok, type Parsed } from './result.ts';
import type { PseudoHeader } from './udp.ts';

export const TCP_MIN_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;

export const TCP_FLAG = {
  fin: 0x001,
  syn: 0x002,
  rst: 0x004,
  psh: 0x008,
  ack: 0x010,
  urg: 0x020,
  ece: 0x040,
  cwr: 0x080,
  ns: 0x100,
} as const;

export const TCP_OPT = {
  eol: 0,
  nop: 1,
  mss: 2,
  windowScale: 3,
  sackPermitted: 4,
  sack: 5,
  timestamp: 8,
} as const;

export type TcpOption =
  | { readonly kind: 'nop' }
  | { readonly kind: 'mss'; readonly value: number }
  | { readonly kind: 'window-scale'; readonly shift: number }
  | { readonly kind: 'sack-permitted' }
  /** Pairs of [left edge, right edge). */
  | { readonly kind: 'sack'; readonly blocks: readonly (readonly [number, number])[] }
  | { readonly kind: 'timestamp'; readonly value: number; readonly echo: number }
  | { readonly kind: 'unknown'; readonly type: number; readonly data: Uint8Array };

export interface TcpSegment {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** The 12 bits after the data offset: 3 reserved bits (carried as they are) and 9 flags. */
  readonly flags: number;
  readonly window: number;
  readonly urgentPointer: number;
  /** In wire order; end-of-list and padding are implied. */
  readonly options: readonly TcpOption[];
  readonly payload: Uint8Array;
}

export interface TcpParseOptions {
  /** Verify against these addresses; without them the checksum is not checked. */
  readonly pseudo?: PseudoHeader;
}

function optionLength(o: TcpOption): number {
  switch (o.kind) {
    case 'nop':
      return 1;
    case 'mss':
      return 4;
    case 'window-scale':
      return 3;
    case 'sack-permitted':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamp':
      return 10;
    case 'unknown':
      return 2 + o.data.length;
  }
}

export function tcpOptionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += optionLength(o);
  return (n + 3) & ~3;
}

export function tcpHeaderLength(v: Pick<TcpSegment, 'options'>): number {
  return TCP_MIN_HEADER_LEN + tcpOptionsLength(v.options);
}

export function tcpLength(v: TcpSegment): number {
  return tcpHeaderLength(v) + v.payload.length;
}

function parseOptions(b: Uint8Array, off: number, end: number): Parsed<TcpOption[]> {
  const out: TcpOption[] = [];
  let p = off;
  while (p < end) {
    const type = b[p]!;
    if (type === TCP_OPT.eol) break;
    if (type === TCP_OPT.nop) {
      out.push({ kind: 'nop' });
      p++;
      continue;
    }
    if (p + 2 > end) return fail('tcp', 'bad-option', `option ${type} has no length`);
    const len = b[p + 1]!;
    if (len < 2 || p + len > end) return fail('tcp', 'bad-option', `option ${type} length ${len}`);
    if (type === TCP_OPT.mss && len === 4) out.push({ kind: 'mss', value: readU16(b, p + 2) });
    else if (type === TCP_OPT.windowScale && len === 3) out.push({ kind: 'window-scale', shift: b[p + 2]! });
    else if (type === TCP_OPT.sackPermitted && len === 2) out.push({ kind: 'sack-permitted' });
    else if (type === TCP_OPT.timestamp && len === 10) {
      out.push({ kind: 'timestamp', value: readU32(b, p + 2), echo: readU32(b, p + 6) });
    } else if (type === TCP_OPT.sack && len > 2 && (len - 2) % 8 === 0) {
      const blocks: [number, number][] = [];
      for (let q = p + 2; q < p + len; q += 8) blocks.push([readU32(b, q), readU32(b, q + 4)]);
      out.push({ kind: 'sack', blocks });
    } else out.push({ kind: 'unknown', type, data: b.slice(p + 2, p + len) });
    p += len;
  }
  return ok(out);
}

/** Parse a whole TCP segment: `b` is exactly the IPv4 payload. */
export function parseTcp(b: Uint8Array, opts: TcpParseOptions = {}): Parsed<TcpSegment> {
  if (b.length < TCP_MIN_HEADER_LEN) return fail('tcp', 'truncated');
  const hl = (b[12]! >>> 4) * 4;
  if (hl < TCP_MIN_HEADER_LEN) return fail('tcp', 'bad-header-length', `data offset ${hl}`);
  if (b.length < hl) return fail('tcp', 'truncated');
  if (opts.pseudo !== undefined) {
    const acc = pseudoHeaderSum(opts.pseudo.src, opts.pseudo.dst, IP_PROTO.tcp, b.length);
    if (internetChecksum(b, 0, b.length, acc) !== 0) return fail('tcp', 'bad-checksum');
  }
  const options = parseOptions(b, TCP_MIN_HEADER_LEN, hl);
  if (!options.ok) return options;
  return ok({
    srcPort: readU16(b, 0),
    dstPort: readU16(b, 2),
    seq: readU32(b, 4),
    ack: readU32(b, 8),
    flags: readU16(b, 12) & 0x0fff,
    window: readU16(b, 14),
    urgentPointer: readU16(b, 18),
    options: options.value,
    payload: b.subarray(hl),
  });
}

/** Writes exactly `tcpLength(v)` bytes at `off` with the checksum for `pseudo`; returns that count. */
export function emitTcp(v: TcpSegment, pseudo: PseudoHeader, buf: Uint8Array, off = 0): number {
  const hl = tcpHeaderLength(v);
  assert(hl <= TCP_MAX_HEADER_LEN, `TCP options too long (${hl - 20} bytes)`);
  writeU16(buf, off, v.srcPort);
  writeU16(buf, off + 2, v.dstPort);
  writeU32(buf, off + 4, v.seq);
  writeU32(buf, off + 8, v.ack);
  writeU16(buf, off + 12, ((hl >>> 2) << 12) | (v.flags & 0x0fff));
  writeU16(buf, off + 14, v.window);
  writeU16(buf, off + 16, 0);
  writeU16(buf, off + 18, v.urgentPointer);
  let p = off + TCP_MIN_HEADER_LEN;
  for (const o of v.options) {
    switch (o.kind) {
      case 'nop':
        buf[p++] = TCP_OPT.nop;
        break;
      case 'mss':
        buf[p] = TCP_OPT.mss;
        buf[p + 1] = 4;
        writeU16(buf, p + 2, o.value);
        p += 4;
        break;
      case 'window-scale':
        buf[p] = TCP_OPT.windowScale;
        buf[p + 1] = 3;
        buf[p + 2] = o.shift;
        p += 3;
        break;
      case 'sack-permitted':
        buf[p] = TCP_OPT.sackPermitted;
        buf[p + 1] = 2;
        p += 2;
        break;
      case 'sack':
        buf[p] = TCP_OPT.sack;
        buf[p + 1] = 2 + 8 * o.blocks.length;
        p += 2;
        for (const [l, r] of o.blocks) {
          writeU32(buf, p, l);
          writeU32(buf, p + 4, r);
          p += 8;
        }
        break;
      case 'timestamp':
        buf[p] = TCP_OPT.timestamp;
        buf[p + 1] = 10;
        writeU32(buf, p + 2, o.value);
        writeU32(buf, p + 6, o.echo);
        p += 10;
        break;
      case 'unknown':
        buf[p] = o.type;
        buf[p + 1] = 2 + o.data.length;
        buf.set(o.data, p + 2);
        p += 2 + o.data.length;
        break;
    }
  }
  buf.fill(0, p, off + hl);
  buf.set(v.payload, off + hl);
  const len = hl + v.payload.length;
  writeU16(buf, off + 16, internetChecksum(buf, off, len, pseudoHeaderSum(pseudo.src, pseudo.dst, IP_PROTO.tcp, len)));
  return len;
}

export function encodeTcp(v: TcpSegment, pseudo: PseudoHeader): Uint8Array {
  const out = new Uint8Array(tcpLength(v));
  emitTcp(v, pseudo, out);
  return out;
}

/** Names of the set flags, e.g. 'SYN,ACK', for traces. */
export function tcpFlagNames(flags: number): string {
  const names: string[] = [];
  const order: [keyof typeof TCP_FLAG, string][] = [
    ['ns', 'NS'], ['cwr', 'CWR'], ['ece', 'ECE'], ['urg', 'URG'], ['ack', 'ACK'],
    ['psh', 'PSH'], ['rst', 'RST'], ['syn', 'SYN'], ['fin', 'FIN'],
  ];
  for (const [k, n] of order) if (flags & TCP_FLAG[k]) names.push(n);
  return names.join(',');
}

/** In-place view for the NAT path; setters keep the checksum right incrementally. */
export class TcpView extends HeaderView {
  get srcPort(): number {
    return readU16(this.buf, this.off);
  }
  get dstPort(): number {
    return readU16(this.buf, this.off + 2);
  }
  get seq(): number {
    return readU32(this.buf, this.off + 4);
  }
  get ack(): number {
    return readU32(this.buf, this.off + 8);
  }
  get flags(): number {
    return readU16(this.buf, this.off + 12) & 0x0fff;
  }
  get checksum(): number {
    return readU16(this.buf, this.off + 16);
  }
  setSrcPort(p: number): void {
    const old = this.srcPort;
    writeU16(this.buf, this.off, p);
    writeU16(this.buf, this.off + 16, updateChecksum16(this.checksum, old, p));
  }
  setDstPort(p: number): void {
    const old = this.dstPort;
    writeU16(this.buf, this.off + 2, p);
    writeU16(this.buf, this.off + 16, updateChecksum16(this.checksum, old, p));
  }
  /** Account for an address change in the pseudo header (call with the IPv4 rewrite). */
  pseudoAddressChanged(oldAddr: Ipv4Addr, newAddr: Ipv4Addr): void {
    writeU16(this.buf, this.off + 16, updateChecksum32(this.checksum, oldAddr, newAddr));
  }
}
