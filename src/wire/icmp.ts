/**
 * ICMP for IPv4 (RFC 792): echo, destination unreachable (with the quoted datagram), time
 * exceeded; anything else is kept as an unknown message.
 *
 *  0 type | 1 code | 2 checksum | 4 four bytes that depend on the type | 8 body
 */

import { readU16, readU32, writeU16, writeU32 } from './addr.ts';
import { internetChecksum } from './checksum.ts';
import { fail, ok, type Parsed } from './result.ts';

export const ICMP_TYPE = {
  echoReply: 0,
  destUnreachable: 3,
  echoRequest: 8,
  timeExceeded: 11,
} as const;

export const ICMP_UNREACH = {
  net: 0,
  host: 1,
  protocol: 2,
  port: 3,
  fragNeeded: 4,
  adminProhibited: 13,
} as const;

export const ICMP_TIME_EXCEEDED = { ttl: 0, reassembly: 1 } as const;

export const ICMP_HEADER_LEN = 8;
/** RFC 1812 4.3.2.3: quote as much as fits in 576 bytes; we quote header + this many bytes. */
export const ICMP_QUOTE_MAX = 548;

export type IcmpMessage =
  | { readonly kind: 'echo-request'; readonly id: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly kind: 'echo-reply'; readonly id: number; readonly seq: number; readonly data: Uint8Array }
  | {
      readonly kind: 'dest-unreachable';
      readonly code: number;
      /** Bytes 4-7: unused, or (code 4) next-hop MTU in the low 16 bits (RFC 1191). */
      readonly info: number;
      /** The offending datagram's IP header and leading payload bytes. */
      readonly quoted: Uint8Array;
    }
  | { readonly kind: 'time-exceeded'; readonly code: number; readonly info: number; readonly quoted: Uint8Array }
  | { readonly kind: 'unknown'; readonly type: number; readonly code: number; readonly info: number; readonly body: Uint8Array };

export interface IcmpParseOptions {
  readonly verifyChecksum?: boolean;
}

/** Parse a whole ICMP message (the IPv4 payload: the checksum covers all of it). */
export function parseIcmp(b: Uint8Array, opts: IcmpParseOptions = {}): Parsed<IcmpMessage> {
  if (b.length < ICMP_HEADER_LEN) return fail('icmp', 'truncated');
  if (opts.verifyChecksum !== false && internetChecksum(b) !== 0) return fail('icmp', 'bad-checksum');
  const type = b[0]!;
  const code = b[1]!;
  const body = b.subarray(ICMP_HEADER_LEN);
  switch (type) {
    case ICMP_TYPE.echoRequest:
    case ICMP_TYPE.echoReply:
      if (code === 0) {
        return ok({
          kind: type === ICMP_TYPE.echoRequest ? 'echo-request' : 'echo-reply',
          id: readU16(b, 4),
          seq: readU16(b, 6),
          data: body,
        });
      }
      break;
    case ICMP_TYPE.destUnreachable:
      return ok({ kind: 'dest-unreachable', code, info: readU32(b, 4), quoted: body });
    case ICMP_TYPE.timeExceeded:
      return ok({ kind: 'time-exceeded', code, info: readU32(b, 4), quoted: body });
  }
  return ok({ kind: 'unknown', type, code, info: readU32(b, 4), body });
}

function bodyOf(v: IcmpMessage): Uint8Array {
  switch (v.kind) {
    case 'echo-request':
    case 'echo-reply':
      return v.data;
    case 'dest-unreachable':
    case 'time-exceeded':
      return v.quoted;
    case 'unknown':
      return v.body;
  }
}

export function icmpLength(v: IcmpMessage): number {
  return ICMP_HEADER_LEN + bodyOf(v).length;
}

/** Writes exactly `icmpLength(v)` bytes at `off`, checksum included; returns that count. */
export function emitIcmp(v: IcmpMessage, buf: Uint8Array, off = 0): number {
  switch (v.kind) {
    case 'echo-request':
    case 'echo-reply':
      buf[off] = v.kind === 'echo-request' ? ICMP_TYPE.echoRequest : ICMP_TYPE.echoReply;
      buf[off + 1] = 0;
      writeU16(buf, off + 4, v.id);
      writeU16(buf, off + 6, v.seq);
      break;
    case 'dest-unreachable':
    case 'time-exceeded':
      buf[off] = v.kind === 'dest-unreachable' ? ICMP_TYPE.destUnreachable : ICMP_TYPE.timeExceeded;
      buf[off + 1] = v.code;
      writeU32(buf, off + 4, v.info);
      break;
    case 'unknown':
      buf[off] = v.type;
      buf[off + 1] = v.code;
      writeU32(buf, off + 4, v.info);
      break;
  }
  const body = bodyOf(v);
  buf.set(body, off + ICMP_HEADER_LEN);
  const len = ICMP_HEADER_LEN + body.length;
  writeU16(buf, off + 2, 0);
  writeU16(buf, off + 2, internetChecksum(buf, off, len));
  return len;
}

export function encodeIcmp(v: IcmpMessage): Uint8Array {
  const out = new Uint8Array(icmpLength(v));
  emitIcmp(v, out);
  return out;
}

/**
 * The body of an ICMP error about `datagram` (its IPv4 bytes): the header and up to
 * ICMP_QUOTE_MAX bytes of payload (RFC 1812 4.3.2.3), copied.
 */
export function quoteDatagram(datagram: Uint8Array): Uint8Array {
  const ihl = (datagram[0]! & 15) * 4;
  return datagram.slice(0, Math.min(datagram.length, ihl + ICMP_QUOTE_MAX));
}
