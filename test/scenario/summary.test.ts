/**
 * The goldens' decision summary (src/scenario/summary.ts): what it picks out of a trace, and
 * how two summaries diff into one line per moved decision; then a scenario changed on purpose
 * against its stored golden, whose failure text must name the decisions that moved.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatScenarioError, loadScenario } from '../../src/scenario/load.ts';
import type { ExpectationResult } from '../../src/scenario/expect.ts';
import { diffSummaries, formatSeconds, formatSummaryDiff, readSummary, SummarizingTrace, SummaryBuilder, summarize, type DecisionSummary, type SummaryEvent } from '../../src/scenario/summary.ts';
import { MemoryTrace } from '../../src/trace.ts';
import { goldenMismatch, runGolden, type Golden } from '../support/golden.ts';

const bidd = (t: number, node: string, from: string, to: string): SummaryEvent => ({ kind: 'state', t, node, entity: node, machine: 'bidd', from, to });
const server = (t: number, node: string, s: string, from: string, to: string): SummaryEvent => ({ kind: 'state', t, node, entity: `web/${s}`, machine: 'server', from, to });
const link = (t: number, node: string, s: string): SummaryEvent => ({ kind: 'decision', t, node, what: 'link-new', detail: { group: 'web', server: s, reason: 'policy' } });
const result = (path: string, measured: string, text = 'x'): ExpectationResult => ({ path, line: 1, text, pass: true, measured, bound: 'b' });

const events: SummaryEvent[] = [
  bidd(3_000_000, 'sg1', 'listen', 'bid'),
  bidd(4_000_000, 'sg1', 'bid', 'master'),
  { kind: 'state', t: 4_100_000, node: 'rs1', entity: '1.2.3.4:80-5.6.7.8:9', machine: 'tcp', from: 'LISTEN', to: 'SYN_RECEIVED' },
  link(4_200_000, 'sg1', 'rs2'),
  link(4_300_000, 'sg1', 'rs1'),
  link(4_400_000, 'sg1', 'rs2'),
  server(5_000_000, 'sg1', 'rs2', 'alive', 'pending'),
  server(5_000_000, 'sg2', 'rs2', 'alive', 'pending'),
  server(6_000_000, 'sg1', 'rs2', 'pending', 'dead'),
  bidd(9_000_228, 'sg1', 'master', 'slave'),
  link(9_500_000, 'sg2', 'rs1'),
];
const results = [result('expect[0]', '1 × bidd'), result('safety', 'never two masters', 'built-in: one master'), result('safety', '0 dead', 'built-in: one master')];
const base = summarize(events, results);

describe('decision summary', () => {
  it('picks mastership changes, server transitions per node, new links per server and measurements', () => {
    expect(base).toEqual({
      mastership: ['4.000000 s sg1 bid->master', '9.000228 s sg1 master->slave'],
      servers: { 'sg1 web/rs2': ['5.000000 s alive->pending', '6.000000 s pending->dead'], 'sg2 web/rs2': ['5.000000 s alive->pending'] },
      newLinks: { 'sg1 web': { rs1: 1, rs2: 2 }, 'sg2 web': { rs1: 1 } },
      expectations: { 'expect[0]': '1 × bidd', 'safety: one master': 'never two masters', 'safety: one master #2': '0 dead' },
    } satisfies DecisionSummary);
    expect(Object.keys(base.newLinks['sg1 web']!)).toEqual(['rs1', 'rs2']);
  });

  it('writes times exactly, in seconds with microseconds', () => {
    expect(formatSeconds(0)).toBe('0.000000 s');
    expect(formatSeconds(9_000_228)).toBe('9.000228 s');
    expect(formatSeconds(86_400_000_001)).toBe('86400.000001 s');
  });

  it('is built the same fed through a sink, which leaves the ids to the next sink', () => {
    const b = new SummaryBuilder();
    const mem = new MemoryTrace();
    const sink = new SummarizingTrace(b, mem);
    const ids = events.map((e) => sink.emit(e as unknown as Parameters<typeof sink.emit>[0]));
    expect(ids).toEqual(events.map((_, i) => i + 1));
    expect(mem.events).toHaveLength(events.length);
    expect(b.finish(results)).toEqual(base);
  });

  it('diffs to nothing against itself', () => {
    expect(diffSummaries(base, base)).toEqual([]);
    expect(formatSummaryDiff([])).toMatch(/no decision in the summary moved/);
  });

  it('names each moved decision: a later takeover, a new and a lost transition, link counts, a measurement', () => {
    const moved = summarize(
      [bidd(4_000_000, 'sg1', 'bid', 'master'), bidd(9_100_000, 'sg1', 'master', 'slave'), server(5_000_000, 'sg1', 'rs2', 'alive', 'pending'), server(5_000_000, 'sg1', 'rs1', 'alive', 'pending'), link(1, 'sg1', 'rs1'), link(2, 'sg1', 'rs2'), link(3, 'sg1', 'rs3')],
      [result('expect[0]', '2 × bidd'), result('safety', 'never two masters', 'built-in: one master'), result('safety', '0 dead', 'built-in: one master')],
    );
    expect(diffSummaries(base, moved)).toEqual([
      'sg1 master->slave at 9.000228 s -> 9.100000 s',
      'sg1 web/rs1 alive->pending at 5.000000 s (new; #1 in this run)',
      'sg1 web/rs2 pending->dead at 6.000000 s -> (gone; #2 in the golden)',
      'sg2 web/rs2 alive->pending at 5.000000 s -> (gone; #1 in the golden)',
      'sg1 web/rs2 new links 2 -> 1',
      'sg1 web/rs3 new links 0 -> 1',
      'sg2 web/rs1 new links 1 -> 0',
      'expect[0] measured "1 × bidd" -> "2 × bidd"',
    ]);
  });

  it('aligns a sequence by its decisions, so one inserted early does not move every later one', () => {
    const a = { ...base, mastership: ['1.000000 s sg1 bid->master', '5.000000 s sg1 master->slave', '5.000000 s sg2 bid->master'] };
    const b = { ...base, mastership: ['0.500000 s sg2 bid->master', '0.600000 s sg2 master->slave', '1.000000 s sg1 bid->master', '5.000000 s sg1 master->slave', '5.000000 s sg2 bid->master'] };
    expect(diffSummaries(a, b)).toEqual(['sg2 bid->master at 0.500000 s (new; #1 in this run)', 'sg2 master->slave at 0.600000 s (new; #2 in this run)']);
  });

  it('prints at most a bounded number of lines, counting the rest', () => {
    const text = formatSummaryDiff(Array.from({ length: 50 }, (_, i) => `line ${i}`), 40);
    expect(text.split('\n')).toHaveLength(42);
    expect(text).toMatch(/^50 decision\(s\) moved/);
    expect(text).toMatch(/\.\.\. and 10 more$/);
  });

  it('reads a stored summary back, and says why a stored value is not one', () => {
    expect(readSummary(JSON.parse(JSON.stringify(base)))).toEqual({ ok: true, value: base });
    expect(readSummary(undefined)).toEqual({ ok: false, message: 'the golden has no decision summary' });
    expect(readSummary({ ...base, mastership: [1] })).toMatchObject({ ok: false, message: /mastership/ });
    expect(readSummary({ ...base, newLinks: { 'sg1 web': { rs1: '3' } } })).toMatchObject({ ok: false, message: /newLinks/ });
  });
});

describe('a golden mismatch says which decisions moved', () => {
  const golden = JSON.parse(readFileSync('scenarios/failover.golden.json', 'utf8')) as Golden;
  const run = (yaml: string): Golden => {
    const loaded = loadScenario(yaml, 'failover-changed.yaml');
    if (!loaded.ok) throw new Error(loaded.errors.map(formatScenarioError).join('\n'));
    return runGolden(loaded.scenario).golden;
  };
  const yaml = readFileSync('scenarios/failover.yaml', 'utf8');

  it('a master crash one second later: the takeover, the links and a measurement moved, decisions first', () => {
    const changed = yaml.replace('{ at: 6s, crash: sg1 }', '{ at: 7s, crash: sg1 }');
    expect(changed).not.toBe(yaml);
    const text = goldenMismatch(golden, run(changed))!;
    expect(text).toBeDefined();
    expect(text.split('\n')[0]).toMatch(/^\d+ decision\(s\) moved \(golden -> this run\):$/);
    expect(text).toContain('  sg2 bid->master at 9.000228 s -> 10.000228 s\n');
    expect(text).toMatch(/ {2}sg1 web\/rs1 new links 26 -> \d+\n/);
    expect(text).toMatch(/ {2}expect\[4\] measured "100 × [^"]*" -> "\d+ × [^"]*"\n/);
    expect(text.indexOf('trace (golden -> this run):')).toBeGreaterThan(text.indexOf('expect[4]'));
    expect(text).toMatch(/traceSha256: "6926d348[0-9a-f]*" -> "[0-9a-f]{64}"/);
  });

  it('another seed: the requests, so the new links and the success counts, moved', () => {
    const text = goldenMismatch(golden, run(yaml.replace(/^seed: 1$/m, 'seed: 2')))!;
    expect(text).toMatch(/ {2}sg2 web\/rs1 new links 192 -> \d+\n/);
    expect(text).toMatch(/ {2}expect\[5\] measured "100% \(380\/380\) [^"]*" -> "100% \(\d+\/\d+\) [^"]*"\n/);
    expect(text).toContain('  seed: 1 -> 2\n');
  });

  it('only the trace hash differs: says no decision moved', () => {
    const text = goldenMismatch({ ...golden, traceSha256: '0'.repeat(64) }, golden)!;
    expect(text.split('\n')[0]).toMatch(/no decision in the summary moved/);
    expect(text).toContain(`traceSha256: "${'0'.repeat(64)}" -> "${golden.traceSha256}"`);
  });

  it('a golden from before summaries: says so', () => {
    const { summary: _, ...old } = golden;
    expect(goldenMismatch(old, golden)).toMatch(/^the golden has no decision summary/);
  });
});
