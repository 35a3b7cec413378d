/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept as unfolded 32-bit-safe accumulators while adding and folded once at the end,
 * which is what makes the full recompute fast enough for the simulator's hot path.
 */

import type { Ipv4Addr } from './addr.ts';

/** Add the 16-bit big-endian words of `b[off, off+len)` to `acc` (an odd tail is padded with 0). */
export function sumWords(b: Uint8Array, off: number, len: number, acc = 0): number {
  const end = off + len;
  let i = off;
  // Unrolled by 8 bytes; the accumulator stays far below 2^53 for any frame we handle.
  for (; i + 7 < end; i += 8) {
    acc += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!) +
      ((b[i + 4]! << 8) | b[i + 5]!) + ((b[i + 6]! << 8) | b[i + 7]!);
  }
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  return acc;
}

/** Fold an accumulator to 16 bits with end-around carry. */
export function fold(acc: number): number {
  // Two folds handle accumulators up to 2^32; loop for anything larger.
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

/** The checksum field value for a region: the ones' complement of the folded sum. */
export function internetChecksum(b: Uint8Array, off = 0, len = b.length - off, acc = 0): number {
  return ~fold(sumWords(b, off, len, acc)) & 0xffff;
}

/** Sum of the IPv4 pseudo header used by TCP and UDP (RFC 793 / RFC 768). */
export function pseudoHeaderSum(src: Ipv4Addr, dst: Ipv4Addr, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from `oldWord` to
 * `newWord`. Never yields 0xffff from a nonzero sum: the form avoids the RFC 1141 -0 problem.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  const acc = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(acc) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address): two 16-bit words at once. */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const acc = (~checksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  return ~fold(acc) & 0xffff;
}

/**
 * UDP's variant: a transmitted checksum of 0 means "none" (leave it alone), and a computed 0 is
 * sent as 0xffff (RFC 768).
 */
export function updateUdpChecksum32(checksum: number, oldValue: number, newValue: number): number {
  if (checksum === 0) return 0;
  const c = updateChecksum32(checksum, oldValue, newValue);
  return c === 0 ? 0xffff : c;
}

export function updateUdpChecksum16(checksum: number, oldWord: number, newWord: number): number {
  if (checksum === 0) return 0;
  const c = updateChecksum16(checksum, oldWord, newWord);
  return c === 0 ? 0xffff : c;
}
