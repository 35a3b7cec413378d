/**
 * The fault vocabulary is declared once (src/scenario/faults.ts) and drives both executors: the
 * simulator's table (SIM_FAULTS) and real mode's (REAL_FAULTS, which gaps.ts reads for what the
 * lab does not apply). Every table is keyed by the declared kinds (a compile error otherwise,
 * checked here by tsc through @ts-expect-error), and the trace event a fault is recorded with is
 * the declaration's in both.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildScenario } from '../../sim/scenario.ts';
import { SIM_FAULTS } from '../../sim/network.ts';
import { controlSenders } from '../../src/real/control.ts';
import { applyFault, REAL_FAULTS, realFaultNotApplied, type LabFaultContext } from '../../src/real/faults.ts';
import { notRunInLab } from '../../src/real/gaps.ts';
import { FAULT_KINDS, FAULTS, faultTarget, faultWhat, type FaultKind, type FaultOf } from '../../src/scenario/faults.ts';
import { loadScenario, type Scenario } from '../../src/scenario/load.ts';
import { Fault } from '../../src/scenario/schema.ts';
import { seconds, type Duration } from '../../src/time.ts';
import { MemoryTrace } from '../../src/trace.ts';

const FILE = 'scenarios/lab-basic.yaml';

function load(): Scenario {
  const r = loadScenario(readFileSync(FILE, 'utf8'), FILE);
  if (!r.ok) throw new Error(`${FILE} does not load`);
  return r.scenario;
}

/** One fault of every kind on lab-basic's cluster (a new kind must add one: the type says so). */
const SAMPLES: { readonly [K in FaultKind]: FaultOf<K> } = {
  crash: { kind: 'crash', host: 'sg1' },
  restart: { kind: 'restart', host: 'sg1' },
  signal: { kind: 'signal', host: 'sg1' },
  'watched-down': { kind: 'watched-down', host: 'sg1' },
  'watched-up': { kind: 'watched-up', host: 'sg1' },
  kill: { kind: 'kill', host: 'rs1', service: 'http:80' },
  hang: { kind: 'hang', host: 'rs1', service: 'http:80' },
  start: { kind: 'start', host: 'rs1', service: 'http:80' },
  'link-down': { kind: 'link-down', link: 'rs1.eth0' },
  'link-up': { kind: 'link-up', link: 'rs1.eth0' },
  partition: { kind: 'partition', groups: [['sg1'], ['sg2', 'rs1']] },
  heal: { kind: 'heal' },
  loss: { kind: 'loss', link: 'rs1.eth0', p: 0.5, duration: 1000 as Duration },
  delay: { kind: 'delay', link: 'rs1.eth0', extra: 500 as Duration, duration: 1000 as Duration },
  'clock-rate': { kind: 'clock-rate', host: 'sg1', rate: 1.01 },
  'clock-stall': { kind: 'clock-stall', host: 'sg1', duration: 1000 as Duration },
  'server-state': { kind: 'server-state', group: 'web', server: 'rs1', state: 'dead' },
  counter: { kind: 'counter', group: 'web', server: 'rs1', value: 7 },
};

describe('one fault vocabulary, two executors', () => {
  it('every declared kind has a simulator handler and a real-mode entry, and nothing else does', () => {
    const kinds = [...FAULT_KINDS].sort();
    expect(kinds).toHaveLength(18);
    expect(Object.keys(SIM_FAULTS).sort()).toEqual(kinds);
    expect(Object.keys(REAL_FAULTS).sort()).toEqual(kinds);
    for (const k of FAULT_KINDS) {
      expect(typeof SIM_FAULTS[k].check).toBe('function');
      expect(typeof SIM_FAULTS[k].apply).toBe('function');
      const e = REAL_FAULTS[k];
      // Real mode applies it, sends it as feedback, or says explicitly why it cannot.
      expect(e.by === 'lab' ? typeof e.apply : e.by === 'none' ? e.why.length > 0 : e.by).toEqual(e.by === 'lab' ? 'function' : e.by === 'none' ? true : 'feedback');
    }
  });

  it('a table missing a kind does not compile', () => {
    const { counter: _, ...sim } = SIM_FAULTS;
    const { loss: __, ...real } = REAL_FAULTS;
    // @ts-expect-error the simulator's table without counter is not every kind's
    const s: { readonly [K in FaultKind]: unknown } = sim;
    // @ts-expect-error real mode's table without loss is not every kind's
    const r: { readonly [K in FaultKind]: unknown } = real;
    expect(Object.keys(s)).not.toContain('counter');
    expect(Object.keys(r)).not.toContain('loss');
  });

  it("the scenario format's fault keys are the declaration's", () => {
    const schemaKeys = Fault.anyOf.map((o) => Object.keys(o.properties).filter((p) => p !== 'at')).flat().sort();
    expect([...new Set(FAULT_KINDS.map((k) => FAULTS[k].key))].sort()).toEqual(schemaKeys);
  });

  it("the simulator traces a fault with the declaration's what and target, as real mode does", () => {
    // Kinds no device traces as a fault event: a link's carrier is a 'state' event of machine
    // link; a clock rate, a server state and a counter are not traced as faults in the simulator.
    const untraced = new Set<FaultKind>(['link-down', 'link-up', 'clock-rate', 'server-state', 'counter']);
    const sc = load();
    for (const k of FAULT_KINDS) {
      const trace = new MemoryTrace();
      const { net } = buildScenario(sc, { trace });
      net.run(seconds(1));
      if (k === 'heal') net.apply(SAMPLES.partition); // a heal with nothing to heal is not traced
      const mark = trace.events.length;
      net.apply(SAMPLES[k]);
      const faults = trace.events.slice(mark).filter((e) => e.kind === 'fault');
      if (untraced.has(k)) {
        expect(faults, k).toEqual([]);
        continue;
      }
      expect(faults.length, k).toBeGreaterThan(0);
      const f = faults[0] as Extract<(typeof faults)[number], { kind: 'fault' }>;
      expect({ what: f.what, target: f.target }, k).toEqual({ what: faultWhat(SAMPLES[k]), target: faultTarget(SAMPLES[k]) });
    }
  });

  it("what real mode cannot apply is named by gaps.ts from the executor's own table, and traced so", async () => {
    const sc = load();
    const faults = FAULT_KINDS.map((k, i) => ({ at: (100_000 * (i + 1)) as Duration, action: SAMPLES[k] }));
    const lines = notRunInLab({ ...sc, faults });
    const none = FAULT_KINDS.filter((k) => REAL_FAULTS[k].by === 'none');
    expect(none).toEqual(['loss', 'delay', 'clock-rate']);
    for (const k of FAULT_KINDS) {
      const line = lines.find((l) => l.startsWith(`fault ${k} (`) && l.includes('not applied'));
      expect(line === undefined ? undefined : line.includes(`not applied (${realFaultNotApplied(k)})`), k).toBe(none.includes(k) ? true : undefined);
    }
    // No lab is touched by an entry that is not run by real means.
    const cx = {} as LabFaultContext;
    for (const k of none) expect(await applyFault(cx, SAMPLES[k])).toBe(`not applied in real mode (${k})`);
    const feedback = FAULT_KINDS.filter((k) => REAL_FAULTS[k].by === 'feedback');
    for (const k of feedback) expect(await applyFault(cx, SAMPLES[k])).toBe(true);
    // ... and the feedback kinds are exactly those the control senders send.
    const sent = new Set(controlSenders({ ...sc, faults }).flatMap((s) => s.entries.flatMap((e) => (e.kind === 'send' && e.fault !== undefined ? [faults[e.fault]!.action.kind] : []))));
    expect([...sent].sort()).toEqual([...feedback].sort());
  });
});
