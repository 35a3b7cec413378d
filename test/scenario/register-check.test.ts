/**
 * The per-key register check: stale reads after an acknowledged write are found, concurrent and
 * in-flight writes are allowed, unacknowledged writes never make a read stale; and against a
 * brute-force reading of the same rule on random histories.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRegisters, type HistoryOp } from '../../src/scenario/register-check.ts';

const w = (value: string, start: number, end: number, acked = true, key = 'k'): HistoryOp => ({ op: 'write', key, value, start, end, acked });
const r = (value: string, start: number, end: number, key = 'k'): HistoryOp => ({ op: 'read', key, value, start, end, acked: false });

describe('checkRegisters', () => {
  it('a read after an acknowledged write that returns the value it replaced is stale', () => {
    const v = checkRegisters([w('a', 0, 10), w('b', 20, 30), r('a', 40, 45)]);
    expect(v).toEqual([{ kind: 'stale', read: r('a', 40, 45), newer: w('b', 20, 30) }]);
  });

  it('overlapping writes may be read in either order; an in-flight write may be seen early', () => {
    expect(checkRegisters([w('a', 0, 30), w('b', 10, 40), r('a', 50, 55), r('b', 60, 65)])).toEqual([]);
    expect(checkRegisters([w('a', 0, 10), w('b', 20, 100), r('b', 30, 35), r('a', 40, 45)])).toEqual([]); // b not acked before 40
  });

  it('an unacknowledged write never makes a read stale, and its value may be read', () => {
    expect(checkRegisters([w('a', 0, 10), w('b', 20, 30, false), r('a', 40, 45), r('b', 50, 55)])).toEqual([]);
  });

  it('an unacknowledged write may take effect after a later acknowledged one: reading it is not stale', () => {
    // b timed out at 30 but reached the store after c (acknowledged at 50): reading b at 60 is fine.
    expect(checkRegisters([w('b', 0, 30, false), w('c', 40, 50), r('b', 60, 65)])).toEqual([]);
    // The same history with b acknowledged at 30 is a stale read.
    expect(checkRegisters([w('b', 0, 30), w('c', 40, 50), r('b', 60, 65)]).map((x) => x.kind)).toEqual(['stale']);
  });

  it('the initial value after an acknowledged write is stale; a value nobody wrote is unknown', () => {
    const init = new Map([['k', 'zero']]);
    expect(checkRegisters([r('zero', 0, 5), w('a', 10, 20), r('zero', 30, 35)], init).map((x) => x.kind)).toEqual(['stale']);
    expect(checkRegisters([r('ghost', 0, 5)], init).map((x) => x.kind)).toEqual(['unknown']);
  });

  it('keys are independent', () => {
    expect(checkRegisters([w('a', 0, 10, true, 'x'), w('b', 20, 30, true, 'y'), r('a', 40, 45, 'x')])).toEqual([]);
  });

  it('property: agrees with the rule checked pair by pair', () => {
    const op = fc.record({ isWrite: fc.boolean(), start: fc.nat(1000), len: fc.nat(200), acked: fc.boolean(), pick: fc.nat(20) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (raw) => {
        let n = 0;
        const writes: HistoryOp[] = [];
        const hist: HistoryOp[] = [];
        for (const o of raw) {
          if (o.isWrite) {
            const x = w(`v${n++}`, o.start, o.start + o.len, o.acked);
            writes.push(x);
            hist.push(x);
          } else hist.push(r(writes.length === 0 ? 'init' : writes[o.pick % writes.length]!.value, o.start, o.start + o.len));
        }
        const got = checkRegisters(hist, new Map([['k', 'init']])).length;
        let want = 0;
        for (const rd of hist.filter((h) => h.op === 'read')) {
          const src = writes.find((x) => x.value === rd.value);
          // The initial value "ended" before everything; an unacknowledged write may end at any time.
          const srcEnd = src === undefined ? -1 : src.acked ? src.end : Number.POSITIVE_INFINITY;
          if (writes.some((v) => v.acked && v.end < rd.start && srcEnd < v.start)) want++;
        }
        expect(got).toBe(want);
      }),
    );
  });
});
