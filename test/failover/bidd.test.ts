import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BiddConfig, BiddOutput } from '../../src/failover/bidd.ts';
import { Bidd } from '../../src/failover/bidd.ts';
import { BiddCluster } from './bus.ts';
import { BIDD_INPUTS, BIDD_STATES, BIDD_TRANSITIONS, transition } from '../../src/failover/machine.ts';
import { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { addDuration, EPOCH, instant, millis, seconds } from '../../src/time.ts';

describe('bidd transition table', () => {
  const rows: [string, string, string, string[]][] = [
    ['initial', 'start', 'bid', ['send-bid']],
    ['initial', 'higher-master', 'slave', []],
    ['initial', 'lower-master', 'slave', []],
    ['initial', 'higher-bid', 'slave', []],
    ['initial', 'lower-bid', 'bid', ['send-bid']],
    ['initial', 'resign', 'exit', []],
    ['bid', 'higher-bid', 'slave', []],
    ['bid', 'lower-bid', 'bid', ['send-bid']],
    ['bid', 'bid-timeout', 'master', ['take-vip', 'run-start-script', 'send-heartbeat']],
    ['bid', 'higher-master', 'slave', []],
    ['bid', 'lower-master', 'slave', []],
    ['bid', 'stall-detected', 'slave', []],
    ['master', 'higher-bid', 'master', ['send-heartbeat']],
    ['master', 'lower-bid', 'master', ['send-heartbeat']],
    ['master', 'higher-master', 'slave', ['release-vip', 'run-stop-script', 'send-resign']],
    ['master', 'lower-master', 'master', ['run-continue-script', 'send-heartbeat']],
    ['master', 'process-failure', 'slave', ['release-vip', 'run-stop-script', 'send-resign']],
    ['master', 'resign', 'exit', ['release-vip', 'run-stop-script', 'send-resign']],
    ['master', 'stall-detected', 'slave', ['release-vip', 'run-stop-script', 'send-resign']],
    ['slave', 'master-timeout', 'bid', ['send-bid']],
    ['slave', 'lower-bid', 'bid', ['send-bid']],
    ['slave', 'higher-bid', 'slave', []],
    ['slave', 'higher-master', 'slave', []],
    ['slave', 'resign', 'exit', []],
  ];
  it.each(rows)('%s --%s--> %s %j', (state, input, next, actions) => {
    const { to: s, actions: a } = transition(state as never, input as never);
    expect(s).toBe(next);
    expect([...a]).toEqual(actions);
  });

  it('is total; exit absorbs; start/stop scripts only on entering/leaving master', () => {
    for (const s of BIDD_STATES) {
      for (const i of BIDD_INPUTS) {
        const { to: next, actions } = transition(s, i);
        expect(BIDD_TRANSITIONS[s][i].to).toBe(next);
        if (s === 'exit') expect(next).toBe('exit');
        const starts = actions.filter((x) => x === 'run-start-script').length;
        const stops = actions.filter((x) => x === 'run-stop-script').length;
        expect(starts).toBe(s !== 'master' && next === 'master' ? 1 : 0);
        expect(stops).toBe(s === 'master' && next !== 'master' ? 1 : 0);
      }
    }
  });
});

function configs(n: number, hb: Duration, extra: Partial<BiddConfig> = {}): BiddConfig[] {
  return Array.from({ length: n }, (_, i) => ({
    node: i + 1,
    price: 10 * (i + 1),
    group: 7,
    heartbeatInterval: hb,
    masterTimeout: (hb * 3) as Duration,
    bidTimeout: (hb * 2) as Duration,
    holdDown: (hb * 10) as Duration,
    stallBound: hb,
    ...extra,
  }));
}

const at = (c: BiddCluster, d: Duration): Instant => addDuration(c.now, d);
const DELAY = millis(1);

function agreed(c: BiddCluster): number | undefined {
  const ms = c.masters();
  if (ms.length !== 1) return undefined;
  const m = c.node(ms[0] as number).cfg.node;
  return c.nodes.every((n) => n.bidd === undefined || n.bidd.master === m) ? m : undefined;
}

describe('bidd clusters', () => {
  for (const [n, hb] of [
    [3, seconds(1)],
    [5, millis(100)],
  ] as const) {
    it(`${n} nodes, heartbeat ${hb}us: one master, crash takeover, partition and heal`, () => {
      const cfgs = configs(n, hb);
      const c0 = cfgs[0] as BiddConfig;
      const c = new BiddCluster(cfgs, DELAY, Rng.fromSeed(1), EPOCH);
      c.runUntil(at(c, seconds(60)));
      expect(c.masters()).toEqual([n - 1]); // the highest price
      expect(agreed(c)).toBe(n);

      // Crash the master: stop delivering its messages.
      const crashAt = c.now;
      c.muted.add(n - 1);
      c.crash(n - 1);
      let takeover: Instant | undefined;
      c.runUntil(at(c, seconds(60)), (cl) => {
        if (takeover === undefined && cl.masters().length === 1) takeover = cl.now;
      });
      expect(takeover).toBeDefined();
      const took = (takeover as number) - crashAt;
      console.log(`takeover with heartbeat ${hb}us: ${took}us`);
      expect(took).toBeLessThanOrEqual(c0.masterTimeout + c0.bidTimeout + c0.heartbeatInterval);
      expect(c.masters()).toEqual([n - 2]);

      // Restart it: it joins as a slave (mastership is sticky).
      c.muted.delete(n - 1);
      c.restart(n - 1);
      c.runUntil(at(c, seconds(60)));
      expect(c.masters()).toEqual([n - 2]);

      // Partition into halves: each half elects one master.
      c.side = cfgs.map((_, i) => (i < Math.floor(n / 2) ? 0 : 1));
      c.runUntil(at(c, seconds(60)));
      const ms = c.masters();
      expect(ms.length).toBe(2);
      expect(new Set(ms.map((i) => c.side[i]))).toEqual(new Set([0, 1]));
      const loser = Math.min(...ms);
      const stopsBefore = c.node(loser).scripts.stop;

      // Heal: exactly one master remains; the loser ran its stop script exactly once.
      c.side = cfgs.map(() => 0);
      c.runUntil(at(c, seconds(60)));
      expect(c.masters()).toEqual([Math.max(...ms)]);
      expect(agreed(c)).toBe(Math.max(...ms) + 1);
      expect(c.node(loser).scripts.stop - stopsBefore).toBe(1);
    });
  }

  it('a stalled master demotes itself instead of fighting', () => {
    const cfgs = configs(3, seconds(1));
    const c = new BiddCluster(cfgs, DELAY, Rng.fromSeed(2), EPOCH);
    c.runUntil(at(c, seconds(30)));
    expect(c.masters()).toEqual([2]);
    const m = c.node(2);
    m.frozenUntil = at(c, seconds(10)); // SIGSTOP for 10 s
    c.runUntil(at(c, seconds(9)));
    expect(c.masters()).toEqual([1, 2]); // the frozen one still believes it is master
    c.runUntil(at(c, seconds(30)));
    expect(m.bidd?.stats.stalls).toBe(1);
    expect(c.masters()).toEqual([1]);
    expect(m.scripts.stop).toBe(1);
    expect(c.node(1).scripts.stop).toBe(0);
    expect(agreed(c)).toBe(2);
  });

  it('hold-down stops a flapping link from flapping mastership', () => {
    const flap = (holdDown: Duration): number => {
      const c = new BiddCluster(configs(2, seconds(1), { holdDown }), DELAY, Rng.fromSeed(3), EPOCH);
      c.runUntil(at(c, seconds(20)));
      expect(c.masters()).toEqual([1]);
      for (let k = 0; k < 10; k++) {
        c.side = [0, 1];
        c.runUntil(at(c, seconds(8)));
        c.side = [0, 0];
        c.runUntil(at(c, seconds(4)));
      }
      c.runUntil(at(c, seconds(60)));
      expect(c.masters()).toEqual([1]);
      return c.node(0).scripts.start + c.node(0).scripts.stop;
    };
    expect(flap(seconds(0))).toBeGreaterThanOrEqual(10);
    // one takeover (start + stop) at most while the hold-down outlasts the flapping
    expect(flap(seconds(200))).toBeLessThanOrEqual(2);
  });

  it('resign hands over at once; process failure steps down', () => {
    const c = new BiddCluster(configs(3, seconds(1)), DELAY, Rng.fromSeed(4), EPOCH);
    c.runUntil(at(c, seconds(30)));
    const t0 = c.now;
    const m = c.node(2).bidd as Bidd;
    m.resign(c.now);
    expect(m.pollAction()).toEqual({ kind: 'release-vip' });
    expect(m.pollAction()).toEqual({ kind: 'script', which: 'stop' });
    expect(m.pollAction()?.kind).toBe('send');
    c.node(2).vip = false;
    c.node(2).scripts.stop++;
    expect(m.state).toBe('exit');
    // deliver the resign by hand: node 1 and 0 bid at once
    for (const i of [0, 1]) c.node(i).bidd?.handleMessage(c.now, { kind: 'resign', node: 3, price: 30, epoch: m.epoch, group: 7 });
    c.crash(2);
    let took: number | undefined;
    c.runUntil(at(c, seconds(30)), (cl) => {
      if (took === undefined && cl.masters().length === 1) took = cl.now - t0;
    });
    expect(c.masters()).toEqual([1]);
    expect(took).toBeLessThanOrEqual(seconds(2) + millis(10));
  });
});

describe('bidd watched process (slide 6)', () => {
  it('a master whose process dies steps down and never bids while it is dead; it bids again once it runs', () => {
    const c = new BiddCluster(configs(2, seconds(1)), DELAY, Rng.fromSeed(5), EPOCH);
    c.runUntil(at(c, seconds(30)));
    expect(c.masters()).toEqual([1]);
    const m = c.node(1).bidd as Bidd;
    m.processFailed(c.now);
    expect(m.pollAction()).toEqual({ kind: 'release-vip' });
    expect(m.pollAction()).toEqual({ kind: 'script', which: 'stop' });
    const sent = m.pollAction();
    expect(sent?.kind === 'send' && sent.msg.kind).toBe('resign');
    c.node(1).vip = false;
    c.node(1).scripts.stop++;
    expect(m.state).toBe('slave');
    for (const i of [0]) c.node(i).bidd?.handleMessage(c.now, { kind: 'resign', node: 2, price: 20, epoch: m.epoch, group: 7 });
    c.runUntil(at(c, seconds(20)));
    expect(c.masters()).toEqual([0]);
    // Now node 0 dies too: node 1 (process still dead) must not take over, even after its hold-down.
    c.crash(0);
    c.runUntil(at(c, seconds(60)));
    expect(c.masters()).toEqual([]);
    expect(m.holdingDown(c.now)).toBe(true);
    // Its process runs again: it bids and takes over.
    m.processRecovered(c.now);
    c.runUntil(at(c, seconds(10)));
    expect(c.masters()).toEqual([1]);
  });
});

describe('bidd VOPR-style property', () => {
  it('after loss and crash/restart chaos, a quiet period leaves exactly one agreed master', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.double({ min: 0, max: 0.6, noNaN: true }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 30_000 }), fc.boolean()), {
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 6, maxLength: 6 }),
        (n, seed, loss, faults, prices) => {
          const hb = millis(100);
          const cfgs = configs(n, hb).map((cfg, i) => ({ ...cfg, price: prices[i] as number }));
          const c = new BiddCluster(cfgs, DELAY, Rng.fromSeed(seed), EPOCH);
          c.loss = loss;
          const sorted = [...faults].sort((a, b) => a[1] - b[1]);
          for (const [who, t, crash] of sorted) {
            const i = who % n;
            if (instant(t * 1000) > c.now) c.runUntil(instant(t * 1000));
            if (crash) c.crash(i);
            else c.restart(i);
          }
          c.runUntil(instant(31_000_000));
          // Quiet period: everyone up and connected, no loss.
          c.loss = 0;
          for (let i = 0; i < n; i++) c.restart(i);
          c.runUntil(at(c, seconds(30)));
          const ms = c.masters();
          if (ms.length !== 1 || agreed(c) === undefined) {
            throw new Error(`seed ${seed}: masters ${JSON.stringify(ms)}, states ${c.nodes.map((x) => `${x.bidd?.state}->${x.bidd?.master}`).join(' ')}`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('bidd split end (partition heal)', () => {
  /** A node that has become master on its own (its side of a partition). */
  function alone(cfg: BiddConfig): { b: Bidd; now: number } {
    const b = new Bidd(cfg, EPOCH);
    let now = 0;
    for (let i = 0; i < 10 && b.state !== 'master'; i++) {
      now = b.pollTimeout()!;
      b.handleTimeout(now as Instant);
    }
    expect(b.state).toBe('master');
    while (b.pollAction() !== undefined);
    return { b, now };
  }
  const drain = (b: Bidd) => {
    const out = [];
    for (let a = b.pollAction(); a !== undefined; a = b.pollAction()) out.push(a.kind === 'send' ? `send-${a.msg.kind}` : a.kind === 'script' ? `script-${a.which}` : a.kind);
    return out;
  };
  const [c1, c2] = configs(2, seconds(1));
  const hb = (b: Bidd, node: number, price: number) => ({ kind: 'heartbeat' as const, node, price, epoch: b.epoch, group: 7 });

  it('the lower master hears the higher first: it resigns, and the higher re-announces once', () => {
    const h = alone(c2!); // price 20
    const l = alone(c1!); // price 10
    const [hi, lo] = [h.b, l.b];
    const t = (Math.max(h.now, l.now) + 1) as Instant; // before any timer is overdue (no stall)
    const loEpoch = lo.epoch;
    lo.handleMessage(t, hb(hi, 2, 20));
    expect(drain(lo)).toEqual(['release-vip', 'script-stop', 'send-resign']);
    hi.handleMessage(t, { kind: 'resign', node: 1, price: 10, epoch: loEpoch, group: 7 });
    expect(drain(hi)).toEqual(['script-continue', 'send-heartbeat']);
    // A late heartbeat from the old lower master changes nothing more.
    hi.handleMessage(t, { kind: 'heartbeat', node: 1, price: 10, epoch: loEpoch, group: 7 });
    expect(drain(hi)).toEqual([]);
    expect(hi.state).toBe('master');
  });

  it('the higher master hears the lower first: continue once, the later resign adds nothing', () => {
    const h = alone(c2!);
    const l = alone(c1!);
    const [hi, lo] = [h.b, l.b];
    const t = (Math.max(h.now, l.now) + 1) as Instant;
    hi.handleMessage(t, hb(lo, 1, 10));
    expect(drain(hi)).toEqual(['script-continue', 'send-heartbeat']);
    lo.handleMessage(t, hb(hi, 2, 20));
    const acts: BiddOutput[] = [];
    for (let a = lo.pollAction(); a !== undefined; a = lo.pollAction()) acts.push(a);
    const resign = acts.find((a) => a.kind === 'send' && a.msg.kind === 'resign');
    expect(resign?.kind).toBe('send');
    if (resign?.kind !== 'send') return;
    hi.handleMessage(t, resign.msg);
    expect(drain(hi)).toEqual([]);
  });
});
