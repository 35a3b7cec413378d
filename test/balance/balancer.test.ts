import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GroupBalancer, SERVERS_MAX, WEIGHT_MAX, type BalancerOptions } from '../../src/balance/balancer.ts';
import type { GroupConfig, PolicyName, ServerState } from '../../src/balance/types.ts';
import { instant, seconds, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';

const at = (s: number): Instant => instant(Math.round(s * 1_000_000));
const CLIENT = { addr: ip('192.0.2.10'), port: 40_000 };
const NAMES = 'abcdefghijklmnopqrstuvwxyz';

function group(policy: PolicyName, weights: readonly number[], over: Partial<GroupConfig> = {}): GroupConfig {
  return {
    name: 'web',
    vip: ip('140.116.72.114'),
    port: 80,
    policy,
    weighted: false,
    keepSameServer: { mode: 'off' },
    loadWindow: seconds(10),
    loadFromTotals: false,
    servers: weights.map((weight, i) => ({ name: NAMES[i] as string, addr: ip(`192.168.1.${i + 1}`), weight })),
    ...over,
  };
}

function balancer(policy: PolicyName, weights: readonly number[], over: Partial<GroupConfig> = {}, opts: BalancerOptions = {}): GroupBalancer {
  return new GroupBalancer(group(policy, weights, over), opts);
}

/** Pick and open a link `n` times at `now`, as the engine does; the names of the servers chosen. */
function openLinks(b: GroupBalancer, n: number, now: Instant): string {
  let out = '';
  for (let k = 0; k < n; k++) {
    const s = b.pick(now, CLIENT);
    expect(s).toBeDefined();
    b.linkOpened(s as number, now);
    out += NAMES[s as number];
  }
  return out;
}

/** Pick `n` times without opening links (for policies whose load is reported separately). */
function picks(b: GroupBalancer, n: number, now: Instant): string {
  let out = '';
  for (let k = 0; k < n; k++) out += NAMES[b.pick(now, CLIENT) as number];
  return out;
}

function count(seq: string, name: string): number {
  return seq.split('').filter((c) => c === name).length;
}

describe('round robin', () => {
  it('unweighted: in index order, skipping servers that are not candidates', () => {
    const b = balancer('round-robin', [1, 1, 1]);
    expect(picks(b, 7, at(0))).toBe('abcabca');
    b.setState(1, 'dead', at(1));
    expect(picks(b, 4, at(1))).toBe('caca');
    b.setState(1, 'alive', at(2));
    expect(picks(b, 3, at(2))).toBe('bca');
  });

  it('unweighted ignores the weight values (other than 0)', () => {
    expect(picks(balancer('round-robin', [3, 1]), 6, at(0))).toBe('ababab');
    expect(picks(balancer('round-robin', [3, 0, 1]), 4, at(0))).toBe('acac');
  });

  it("weighted: nginx's smooth weighted round robin", () => {
    expect(picks(balancer('round-robin', [3, 1], { weighted: true }), 8, at(0))).toBe('aabaaaba');
    expect(picks(balancer('round-robin', [5, 1, 1], { weighted: true }), 14, at(0))).toBe('aabacaa'.repeat(2));
    expect(picks(balancer('round-robin', [2, 3, 1], { weighted: true }), 12, at(0))).toBe('babcab'.repeat(2));
    expect(picks(balancer('round-robin', [1, 1, 1], { weighted: true }), 6, at(0))).toBe('abcabc');
  });

  it('weighted: every run of sum(w) picks gives each server exactly its weight', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 3 }), (weights, rounds) => {
        const b = balancer('round-robin', weights, { weighted: true });
        const total = weights.reduce((x, y) => x + y, 0);
        for (let r = 0; r < rounds; r++) {
          const seq = picks(b, total, at(r));
          weights.forEach((w, i) => expect(count(seq, NAMES[i] as string)).toBe(w));
        }
      }),
    );
  });

  it('weighted: a server that rejoins starts with no credit', () => {
    const b = balancer('round-robin', [3, 1], { weighted: true });
    expect(picks(b, 2, at(0))).toBe('aa');
    b.setWeight(0, 0, at(1));
    expect(picks(b, 2, at(1))).toBe('bb');
    b.setWeight(0, 3, at(2));
    expect(picks(b, 8, at(2))).toBe('abaaabaa'); // b kept its credit, a restarted from 0
  });
});

describe('connections (links opened within the load window)', () => {
  it('picks the server with the fewest new links in the window', () => {
    const b = balancer('connections', [1, 1, 1]);
    for (const [s, n] of [[0, 3], [1, 1], [2, 2]] as const) for (let k = 0; k < n; k++) b.linkOpened(s, at(0));
    expect(b.pick(at(1), CLIENT)).toBe(1);
    expect(b.explainLast()).toMatchObject({ reason: 'policy', 'load.a': 3, 'load.b': 1, 'load.c': 2 });
  });

  it('counts change, not totals: old links leave the load when they leave the window', () => {
    const b = balancer('connections', [1, 1]);
    for (let k = 0; k < 5; k++) b.linkOpened(0, at(0)); // long-lived, still open
    b.linkOpened(1, at(5));
    expect(b.pick(at(6), CLIENT)).toBe(1); // 5 vs 1 in the window
    expect(b.pick(at(12), CLIENT)).toBe(0); // a's links are 12s old: 0 vs 1
    expect(b.openLinks(0)).toBe(5);
    expect(b.recentLinks(0, at(12))).toBe(0);
  });

  it('with equal weights and a fixed set it is exactly round robin', () => {
    expect(openLinks(balancer('connections', [1, 1, 1, 1]), 10, at(0))).toBe('abcdabcdab');
  });

  it('respects weights: new links in proportion 2:1:1', () => {
    const b = balancer('connections', [2, 1, 1], { weighted: true });
    const seq = openLinks(b, 40, at(0));
    expect([count(seq, 'a'), count(seq, 'b'), count(seq, 'c')]).toEqual([20, 10, 10]);
    expect(seq.slice(0, 8)).toBe('abcabcaa'); // 1/2 < 1/1 first, then ties rotate
  });

  it('ties rotate: one link per window still spreads over all servers', () => {
    const b = balancer('connections', [1, 1, 1]);
    let seq = '';
    for (let k = 0; k < 6; k++) seq += openLinks(b, 1, at(20 * k));
    expect(seq).toBe('abcabc');
  });

  it('property: equal weights, any arrival pattern: window counts stay within ±1', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000_000 }), fc.integer({ min: 0, max: 8 })), { maxLength: 100 }),
        (n, steps) => {
          const b = balancer('connections', Array.from({ length: n }, () => 1));
          let t = 0;
          for (const [dt, k] of steps) {
            t += dt;
            openLinks(b, k, instant(t));
            const c = Array.from({ length: n }, (_, i) => b.recentLinks(i, instant(t)));
            expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: loadFromTotals, links of equal lifetime: open counts stay within ±1', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 5_000_000 }),
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { maxLength: 200 }),
        (n, lifetime, gaps) => {
          const b = balancer('connections', Array.from({ length: n }, () => 1), { loadFromTotals: true });
          const live: { server: number; closeAt: number }[] = []; // FIFO: equal lifetimes close in order
          let t = 0;
          for (const gap of gaps) {
            t += gap;
            while (live.length > 0 && (live[0] as { closeAt: number }).closeAt <= t) {
              const l = live.shift() as { server: number; closeAt: number };
              b.linkClosed(l.server, instant(l.closeAt));
            }
            const s = b.pick(instant(t), CLIENT) as number;
            b.linkOpened(s, instant(t));
            live.push({ server: s, closeAt: t + lifetime });
            const c = Array.from({ length: n }, (_, i) => b.openLinks(i));
            expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the bombing problem (slide 30)', () => {
  /**
   * Three servers hold 100 long-lived links each (opened during the first second); at 60s the
   * fourth joins, and 100 new links arrive over the next second.
   */
  function afterJoin(loadFromTotals: boolean): string {
    const b = balancer('connections', [1, 1, 1, 1], { loadFromTotals });
    b.setState(3, 'dead', at(0));
    for (let k = 0; k < 300; k++) openLinks(b, 1, at(k / 300));
    expect([0, 1, 2, 3].map((i) => b.openLinks(i))).toEqual([100, 100, 100, 0]);
    b.setState(3, 'alive', at(60));
    let seq = '';
    for (let k = 0; k < 100; k++) seq += openLinks(b, 1, at(60 + k / 100));
    return seq;
  }

  it('with totals the newcomer gets every new link', () => {
    expect(count(afterJoin(true), 'd')).toBe(100);
  });

  it('with the windowed load the newcomer gets its fair share', () => {
    const seq = afterJoin(false);
    expect([count(seq, 'a'), count(seq, 'b'), count(seq, 'c'), count(seq, 'd')]).toEqual([25, 25, 25, 25]);
  });

  /** A steady 100 links/s that never close; the fourth server joins mid-stream at 30.5s. */
  function midStream(loadFromTotals: boolean): string {
    const b = balancer('connections', [1, 1, 1, 1], { loadFromTotals });
    b.setState(3, 'dead', at(0));
    let k = 0;
    for (; k < 3050; k++) openLinks(b, 1, at(k / 100));
    b.setState(3, 'alive', at(30.5));
    let seq = '';
    for (; k < 3450; k++) seq += openLinks(b, 1, at(k / 100));
    return seq;
  }

  it('joining a steady stream: totals send it everything, the window about a quarter', () => {
    expect(count(midStream(true), 'd')).toBe(400);
    const seq = midStream(false);
    // It catches up on the others' 50 links in the half bucket before it joined (17, 17, 16),
    // then takes a quarter: 16 + 384 / 4 = 112 of 400.
    expect(seq.slice(0, 17)).toBe(`${'d'.repeat(16)}c`);
    expect(count(seq, 'd')).toBe(112);
    expect(count(seq.slice(200), 'd')).toBe(50); // afterwards exactly its share
  });

  it('a server that comes back is a newcomer again (its old history is forgotten)', () => {
    const b = balancer('connections', [1, 1]);
    openLinks(b, 10, at(0)); // 5 each
    b.setState(0, 'dead', at(1));
    expect(openLinks(b, 4, at(1))).toBe('bbbb');
    b.setState(0, 'alive', at(2));
    // Compared over the buckets since a rejoined: a has 0, b has 0 there.
    expect(b.recentLinks(0, at(2))).toBe(0);
    expect(openLinks(b, 4, at(2))).toBe('abab');
  });
});

describe('packets', () => {
  it('picks the server with the least traffic in the window, weighted', () => {
    const b = balancer('packets', [4, 1, 1]);
    b.packets(0, 100, at(0));
    b.packets(1, 50, at(0));
    b.packets(2, 80, at(0));
    expect(b.pick(at(1), CLIENT)).toBe(1);
    const w = balancer('packets', [4, 1, 1], { weighted: true });
    w.packets(0, 100, at(0));
    w.packets(1, 50, at(0));
    w.packets(2, 80, at(0));
    expect(w.pick(at(1), CLIENT)).toBe(0); // 100/4 = 25 < 50 < 80
    expect(w.explainLast()).toMatchObject({ 'load.a': 25, 'load.b': 50, 'load.c': 80 });
  });

  it('follows the reported traffic as it changes; old traffic leaves the window', () => {
    const b = balancer('packets', [1, 1]);
    b.packets(0, 1_000, at(0));
    b.packets(1, 10, at(5));
    expect(b.pick(at(5), CLIENT)).toBe(1);
    expect(b.recentPackets(0, at(10.5))).toBe(0);
    expect(b.pick(at(10.5), CLIENT)).toBe(0); // 0 vs 10
  });

  /**
   * Long requests (slide 30's bombing, for a server that comes back): every 10 ms a new link sends
   * `start` packets at once and `end` packets when it closes `life` seconds later. `rejoiner` is
   * Dead in [4 s, 6 s); the result is the servers picked in [6 s, 8 s), or in [2 s, 9 s) when no
   * server leaves (`rejoiner` -1).
   */
  function rejoin(policy: PolicyName, life: number, start: number, end: (server: number) => number, rejoiner = 3): string {
    const b = balancer(policy, [1, 1, 1, 1], { loadWindow: seconds(2) });
    const pending: { at: number; server: number }[] = [];
    let out = '';
    for (let step = 0; step < 900; step++) {
      const t = step / 100;
      while (pending.length > 0 && (pending[0] as { at: number }).at <= t + 1e-9) {
        const p = pending.shift() as { at: number; server: number };
        b.packets(p.server, end(p.server), at(t));
        b.linkClosed(p.server, at(t));
      }
      if (step === 400 && rejoiner >= 0) b.setState(rejoiner, 'dead', at(t));
      if (step === 600 && rejoiner >= 0) b.setState(rejoiner, 'alive', at(t));
      const s = b.pick(at(t), CLIENT) as number;
      b.linkOpened(s, at(t));
      b.packets(s, start, at(t));
      pending.push({ at: t + life, server: s });
      if (rejoiner >= 0 ? step >= 600 && step < 800 : step >= 200) out += NAMES[s];
    }
    return out;
  }

  it('a server that rejoins a group of long requests gets its fair share, not every link (fair + 10 points)', () => {
    // Its window holds only its links' first packets for a whole link life: on the raw count it
    // looked half as loaded and took about 3/5 of the new links.
    for (const policy of ['packets', 'connections'] as const) {
      const seq = rejoin(policy, 2, 4, () => 4);
      expect(count(seq, 'd') / seq.length, policy).toBeLessThanOrEqual(0.35);
      expect(count(seq, 'd') / seq.length, policy).toBeGreaterThanOrEqual(0.15);
    }
    // Links that outlive the window: no window sees their ends, the newcomer's nor the others'.
    const held = rejoin('packets', 5, 4, () => 4);
    expect(count(held, 'd') / held.length).toBeLessThanOrEqual(0.35);
  });

  it('a server whose links carry more packets gets fewer links', () => {
    // a's responses are 5 times as big (42 packets a link against 10). On the raw window the
    // lag made a's load swing (nothing while its big responses were in the window, a burst of
    // links once they left): 174 links against 182, 182, 162 in [2 s, 9 s). Counting its new
    // links at the pool's rate damps the burst: 126 against 192, 191, 191.
    const seq = rejoin('packets', 0.5, 2, (s) => (s === 0 ? 40 : 8), -1);
    expect(count(seq, 'a')).toBeLessThan(0.8 * count(seq, 'b'));
    expect(count(seq, 'a')).toBeGreaterThan(0);
  });

  it('explains the expected load: links opened in the window at the pool rate per link', () => {
    const b = balancer('packets', [1, 1], { loadWindow: seconds(2) });
    b.linkOpened(0, at(0));
    b.packets(0, 10, at(0));
    b.linkOpened(0, at(0.5));
    b.packets(0, 10, at(0.5));
    b.linkOpened(1, at(0.5));
    b.packets(1, 1, at(0.5)); // b's link has sent 1 packet so far; the pool's rate is 21 / 3 = 7
    expect(b.pick(at(1), CLIENT)).toBe(1);
    expect(b.explainLast()).toMatchObject({ 'load.a': 20, 'load.b': 7 });
  });

  it('with totals old traffic counts for ever', () => {
    const b = balancer('packets', [1, 1], { loadFromTotals: true });
    b.packets(0, 1_000, at(0));
    b.packets(1, 10, at(5));
    expect(b.pick(at(100), CLIENT)).toBe(1);
  });
});

describe('counter', () => {
  it('picks the lowest reported counter, weighted', () => {
    const b = balancer('counter', [1, 1, 1]);
    b.counter(0, 5, at(0));
    b.counter(1, 3, at(0));
    b.counter(2, 9, at(0));
    expect(picks(b, 3, at(1))).toBe('bbb'); // the counter only moves when the server reports
    b.counter(1, 7, at(2));
    expect(b.pick(at(2), CLIENT)).toBe(0);
    const w = balancer('counter', [1, 3], { weighted: true });
    w.counter(0, 4, at(0));
    w.counter(1, 9, at(0));
    expect(w.pick(at(0), CLIENT)).toBe(1); // 9/3 = 3 < 4
  });

  it('a server that has not reported counts as the mean of those that have', () => {
    const b = balancer('counter', [1, 1, 1]);
    b.counter(0, 2, at(0));
    b.counter(1, 10, at(0));
    expect(b.pick(at(0), CLIENT)).toBe(0);
    expect(b.explainLast()).toMatchObject({ 'load.a': 2, 'load.b': 10, 'load.c': 6 });
    b.counter(0, 12, at(1)); // a 12, b 10, c (silent) 11
    expect(b.pick(at(1), CLIENT)).toBe(1);
    b.counter(0, 4, at(2));
    b.counter(1, 4, at(2)); // all 4: the silent server shares the ties
    expect(picks(b, 3, at(2))).toBe('cab');
  });

  it('no reports at all: every load is 0 and picks rotate', () => {
    expect(picks(balancer('counter', [1, 1, 1]), 4, at(0))).toBe('abca');
  });

  it('a rejoining server forgets its stale report', () => {
    const b = balancer('counter', [1, 1]);
    b.counter(0, 1, at(0));
    b.counter(1, 5, at(0));
    b.setState(0, 'dead', at(1));
    b.setState(0, 'alive', at(2));
    expect(b.counterValue(0)).toBeUndefined();
    expect(b.counterValue(1)).toBe(5);
    expect(b.pick(at(2), CLIENT)).toBe(0); // a counts as the mean (5): a tie, the cursor starts at a
    expect(b.explainLast()).toMatchObject({ 'load.a': 5, 'load.b': 5 });
  });
});

describe('candidates by state (slide 35)', () => {
  const withStates = (states: readonly ServerState[], weights?: readonly number[]): GroupBalancer => {
    const b = balancer('round-robin', weights ?? states.map(() => 1));
    states.forEach((s, i) => b.setState(i, s, at(0)));
    return b;
  };

  it('alive servers when there are any', () => {
    expect(picks(withStates(['pending', 'alive', 'dead', 'alive']), 4, at(0))).toBe('bdbd');
  });

  it('pending servers when none is alive', () => {
    const b = withStates(['dead', 'pending', 'pending']);
    expect(picks(b, 3, at(0))).toBe('bcb');
    expect(b.explainLast()).toMatchObject({ tier: 'pending' });
  });

  it('dead servers when all are dead: still one of them', () => {
    const b = withStates(['dead', 'dead']);
    expect(picks(b, 3, at(0))).toBe('aba');
    expect(b.explainLast()).toMatchObject({ tier: 'dead', candidates: 'a,b' });
  });

  it('exclude removes a server before the tiers are chosen', () => {
    const b = withStates(['alive', 'pending', 'alive']);
    expect(b.pick(at(0), CLIENT, 0)).toBe(2);
    expect(b.pick(at(0), CLIENT, 2)).toBe(0);
    const c = withStates(['alive', 'pending']);
    expect(c.pick(at(0), CLIENT, 0)).toBe(1); // the only alive one excluded: pending
    expect(balancer('connections', [1]).pick(at(0), CLIENT, 0)).toBeUndefined();
  });

  it('weight 0 takes a server out, whatever its state', () => {
    expect(picks(withStates(['alive', 'alive', 'alive'], [1, 0, 1]), 4, at(0))).toBe('acac');
    // An alive server of weight 0 does not hide the pending ones.
    expect(picks(withStates(['alive', 'pending'], [0, 1]), 2, at(0))).toBe('bb');
    const none = withStates(['alive', 'dead'], [0, 0]);
    expect(none.pick(at(0), CLIENT)).toBeUndefined();
    expect(none.explainLast()).toMatchObject({ reason: 'no-server', server: '', candidates: '' });
    expect(balancer('round-robin', []).pick(at(0), CLIENT)).toBeUndefined();
  });

  it('setWeight takes effect on the next pick', () => {
    const b = balancer('round-robin', [1, 1]);
    b.setWeight(0, 0, at(0));
    expect(picks(b, 2, at(0))).toBe('bb');
    b.setWeight(0, 1, at(1));
    expect(b.weight(0)).toBe(1);
    expect(picks(b, 2, at(1))).toBe('ab');
  });
});

describe('explainLast', () => {
  it('names the group, server, policy, reason and the loads compared', () => {
    const b = balancer('connections', [2, 1], { weighted: true });
    b.linkOpened(0, at(0));
    b.linkOpened(0, at(0));
    b.linkOpened(1, at(0));
    expect(b.pick(at(3), CLIENT, undefined)).toBe(0); // ties 2/2 = 1/1: cursor starts at a
    expect(b.explainLast()).toEqual({
      group: 'web',
      server: 'a',
      reason: 'policy',
      policy: 'connections',
      weighted: true,
      loadFromTotals: false,
      tier: 'alive',
      candidates: 'a,b',
      windowUs: 4_000_000, // buckets 0..3 since the group started
      'load.a': 1,
      'load.b': 1,
    });
  });

  it('round robin shows the smooth weighted credits', () => {
    const b = balancer('round-robin', [3, 1], { weighted: true });
    b.pick(at(0), CLIENT);
    expect(b.explainLast()).toMatchObject({ server: 'a', 'credit.a': 3, 'credit.b': 1 });
  });
});

describe('bounds and misuse', () => {
  it('named limits', () => {
    const many = Array.from({ length: SERVERS_MAX + 1 }, () => 1);
    expect(() => new GroupBalancer({ ...group('round-robin', []), servers: many.map((w, i) => ({ name: `s${i}`, addr: ip('10.0.0.1'), weight: w })) })).toThrow(/serversMax/);
    expect(() => balancer('round-robin', [WEIGHT_MAX + 1])).toThrow(/weight/);
    expect(() => balancer('round-robin', [1.5])).toThrow(/weight/);
    expect(() => balancer('round-robin', [1]).setWeight(0, -1, at(0))).toThrow(/weight/);
  });

  it('time never goes backwards', () => {
    const b = balancer('connections', [1, 1], {}, { now: at(5) });
    expect(() => b.pick(at(4), CLIENT)).toThrow(/backwards/);
    b.pick(at(6), CLIENT);
    expect(() => b.linkOpened(0, at(5))).toThrow(/backwards/);
  });

  it('closing a link that was never opened is a bug', () => {
    const b = balancer('connections', [1, 1]);
    expect(() => b.linkClosed(0, at(0))).toThrow(/no open link/);
    expect(() => b.linkOpened(2, at(0))).toThrow(/no server 2/);
  });

  it('is deterministic: the same events give the same picks', () => {
    const run = (): string => {
      const b = balancer('connections', [3, 2, 1], { weighted: true });
      let seq = '';
      for (let k = 0; k < 200; k++) {
        seq += openLinks(b, 1, at(k * 0.137));
        if (k % 7 === 0) b.packets(k % 3, k, at(k * 0.137));
      }
      return seq;
    };
    expect(run()).toBe(run());
  });
});

describe('slow start and panic (set by the health monitor)', () => {
  const cfgOf = (policy: 'round-robin' | 'counter') => ({
    name: 'g', vip: 1 as never, port: 80 as const, policy, weighted: false, keepSameServer: { mode: 'off' as const },
    loadWindow: 10_000_000 as never, loadFromTotals: false,
    servers: [{ name: 'a', addr: 1 as never, weight: 1 }, { name: 'b', addr: 2 as never, weight: 1 }, { name: 'c', addr: 3 as never, weight: 1 }],
  });

  it('a ramping server with factor f takes about f of the picks it would get, under a counter policy that favours it', () => {
    const b = new GroupBalancer(cfgOf('counter'));
    b.counter(0, 50, 0 as never);
    b.counter(1, 50, 0 as never);
    b.counter(2, 0, 0 as never); // c looks least loaded: without slow start it takes every pick
    let t = 0;
    const picks = (n: number) => Array.from({ length: n }, (_, i) => b.pick(t++ as never, { addr: 9 as never, port: i })!);
    expect(picks(30).every((s) => s === 2)).toBe(true);
    b.setRamp(2, 0.25);
    const c = picks(400).filter((s) => s === 2).length;
    expect(c).toBeGreaterThanOrEqual(95);
    expect(c).toBeLessThanOrEqual(105);
    b.setRamp(2, 1);
    expect(picks(10).every((s) => s === 2)).toBe(true);
  });

  it('panic mode makes Dead servers candidates again', () => {
    const b = new GroupBalancer(cfgOf('round-robin'));
    b.setState(0, 'dead', 0 as never);
    b.setState(1, 'dead', 0 as never);
    let t = 0;
    const picks = () => new Set(Array.from({ length: 9 }, (_, i) => b.pick(t++ as never, { addr: 9 as never, port: i })));
    expect(picks()).toEqual(new Set([2]));
    b.setPanic(true);
    expect(picks()).toEqual(new Set([0, 1, 2]));
  });
});
