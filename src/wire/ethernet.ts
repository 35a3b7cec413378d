/**
 * Ethernet II framing, with 802.1Q / 802.1ad tags passed through untouched.
 *
 * Offset table (untagged):  0 dst(6) | 6 src(6) | 12 ethertype(2) | 14 payload
 * Each VLAN tag inserts tpid(2) tci(2) before the ethertype.
 */

import { readMac, readU16, writeMac, writeU16, type MacAddr } from './addr.ts';
import { fail, ok, type Parsed } from './result.ts';

export const ETHERTYPE = {
  ipv4: 0x0800,
  arp: 0x0806,
  vlan: 0x8100, // 802.1Q
  qinq: 0x88a8, // 802.1ad
  ipv6: 0x86dd,
} as const;

/** Tag protocol identifiers that announce a 4-byte VLAN tag. */
export function isVlanTpid(t: number): boolean {
  return t === ETHERTYPE.vlan || t === ETHERTYPE.qinq || t === 0x9100;
}

export const ETH_HEADER_LEN = 14;
export const ETH_VLAN_TAG_LEN = 4;
/** Bytes before padding on the wire; frames shorter than this are padded by the sender. */
export const ETH_MIN_FRAME_LEN = 60;
/** Tags we walk through before giving up; a deeper stack is reported as 'unsupported'. */
export const ETH_VLAN_TAGS_MAX = 2;

export interface VlanTag {
  readonly tpid: number;
  /** Priority (3 bits), drop-eligible (1 bit), VLAN id (12 bits), as on the wire. */
  readonly tci: number;
}

export interface EthernetFrame {
  readonly dst: MacAddr;
  readonly src: MacAddr;
  /** Outermost first; empty when untagged. */
  readonly vlans: readonly VlanTag[];
  /** Any value survives: unknown ethertypes are carried as numbers. */
  readonly ethertype: number;
  /** Everything after the header, including any sender padding. */
  readonly payload: Uint8Array;
}

/** Length of the header of a frame in `b`, or undefined when truncated or over-tagged. */
export function ethernetHeaderLength(b: Uint8Array): number | undefined {
  let off = 12;
  for (let tags = 0; ; tags++) {
    if (b.length < off + 2) return undefined;
    const t = readU16(b, off);
    if (!isVlanTpid(t)) return off + 2;
    if (tags === ETH_VLAN_TAGS_MAX) return undefined;
    off += ETH_VLAN_TAG_LEN;
  }
}

/** Ethertype of the payload (after tags); undefined when the header is truncated. */
export function ethernetType(b: Uint8Array): number | undefined {
  const h = ethernetHeaderLength(b);
  return h === undefined ? undefined : readU16(b, h - 2);
}

export function parseEthernet(b: Uint8Array): Parsed<EthernetFrame> {
  if (b.length < ETH_HEADER_LEN) return fail('ethernet', 'truncated');
  const vlans: VlanTag[] = [];
  let off = 12;
  for (;;) {
    if (b.length < off + 2) return fail('ethernet', 'truncated');
    const t = readU16(b, off);
    if (!isVlanTpid(t)) break;
    if (vlans.length === ETH_VLAN_TAGS_MAX) return fail('ethernet', 'unsupported', 'too many VLAN tags');
    if (b.length < off + 4) return fail('ethernet', 'truncated');
    vlans.push({ tpid: t, tci: readU16(b, off + 2) });
    off += ETH_VLAN_TAG_LEN;
  }
  return ok({
    dst: readMac(b, 0),
    src: readMac(b, 6),
    vlans,
    ethertype: readU16(b, off),
    payload: b.subarray(off + 2),
  });
}

export function ethernetLength(v: EthernetFrame): number {
  return ETH_HEADER_LEN + ETH_VLAN_TAG_LEN * v.vlans.length + v.payload.length;
}

/** Writes exactly `ethernetLength(v)` bytes at `off`; returns that count. */
export function emitEthernet(v: EthernetFrame, buf: Uint8Array, off = 0): number {
  writeMac(buf, off, v.dst);
  writeMac(buf, off + 6, v.src);
  let p = off + 12;
  for (const tag of v.vlans) {
    writeU16(buf, p, tag.tpid);
    writeU16(buf, p + 2, tag.tci);
    p += 4;
  }
  writeU16(buf, p, v.ethertype);
  buf.set(v.payload, p + 2);
  return p + 2 + v.payload.length - off;
}

export function encodeEthernet(v: EthernetFrame): Uint8Array {
  const out = new Uint8Array(ethernetLength(v));
  emitEthernet(v, out);
  return out;
}
