import { GCProfiler } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { DropCounter, dropKey } from '../../src/engine/drops.ts';
import { DROP_LAYERS, DROP_REASONS, type DropLayer, type DropReason } from '../../src/trace.ts';

describe('DropCounter', () => {
  it('counts by layer/reason, readable as a Map in first-drop order', () => {
    const c = new DropCounter();
    c.count('nat', 'no-link');
    c.count('ipv4', 'bad-checksum');
    c.count('nat', 'no-link');
    c.count('bidd', 'truncated');
    expect([...c.counts]).toEqual([
      ['nat/no-link', 2],
      ['ipv4/bad-checksum', 1],
      ['bidd/truncated', 1],
    ]);
    expect(c.counts.get('nat/no-link')).toBe(2);
    expect(c.get('nat', 'no-link')).toBe(2);
    expect(c.get('nat', 'no-server')).toBe(0);
    expect(c.total).toBe(4);
  });

  it('a parse error counts under its codec and reason, whatever the codec', () => {
    const c = new DropCounter();
    const parseErrors = [{ layer: 'igmp', reason: 'bad-checksum' }, { layer: 'feedback', reason: 'bad-magic' }] as const;
    for (const e of parseErrors) c.count(e.layer, e.reason);
    expect(Object.fromEntries(c.counts)).toEqual({ 'igmp/bad-checksum': 1, 'feedback/bad-magic': 1 });
  });

  it('has a key for every pair of the vocabulary, made once: the same string every call', () => {
    let pairs = 0;
    for (const layer of DROP_LAYERS) {
      for (const reason of DROP_REASONS[layer] as readonly DropReason<DropLayer>[]) {
        const k = dropKey(layer, reason);
        expect(k).toBe(`${layer}/${reason}`);
        // Interned: the table hands out one string per pair (a concatenation would be a new one each time).
        expect(Object.is(k, dropKey(layer, reason))).toBe(true);
        pairs++;
      }
    }
    expect(pairs).toBeGreaterThan(100);
  });

  it('a pair outside the vocabulary, forced past the types, is our bug', () => {
    const c = new DropCounter();
    expect(() => c.count('nat' as DropLayer, 'bad-checksum' as DropReason<'nat'>)).toThrow(/drop nat\/bad-checksum is not in the drop vocabulary/);
    expect(() => c.count('ipv5' as DropLayer, 'truncated' as DropReason)).toThrow(/drop ipv5\/truncated is not in the drop vocabulary/);
    expect(c.total).toBe(0);
  });

  it('counting a drop allocates nothing: a million drops run no garbage collection, where a key made per drop runs dozens', () => {
    // GCProfiler reports the collections during a stretch of code synchronously. A collection of
    // the young generation runs after each few MB allocated, so none over a million drops means
    // no allocation per drop; the same loop building `${layer}/${reason}` per drop (the way
    // counting was done before) is the control that shows the measure sees allocation.
    const layers = ['nat', 'ipv4', 'ctl', 'bidd'] as const;
    const reasons = ['no-link', 'bad-checksum', 'unauthenticated', 'replay'] as const;
    const collections = (count: (i: number) => void): number => {
      for (let i = 0; i < 100_000; i++) count(i); // warm: entries made, code optimised
      const p = new GCProfiler();
      p.start();
      for (let i = 0; i < 1_000_000; i++) count(i);
      return p.stop()?.statistics.length ?? -1;
    };
    const c = new DropCounter();
    expect(collections((i) => c.count(layers[i & 3]!, reasons[i & 3]! as DropReason<(typeof layers)[number]>))).toBe(0);
    expect(c.total).toBe(1_100_000);
    const concat = new Map<string, number>();
    expect(collections((i) => {
      const k = `${layers[i & 3]}/${reasons[i & 3]}`;
      concat.set(k, (concat.get(k) ?? 0) + 1);
    })).toBeGreaterThan(0);
  });
});
