import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel, WHEEL_SLOTS } from '../../sim/kernel.ts';
import type { Instant } from '../../src/time.ts';

const t = (us: number) => us as Instant;

describe('Kernel', () => {
  it('orders by time, then by insertion order', () => {
    const k = new Kernel();
    const seen: string[] = [];
    k.at(t(20), () => seen.push('b1'));
    k.at(t(10), () => seen.push('a'));
    k.at(t(20), () => seen.push('b2'));
    k.at(t(20), () => seen.push('b3'));
    k.at(t(5), () => seen.push('first'));
    expect(k.run().reason).toBe('idle');
    expect(seen).toEqual(['first', 'a', 'b1', 'b2', 'b3']);
    expect(k.now).toBe(20);
  });

  it('an event scheduled at now from a handler runs after those already queued for now', () => {
    const k = new Kernel();
    const seen: string[] = [];
    k.at(t(1), () => {
      seen.push('x');
      k.at(k.now, () => seen.push('x-child'));
    });
    k.at(t(1), () => seen.push('y'));
    k.run();
    expect(seen).toEqual(['x', 'y', 'x-child']);
  });

  it('refuses to schedule in the past', () => {
    const k = new Kernel();
    k.at(t(10), () => {});
    k.run();
    expect(() => k.at(t(9), () => {})).toThrow(/before now/);
    expect(() => k.at(t(10.5), () => {})).toThrow(/integer/);
  });

  it('cancels, and a stale id never cancels a reused slot', () => {
    const k = new Kernel();
    const seen: number[] = [];
    const a = k.at(t(5), () => seen.push(5));
    expect(k.cancel(a)).toBe(true);
    expect(k.cancel(a)).toBe(false);
    expect(k.pending).toBe(0);
    k.run();
    const b = k.at(t(6), () => seen.push(6)); // likely reuses a's slot
    expect(k.cancel(a)).toBe(false);
    k.run();
    expect(seen).toEqual([6]);
    expect(k.cancel(b)).toBe(false);
  });

  it('runs until a time, moving the clock there, and leaves later events pending', () => {
    const k = new Kernel();
    const seen: number[] = [];
    for (const x of [10, 20, 30]) k.at(t(x), () => seen.push(x));
    const r = k.run({ until: t(25) });
    expect(r).toEqual({ reason: 'time', events: 2, now: 25 });
    expect(k.peek()).toBe(30);
    expect(k.run({ until: t(100) })).toEqual({ reason: 'idle', events: 1, now: 100 });
  });

  it('far events (beyond the wheel) keep time and insertion order with near ones', () => {
    const k = new Kernel();
    const seen: string[] = [];
    const far = WHEEL_SLOTS * 3 + 17;
    k.at(t(far), () => seen.push('far-1'));
    k.at(t(5), () => {
      seen.push('near');
      // Inserted later but for the same far time: must run after far-1.
      k.at(t(far), () => seen.push('far-2'));
    });
    k.at(t(far), () => seen.push('far-3'));
    k.at(t(WHEEL_SLOTS * 10), () => {
      seen.push('very-far');
      k.at(k.now, () => seen.push('very-far-child'));
    });
    k.run();
    expect(seen).toEqual(['near', 'far-1', 'far-3', 'far-2', 'very-far', 'very-far-child']);
    expect(k.now).toBe(WHEEL_SLOTS * 10);
  });

  it('peek and run-until never move the clock past the bound, even with only far events left', () => {
    const k = new Kernel();
    k.at(t(1_000_000), () => {});
    expect(k.peek()).toBe(1_000_000);
    expect(k.now).toBe(0);
    expect(k.run({ until: t(500_000) })).toEqual({ reason: 'time', events: 0, now: 500_000 });
    expect(() => k.at(t(600_000), () => {})).not.toThrow();
    expect(k.run({ until: t(2_000_000) })).toMatchObject({ reason: 'idle', events: 2, now: 2_000_000 });
  });

  it('an event budget stops a run that would spin forever', () => {
    const k = new Kernel();
    const loop = (): void => void k.after(0 as never, loop);
    k.at(t(0), loop);
    const r = k.run({ maxEvents: 10_000 });
    expect(r.reason).toBe('budget');
    expect(r.events).toBe(10_000);
    expect(k.step()).toBe(true);
  });

  it('stop() ends the run after the current event', () => {
    const k = new Kernel();
    let n = 0;
    for (let i = 0; i < 10; i++) k.at(t(i), () => { if (++n === 3) k.stop(); });
    expect(k.run().reason).toBe('stopped');
    expect(n).toBe(3);
  });

  it('matches a sorted-array model under random schedule/cancel/run (property)', () => {
    type Op = { kind: 'at'; dt: number } | { kind: 'cancel'; which: number } | { kind: 'run'; dt: number };
    // Delays both inside the wheel's window and far beyond it, with many equal times.
    const delay = fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constantFrom(WHEEL_SLOTS - 1, WHEEL_SLOTS, WHEEL_SLOTS + 1), fc.integer({ min: 0, max: 4 }).map((x) => x * 50_000));
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('at' as const), dt: delay }),
      fc.record({ kind: fc.constant('cancel' as const), which: fc.nat() }),
      fc.record({ kind: fc.constant('run' as const), dt: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 200_000 })) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const k = new Kernel();
      const got: number[] = [];
      const model: { at: number; seq: number; id: number; live: boolean }[] = [];
      const want: number[] = [];
      const ids: ReturnType<Kernel['at']>[] = [];
      let seq = 0;
      let now = 0;
      for (const o of ops) {
        if (o.kind === 'at') {
          const n = seq++;
          ids.push(k.at(t(now + o.dt), () => got.push(n)));
          model.push({ at: now + o.dt, seq: n, id: n, live: true });
        } else if (o.kind === 'cancel' && ids.length > 0) {
          const i = o.which % ids.length;
          const m = model.find((e) => e.id === i)!;
          expect(k.cancel(ids[i]!)).toBe(m.live);
          m.live = false;
        } else if (o.kind === 'run') {
          now += o.dt;
          k.run({ until: t(now) });
          const due = model.filter((e) => e.live && e.at <= now).sort((a, b) => a.at - b.at || a.seq - b.seq);
          for (const e of due) {
            want.push(e.seq);
            e.live = false;
          }
          expect(got).toEqual(want);
        }
      }
    }), { numRuns: 500 });
  });

  it('handlers scheduling from inside far events match the model too (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 300_000 }), fc.integer({ min: 0, max: 300_000 })), { maxLength: 200 }), (pairs) => {
      const k = new Kernel();
      const got: [number, number][] = [];
      pairs.forEach(([a, b], i) => {
        k.at(t(a), () => {
          got.push([k.now, i]);
          k.after(b as never, () => got.push([k.now, 1000 + i]));
        });
      });
      k.run();
      // Times never decrease, and every event ran at its own time.
      for (let j = 1; j < got.length; j++) expect(got[j]![0]).toBeGreaterThanOrEqual(got[j - 1]![0]);
      expect(got.length).toBe(2 * pairs.length);
      const firstRuns = got.filter(([, i]) => i < 1000);
      // Equal first-run times keep insertion order.
      for (let j = 1; j < firstRuns.length; j++) {
        if (firstRuns[j]![0] === firstRuns[j - 1]![0]) expect(firstRuns[j]![1]).toBeGreaterThan(firstRuns[j - 1]![1]);
      }
    }), { numRuns: 200 });
  });

  it('survives sequence-number renumbering with order intact', () => {
    // Force the renumbering path by pretending many insertions happened.
    const k = new Kernel();
    const seen: number[] = [];
    // Far times, so the events sit in the heap whose sequence numbers get renumbered.
    for (let i = 0; i < 100; i++) k.at(t(WHEEL_SLOTS * 2 + (i % 7)), () => seen.push(i));
    k.renumberForTest();
    k.run();
    const expected = Array.from({ length: 100 }, (_, i) => i).sort((a, b) => (a % 7) - (b % 7) || a - b);
    expect(seen).toEqual(expected);
  });
});
