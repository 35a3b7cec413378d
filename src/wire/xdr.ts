/**
 * XDR (RFC 4506), the encoding of ONC RPC (RFC 5531), NFSv3 (RFC 1813), MOUNT and the port
 * mapper: big-endian units of 4 bytes; variable-length opaque data and strings carry a u32
 * length and are padded with zeros to a multiple of 4; a bool is a u32 0 or 1; an optional is a
 * bool then the value; a hyper is 8 bytes.
 *
 * Choices, each a rule of the reader:
 * - **A sticky error instead of throws** (STYLE.md 2). `XdrReader` reads on after the first
 *   problem, returning zeros and empty values, and keeps the first problem in `error`; the
 *   caller checks it once at the end of a message. So a decoder is straight-line code and bad
 *   bytes never throw.
 * - **Every variable length has a bound** given by the caller (`opaque(max)`, `string(max)`): a
 *   length beyond it, or beyond the bytes left, is the error; nothing is allocated for it.
 * - Padding bytes must be zero ('bad-value'), as RFC 4506 says they are; a decoder that is lax
 *   here hides a misaligned peer.
 * - Strings are UTF-8 (NFS names are bytes; a name that is not UTF-8 reads with U+FFFD).
 * - Hypers are `bigint` (a file size or cookie may use all 64 bits).
 */

import type { ParseReason } from './result.ts';

const utf8d = new TextDecoder();
const utf8e = new TextEncoder();

export interface XdrError {
  readonly reason: ParseReason;
  readonly detail: string;
  /** Offset of the unit that failed. */
  readonly at: number;
}

export class XdrReader {
  readonly #b: Uint8Array;
  readonly #v: DataView;
  #o: number;
  error: XdrError | undefined = undefined;

  constructor(b: Uint8Array, off = 0) {
    this.#b = b;
    this.#v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.#o = off;
  }

  get offset(): number {
    return this.#o;
  }
  /** Bytes not read yet. */
  get left(): number {
    return this.#b.length - this.#o;
  }

  #fail(reason: ParseReason, detail: string): void {
    this.error ??= { reason, detail, at: this.#o };
    this.#o = this.#b.length; // everything after the first error reads as zeros
  }

  #need(n: number, what: string): boolean {
    if (this.error !== undefined) return false;
    if (this.left < n) {
      this.#fail('truncated', `${what}: ${n} bytes needed, ${this.left} left`);
      return false;
    }
    return true;
  }

  u32(what = 'u32'): number {
    if (!this.#need(4, what)) return 0;
    const x = this.#v.getUint32(this.#o);
    this.#o += 4;
    return x;
  }

  i32(what = 'i32'): number {
    return this.u32(what) | 0;
  }

  u64(what = 'hyper'): bigint {
    if (!this.#need(8, what)) return 0n;
    const x = this.#v.getBigUint64(this.#o);
    this.#o += 8;
    return x;
  }

  bool(what = 'bool'): boolean {
    const x = this.u32(what);
    if (x > 1) this.#fail('bad-value', `${what}: ${x} is not a bool`);
    return x === 1;
  }

  /** An enum: a u32 that must be one of `max + 1` values 0..max. */
  enumOf(max: number, what: string): number {
    const x = this.u32(what);
    if (x > max) this.#fail('bad-value', `${what}: ${x} > ${max}`);
    return x;
  }

  /** Fixed-length opaque (`opaque x[n]`): n bytes and their padding. A view into the message. */
  fixed(n: number, what = 'opaque'): Uint8Array {
    const padded = (n + 3) & ~3;
    if (!this.#need(padded, what)) return new Uint8Array(n);
    const out = this.#b.subarray(this.#o, this.#o + n);
    for (let i = this.#o + n; i < this.#o + padded; i++) if (this.#b[i] !== 0) return this.#fail('bad-value', `${what}: padding not zero`), new Uint8Array(n);
    this.#o += padded;
    return out;
  }

  /** Variable-length opaque (`opaque x<max>`): a view into the message. */
  opaque(max: number, what = 'opaque'): Uint8Array {
    const n = this.u32(`${what} length`);
    if (this.error !== undefined) return new Uint8Array(0);
    if (n > max) return this.#fail('bad-length', `${what}: ${n} bytes > ${max}`), new Uint8Array(0);
    return this.fixed(n, what);
  }

  string(max: number, what = 'string'): string {
    return utf8d.decode(this.opaque(max, what));
  }

  /** An optional (`*x`): the value when present. */
  optional<T>(read: () => T, what = 'optional'): T | undefined {
    return this.bool(what) ? read() : undefined;
  }
}

/** Builds an XDR message in a growing buffer. */
export class XdrWriter {
  #b = new Uint8Array(256);
  #v = new DataView(this.#b.buffer);
  #o = 0;

  get length(): number {
    return this.#o;
  }

  #room(n: number): void {
    if (this.#o + n <= this.#b.length) return;
    let size = this.#b.length * 2;
    while (size < this.#o + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#b.subarray(0, this.#o));
    this.#b = next;
    this.#v = new DataView(next.buffer);
  }

  u32(x: number): this {
    this.#room(4);
    this.#v.setUint32(this.#o, x >>> 0);
    this.#o += 4;
    return this;
  }

  i32(x: number): this {
    return this.u32(x | 0);
  }

  u64(x: bigint): this {
    this.#room(8);
    this.#v.setBigUint64(this.#o, BigInt.asUintN(64, x));
    this.#o += 8;
    return this;
  }

  bool(x: boolean): this {
    return this.u32(x ? 1 : 0);
  }

  /** Fixed-length opaque: the bytes and zero padding. */
  fixed(b: Uint8Array): this {
    const padded = (b.length + 3) & ~3;
    this.#room(padded);
    this.#b.set(b, this.#o);
    this.#b.fill(0, this.#o + b.length, this.#o + padded);
    this.#o += padded;
    return this;
  }

  opaque(b: Uint8Array): this {
    return this.u32(b.length).fixed(b);
  }

  string(s: string): this {
    return this.opaque(utf8e.encode(s));
  }

  optional<T>(x: T | undefined, write: (v: T) => void): this {
    this.bool(x !== undefined);
    if (x !== undefined) write(x);
    return this;
  }

  /** The message so far (a copy). */
  bytes(): Uint8Array {
    return this.#b.slice(0, this.#o);
  }
}
