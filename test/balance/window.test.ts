import { describe, expect, it } from 'vitest';
import { BucketWindow, LOAD_WINDOW_BUCKETS } from '../../src/balance/window.ts';
import { instant, micros, seconds } from '../../src/time.ts';

const at = (s: number) => instant(s * 1_000_000);

describe('BucketWindow', () => {
  it('splits the window into LOAD_WINDOW_BUCKETS buckets, rounding the width up', () => {
    expect(LOAD_WINDOW_BUCKETS).toBe(10);
    expect(new BucketWindow(1, seconds(10), at(0)).bucketWidth).toBe(1_000_000);
    expect(new BucketWindow(1, micros(15), at(0)).bucketWidth).toBe(2);
    expect(new BucketWindow(1, micros(1), at(0)).bucketWidth).toBe(1);
  });

  it('counts per row, over the newest k buckets', () => {
    const w = new BucketWindow(2, seconds(10), at(0));
    w.add(0, 1, at(0));
    w.add(0, 2, at(3.5));
    w.add(1, 5, at(3.9));
    w.add(0, 4, at(5));
    expect(w.head).toBe(5);
    expect(w.sum(0)).toBe(7);
    expect(w.sum(1)).toBe(5);
    expect(w.sum(0, 1)).toBe(4); // bucket 5 only
    expect(w.sum(0, 3)).toBe(6); // buckets 3..5
    expect(w.sum(1, 2)).toBe(0); // buckets 4..5
  });

  it('forgets a bucket once it is LOAD_WINDOW_BUCKETS buckets old', () => {
    const w = new BucketWindow(1, seconds(10), at(0));
    w.add(0, 1, at(0.999999)); // bucket 0
    w.add(0, 1, at(1)); // bucket 1
    w.advance(at(9.999999)); // bucket 9: bucket 0 still inside
    expect(w.sum(0)).toBe(2);
    w.advance(at(10)); // bucket 10 replaces bucket 0
    expect(w.sum(0)).toBe(1);
    w.advance(at(11));
    expect(w.sum(0)).toBe(0);
  });

  it('a jump of many windows clears everything, in bounded work', () => {
    const w = new BucketWindow(3, seconds(1), at(0));
    for (let r = 0; r < 3; r++) w.add(r, 10, at(0.5));
    w.advance(instant(1e15));
    for (let r = 0; r < 3; r++) expect(w.sum(r)).toBe(0);
    w.add(1, 2, instant(1e15));
    expect([w.sum(0), w.sum(1), w.sum(2)]).toEqual([0, 2, 0]);
  });

  it('clearRow forgets one row only', () => {
    const w = new BucketWindow(2, seconds(10), at(0));
    w.add(0, 3, at(1));
    w.add(1, 3, at(2));
    w.clearRow(0);
    expect([w.sum(0), w.sum(1)]).toEqual([0, 3]);
  });

  it('refuses to go backwards', () => {
    const w = new BucketWindow(1, seconds(10), at(5));
    expect(() => w.advance(at(3))).toThrow(/backwards/);
    w.advance(at(5.5)); // same bucket is fine
  });
});
