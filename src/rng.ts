/**
 * The one source of randomness (STYLE.md 4): a seeded, splittable xoshiro128** generator.
 *
 * Determinism contract: the same seed and the same chain of `split` labels give the same stream
 * of `u32()` values on any machine and any JavaScript engine. All state is four 32-bit words and
 * every step is 32-bit integer math (`Math.imul`, shifts, xor), so nothing depends on float
 * rounding, BigInt or platform. `float`, `int`, `bool`, `pick` and `shuffle` are exact functions
 * of that stream. `exponential` and `normal` also call `Math.log` / `Math.sqrt`: `sqrt` is
 * correctly rounded by IEEE 754 and V8 ships its own `log` (fdlibm), so runs under Node are
 * identical across machines; other engines may differ in the last bit of those two.
 *
 * Splitting: `split(label)` derives a child from the PARENT'S SEED and the label, never from
 * the parent's current state. Drawing from the parent, or from a sibling, never changes a child's
 * stream, so adding a draw in one component cannot perturb another's.
 */

import { assert } from './assert.ts';

/** Four 32-bit words, as unsigned integers. */
export type RngWords = readonly [number, number, number, number];

/** A snapshot for replay: JSON-safe, restores both the stream position and future splits. */
export interface RngState {
  /** The generator's identity (its initial state); children are derived from it. */
  readonly seed: RngWords;
  /** The current position in the stream. */
  readonly state: RngWords;
}

/** Widest range `int(lo, hi)` supports: one 32-bit draw. */
export const RNG_INT_RANGE_MAX = 2 ** 32;
/** Rejection loops take fewer than 2 rounds on average; this many means the generator is broken. */
const REJECTION_ROUNDS_MAX = 1_000;

const GOLDEN_32 = 0x9e3779b9;

/** The murmur3 finaliser: a bijective avalanche on 32 bits. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A splitmix32 stream from `seed`: fills the words of a fresh state. */
function splitmix32Words(seed: number): [number, number, number, number] {
  let x = seed | 0;
  const next = (): number => {
    x = (x + GOLDEN_32) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
  return [next(), next(), next(), next()];
}

/**
 * FNV-1a (32-bit) over the UTF-16 code units of `text`, each as two bytes (low, high), starting
 * from `basis`. Code units rather than UTF-8 so it needs no encoder; still the same everywhere.
 */
export function fnv1a32(text: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h = Math.imul(h ^ (c & 0xff), 0x01000193);
    h = Math.imul(h ^ (c >>> 8), 0x01000193);
  }
  return h >>> 0;
}

/** A 32-bit word from a seed: integers fold their high bits in; strings are hashed. */
function seedWord(seed: number | string): number {
  if (typeof seed === 'string') return fnv1a32(seed);
  assert(Number.isSafeInteger(seed), `rng seed must be a safe integer or a string, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0; // two's-complement high word for negatives
  return hi === 0 ? lo : (lo ^ fmix32(hi + GOLDEN_32)) >>> 0;
}

function isWords(w: unknown): w is RngWords {
  return (
    Array.isArray(w) &&
    w.length === 4 &&
    w.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff)
  );
}

function nonZero(w: RngWords): boolean {
  return (w[0] | w[1] | w[2] | w[3]) !== 0;
}

export class Rng {
  #seed: RngWords;
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  private constructor(seed: RngWords, state: RngWords) {
    assert(nonZero(state), 'xoshiro128** state must not be all zero');
    this.#seed = seed;
    [this.#s0, this.#s1, this.#s2, this.#s3] = state;
  }

  /** A root generator from a 32-bit (or any safe integer) seed or a string such as a scenario name. */
  static fromSeed(seed: number | string): Rng {
    const words = splitmix32Words(seedWord(seed));
    // splitmix32's output mix is a bijection over four distinct counters: at most one word is 0.
    return new Rng(words, words);
  }

  /** Rebuild a generator from a `state()` snapshot (e.g. read back from a trace). */
  static fromState(snapshot: RngState): Rng {
    assert(isWords(snapshot.seed) && isWords(snapshot.state), 'malformed rng state');
    return new Rng([...snapshot.seed], [...snapshot.state]);
  }

  /**
   * A child generator for one component, e.g. `rng.split('link:a-b')`. Depends only on this
   * generator's seed and `label`: the same label always gives the same child, however many
   * values were drawn from this generator or its other children.
   */
  split(label: string): Rng {
    const seed = this.#seed;
    let carry = fnv1a32(label);
    const word = (i: number): number => {
      // Four label hashes with different FNV bases, chained through `carry` so every word depends
      // on the whole label and on the parent seed words so far.
      const h = fnv1a32(label, fmix32(0x811c9dc5 ^ Math.imul(i + 1, GOLDEN_32)));
      carry = fmix32((carry + (seed[i] as number) + Math.imul(h, 0x27d4eb2f)) | 0);
      return fmix32(carry ^ h ^ GOLDEN_32);
    };
    let words: RngWords = [word(0), word(1), word(2), word(3)];
    if (!nonZero(words)) words = splitmix32Words(carry); // odds 2^-128; keep the state valid anyway
    return new Rng(words, words);
  }

  /** Snapshot for replay; `Rng.fromState(s)` or `restore(s)` continues exactly here. */
  state(): RngState {
    return { seed: [...this.#seed], state: [this.#s0 >>> 0, this.#s1 >>> 0, this.#s2 >>> 0, this.#s3 >>> 0] };
  }

  /** Rewind or fast-forward this generator to a snapshot (its seed, and so its splits, included). */
  restore(snapshot: RngState): void {
    assert(isWords(snapshot.seed) && isWords(snapshot.state) && nonZero(snapshot.state), 'malformed rng state');
    this.#seed = [...snapshot.seed];
    [this.#s0, this.#s1, this.#s2, this.#s3] = snapshot.state;
  }

  /** The next 32-bit unsigned integer (xoshiro128**). */
  u32(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two `u32` draws). */
  float(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Uniform integer in [lo, hiInclusive], without modulo bias (rejection of the incomplete top
   * block). The range may span at most 2^32 values.
   */
  int(lo: number, hiInclusive: number): number {
    // Hot path: build assertion messages only on failure.
    const range = hiInclusive - lo + 1;
    if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hiInclusive) && lo <= hiInclusive && range <= RNG_INT_RANGE_MAX)) {
      assert(Number.isSafeInteger(lo) && Number.isSafeInteger(hiInclusive), `int bounds must be integers: ${lo}, ${hiInclusive}`);
      assert(lo <= hiInclusive, `int range empty: ${lo} > ${hiInclusive}`);
      assert(false, `int range ${range} exceeds ${RNG_INT_RANGE_MAX}`);
    }
    if (range === RNG_INT_RANGE_MAX) return lo + this.u32();
    // Largest multiple of range that fits in 2^32; draws at or above it would bias low values.
    const limit = RNG_INT_RANGE_MAX - (RNG_INT_RANGE_MAX % range);
    for (let round = 0; round < REJECTION_ROUNDS_MAX; round++) {
      const x = this.u32();
      if (x < limit) return lo + (x % range);
    }
    assert(false, `int(${lo}, ${hiInclusive}) rejected ${REJECTION_ROUNDS_MAX} draws`);
  }

  /** True with probability `p` (0 never, 1 always). */
  bool(p = 0.5): boolean {
    if (!(p >= 0 && p <= 1)) assert(false, `probability out of [0, 1]: ${p}`);
    return this.float() < p;
  }

  /** Exponentially distributed with the given mean (e.g. Poisson inter-arrival times). */
  exponential(mean: number): number {
    if (!(Number.isFinite(mean) && mean >= 0)) assert(false, `exponential mean must be finite and >= 0: ${mean}`);
    return -mean * Math.log(1 - this.float()); // 1 - float() is in (0, 1]: never log(0)
  }

  /** Normally distributed (Marsaglia polar method; the spare value is discarded to keep state simple). */
  normal(mean = 0, sd = 1): number {
    if (!(Number.isFinite(mean) && Number.isFinite(sd) && sd >= 0)) assert(false, `normal(${mean}, ${sd}) invalid`);
    for (let round = 0; round < REJECTION_ROUNDS_MAX; round++) {
      const u = 2 * this.float() - 1;
      const v = 2 * this.float() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return mean + sd * u * Math.sqrt((-2 * Math.log(s)) / s);
    }
    assert(false, `normal() rejected ${REJECTION_ROUNDS_MAX} draws`);
  }

  /** A uniformly chosen element; asserts the array is not empty. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty array');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
