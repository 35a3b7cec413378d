import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { instant, type Instant } from '../src/time.ts';
import { KeyedTimers, TimerTable } from '../src/timers.ts';
import { assertNever } from '../src/assert.ts';

const NAMES = ['heartbeat', 'bidTimeout', 'probe'] as const;
type Name = (typeof NAMES)[number];
const at = instant;

describe('TimerTable', () => {
  it('is empty until armed', () => {
    const timers = new TimerTable<Name>(NAMES);
    expect(timers.next()).toBeUndefined();
    expect(timers.get('probe')).toBeUndefined();
    expect(timers.expired(at(1_000_000))).toEqual([]);
  });

  it('next is the minimum deadline, ties in constructor order', () => {
    const timers = new TimerTable<Name>(NAMES);
    timers.set('probe', at(500));
    timers.set('bidTimeout', at(300));
    timers.set('heartbeat', at(300));
    expect(timers.next()).toEqual({ name: 'heartbeat', at: 300 });
    timers.clear('heartbeat');
    expect(timers.next()).toEqual({ name: 'bidTimeout', at: 300 });
    timers.set('bidTimeout', at(900)); // re-arm replaces
    expect(timers.next()).toEqual({ name: 'probe', at: 500 });
  });

  it('expired returns and clears due timers in deadline order, ties in name order', () => {
    const timers = new TimerTable<Name>(NAMES);
    timers.set('probe', at(100));
    timers.set('heartbeat', at(200));
    timers.set('bidTimeout', at(100));
    expect(timers.expired(at(150))).toEqual(['bidTimeout', 'probe']);
    expect(timers.isArmed('probe')).toBe(false);
    expect(timers.expired(at(200))).toEqual(['heartbeat']); // at == now is due
    expect(timers.next()).toBeUndefined();
  });

  it('tables made from one names array share the name index but not their deadlines', () => {
    const a = new TimerTable<Name>(NAMES);
    const b = new TimerTable<Name>(NAMES);
    expect(a.names).toBe(b.names);
    a.set('probe', at(100));
    expect(b.isArmed('probe')).toBe(false);
    b.set('heartbeat', at(50));
    expect(a.next()).toEqual({ name: 'probe', at: 100 });
    expect(b.next()).toEqual({ name: 'heartbeat', at: 50 });
  });

  it('rejects unknown and duplicate names', () => {
    expect(() => new TimerTable(['a', 'a'])).toThrow(/duplicate/);
    const timers = new TimerTable<string>(['a']);
    expect(() => timers.set('b', at(1))).toThrow(/unknown timer/);
  });
});

describe('KeyedTimers', () => {
  it('orders by deadline, ties by insertion sequence', () => {
    const timers = new KeyedTimers<string>({ maxEntries: 10 });
    timers.set('s3', at(50));
    timers.set('s1', at(20));
    timers.set('s2', at(20));
    expect(timers.next()).toEqual({ key: 's1', at: 20 });
    timers.set('s1', at(20)); // re-arming takes a fresh sequence: now behind s2
    expect(timers.popExpired(at(20))).toEqual(['s2', 's1']);
    expect(timers.size).toBe(1);
    expect(timers.get('s3')).toBe(50);
  });

  it('clear removes from the middle of the heap', () => {
    const timers = new KeyedTimers<number>({ maxEntries: 100 });
    for (let i = 0; i < 50; i++) timers.set(i, at((i * 37) % 50));
    expect(timers.clear(0)).toBe(true);
    expect(timers.clear(0)).toBe(false);
    const order = timers.popExpired(at(1_000));
    expect(order).toHaveLength(49);
    expect(order).not.toContain(0);
  });

  it('popExpired respects its max', () => {
    const timers = new KeyedTimers<number>({ maxEntries: 10 });
    for (let i = 0; i < 5; i++) timers.set(i, at(i));
    expect(timers.popExpired(at(10), 2)).toEqual([0, 1]);
    expect(timers.size).toBe(3);
  });

  it('asserts its bound', () => {
    const timers = new KeyedTimers<string>({ maxEntries: 2 });
    timers.set('a', at(1));
    timers.set('b', at(2));
    timers.set('a', at(3)); // re-arming an existing key is fine
    expect(() => timers.set('c', at(4))).toThrow(/maxEntries 2/);
    expect(() => new KeyedTimers({ maxEntries: 0 })).toThrow(/maxEntries/);
  });

  // Model: an array of { key, at, seq }; next = min by (at, seq).
  type Op =
    | { readonly op: 'set'; readonly key: number; readonly at: number }
    | { readonly op: 'clear'; readonly key: number }
    | { readonly op: 'pop'; readonly now: number; readonly max: number };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: fc.integer({ min: 0, max: 15 }), at: fc.integer({ min: 0, max: 20 }) }),
    fc.record({ op: fc.constant('clear' as const), key: fc.integer({ min: 0, max: 15 }) }),
    fc.record({ op: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 25 }), max: fc.integer({ min: 1, max: 20 }) }),
  );

  it('matches a naive array model', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const timers = new KeyedTimers<number>({ maxEntries: 16 });
        let model: { key: number; at: number; seq: number }[] = [];
        let seq = 0;
        const sorted = (): typeof model => [...model].sort((a, b) => a.at - b.at || a.seq - b.seq);
        for (const o of ops) {
          switch (o.op) {
            case 'set':
              model = model.filter((e) => e.key !== o.key);
              model.push({ key: o.key, at: o.at, seq: seq++ });
              timers.set(o.key, o.at as Instant);
              break;
            case 'clear': {
              const had = model.some((e) => e.key === o.key);
              model = model.filter((e) => e.key !== o.key);
              expect(timers.clear(o.key)).toBe(had);
              break;
            }
            case 'pop': {
              const due = sorted().filter((e) => e.at <= o.now).slice(0, o.max);
              model = model.filter((e) => !due.includes(e));
              expect(timers.popExpired(o.now as Instant, o.max)).toEqual(due.map((e) => e.key));
              break;
            }
            default:
              assertNever(o);
          }
          const first = sorted()[0];
          expect(timers.next()).toEqual(first === undefined ? undefined : { key: first.key, at: first.at });
          expect(timers.size).toBe(model.length);
          for (const e of model) expect(timers.get(e.key)).toBe(e.at);
        }
      }),
      { numRuns: 300 },
    );
  });
});
