/**
 * UDP (RFC 768). The checksum covers the IPv4 pseudo header, so parse and emit take the
 * addresses; a transmitted checksum of 0 means none.
 *
 *  0 src port | 2 dst port | 4 length | 6 checksum | 8 payload
 */

import { HeaderView } from './view.ts';
import { readU16, writeU16, type Ipv4Addr } from './addr.ts';
import { internetChecksum, pseudoHeaderSum, updateUdpChecksum16, updateUdpChecksum32 } from './checksum.ts';
import { IP_PROTO } from './ipv4.ts';
import { fail, ok, type Parsed } from './result.ts';

export const UDP_HEADER_LEN = 8;

export interface UdpDatagram {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

/** The addresses of the enclosing IPv4 header, for the pseudo-header checksum. */
export interface PseudoHeader {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
}

export interface UdpParseOptions {
  /** Verify against these addresses; without them the checksum is not checked. */
  readonly pseudo?: PseudoHeader;
}

/** Parse a UDP datagram; bytes past the length field are ignored. */
export function parseUdp(b: Uint8Array, opts: UdpParseOptions = {}): Parsed<UdpDatagram> {
  if (b.length < UDP_HEADER_LEN) return fail('udp', 'truncated');
  const len = readU16(b, 4);
  if (len < UDP_HEADER_LEN) return fail('udp', 'bad-length', `length ${len}`);
  if (b.length < len) return fail('udp', 'truncated');
  const csum = readU16(b, 6);
  if (opts.pseudo !== undefined && csum !== 0) {
    const acc = pseudoHeaderSum(opts.pseudo.src, opts.pseudo.dst, IP_PROTO.udp, len);
    if (internetChecksum(b, 0, len, acc) !== 0) return fail('udp', 'bad-checksum');
  }
  return ok({ srcPort: readU16(b, 0), dstPort: readU16(b, 2), payload: b.subarray(UDP_HEADER_LEN, len) });
}

export function udpLength(v: UdpDatagram): number {
  return UDP_HEADER_LEN + v.payload.length;
}

/** Writes exactly `udpLength(v)` bytes at `off` with the checksum for `pseudo`; returns that count. */
export function emitUdp(v: UdpDatagram, pseudo: PseudoHeader, buf: Uint8Array, off = 0): number {
  const len = udpLength(v);
  writeU16(buf, off, v.srcPort);
  writeU16(buf, off + 2, v.dstPort);
  writeU16(buf, off + 4, len);
  writeU16(buf, off + 6, 0);
  buf.set(v.payload, off + UDP_HEADER_LEN);
  const c = internetChecksum(buf, off, len, pseudoHeaderSum(pseudo.src, pseudo.dst, IP_PROTO.udp, len));
  writeU16(buf, off + 6, c === 0 ? 0xffff : c);
  return len;
}

export function encodeUdp(v: UdpDatagram, pseudo: PseudoHeader): Uint8Array {
  const out = new Uint8Array(udpLength(v));
  emitUdp(v, pseudo, out);
  return out;
}

/** In-place view for the NAT path; setters keep the checksum right incrementally. */
export class UdpView extends HeaderView {
  get srcPort(): number {
    return readU16(this.buf, this.off);
  }
  get dstPort(): number {
    return readU16(this.buf, this.off + 2);
  }
  get checksum(): number {
    return readU16(this.buf, this.off + 6);
  }
  setSrcPort(p: number): void {
    const old = this.srcPort;
    writeU16(this.buf, this.off, p);
    writeU16(this.buf, this.off + 6, updateUdpChecksum16(this.checksum, old, p));
  }
  setDstPort(p: number): void {
    const old = this.dstPort;
    writeU16(this.buf, this.off + 2, p);
    writeU16(this.buf, this.off + 6, updateUdpChecksum16(this.checksum, old, p));
  }
  /** Account for an address change in the pseudo header (call with the IPv4 rewrite). */
  pseudoAddressChanged(oldAddr: Ipv4Addr, newAddr: Ipv4Addr): void {
    writeU16(this.buf, this.off + 6, updateUdpChecksum32(this.checksum, oldAddr, newAddr));
  }
}
