/**
 * The sim-vs-real tolerance is derived from the lab's own measurements (src/real/run.ts): the
 * base, plus the worst start lateness, the worst fault lateness and twice the worst timer lateness;
 * and the report names every figure it came from.
 */
import { describe, expect, it } from 'vitest';
import { AGREEMENT_BASE_US, agreementTolerance, formatTiming, type LabTiming } from '../../src/real/run.ts';

const idle: LabTiming = { readyMs: 1800, startLateUs: { 'sg1#1': 300, 'sg2#1': 500 }, timerLateMaxUs: 1_000, faultLateMaxUs: 200, clientLateMaxUs: 4_000 };

describe('agreementTolerance', () => {
  it('is the base plus the measured lateness on an idle machine', () => {
    expect(agreementTolerance(idle)).toBe(AGREEMENT_BASE_US + 500 + 200 + 2 * 1_000);
  });

  it('grows with what a busy machine measured, term by term', () => {
    expect(agreementTolerance({ ...idle, startLateUs: { ...idle.startLateUs, 'sg1#2': 90_000 } })).toBe(agreementTolerance(idle) - 500 + 90_000);
    expect(agreementTolerance({ ...idle, faultLateMaxUs: 30_000 })).toBe(agreementTolerance(idle) - 200 + 30_000);
    expect(agreementTolerance({ ...idle, timerLateMaxUs: 40_000 })).toBe(agreementTolerance(idle) + 2 * 39_000);
    expect(agreementTolerance({ ...idle, startLateUs: {} })).toBe(agreementTolerance(idle) - 500);
  });

  it('is reported with the figures it came from', () => {
    const s = formatTiming({ ...idle, timerLateMaxUs: 49_200 });
    expect(s).toContain('daemons ready in 1800 ms');
    expect(s).toContain('sg1#1 0.3 ms, sg2#1 0.5 ms');
    expect(s).toContain('worst timer lateness 49.2 ms');
    expect(s).toContain('worst fault lateness 0.2 ms');
    expect(s).toContain(`tolerance ${((AGREEMENT_BASE_US + 500 + 200 + 98_400) / 1000).toFixed(1)} ms`);
  });
});

describe('realExpectations', () => {
  it('widens only the one-master convergence grace, by two worst timer latenesses', async () => {
    const { loadScenario } = await import('../../src/scenario/load.ts');
    const { readFileSync } = await import('node:fs');
    const r = loadScenario(readFileSync('scenarios/lab-signals.yaml', 'utf8'), 'scenarios/lab-signals.yaml');
    if (!r.ok) throw new Error('load');
    const { realExpectations } = await import('../../src/real/run.ts');
    const out = realExpectations(r.scenario, { ...idle, timerLateMaxUs: 35_000 });
    expect(out.length).toBe(r.scenario.expectations.length);
    out.forEach((e, i) => {
      const before = r.scenario.expectations[i]!;
      if (before.model.kind === 'safety-one-master') expect(e.model).toEqual({ ...before.model, graceUs: before.model.graceUs + 70_000 + idle.faultLateMaxUs });
      else expect(e).toBe(before);
    });
    expect(out.some((e) => e.model.kind === 'safety-one-master')).toBe(true);
  });
});
