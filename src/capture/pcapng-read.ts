/**
 * Capture file readers: pcapng (any byte order, several sections) and classic libpcap (both byte
 * orders, microsecond and nanosecond magic). Bad input is data (STYLE.md 2): these never throw on
 * garbage and return a `Parsed` failure with a stable reason instead:
 *
 * - `'truncated'`: the bytes end inside a file header, block or record;
 * - `'bad-magic'`: not a capture file (no Section Header Block first, unknown byte-order magic);
 * - `'bad-version'`: a major version other than 1 (pcapng) or 2 (pcap);
 * - `'bad-length'`: a block length that is not a multiple of 4, below the minimum, disagrees with
 *   its trailing copy, or a packet length that runs past its block;
 * - `'bad-option'`: an option that runs past its block or has the wrong size for its code;
 * - `'unsupported'`: a packet that names an interface its section never described.
 *
 * Timestamps come back as integer microseconds whatever the interface's `if_tsresol`
 * (finer resolutions are floored).
 */

import { type Parsed, fail, ok } from '../wire/result.ts';
import {
  BLOCK_ENHANCED_PACKET,
  BLOCK_INTERFACE_DESCRIPTION,
  BLOCK_SECTION_HEADER,
  BYTE_ORDER_MAGIC,
  OPT_COMMENT,
  OPT_ENDOFOPT,
  OPT_EPB_FLAGS,
  OPT_IF_NAME,
  OPT_IF_TSOFFSET,
  OPT_IF_TSRESOL,
  TSRESOL_MICROSECONDS,
} from './pcapng.ts';

export interface CaptureInterface {
  readonly name?: string;
  readonly linkType: number;
  /**
   * The raw if_tsresol byte: bit 7 clear means units of 10^-n s, set means 2^-n s. 6 is
   * microseconds (the pcapng default), 9 nanoseconds. Classic pcap reports 6 or 9.
   */
  readonly tsresol: number;
}

export interface CapturedPacket {
  /**
   * Index into `Capture.interfaces`. Interfaces of all sections are listed in file order, so in
   * a file with several sections this is not the section-local id.
   */
  readonly iface: number;
  readonly timestampUs: number;
  /** The captured bytes (a copy, not a view of the input). */
  readonly data: Uint8Array;
  readonly originalLength: number;
  /** The first opt_comment, if any. */
  readonly comment?: string;
  /** epb_flags, if present (bits 0-1: 01 inbound, 10 outbound). */
  readonly flags?: number;
}

export interface Capture {
  readonly interfaces: CaptureInterface[];
  readonly packets: CapturedPacket[];
}

const LAYER_PCAPNG = 'pcapng';
const LAYER_PCAP = 'pcap';

/** Smallest block: type, total length, trailing total length. */
const BLOCK_LENGTH_MIN = 12;
/** SHB body before options: magic, major, minor, section length. */
const SHB_FIXED_BYTES = 16;
const IDB_FIXED_BYTES = 8;
const EPB_FIXED_BYTES = 20;
const PCAP_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const U32_SPAN = 0x1_0000_0000;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

/** Reads u32 of either byte order within bounds the caller has checked. */
function u32(view: DataView, off: number, le: boolean): number {
  return view.getUint32(off, le);
}

function u32be(bytes: Uint8Array, off: number): number {
  return ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
}

interface RawOption {
  readonly code: number;
  readonly value: Uint8Array;
}

/** Options from `start` to `end` (the block body's end); stops at opt_endofopt. */
function readOptions(bytes: Uint8Array, view: DataView, start: number, end: number, le: boolean): Parsed<RawOption[]> {
  const options: RawOption[] = [];
  let off = start;
  while (off < end) {
    if (end - off < 4) return fail(LAYER_PCAPNG, 'bad-option', `option header cut at ${off}`);
    const code = view.getUint16(off, le);
    const length = view.getUint16(off + 2, le);
    if (code === OPT_ENDOFOPT) break;
    if (length > end - off - 4) return fail(LAYER_PCAPNG, 'bad-option', `option ${code} at ${off} runs past its block`);
    options.push({ code, value: bytes.subarray(off + 4, off + 4 + length) });
    off += 4 + pad4(length);
  }
  return ok(options);
}

/** Converts a raw 64-bit timestamp in an interface's units to microseconds. */
interface Clock {
  readonly tsresol: number;
  /** Exact fast path: microseconds and no offset. */
  readonly micros: boolean;
  readonly mul: bigint;
  readonly div: bigint;
  readonly offsetUs: bigint;
}

function makeClock(tsresol: number, offsetS: bigint): Clock {
  const exp = tsresol & 0x7f;
  let mul = 1n;
  let div = 1n;
  if ((tsresol & 0x80) !== 0) {
    mul = 1_000_000n;
    div = 1n << BigInt(exp);
  } else if (exp <= 6) {
    mul = 10n ** BigInt(6 - exp);
  } else {
    div = 10n ** BigInt(exp - 6);
  }
  return { tsresol, micros: tsresol === TSRESOL_MICROSECONDS && offsetS === 0n, mul, div, offsetUs: offsetS * 1_000_000n };
}

function toMicros(clock: Clock, high: number, low: number): number {
  if (clock.micros) return high * U32_SPAN + low;
  const ts = (BigInt(high) << 32n) | BigInt(low);
  return Number((ts * clock.mul) / clock.div + clock.offsetUs);
}

interface SectionInterface {
  /** Index into the file-wide interface list. */
  readonly global: number;
  readonly clock: Clock;
}

/** Reads a pcapng file. Unknown block types are skipped; Simple Packet Blocks are skipped too. */
export function readPcapng(bytes: Uint8Array): Parsed<Capture> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const interfaces: CaptureInterface[] = [];
  const packets: CapturedPacket[] = [];
  let section: SectionInterface[] | undefined;
  let le = true;
  let off = 0;

  if (bytes.length < 4) return fail(LAYER_PCAPNG, 'truncated', 'no section header block');
  if (u32be(bytes, 0) !== BLOCK_SECTION_HEADER) return fail(LAYER_PCAPNG, 'bad-magic', 'does not start with a section header block');

  // Each pass consumes at least BLOCK_LENGTH_MIN bytes, so the loop is bounded by the input.
  while (off < bytes.length) {
    const remaining = bytes.length - off;
    if (remaining < BLOCK_LENGTH_MIN) return fail(LAYER_PCAPNG, 'truncated', `block header cut at ${off}`);
    const typeBe = u32be(bytes, off);
    if (typeBe === BLOCK_SECTION_HEADER) {
      // The byte-order magic decides how to read everything in the section, this length included.
      const magic = u32be(bytes, off + 8);
      if (magic === BYTE_ORDER_MAGIC) le = false;
      else if (magic === 0x4d3c2b1a) le = true;
      else return fail(LAYER_PCAPNG, 'bad-magic', `byte-order magic 0x${magic.toString(16)} at ${off + 8}`);
    } else if (section === undefined) {
      return fail(LAYER_PCAPNG, 'bad-magic', 'no section header block');
    }
    const type = u32(view, off, le);
    const totalLength = u32(view, off + 4, le);
    if (totalLength < BLOCK_LENGTH_MIN || totalLength % 4 !== 0) {
      return fail(LAYER_PCAPNG, 'bad-length', `block at ${off} has total length ${totalLength}`);
    }
    if (totalLength > remaining) return fail(LAYER_PCAPNG, 'truncated', `block at ${off} needs ${totalLength} bytes, ${remaining} left`);
    if (u32(view, off + totalLength - 4, le) !== totalLength) {
      return fail(LAYER_PCAPNG, 'bad-length', `block at ${off}: trailing length differs`);
    }
    const body = off + 8;
    const end = off + totalLength - 4;

    if (type === BLOCK_SECTION_HEADER) {
      if (end - body < SHB_FIXED_BYTES) return fail(LAYER_PCAPNG, 'bad-length', `section header at ${off} too short`);
      const major = view.getUint16(body + 4, le);
      if (major !== 1) return fail(LAYER_PCAPNG, 'bad-version', `pcapng major version ${major}`);
      const options = readOptions(bytes, view, body + SHB_FIXED_BYTES, end, le);
      if (!options.ok) return options;
      section = [];
    } else if (type === BLOCK_INTERFACE_DESCRIPTION && section !== undefined) {
      if (end - body < IDB_FIXED_BYTES) return fail(LAYER_PCAPNG, 'bad-length', `interface block at ${off} too short`);
      const linkType = view.getUint16(body, le);
      const options = readOptions(bytes, view, body + IDB_FIXED_BYTES, end, le);
      if (!options.ok) return options;
      let name: string | undefined;
      let tsresol = TSRESOL_MICROSECONDS;
      let offsetS = 0n;
      for (const o of options.value) {
        if (o.code === OPT_IF_NAME && name === undefined) {
          name = utf8.decode(o.value);
        } else if (o.code === OPT_IF_TSRESOL) {
          if (o.value.length !== 1) return fail(LAYER_PCAPNG, 'bad-option', `if_tsresol of ${o.value.length} bytes`);
          tsresol = o.value[0]!;
        } else if (o.code === OPT_IF_TSOFFSET) {
          if (o.value.length !== 8) return fail(LAYER_PCAPNG, 'bad-option', `if_tsoffset of ${o.value.length} bytes`);
          offsetS = new DataView(o.value.buffer, o.value.byteOffset, 8).getBigInt64(0, le);
        }
      }
      section.push({ global: interfaces.length, clock: makeClock(tsresol, offsetS) });
      interfaces.push(name === undefined ? { linkType, tsresol } : { name, linkType, tsresol });
    } else if (type === BLOCK_ENHANCED_PACKET && section !== undefined) {
      if (end - body < EPB_FIXED_BYTES) return fail(LAYER_PCAPNG, 'bad-length', `packet block at ${off} too short`);
      const id = u32(view, body, le);
      const iface = section[id];
      if (iface === undefined) return fail(LAYER_PCAPNG, 'unsupported', `packet block at ${off} names undefined interface ${id}`);
      const high = u32(view, body + 4, le);
      const low = u32(view, body + 8, le);
      const capturedLength = u32(view, body + 12, le);
      const originalLength = u32(view, body + 16, le);
      const dataStart = body + EPB_FIXED_BYTES;
      if (capturedLength > end - dataStart) {
        return fail(LAYER_PCAPNG, 'bad-length', `packet block at ${off}: captured length ${capturedLength} runs past the block`);
      }
      const options = readOptions(bytes, view, dataStart + pad4(capturedLength), end, le);
      if (!options.ok) return options;
      let comment: string | undefined;
      let flags: number | undefined;
      for (const o of options.value) {
        if (o.code === OPT_COMMENT && comment === undefined) {
          comment = utf8.decode(o.value);
        } else if (o.code === OPT_EPB_FLAGS) {
          if (o.value.length !== 4) return fail(LAYER_PCAPNG, 'bad-option', `epb_flags of ${o.value.length} bytes`);
          flags = u32(view, o.value.byteOffset - bytes.byteOffset, le);
        }
      }
      packets.push({
        iface: iface.global,
        timestampUs: toMicros(iface.clock, high, low),
        data: bytes.slice(dataStart, dataStart + capturedLength),
        originalLength,
        ...(comment === undefined ? {} : { comment }),
        ...(flags === undefined ? {} : { flags }),
      });
    }
    // Anything else (name resolution, statistics, simple packets, custom blocks) is skipped.
    off += totalLength;
  }
  return ok({ interfaces, packets });
}

/**
 * Reads a classic libpcap file (tcpdump's default output). Packets come back in the pcapng shape
 * with `iface` 0 and a single interface describing the file's link type.
 */
export function readPcap(bytes: Uint8Array): Parsed<Capture> {
  if (bytes.length < PCAP_HEADER_BYTES) return fail(LAYER_PCAP, 'truncated', 'file header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBe = view.getUint32(0, false);
  const magicLe = view.getUint32(0, true);
  let le: boolean;
  let nanos: boolean;
  if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS) {
    le = false;
    nanos = magicBe === PCAP_MAGIC_NS;
  } else if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
    le = true;
    nanos = magicLe === PCAP_MAGIC_NS;
  } else {
    return fail(LAYER_PCAP, 'bad-magic', `magic 0x${magicBe.toString(16)}`);
  }
  const major = view.getUint16(4, le);
  if (major !== 2) return fail(LAYER_PCAP, 'bad-version', `pcap major version ${major}`);
  // Bits 16-31 of the link-type field carry FCS information, not the link type.
  const linkType = view.getUint32(20, le) & 0xffff;
  const interfaces: CaptureInterface[] = [{ linkType, tsresol: nanos ? 9 : 6 }];
  const packets: CapturedPacket[] = [];

  let off = PCAP_HEADER_BYTES;
  // Each pass consumes at least a record header, so the loop is bounded by the input.
  while (off < bytes.length) {
    if (bytes.length - off < PCAP_RECORD_HEADER_BYTES) return fail(LAYER_PCAP, 'truncated', `record header at ${off}`);
    const seconds = view.getUint32(off, le);
    const fraction = view.getUint32(off + 4, le);
    const capturedLength = view.getUint32(off + 8, le);
    const originalLength = view.getUint32(off + 12, le);
    const dataStart = off + PCAP_RECORD_HEADER_BYTES;
    if (capturedLength > bytes.length - dataStart) return fail(LAYER_PCAP, 'truncated', `record at ${off} needs ${capturedLength} bytes`);
    packets.push({
      iface: 0,
      timestampUs: seconds * 1_000_000 + (nanos ? Math.floor(fraction / 1000) : fraction),
      data: bytes.slice(dataStart, dataStart + capturedLength),
      originalLength,
    });
    off = dataStart + capturedLength;
  }
  return ok({ interfaces, packets });
}

/** Reads either format, choosing by the first four bytes. */
export function readCapture(bytes: Uint8Array): Parsed<Capture> {
  if (bytes.length >= 4 && u32be(bytes, 0) === BLOCK_SECTION_HEADER) return readPcapng(bytes);
  return readPcap(bytes);
}
