/**
 * ARP for IPv4 over Ethernet (RFC 826). Other hardware/protocol pairs are 'unsupported'.
 *
 *  0 htype(2) | 2 ptype(2) | 4 hlen(1) | 5 plen(1) | 6 op(2) |
 *  8 sha(6) | 14 spa(4) | 18 tha(6) | 24 tpa(4) | 28 (padding ignored)
 */

import { readIpv4, readMac, readU16, writeIpv4, writeMac, writeU16, type Ipv4Addr, type MacAddr } from './addr.ts';
import { fail, ok, type Parsed } from './result.ts';

export const ARP_LEN = 28;
export const ARP_OP = { request: 1, reply: 2 } as const;

export interface ArpPacket {
  /** 1 request, 2 reply; other values survive a round trip. */
  readonly op: number;
  readonly senderMac: MacAddr;
  readonly senderIp: Ipv4Addr;
  readonly targetMac: MacAddr;
  readonly targetIp: Ipv4Addr;
}

export function parseArp(b: Uint8Array): Parsed<ArpPacket> {
  if (b.length < 8) return fail('arp', 'truncated');
  if (readU16(b, 0) !== 1 || readU16(b, 2) !== 0x0800 || b[4] !== 6 || b[5] !== 4) {
    return fail('arp', 'unsupported', 'not Ethernet/IPv4');
  }
  if (b.length < ARP_LEN) return fail('arp', 'truncated');
  return ok({
    op: readU16(b, 6),
    senderMac: readMac(b, 8),
    senderIp: readIpv4(b, 14),
    targetMac: readMac(b, 18),
    targetIp: readIpv4(b, 24),
  });
}

export function emitArp(v: ArpPacket, buf: Uint8Array, off = 0): number {
  writeU16(buf, off, 1);
  writeU16(buf, off + 2, 0x0800);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  writeU16(buf, off + 6, v.op);
  writeMac(buf, off + 8, v.senderMac);
  writeIpv4(buf, off + 14, v.senderIp);
  writeMac(buf, off + 18, v.targetMac);
  writeIpv4(buf, off + 24, v.targetIp);
  return ARP_LEN;
}

export function encodeArp(v: ArpPacket): Uint8Array {
  const out = new Uint8Array(ARP_LEN);
  emitArp(v, out);
  return out;
}

/** A gratuitous ARP announces `ip` at `mac`: sender and target IP are both `ip` (RFC 5227 s3). */
export function gratuitousArp(mac: MacAddr, ip: Ipv4Addr, op: number = ARP_OP.request): ArpPacket {
  return { op, senderMac: mac, senderIp: ip, targetMac: 0 as MacAddr, targetIp: ip };
}
