/**
 * `sg diff` (src/scenario/diff.ts) on small hand-made traces: agreement needs the same masters in
 * the same order within the tolerance, the same server state transitions, and per segment between
 * server state changes the same servers and the same round-robin cycle; each kind of difference
 * is reported where it first shows.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { diffTraces, readTrace, type DiffEvent } from '../../src/scenario/diff.ts';
import { formatTraceRecord, TRACE_FORMAT, TRACE_VERSION } from '../../src/trace.ts';

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

describe('sg diff: the inputs must be traces', () => {
  const header = formatTraceRecord({ kind: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, scenario: 's' });
  const ev = '{"kind":"state","id":1,"t":400000,"node":"sg1","machine":"bidd","entity":"sg1","from":"bid","to":"master","reason":"epoch 1"}';
  const files = (a: string, b: string): [string, string] => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-diff-'));
    writeFileSync(join(dir, 'a.jsonl'), a);
    writeFileSync(join(dir, 'b.jsonl'), b);
    return [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
  };

  it('reads a trace: the header, then events', () => {
    const r = readTrace(`${header}\n${ev}\n`);
    expect(r.ok && r.events.map((e) => e.to)).toEqual(['master']);
  });

  it('refuses files that are not traces, or lines that are not events, naming the line', () => {
    expect(readTrace('')).toMatchObject({ ok: false, line: 1 });
    expect(readTrace('hello\nworld\n')).toMatchObject({ ok: false, line: 1, message: expect.stringContaining('header') });
    expect(readTrace(`${ev}\n`)).toMatchObject({ ok: false, line: 1, message: expect.stringContaining('header') });
    expect(readTrace(`${header}\n${ev}\n{"kind":"state","id":2\n`)).toMatchObject({ ok: false, line: 3, message: expect.stringContaining('truncated') });
    expect(readTrace(`${header}\n\n${ev}\n{"kind":"bogus","id":2,"t":1}\n`)).toMatchObject({ ok: false, line: 4 });
    expect(readTrace(`${header}\n${header}\n`)).toMatchObject({ ok: false, line: 2 });
  });

  it('sg diff on two files that are not traces: exit 2 with file:line, not AGREE', async () => {
    const io = memoryIo();
    const [a, b] = files('some text\nnot json\n', 'some text\nnot json\n');
    expect(await main(['diff', a, b], io)).toBe(2);
    expect(io.stderr).toContain(`sg diff: ${a}:1: not an sg trace`);
    expect(io.stdout).not.toMatch(/AGREE/);
  });

  it('sg diff on a trace with a broken line: exit 2; on two good traces: exit 0', async () => {
    const [a, b] = files(`${header}\n${ev}\n`, `${header}\n${ev}\nnot json\n`);
    const bad = memoryIo();
    expect(await main(['diff', a, b], bad)).toBe(2);
    expect(bad.stderr).toContain(`${b}:3: not a trace event`);
    const good = memoryIo();
    expect(await main(['diff', a, a], good)).toBe(0);
  });
});
