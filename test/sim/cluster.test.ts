/**
 * An SG node crashed and restarted in the simulator is rebuilt at its own clock's time (before,
 * a node on a slowed clock was rebuilt at world time, in its own future, and its health monitor
 * asserted that time went backwards). The rebuilt engine must behave as a freshly booted one on
 * that clock: its first port tests and its detection of a crashed server come after the same
 * delays of local time as at rate 1 (not all overdue at once on a fast clock).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/scenario/load.ts';
import type { TraceEvent, TraceEventInput } from '../../src/trace.ts';
import { runScenario, type RunResult } from '../../sim/scenario.ts';

const BASE = readFileSync('scenarios/safety-fuzz.yaml', 'utf8');
const RESTART_US = 2_000_000;
/** The target's port-test interval (1 s of the node's local time). */
const PORTTEST_INTERVAL_US = 1_000_000;

/** sg1's clock at `rate` from 0 s; sg1 and rs2 crash at 1 s; sg1 restarts at 2 s. */
function run(rate: number, durationS: number): { result: RunResult; events: TraceEvent[] } {
  const text = BASE.replace('duration: 20s', `duration: ${durationS}s`).replace('stop: 19s', `stop: ${durationS - 1}s`).replace(
    'faults: []',
    `faults:
  - { at: 0s, clock: { host: sg1, rate: ${rate} } }
  - { at: 1s, crash: sg1 }
  - { at: 1s, crash: rs2 }
  - { at: 2s, restart: sg1 }`,
  );
  const r = loadScenario(text, 'restart-clock.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const events: TraceEvent[] = [];
  let id = 0;
  const result = runScenario(r.scenario, { trace: { emit: (ev: TraceEventInput) => (events.push({ ...ev, id: ++id } as TraceEvent), id) }, traceFrames: true });
  return { result, events };
}

/** World time of sg1's first port-test SYN to `server` after the restart. */
function firstProbe(events: readonly TraceEvent[], server: string): number | undefined {
  const re = new RegExp(`^TCP 192\\.168\\.1\\.254:\\d+ > ${server.replace(/\./g, '\\.')}:80 \\[SYN\\]`);
  return events.find((e) => e.kind === 'frame' && e.t >= RESTART_US && e.dir === 'tx' && e.link.startsWith('sg1.eth1') && re.test(e.summary))?.t;
}

/** World time at which sg1's rebuilt engine declares rs2 Dead. */
function rs2Dead(events: readonly TraceEvent[]): number | undefined {
  return events.find((e) => e.kind === 'state' && e.machine === 'server' && e.node === 'sg1' && e.entity === 'web/rs2' && e.to === 'dead' && e.t >= RESTART_US)?.t;
}

const LIVE = ['192.168.1.1', '192.168.1.3'] as const;

describe('an SG node crashed and restarted on a fast or slow clock', () => {
  // At rate 1: the local delays after the restart of the first port test to each live server and
  // of rs2's detection, the yardstick for the other rates (the rebuilt engine draws the same
  // random port-test offsets at every rate: its seed depends on the node's name only).
  let reference = { dead: 0, probes: [0, 0] };
  beforeAll(() => {
    const { result, events } = run(1, 8);
    expect(result.aborted).toBeUndefined();
    const dead = rs2Dead(events);
    expect(dead).toBeDefined();
    const probes = LIVE.map((s) => firstProbe(events, s));
    for (const p of probes) expect(p).toBeDefined();
    reference = { dead: dead! - RESTART_US, probes: probes.map((p) => p! - RESTART_US) };
  }, 60_000);

  it('the yardstick: at rate 1 the first port tests fall inside one interval, spread out', () => {
    expect(reference.dead).toBeGreaterThan(0);
    for (const p of reference.probes) expect(p).toBeLessThanOrEqual(PORTTEST_INTERVAL_US);
    expect(Math.max(...reference.probes)).toBeGreaterThan(50_000);
  });

  for (const [rate, durationS] of [[0.1, 30], [2, 8]] as const) {
    it(`rate ${rate}: no assertion; port tests and detection run on the node's clock (the local delays of rate 1); it serves`, () => {
      const { result, events } = run(rate, durationS);
      expect(result.aborted).toBeUndefined();
      // The built-in safety check holds (no new link to a server this incarnation thinks Dead).
      expect(result.passed).toBe(true);
      // The rebuilt engine schedules its first port tests from its own clock: the same local offsets
      // as at rate 1, i.e. world offset x rate (rebuilt at world time, a fast clock finds them all
      // overdue and fires them at the restart instant; a slow one asserts).
      LIVE.forEach((server, k) => {
        const t = firstProbe(events, server);
        expect(t, server).toBeDefined();
        expect(Math.abs((t! - RESTART_US) * rate - reference.probes[k]!), server).toBeLessThan(5_000);
      });
      // Detection runs on the node's clock: the same local delay as at rate 1.
      const dead = rs2Dead(events);
      expect(dead).toBeDefined();
      expect(Math.abs((dead! - RESTART_US) * rate - reference.dead)).toBeLessThan(0.05 * reference.dead);
      // And the rebuilt node serves: every request started half a second of local time after rs2 is Dead succeeds.
      const after = events.filter((e) => e.kind === 'request' && e.start > dead! + 500_000 / rate);
      expect(after.length).toBeGreaterThan(50);
      expect(after.filter((e) => e.kind === 'request' && e.status !== 'ok')).toEqual([]);
    }, 60_000);
  }
});
