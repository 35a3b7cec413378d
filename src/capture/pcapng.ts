/**
 * A pcapng writer (draft-ietf-opsawg-pcapng). Pure: it builds each block as one `Uint8Array` and
 * hands it to a sink callback; whoever owns the sink writes the file (STYLE.md 10: capture wraps
 * the port, file I/O lives outside the engine).
 *
 * Output is little-endian, one section, microsecond timestamps on every interface. One interface
 * per simulated segment is the intended use; `writePacket` takes the interface id returned by
 * `addInterface`.
 *
 * Block layout: type u32, total length u32, body, options, total length u32 again; every block
 * and every option value is padded to 32 bits.
 */

/** Block types (section 4 of the pcapng draft). */
export const BLOCK_SECTION_HEADER = 0x0a0d0d0a;
export const BLOCK_INTERFACE_DESCRIPTION = 0x00000001;
export const BLOCK_SIMPLE_PACKET = 0x00000003;
export const BLOCK_NAME_RESOLUTION = 0x00000004;
export const BLOCK_INTERFACE_STATISTICS = 0x00000005;
export const BLOCK_ENHANCED_PACKET = 0x00000006;

/** The byte-order magic as written in the native order of a section. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Option codes. */
export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const OPT_SHB_USERAPPL = 4;
export const OPT_IF_NAME = 2;
export const OPT_IF_DESCRIPTION = 3;
export const OPT_IF_TSRESOL = 9;
export const OPT_IF_TSOFFSET = 14;
export const OPT_EPB_FLAGS = 2;

/** LINKTYPE_ values (tcpdump.org link-layer header types). */
export const LINKTYPE_ETHERNET = 1;

/** Interface defaults. */
export const SNAP_LEN_DEFAULT = 262144;
/** if_tsresol value we write: 10^-6 s, so timestamps are microseconds. */
export const TSRESOL_MICROSECONDS = 6;

/** epb_flags bits 0-1: packet direction. */
export const EPB_FLAGS_INBOUND = 0b01;
export const EPB_FLAGS_OUTBOUND = 0b10;

/** Bounds: a block length is a u32; options carry a u16 length. */
const OPTION_VALUE_BYTES_MAX = 0xffff;
const INTERFACES_MAX = 0xffffffff;
const U32_SPAN = 0x1_0000_0000;

export type PcapngSink = (chunk: Uint8Array) => void;

export interface PcapngWriterOptions {
  readonly sink: PcapngSink;
  /** shb_userappl; default 'sg-cluster'. */
  readonly application?: string;
}

export interface PcapngInterface {
  readonly name: string;
  /** LINKTYPE_ value; default LINKTYPE_ETHERNET. */
  readonly linkType?: number;
  /** Bytes kept per packet; default 262144. Longer frames are cut, their original length kept. */
  readonly snapLen?: number;
  readonly description?: string;
}

export interface PcapngPacketOptions {
  /** opt_comment, UTF-8. The simulator writes "event <id>" to tie a packet to a trace event. */
  readonly comment?: string;
  /** Length on the wire when `frame` is already cut; default `frame.length`. */
  readonly originalLength?: number;
  /** epb_flags direction bits. */
  readonly direction?: 'in' | 'out';
}

const utf8 = new TextEncoder();

function pad4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

/** Bytes an option with a value of `valueLength` takes, header included. */
function optionSize(valueLength: number): number {
  return 4 + pad4(valueLength);
}

function checkOptionValue(value: Uint8Array, what: string): void {
  if (value.length > OPTION_VALUE_BYTES_MAX) {
    throw new Error(`pcapng: ${what} is ${value.length} bytes, over the option limit ${OPTION_VALUE_BYTES_MAX}`);
  }
}

/** One block under construction: a buffer sized up front and a little-endian cursor. */
class BlockBuilder {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private off = 8;

  constructor(type: number, totalLength: number) {
    this.bytes = new Uint8Array(totalLength);
    this.view = new DataView(this.bytes.buffer);
    this.view.setUint32(0, type, true);
    this.view.setUint32(4, totalLength, true);
    this.view.setUint32(totalLength - 4, totalLength, true);
  }

  u16(v: number): void {
    this.view.setUint16(this.off, v, true);
    this.off += 2;
  }

  u32(v: number): void {
    this.view.setUint32(this.off, v, true);
    this.off += 4;
  }

  /** Raw bytes followed by zero padding to 32 bits (the buffer is zero-filled already). */
  padded(data: Uint8Array): void {
    this.bytes.set(data, this.off);
    this.off += pad4(data.length);
  }

  option(code: number, value: Uint8Array): void {
    this.u16(code);
    this.u16(value.length);
    this.padded(value);
  }

  optionU32(code: number, v: number): void {
    this.u16(code);
    this.u16(4);
    this.u32(v);
  }

  endOfOptions(): void {
    this.u32(0);
  }

  /** Hands the block out, asserting the size computed up front was exact. */
  finish(): Uint8Array {
    if (this.off !== this.bytes.length - 4) {
      throw new Error(`pcapng: block size mismatch (wrote ${this.off + 4}, sized ${this.bytes.length})`);
    }
    return this.bytes;
  }
}

interface InterfaceState {
  readonly snapLen: number;
}

export class PcapngWriter {
  private readonly sink: PcapngSink;
  private readonly interfaces: InterfaceState[] = [];

  /** Writes the Section Header Block at once. */
  constructor(options: PcapngWriterOptions) {
    this.sink = options.sink;
    const app = utf8.encode(options.application ?? 'sg-cluster');
    checkOptionValue(app, 'shb_userappl');
    // type, length, magic, major, minor, section length (8), options, end of options, length
    const total = 8 + 4 + 2 + 2 + 8 + optionSize(app.length) + 4 + 4;
    const b = new BlockBuilder(BLOCK_SECTION_HEADER, total);
    b.u32(BYTE_ORDER_MAGIC);
    b.u16(1);
    b.u16(0);
    b.u32(0xffffffff); // section length -1: not specified
    b.u32(0xffffffff);
    b.option(OPT_SHB_USERAPPL, app);
    b.endOfOptions();
    this.sink(b.finish());
  }

  /** Number of interfaces added so far; valid ids are 0 .. interfaceCount - 1. */
  get interfaceCount(): number {
    return this.interfaces.length;
  }

  /** Writes an Interface Description Block and returns its id (0, 1, 2, ... in call order). */
  addInterface(iface: PcapngInterface): number {
    if (this.interfaces.length >= INTERFACES_MAX) throw new Error('pcapng: too many interfaces');
    const linkType = iface.linkType ?? LINKTYPE_ETHERNET;
    const snapLen = iface.snapLen ?? SNAP_LEN_DEFAULT;
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff) {
      throw new Error(`pcapng: bad link type ${linkType}`);
    }
    if (!Number.isInteger(snapLen) || snapLen < 0 || snapLen > 0xffffffff) {
      throw new Error(`pcapng: bad snap length ${snapLen}`);
    }
    const name = utf8.encode(iface.name);
    checkOptionValue(name, 'if_name');
    const description = iface.description === undefined ? undefined : utf8.encode(iface.description);
    if (description !== undefined) checkOptionValue(description, 'if_description');

    const optionsLength = optionSize(name.length) +
      (description === undefined ? 0 : optionSize(description.length)) + optionSize(1) + 4;
    const b = new BlockBuilder(BLOCK_INTERFACE_DESCRIPTION, 8 + 8 + optionsLength + 4);
    b.u16(linkType);
    b.u16(0); // reserved
    b.u32(snapLen);
    b.option(OPT_IF_NAME, name);
    if (description !== undefined) b.option(OPT_IF_DESCRIPTION, description);
    b.option(OPT_IF_TSRESOL, Uint8Array.of(TSRESOL_MICROSECONDS));
    b.endOfOptions();
    this.sink(b.finish());
    this.interfaces.push({ snapLen });
    return this.interfaces.length - 1;
  }

  /**
   * Writes an Enhanced Packet Block. `timestampUs` is an integer count of microseconds (it may
   * exceed 2^32). Frames longer than the interface's snap length are cut; the original length
   * is kept. An unknown interface id or a bad timestamp is our bug and throws.
   */
  writePacket(iface: number, timestampUs: number, frame: Uint8Array, opts: PcapngPacketOptions = {}): void {
    const state = this.interfaces[iface];
    if (state === undefined || !Number.isInteger(iface)) {
      throw new Error(`pcapng: unknown interface id ${iface} (have ${this.interfaces.length})`);
    }
    if (!Number.isSafeInteger(timestampUs) || timestampUs < 0) {
      throw new Error(`pcapng: timestamp must be a non-negative integer of microseconds, got ${timestampUs}`);
    }
    const captured = state.snapLen === 0 ? frame : frame.subarray(0, Math.min(frame.length, state.snapLen));
    const originalLength = opts.originalLength ?? frame.length;
    if (!Number.isInteger(originalLength) || originalLength < captured.length || originalLength > 0xffffffff) {
      throw new Error(`pcapng: original length ${originalLength} below captured length ${captured.length}`);
    }
    const comment = opts.comment === undefined ? undefined : utf8.encode(opts.comment);
    if (comment !== undefined) checkOptionValue(comment, 'opt_comment');
    const flags = opts.direction === undefined
      ? undefined
      : opts.direction === 'in' ? EPB_FLAGS_INBOUND : EPB_FLAGS_OUTBOUND;

    let optionsLength = 0;
    if (comment !== undefined) optionsLength += optionSize(comment.length);
    if (flags !== undefined) optionsLength += optionSize(4);
    if (optionsLength > 0) optionsLength += 4; // end of options; omitted with no options at all

    const total = 8 + 20 + pad4(captured.length) + optionsLength + 4;
    if (total > 0xffffffff) throw new Error('pcapng: packet block too long');
    const high = Math.floor(timestampUs / U32_SPAN);
    const low = timestampUs - high * U32_SPAN;

    const b = new BlockBuilder(BLOCK_ENHANCED_PACKET, total);
    b.u32(iface);
    b.u32(high);
    b.u32(low);
    b.u32(captured.length);
    b.u32(originalLength);
    b.padded(captured);
    if (comment !== undefined) b.option(OPT_COMMENT, comment);
    if (flags !== undefined) b.optionU32(OPT_EPB_FLAGS, flags);
    if (optionsLength > 0) b.endOfOptions();
    this.sink(b.finish());
  }
}
