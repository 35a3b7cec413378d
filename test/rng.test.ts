import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fnv1a32, Rng } from '../src/rng.ts';

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.u32());
}

describe('Rng: the xoshiro128** core', () => {
  it('matches the reference implementation (state 1, 2, 3, 4)', () => {
    // From the C reference (prng.di.unimi.it/xoshiro128starstar.c) seeded with s = {1, 2, 3, 4}.
    const rng = Rng.fromState({ seed: [1, 2, 3, 4], state: [1, 2, 3, 4] });
    expect(draws(rng, 10)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('matches the reference with high bits set (no sign trouble)', () => {
    const rng = Rng.fromState({ seed: [1, 2, 3, 4], state: [0x9e3779b9, 0xdeadbeef, 0x80000001, 0xffffffff] });
    expect(draws(rng, 4)).toEqual([1162347276, 2592418025, 4030867362, 4120106414]);
  });

  it('pins the seeding and splitting (changing these changes every recorded run)', () => {
    expect(draws(Rng.fromSeed(42), 3)).toEqual([660444221, 3652823732, 77672526]);
    expect(draws(Rng.fromSeed(42).split('link:a-b'), 3)).toEqual([1845864871, 3403847143, 2499612083]);
    expect(draws(Rng.fromSeed('failover-basic'), 2)).toEqual([3942136299, 4120218437]);
    expect(fnv1a32('')).toBe(0x811c9dc5);
  });
});

describe('Rng: determinism and splitting', () => {
  it('same seed, same stream; different seeds, different streams', () => {
    expect(draws(Rng.fromSeed(7), 100)).toEqual(draws(Rng.fromSeed(7), 100));
    expect(draws(Rng.fromSeed('scenario-a'), 100)).toEqual(draws(Rng.fromSeed('scenario-a'), 100));
    expect(draws(Rng.fromSeed(7), 4)).not.toEqual(draws(Rng.fromSeed(8), 4));
    expect(draws(Rng.fromSeed(7), 4)).not.toEqual(draws(Rng.fromSeed(7 + 2 ** 32), 4));
  });

  it("a child's stream does not depend on draws from the parent or siblings", () => {
    const reference = draws(Rng.fromSeed(99).split('health'), 200);

    const root = Rng.fromSeed(99);
    draws(root, 1_000);
    const sibling = root.split('nat');
    draws(sibling, 500);
    draws(sibling.split('inner'), 10);
    expect(draws(root.split('health'), 200)).toEqual(reference);
  });

  it('children differ by label and from their parent; nesting is deterministic', () => {
    const root = Rng.fromSeed(1);
    const a = draws(root.split('a'), 8);
    expect(draws(root.split('b'), 8)).not.toEqual(a);
    expect(draws(Rng.fromSeed(1), 8)).not.toEqual(a);
    expect(draws(Rng.fromSeed(2).split('a'), 8)).not.toEqual(a);
    expect(draws(root.split('a').split('x'), 8)).toEqual(draws(Rng.fromSeed(1).split('a').split('x'), 8));
    expect(draws(root.split('a').split('x'), 8)).not.toEqual(draws(root.split('x').split('a'), 8));
  });

  it('distinct labels give distinct children (no collisions in 10k labels)', () => {
    const root = Rng.fromSeed(3);
    const firsts = new Set<string>();
    for (let i = 0; i < 10_000; i++) firsts.add(draws(root.split(`server:${i}`), 2).join(','));
    expect(firsts.size).toBe(10_000);
  });

  it('state() and restore() replay exactly, splits included', () => {
    const rng = Rng.fromSeed(5).split('workload');
    draws(rng, 17);
    const snapshot = JSON.parse(JSON.stringify(rng.state())) as ReturnType<Rng['state']>;
    const ahead = draws(rng, 50);
    const childBefore = draws(rng.split('c'), 5);

    const other = Rng.fromSeed(123);
    other.restore(snapshot);
    expect(draws(other, 50)).toEqual(ahead);
    expect(draws(other.split('c'), 5)).toEqual(childBefore);
    expect(draws(Rng.fromState(snapshot), 50)).toEqual(ahead);
    expect(() => Rng.fromState({ seed: [0, 0, 0, 0], state: [0, 0, 0, 0] })).toThrow(/assertion failed/);
  });
});

describe('Rng: distributions', () => {
  it('float is in [0, 1)', () => {
    const rng = Rng.fromSeed(11);
    for (let i = 0; i < 10_000; i++) {
      const x = rng.float();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it('int stays in range (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed, lo, span) => {
        const rng = Rng.fromSeed(seed);
        const x = rng.int(lo, lo + span);
        expect(Number.isInteger(x) && x >= lo && x <= lo + span).toBe(true);
      }),
    );
    const rng = Rng.fromSeed(0);
    expect(rng.int(5, 5)).toBe(5);
    expect(() => rng.int(2, 1)).toThrow(/empty/);
    expect(() => rng.int(0, 2 ** 32)).toThrow(/exceeds/);
  });

  it('int is uniform (chi-square, fixed seed)', () => {
    const rng = Rng.fromSeed(2024);
    const buckets = 10;
    const n = 100_000;
    const counts = new Array<number>(buckets).fill(0);
    for (let i = 0; i < n; i++) {
      const k = rng.int(0, buckets - 1);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const expected = n / buckets;
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.88); // 9 degrees of freedom, p = 0.001
  });

  it('an awkward range (2^31 + 1 values) is unbiased: both halves equally likely', () => {
    const rng = Rng.fromSeed(77);
    let low = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) if (rng.int(0, 2 ** 31) < 2 ** 30) low++;
    // Plain modulo would put ~3/4 of draws in the low half.
    expect(Math.abs(low / n - 0.5)).toBeLessThan(0.02);
  });

  it('bool honours p = 0, p = 1 and p = 0.25', () => {
    const rng = Rng.fromSeed(4);
    let hits = 0;
    for (let i = 0; i < 10_000; i++) {
      expect(rng.bool(0)).toBe(false);
      expect(rng.bool(1)).toBe(true);
      if (rng.bool(0.25)) hits++;
    }
    expect(Math.abs(hits / 10_000 - 0.25)).toBeLessThan(0.02);
    expect(() => rng.bool(1.5)).toThrow(/probability/);
  });

  it('exponential and normal have the right moments', () => {
    const rng = Rng.fromSeed(8);
    const n = 50_000;
    let sumE = 0;
    let sumN = 0;
    let sumN2 = 0;
    let minE = Infinity;
    for (let i = 0; i < n; i++) {
      const e = rng.exponential(3);
      minE = Math.min(minE, e);
      sumE += e;
      const x = rng.normal(10, 2);
      sumN += x;
      sumN2 += x * x;
    }
    const meanN = sumN / n;
    expect(minE).toBeGreaterThanOrEqual(0);
    expect(Math.abs(sumE / n - 3)).toBeLessThan(0.1);
    expect(Math.abs(meanN - 10)).toBeLessThan(0.05);
    expect(Math.abs(Math.sqrt(sumN2 / n - meanN * meanN) - 2)).toBeLessThan(0.05);
  });

  it('pick and shuffle', () => {
    const rng = Rng.fromSeed(9);
    const items = ['a', 'b', 'c'] as const;
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) seen.add(rng.pick(items));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    expect(() => rng.pick([])).toThrow(/empty/);

    const arr = Array.from({ length: 50 }, (_, i) => i);
    const same = rng.shuffle(arr);
    expect(same).toBe(arr);
    expect([...arr].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(arr).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    const again = Array.from({ length: 50 }, (_, i) => i);
    Rng.fromSeed(9).shuffle(again);
    const replay = Array.from({ length: 50 }, (_, i) => i);
    Rng.fromSeed(9).shuffle(replay);
    expect(again).toEqual(replay);
  });
});
