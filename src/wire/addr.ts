/**
 * Addresses as numbers: an IPv4 address is an unsigned 32-bit integer and a MAC address a 48-bit
 * integer (exact in a double). Both are branded so they cannot be mixed up with counts or ports,
 * compare with `===`, and key a `Map` without allocation.
 */

export type Ipv4Addr = number & { readonly __brand: 'Ipv4Addr' };
export type MacAddr = number & { readonly __brand: 'MacAddr' };

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC_RE = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;

/** Parse dotted-quad text; undefined when it is not an IPv4 address. */
export function parseIpv4Addr(text: string): Ipv4Addr | undefined {
  const m = IPV4_RE.exec(text.trim());
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    v = v * 256 + octet;
  }
  return v as Ipv4Addr;
}

/** Dotted-quad literal for code and tests; throws on a malformed literal (a programming error). */
export function ip(text: string): Ipv4Addr {
  const v = parseIpv4Addr(text);
  if (v === undefined) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  return v;
}

export function ipv4FromU32(v: number): Ipv4Addr {
  return (v >>> 0) as Ipv4Addr;
}

export function formatIpv4(a: Ipv4Addr): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function parseMacAddr(text: string): MacAddr | undefined {
  const m = MAC_RE.exec(text.trim());
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i] as string, 16);
  return v as MacAddr;
}

/** MAC literal (`02:00:00:00:00:01`) for code and tests; throws on a malformed literal. */
export function mac(text: string): MacAddr {
  const v = parseMacAddr(text);
  if (v === undefined) throw new Error(`not a MAC address: ${JSON.stringify(text)}`);
  return v;
}

export function formatMac(a: MacAddr): string {
  const parts: string[] = [];
  let v = a as number;
  for (let i = 0; i < 6; i++) {
    parts.unshift((v % 256).toString(16).padStart(2, '0'));
    v = Math.floor(v / 256);
  }
  return parts.join(':');
}

export const MAC_BROADCAST = 0xffffffffffff as MacAddr;
export const MAC_ZERO = 0 as MacAddr;
export const IPV4_ANY = 0 as Ipv4Addr;
export const IPV4_BROADCAST = 0xffffffff as Ipv4Addr;

export function readMac(b: Uint8Array, off: number): MacAddr {
  return (((b[off]! << 8) | b[off + 1]!) * 0x100000000 +
    ((b[off + 2]! << 24) >>> 0) + ((b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!)) as MacAddr;
}

export function writeMac(b: Uint8Array, off: number, a: MacAddr): void {
  const hi = Math.floor(a / 0x100000000);
  const lo = a >>> 0;
  b[off] = hi >>> 8;
  b[off + 1] = hi & 255;
  b[off + 2] = lo >>> 24;
  b[off + 3] = (lo >>> 16) & 255;
  b[off + 4] = (lo >>> 8) & 255;
  b[off + 5] = lo & 255;
}

export function readIpv4(b: Uint8Array, off: number): Ipv4Addr {
  return (((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0) as Ipv4Addr;
}

export function writeIpv4(b: Uint8Array, off: number, a: Ipv4Addr): void {
  b[off] = a >>> 24;
  b[off + 1] = (a >>> 16) & 255;
  b[off + 2] = (a >>> 8) & 255;
  b[off + 3] = a & 255;
}

/** Class D (224.0.0.0/4). */
export function isMulticastIpv4(a: Ipv4Addr): boolean {
  return a >>> 28 === 0xe;
}

/** Group bit of a MAC address (the low bit of the first octet). */
export function isMulticastMac(a: MacAddr): boolean {
  return Math.floor(a / 0x10000000000) % 2 === 1;
}

/**
 * The multicast IP-to-MAC mapping of slide 8 (RFC 1112 section 6.4): the low-order 23 bits of the
 * group address are placed in 01:00:5e:00:00:00. Five bits of the group are lost, so 32 groups
 * share each MAC and receivers must filter on the IP destination.
 */
export function multicastMac(group: Ipv4Addr): MacAddr {
  return (0x01005e000000 + (group & 0x7fffff)) as MacAddr;
}

export function readU16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 255;
  b[off + 1] = v & 255;
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 255;
  b[off + 2] = (v >>> 8) & 255;
  b[off + 3] = v & 255;
}

/** Hex dump helpers for fixtures and traces. */
export function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error('bad hex literal');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
