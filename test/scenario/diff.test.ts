/**
 * `sg diff` (src/scenario/diff.ts) on small hand-made traces: agreement needs the same masters in
 * the same order within the tolerance, the same server state transitions, and per segment between
 * server state changes the same servers and the same round-robin cycle; each kind of difference
 * is reported where it first shows.
 */
import { describe, expect, it } from 'vitest';
import { diffTraces, type DiffEvent } from '../../src/scenario/diff.ts';

let id = 0;
const master = (t: number, who: string): DiffEvent => ({ kind: 'state', t, id: ++id, node: who, entity: who, machine: 'bidd', from: 'bid', to: 'master' } as DiffEvent);
const server = (t: number, node: string, s: string, to: string): DiffEvent => ({ kind: 'state', t, node, entity: `web/${s}`, machine: 'server', from: 'alive', to } as DiffEvent);
const link = (t: number, node: string, s: string): DiffEvent => ({ kind: 'decision', t, node, what: 'link-new', detail: { group: 'web', server: s } } as DiffEvent);
const rr = (node: string, from: number, n: number, servers: string[], start = 0): DiffEvent[] => Array.from({ length: n }, (_, i) => link(from + i * 10_000, node, servers[(i + start) % servers.length]!));
const agree = (a: DiffEvent[], b: DiffEvent[]) => diffTraces(a, b, 250_000).every((c) => c.agree);

describe('sg diff', () => {
  const base = [master(400_000, 'sg1'), ...rr('sg1', 1_000_000, 30, ['rs1', 'rs2']), server(2_000_000, 'sg1', 'rs2', 'dead'), ...rr('sg1', 2_500_000, 20, ['rs1'])];

  it('agrees with itself, and across different link counts and round-robin phases', () => {
    expect(agree(base, base)).toBe(true);
    const other = [master(420_000, 'sg1'), ...rr('sg1', 1_000_000, 27, ['rs1', 'rs2'], 1), server(2_100_000, 'sg1', 'rs2', 'dead'), ...rr('sg1', 2_500_000, 11, ['rs1'])];
    expect(agree(base, other)).toBe(true);
  });

  it('differs when the masters differ, or one takes over too late', () => {
    expect(agree(base, [master(400_000, 'sg2'), ...base.slice(1)])).toBe(false);
    const late = diffTraces(base, [master(800_000, 'sg1'), ...base.slice(1)], 250_000);
    expect(late.find((c) => c.name === 'mastership')?.where).toMatch(/more than 0\.250s apart/);
  });

  it('differs when a server state transition is missing or different', () => {
    const noDeath = base.filter((e) => e.machine !== 'server');
    expect(diffTraces(base, noDeath, 250_000).some((c) => !c.agree && c.name.startsWith('server'))).toBe(true);
  });

  it('differs when links went to a server the other run avoided', () => {
    const wrong = [master(400_000, 'sg1'), ...rr('sg1', 1_000_000, 30, ['rs1', 'rs2']), server(2_000_000, 'sg1', 'rs2', 'dead'), ...rr('sg1', 2_500_000, 20, ['rs1', 'rs2'])];
    const c = diffTraces(base, wrong, 250_000).find((x) => x.name === 'links sg1:web')!;
    expect(c.agree).toBe(false);
    expect(c.where).toMatch(/segment 2/);
  });

  it('differs when the cycle differs (not round robin any more)', () => {
    const lumpy = [master(400_000, 'sg1'), ...['rs1', 'rs1', 'rs2', 'rs2', 'rs1', 'rs1', 'rs2', 'rs2'].map((s, i) => link(1_000_000 + i * 10_000, 'sg1', s)), server(2_000_000, 'sg1', 'rs2', 'dead'), ...rr('sg1', 2_500_000, 20, ['rs1'])];
    expect(agree(base, lumpy)).toBe(false);
  });
});
