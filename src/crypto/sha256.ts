/**
 * SHA-256 (FIPS 180-4, section 6.2) over `Uint8Array`, in plain 32-bit integer arithmetic.
 *
 * Why not `node:crypto` or WebCrypto: the engine is sans-IO (ARCHITECTURE.md). The feedback
 * protocol's HMAC (src/crypto/hmac.ts, src/wire/feedback.ts) is computed inside the engine, which
 * must run identically, synchronously and deterministically in the simulator and in real mode,
 * and may not import `node:*` (test/purity.test.ts). WebCrypto's `subtle.digest` is asynchronous,
 * which a synchronous `handleFrame` cannot wait for. So the hash is written out here: a few dozen
 * lines, checked against the NIST vectors and against `node:crypto` (test/crypto/).
 *
 * Use `sha256(bytes)` for one message, or `new Sha256().update(a).update(b).digest()` when the
 * message comes in parts. Per 64-byte block nothing is allocated: the message schedule lives in
 * one reusable `Uint32Array(64)` per hasher, the partial block in one `Uint8Array(64)`.
 *
 * Integers: every word is kept as a signed 32-bit value (`| 0`) while computing and stored
 * through a `Uint32Array` (which wraps), so no intermediate ever leaves the int32 range the JIT
 * handles fastest; `>>>` gives the logical shifts the standard's rotations need.
 */

import { assert } from '../assert.ts';

export const SHA256_BLOCK_BYTES = 64;
export const SHA256_DIGEST_BYTES = 32;

/**
 * The most bytes one hasher may absorb: the standard allows 2^64 - 1 bits, we count bytes in a
 * double and stay exact below 2^53.
 */
export const SHA256_MESSAGE_BYTES_MAX = Number.MAX_SAFE_INTEGER;

/** FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** FIPS 180-4 5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes. */
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19] as const;

/** An incremental SHA-256. `digest()` finishes it; `reset()` makes it ready for a new message. */
export class Sha256 {
  /** H(i), the intermediate hash value. */
  private readonly h = new Uint32Array(8);
  /** The message schedule W, reused for every block. */
  private readonly w = new Uint32Array(64);
  /** Bytes of a block not yet complete. */
  private readonly pending = new Uint8Array(SHA256_BLOCK_BYTES);
  private pendingLen = 0;
  /** Message length so far, in bytes. */
  private total = 0;
  private finished = false;

  constructor() {
    this.reset();
  }

  reset(): this {
    this.h.set(H0);
    this.pendingLen = 0;
    this.total = 0;
    this.finished = false;
    return this;
  }

  /** Absorb `data`. Throws if called after `digest()` without `reset()` (a caller's bug). */
  update(data: Uint8Array): this {
    assert(!this.finished, 'Sha256.update after digest (call reset first)');
    assert(data.length <= SHA256_MESSAGE_BYTES_MAX - this.total, 'SHA-256 message too long');
    this.total += data.length;
    let off = 0;
    const n = data.length;
    if (this.pendingLen > 0) {
      const take = Math.min(SHA256_BLOCK_BYTES - this.pendingLen, n);
      this.pending.set(data.subarray(0, take), this.pendingLen);
      this.pendingLen += take;
      off = take;
      if (this.pendingLen < SHA256_BLOCK_BYTES) return this;
      this.compress(this.pending, 0);
      this.pendingLen = 0;
    }
    // Whole blocks straight from the input, no copy.
    while (n - off >= SHA256_BLOCK_BYTES) {
      this.compress(data, off);
      off += SHA256_BLOCK_BYTES;
    }
    if (off < n) {
      this.pending.set(data.subarray(off), 0);
      this.pendingLen = n - off;
    }
    return this;
  }

  /** Finish the message (FIPS 180-4 5.1.1 padding) and return its 32-byte hash. */
  digest(): Uint8Array {
    const out = new Uint8Array(SHA256_DIGEST_BYTES);
    this.digestInto(out, 0);
    return out;
  }

  /** Like `digest()`, writing the 32 bytes into `out` at `off`. */
  digestInto(out: Uint8Array, off: number): void {
    assert(!this.finished, 'Sha256.digest called twice (call reset first)');
    assert(off >= 0 && off + SHA256_DIGEST_BYTES <= out.length, 'digest does not fit');
    this.finished = true;
    const p = this.pending;
    let len = this.pendingLen;
    p[len++] = 0x80;
    if (len > SHA256_BLOCK_BYTES - 8) {
      p.fill(0, len);
      this.compress(p, 0);
      len = 0;
    }
    p.fill(0, len, SHA256_BLOCK_BYTES - 8);
    // The length in bits as a 64-bit big-endian integer; total < 2^53, so bits < 2^56.
    const bitsHi = Math.floor(this.total / 0x20000000); // total * 8 / 2^32
    const bitsLo = (this.total * 8) >>> 0; // exact: total * 8 < 2^56 is a safe integer
    writeBe32(p, SHA256_BLOCK_BYTES - 8, bitsHi);
    writeBe32(p, SHA256_BLOCK_BYTES - 4, bitsLo);
    this.compress(p, 0);
    for (let i = 0; i < 8; i++) writeBe32(out, off + 4 * i, this.h[i]!);
  }

  /** FIPS 180-4 6.2.2: process one 64-byte block of `b` at `off`. */
  private compress(b: Uint8Array, off: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const i = off + 4 * t;
      w[t] = (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!;
      const y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (s1 + w[t - 7]! + s0 + w[t - 16]!) | 0;
    }
    const h = this.h;
    let a = h[0]! | 0;
    let bb = h[1]! | 0;
    let c = h[2]! | 0;
    let d = h[3]! | 0;
    let e = h[4]! | 0;
    let f = h[5]! | 0;
    let g = h[6]! | 0;
    let hh = h[7]! | 0;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t]! + w[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & bb) ^ (a & c) ^ (bb & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = bb;
      bb = a;
      a = (t1 + t2) | 0;
    }
    h[0] = h[0]! + a;
    h[1] = h[1]! + bb;
    h[2] = h[2]! + c;
    h[3] = h[3]! + d;
    h[4] = h[4]! + e;
    h[5] = h[5]! + f;
    h[6] = h[6]! + g;
    h[7] = h[7]! + hh;
  }
}

function writeBe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 255;
  b[off + 2] = (v >>> 8) & 255;
  b[off + 3] = v & 255;
}

/** The SHA-256 hash of the concatenation of `parts` (usually one). */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const s = new Sha256();
  for (const p of parts) s.update(p);
  return s.digest();
}
