import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ServerState } from '../../src/balance/types.ts';
import { TRANSITIONS, transition } from '../../src/health/machine.ts';
import { CLOSED_PROBE_PORT, HealthMonitor, RAMP_START } from '../../src/health/monitor.ts';
import type { HealthConfig, ProbeOutcome, ProbeRequest, StateChange } from '../../src/health/types.ts';
import { instant, millis, seconds, type Instant } from '../../src/time.ts';
import { formatScenarioError, loadScenario } from '../../src/scenario/load.ts';
import { readFileSync } from 'node:fs';

const at = (s: number): Instant => instant(Math.round(s * 1_000_000));
const T0 = at(0);

function config(extra: Partial<HealthConfig> = {}): HealthConfig {
  return { keyports: [80], rise: 1, slowStart: seconds(0), ...extra };
}

function monitor(extra: Partial<HealthConfig> = {}, servers = 1, seed = 1): HealthMonitor {
  return new HealthMonitor(config(extra), servers, { now: T0, seed });
}

function changes(m: HealthMonitor): StateChange[] {
  const out: StateChange[] = [];
  for (let c = m.pollChange(); c !== undefined; c = m.pollChange()) out.push(c);
  return out;
}

function transitions(m: HealthMonitor): string[] {
  return changes(m).map((c) => `${c.server}:${c.from}->${c.to} (${c.event.detector})`);
}

/** Fire every timer due up to `until`; `answer` decides each probe's fate (undefined: never answers). */
function run(
  m: HealthMonitor,
  until: Instant,
  answer: (p: ProbeRequest, now: Instant) => ProbeOutcome | undefined,
  sent: { t: Instant; p: ProbeRequest }[] = [],
): { t: Instant; p: ProbeRequest }[] {
  for (let guard = 0; guard < 100_000; guard++) {
    const next = m.pollTimeout();
    if (next === undefined || next > until) return sent;
    m.handleTimeout(next);
    for (let p = m.pollProbe(next); p !== undefined; p = m.pollProbe(next)) {
      sent.push({ t: next, p });
      const outcome = answer(p, next);
      if (outcome !== undefined && outcome !== 'timeout') m.probeResult(p.id, outcome, next);
    }
  }
  throw new Error('run: timer loop did not settle');
}

const alive = (): ProbeOutcome => 'alive';
const silent = (): undefined => undefined;

describe('packet snoop (slides 36-37)', () => {
  const snoop = { P: 3, T: seconds(1) };

  it('the 4th unanswered packet after 1 s makes the server Pending; P packets or T alone do not', () => {
    const m = monitor({ snoop });
    m.toServer(0, 80, at(0));
    m.toServer(0, 80, at(0.1));
    m.toServer(0, 80, at(0.2));
    m.handleTimeout(at(5)); // 3 packets: delta == P, never dead however long
    expect(m.state(0)).toBe('alive');
    expect(m.pollTimeout()).toBeUndefined();
    m.toServer(0, 80, at(5)); // 4th packet, but the first unanswered one was 5 s ago
    expect(transitions(m)).toEqual(['0:alive->pending (snoop)']);
  });

  it('4 packets within T: Pending just after T; 7 packets and 2T: Dead; a reply: Alive', () => {
    const m = monitor({ snoop });
    for (let i = 0; i < 4; i++) m.toServer(0, 80, at(i * 0.1));
    expect(m.state(0)).toBe('alive');
    expect(m.pollTimeout()).toBe(at(1) + 1);
    m.handleTimeout(at(1)); // exactly T: not > T
    expect(m.state(0)).toBe('alive');
    m.handleTimeout((at(1) + 1) as Instant);
    expect(transitions(m)).toEqual(['0:alive->pending (snoop)']);
    for (let i = 0; i < 3; i++) m.toServer(0, 80, at(1.5 + i * 0.1)); // 7 packets > 2P
    expect(m.pollTimeout()).toBe(at(2) + 1);
    m.handleTimeout(at(2));
    expect(m.state(0)).toBe('pending');
    m.handleTimeout((at(2) + 1) as Instant);
    expect(transitions(m)).toEqual(['0:pending->dead (snoop)']);
    m.fromServer(0, 80, at(3), false);
    const [c] = changes(m);
    expect(c).toMatchObject({ from: 'dead', to: 'alive', event: { detector: 'snoop', kind: 'recovery' } });
  });

  it('a TCP RST is not a response: it neither resets the count nor recovers', () => {
    const m = monitor({ snoop });
    for (let i = 0; i < 4; i++) m.toServer(0, 80, at(0));
    m.fromServer(0, 80, at(0.5), true);
    m.handleTimeout(at(1.5));
    expect(m.state(0)).toBe('pending');
    m.fromServer(0, 80, at(2), true);
    expect(m.state(0)).toBe('pending');
    expect(m.counters.resets).toBe(2);
  });

  it('any dead keyport makes the host faulty; recovery needs every keyport alive', () => {
    const m = monitor({ snoop, keyports: [0, 80] });
    for (let i = 0; i < 4; i++) m.toServer(0, 0, at(0));
    for (let i = 0; i < 4; i++) m.toServer(0, 80, at(0));
    m.handleTimeout(at(1.5));
    expect(m.state(0)).toBe('pending');
    m.fromServer(0, 80, at(1.6), false); // port 80 answers, ICMP still dead
    expect(m.state(0)).toBe('pending');
    m.fromServer(0, 0, at(1.7), false);
    expect(m.state(0)).toBe('alive');
  });

  it('ignores ports that are not keyports', () => {
    const m = monitor({ snoop });
    for (let i = 0; i < 20; i++) m.toServer(0, 443, at(i));
    expect(m.state(0)).toBe('alive');
    expect(m.counters.nonKeyportPackets).toBe(20);
  });
});

describe('port test (slides 38-40)', () => {
  const porttest = { interval: seconds(10), jitter: 0.2, timeout: seconds(1), E: 2 };

  function schedule(seed: number, servers = 5): { t: Instant; p: ProbeRequest }[] {
    const m = monitor({ porttest }, servers, seed);
    return run(m, at(200), alive);
  }

  it('probes each server every interval ± jitter, deterministically per seed, spread across servers', () => {
    const a = schedule(7);
    expect(schedule(7)).toEqual(a);
    expect(schedule(8).map((s) => s.t)).not.toEqual(a.map((s) => s.t));
    const firsts: number[] = [];
    for (let server = 0; server < 5; server++) {
      const times = a.filter((s) => s.p.server === server).map((s) => s.t);
      expect(times.length).toBeGreaterThanOrEqual(16);
      firsts.push(times[0] as number);
      expect(times[0]).toBeLessThan(at(10));
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] as number) - (times[i - 1] as number);
        expect(gap).toBeGreaterThanOrEqual(seconds(8));
        expect(gap).toBeLessThanOrEqual(seconds(12));
      }
      // not all gaps equal: the jitter is applied per test
      const gaps = new Set(times.slice(1).map((t, i) => t - (times[i] as number)));
      expect(gaps.size).toBeGreaterThan(1);
    }
    expect(new Set(firsts).size).toBe(5);
  });

  it('probes keyport 0 with ICMP, UDP keyports with UDP, others with TCP', () => {
    const m = monitor({ porttest, keyports: [0, 80, 53], udpKeyports: [53] });
    const sent = run(m, at(10), alive);
    expect(sent.map((s) => [s.p.kind, s.p.port])).toEqual([
      ['icmp', 0],
      ['tcp', 80],
      ['udp', 53],
    ]);
  });

  it('more than E failed tests: Pending; more than 2E: Dead; an OK test: Alive', () => {
    const m = monitor({ porttest: { ...porttest, jitter: 0 } });
    let down = true;
    const sent = run(m, at(200), (p) => (down ? (p.kind === 'tcp' ? 'refused' : 'timeout') : 'alive'), []);
    void sent;
    // tests at offset, offset+10, ...: the 3rd failure makes Pending, the 5th Dead
    const cs = changes(m);
    expect(cs.map((c) => `${c.from}->${c.to}`)).toEqual(['alive->pending', 'pending->dead']);
    const first = run(monitor({ porttest: { ...porttest, jitter: 0 } }), at(10), alive)[0]?.t as number;
    expect(cs[0]?.t).toBe(first + 2 * seconds(10));
    expect(cs[0]?.event).toMatchObject({ detector: 'porttest', kind: 'fault', level: 1 });
    expect(cs[1]?.t).toBe(first + 4 * seconds(10));
    down = false;
    run(m, at(220), (p) => (down ? 'refused' : 'alive'));
    expect(transitions(m)).toEqual(['0:dead->alive (porttest)']);
  });

  it('an unanswered probe times out after `timeout`; a late result is ignored', () => {
    const m = monitor({ porttest: { ...porttest, E: 0 } });
    const sent = run(m, at(10), silent);
    const probe = sent[0];
    expect(probe).toBeDefined();
    const cs = changes(m);
    expect(cs).toHaveLength(1);
    expect(cs[0]?.t).toBe((probe?.t as number) + seconds(1));
    m.probeResult(probe?.p.id as number, 'alive', at(10));
    expect(m.state(0)).toBe('dead'); // E = 0: one failed test is > 2E
    expect(m.counters.staleProbeResults).toBe(1);
  });

  describe('UDP silence is ambiguous (slide 38)', () => {
    const udpCfg = { porttest: { ...porttest, E: 0 }, keyports: [53], udpKeyports: [53] };

    it('silence, then RST from a closed TCP port: the host is up, the UDP service alive', () => {
      const m = monitor(udpCfg);
      const sent = run(m, at(10), (p) => (p.kind === 'udp' ? undefined : 'refused'));
      expect(sent.map((s) => [s.p.kind, s.p.port])).toEqual([
        ['udp', 53],
        ['tcp-closed', CLOSED_PROBE_PORT],
      ]);
      expect((sent[1]?.t as number) - (sent[0]?.t as number)).toBe(seconds(1));
      expect(m.state(0)).toBe('alive');
      expect(changes(m)).toEqual([]);
    });

    it('silence, then silence: the host is down', () => {
      const m = monitor(udpCfg);
      run(m, at(10), silent);
      expect(transitions(m)).toEqual(['0:alive->dead (porttest)']);
    });

    it('ICMP port unreachable: the service is dead, no second probe', () => {
      const m = monitor(udpCfg);
      const sent = run(m, at(10), () => 'unreachable');
      expect(sent.map((s) => s.p.kind)).toEqual(['udp']);
      expect(m.state(0)).toBe('dead');
    });

    it('a UDP reply: alive', () => {
      const m = monitor(udpCfg);
      const sent = run(m, at(10), alive);
      expect(sent.map((s) => s.p.kind)).toEqual(['udp']);
      expect(m.state(0)).toBe('alive');
    });
  });
});

describe('UDP port tests configured from a scenario (slide 38)', () => {
  it("health-udp.yaml's udp-keyports make the monitor probe UDP: the four answers give alive, dead, alive, dead", () => {
    const r = loadScenario(readFileSync('scenarios/health-udp.yaml', 'utf8'), 'health-udp.yaml');
    expect(r.ok ? [] : r.errors.map(formatScenarioError)).toEqual([]);
    if (!r.ok) return;
    const g = r.scenario.cluster!.groups[0]!;
    const m = new HealthMonitor(g.health!, g.servers.length, { now: T0, seed: 1 });
    // rs1 replies; rs2's kernel answers ICMP port unreachable; rs3 is silent but its host RSTs
    // the SYN to closed port 1; rs4's host is down and answers nothing.
    const answers: ((p: ProbeRequest) => ProbeOutcome | undefined)[] = [
      () => 'alive',
      (p) => (p.kind === 'udp' ? 'unreachable' : 'refused'),
      (p) => (p.kind === 'udp' ? undefined : 'refused'),
      () => undefined,
    ];
    const sent = run(m, at(3), (p) => answers[p.server]!(p));
    expect(new Set(sent.filter((s) => s.p.port === 7).map((s) => s.p.kind))).toEqual(new Set(['udp']));
    expect(new Set(sent.filter((s) => s.p.kind === 'tcp-closed').map((s) => s.p.server))).toEqual(new Set([2, 3]));
    expect([0, 1, 2, 3].map((i) => m.state(i))).toEqual(['alive', 'dead', 'alive', 'dead']);
  });
});

describe('heartbeat (slides 41-42)', () => {
  const heartbeat = { H: seconds(1) };

  it('a server that never sent a heartbeat is not judged', () => {
    const m = monitor({ heartbeat });
    expect(m.pollTimeout()).toBeUndefined();
    m.handleTimeout(at(100));
    expect(m.state(0)).toBe('alive');
  });

  it('no heartbeat for > H: Pending; > 2H: Dead; any heartbeat: Alive', () => {
    const m = monitor({ heartbeat });
    m.heartbeat(0, at(0));
    m.handleTimeout(at(1));
    expect(m.state(0)).toBe('alive');
    expect(m.pollTimeout()).toBe(at(1) + 1);
    m.handleTimeout((at(1) + 1) as Instant);
    expect(transitions(m)).toEqual(['0:alive->pending (heartbeat)']);
    expect(m.pollTimeout()).toBe(at(2) + 1);
    m.handleTimeout((at(2) + 1) as Instant);
    expect(transitions(m)).toEqual(['0:pending->dead (heartbeat)']);
    expect(m.pollTimeout()).toBeUndefined();
    m.heartbeat(0, at(10));
    expect(transitions(m)).toEqual(['0:dead->alive (heartbeat)']);
    expect(m.pollTimeout()).toBe(at(11) + 1); // judged again from the latest heartbeat
  });
});

describe('multicast write mismatch (slide 43)', () => {
  it('more than M: Pending; more than 2M: Dead; no recovery from this detector', () => {
    const m = monitor({ mcast: { M: 2 } });
    m.writeMismatch(0, at(0));
    m.writeMismatch(0, at(1));
    expect(m.state(0)).toBe('alive');
    m.writeMismatch(0, at(2));
    expect(transitions(m)).toEqual(['0:alive->pending (mcast)']);
    m.writeMismatch(0, at(3));
    m.writeMismatch(0, at(4));
    expect(transitions(m)).toEqual(['0:pending->dead (mcast)']);
    m.handleTimeout(at(1_000));
    expect(m.state(0)).toBe('dead');
    m.admin(0, 'alive', at(1_001));
    expect(transitions(m)).toEqual(['0:dead->alive (admin)']);
    m.writeMismatch(0, at(1_002)); // the count restarted on entering Alive
    expect(m.state(0)).toBe('alive');
  });
});

describe('status: the latest event decides (slide 35)', () => {
  it('a port-test recovery clears a snoop fault (snoop cannot see recovery without traffic, slide 37)', () => {
    const m = monitor({ snoop: { P: 3, T: seconds(1) }, porttest: { interval: seconds(10), jitter: 0, timeout: seconds(1), E: 2 } }, 1, 3);
    const firstTest = m.pollTimeout() as number;
    expect(firstTest).toBeLessThan(at(10));
    // make the snoop fault land before the first test
    for (let i = 0; i < 7; i++) m.toServer(0, 80, T0);
    m.handleTimeout(instant(Math.min(firstTest, at(2) + 1)));
    m.handleTimeout((at(2) + 1) as Instant);
    expect(m.state(0)).toBe('dead');
    run(m, at(20), alive);
    expect(transitions(m)).toEqual(['0:alive->dead (snoop)', '0:dead->alive (porttest)']);
  });

  it("a port-test pass does not clear a heartbeat fault: a hung process still completes handshakes", () => {
    const m = monitor({ heartbeat: { H: seconds(1) }, porttest: { interval: seconds(1), jitter: 0, timeout: millis(500), E: 1 } }, 1, 3);
    m.heartbeat(0, T0);
    run(m, at(5), alive); // port tests keep passing, heartbeats stopped at 0
    expect(m.state(0)).toBe('dead');
    expect(transitions(m)).toEqual(['0:alive->pending (heartbeat)', '0:pending->dead (heartbeat)']);
    m.heartbeat(0, at(5.1));
    expect(m.state(0)).toBe('alive');
  });

  it('a fault never improves the state: a level-1 fault on a Dead server leaves it Dead', () => {
    const m = monitor({ mcast: { M: 0 }, heartbeat: { H: seconds(1) } });
    m.heartbeat(0, at(0));
    m.writeMismatch(0, at(0));
    m.writeMismatch(0, at(0));
    expect(m.state(0)).toBe('dead');
    m.handleTimeout(at(1.5)); // heartbeat level 1
    expect(m.state(0)).toBe('dead');
    expect(transition('dead', 'fault1')).toBe('dead');
    expect(TRANSITIONS.alive.fault1.to).toBe('pending');
  });

  it('rise > 1: a recovery needs that many consecutive good results since the latest fault', () => {
    const m = monitor({ heartbeat: { H: seconds(1) }, rise: 3 });
    for (let i = 0; i < 10; i++) m.heartbeat(0, at(i * 0.1)); // goods before the fault do not count
    m.handleTimeout(at(2)); // no heartbeat for > 1 s: Pending
    expect(m.state(0)).toBe('pending');
    m.heartbeat(0, at(2.1));
    m.heartbeat(0, at(2.2));
    expect(m.state(0)).toBe('pending');
    m.handleTimeout(at(4.5)); // silence again: the count restarts, and > 2H makes it Dead
    expect(m.state(0)).toBe('dead');
    m.heartbeat(0, at(4.6));
    m.heartbeat(0, at(4.7));
    expect(m.state(0)).toBe('dead');
    m.heartbeat(0, at(4.8));
    expect(transitions(m)).toEqual(['0:alive->pending (heartbeat)', '0:pending->dead (heartbeat)', '0:dead->alive (heartbeat)']);
  });

  it('a detector that never recovers (write mismatches) keeps the server down until an admin recovers it', () => {
    const m = monitor({ heartbeat: { H: seconds(1) }, mcast: { M: 1 } });
    m.heartbeat(0, at(0));
    m.writeMismatch(0, at(0.1));
    m.writeMismatch(0, at(0.2));
    expect(m.state(0)).toBe('pending');
    m.heartbeat(0, at(0.3));
    expect(m.state(0)).toBe('pending');
    m.admin(0, 'alive', at(0.4));
    expect(m.state(0)).toBe('alive');
  });

  it('admin sets the state directly, as the latest event', () => {
    const m = monitor({ mcast: { M: 0 } });
    m.admin(0, 'alive', at(0)); // no change, no StateChange
    expect(changes(m)).toEqual([]);
    m.admin(0, 'dead', at(1));
    m.admin(0, 'pending', at(2)); // admin may improve Dead to Pending
    m.admin(0, 'alive', at(4));
    expect(transitions(m)).toEqual(['0:alive->dead (admin)', '0:dead->pending (admin)', '0:pending->alive (admin)']);
  });
});

describe('slow start and panic', () => {
  it('rampFactor rises linearly from 0.1 to 1 over slowStart after a recovery', () => {
    const m = monitor({ mcast: { M: 0 }, slowStart: seconds(10) });
    expect(m.rampFactor(0, at(0))).toBe(1); // at start-up: full weight
    m.writeMismatch(0, at(1));
    expect(m.rampFactor(0, at(1))).toBe(1); // not Alive: not ramped
    m.admin(0, 'alive', at(10));
    expect(m.rampFactor(0, at(10))).toBeCloseTo(RAMP_START);
    expect(m.rampFactor(0, at(15))).toBeCloseTo(0.55);
    expect(m.rampFactor(0, at(20))).toBe(1);
    expect(monitor({ mcast: { M: 0 } }).rampFactor(0, at(5))).toBe(1);
  });

  it('panic when more than panicThreshold of the servers are Dead', () => {
    const m = monitor({ panicThreshold: 0.5 }, 4);
    expect(m.panic()).toBe(false);
    m.admin(0, 'dead', at(0));
    m.admin(1, 'dead', at(0));
    m.admin(2, 'pending', at(0));
    expect(m.panic()).toBe(false); // 2 of 4 is not more than half
    m.admin(2, 'dead', at(0));
    expect(m.panic()).toBe(true);
    const off = monitor({}, 2);
    off.admin(0, 'dead', at(0));
    off.admin(1, 'dead', at(0));
    expect(off.panic()).toBe(false);
  });
});

describe('property: random interleavings', () => {
  const STATES: readonly ServerState[] = ['alive', 'pending', 'dead'];
  const OUTCOMES: readonly ProbeOutcome[] = ['alive', 'refused', 'unreachable', 'timeout'];
  const op = fc.oneof(
    fc.record({ k: fc.constant('to' as const), s: fc.nat(3), port: fc.constantFrom(0, 53, 80, 443) }),
    fc.record({ k: fc.constant('from' as const), s: fc.nat(3), port: fc.constantFrom(0, 53, 80, 443), rst: fc.boolean() }),
    fc.record({ k: fc.constant('hb' as const), s: fc.nat(3) }),
    fc.record({ k: fc.constant('mm' as const), s: fc.nat(3) }),
    fc.record({ k: fc.constant('admin' as const), s: fc.nat(3), st: fc.constantFrom(...STATES) }),
    fc.record({ k: fc.constant('timeout' as const) }),
    fc.record({ k: fc.constant('result' as const), pick: fc.nat(20), outcome: fc.constantFrom(...OUTCOMES) }),
  );

  it('never throws, and every StateChange starts from the previous state', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3_000), op), { maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 3 }),
        (ops, seed, rise) => {
          const m = new HealthMonitor(
            {
              keyports: [0, 80, 53],
              udpKeyports: [53],
              snoop: { P: 2, T: millis(500) },
              porttest: { interval: seconds(2), jitter: 0.3, timeout: millis(300), E: 1 },
              heartbeat: { H: seconds(1) },
              mcast: { M: 1 },
              rise,
              slowStart: seconds(3),
              panicThreshold: 0.5,
            },
            4,
            { now: T0, seed },
          );
          const known: ServerState[] = ['alive', 'alive', 'alive', 'alive'];
          const probes: number[] = [];
          let now = 0;
          const drain = (last: number): void => {
            for (let c = m.pollChange(); c !== undefined; c = m.pollChange()) {
              expect(c.from).toBe(known[c.server]);
              expect(c.to).not.toBe(c.from);
              known[c.server] = c.to;
            }
            for (let p = m.pollProbe(instant(now)); p !== undefined; p = m.pollProbe(instant(now))) probes.push(p.id);
            for (let s = 0; s < 4; s++) {
              expect(m.state(s)).toBe(known[s]);
              const r = m.rampFactor(s, instant(now));
              expect(r).toBeGreaterThan(0);
              expect(r).toBeLessThanOrEqual(1);
            }
            const t = m.pollTimeout();
            if (t !== undefined) expect(t).toBeGreaterThanOrEqual(last);
          };
          for (const [dt, o] of ops) {
            now += dt * 1_000;
            const t = instant(now);
            // the engine fires due timers first
            for (let d = m.pollTimeout(), guard = 0; d !== undefined && d <= t && guard < 1_000; d = m.pollTimeout(), guard++) {
              m.handleTimeout(d);
              drain(d);
            }
            const pending = m.pollTimeout();
            expect(pending === undefined || pending > t).toBe(true); // timers settle: each firing moves on
            switch (o.k) {
              case 'to':
                m.toServer(o.s, o.port, t);
                break;
              case 'from':
                m.fromServer(o.s, o.port, t, o.rst);
                break;
              case 'hb':
                m.heartbeat(o.s, t);
                break;
              case 'mm':
                m.writeMismatch(o.s, t);
                break;
              case 'admin':
                m.admin(o.s, o.st, t);
                break;
              case 'timeout':
                m.handleTimeout(t);
                break;
              case 'result':
                m.probeResult(probes[o.pick % Math.max(1, probes.length)] ?? 999_999, o.outcome, t);
                break;
            }
            drain(now);
            expect(typeof m.panic()).toBe('boolean');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
