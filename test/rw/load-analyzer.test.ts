/**
 * User analyzers: src/real/load-analyzer.ts loads the example module (examples/analyzers/line.ts)
 * and broken ones, naming what is missing; src/rw/guard.ts turns a user analyzer's throws and
 * broken answers into counted reasons.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { memoryIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { afterAll, describe, expect, it } from 'vitest';
import createLine from '../../examples/analyzers/line.ts';
import { loadAnalyzerModule, scenarioAnalyzers } from '../../src/real/load-analyzer.ts';
import { classifyReply, classifyRequest, type Analyzer } from '../../src/rw/analyzer.ts';
import { GuardedAnalyzer, analyzerProblems } from '../../src/rw/guard.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const PORT = 7070;

describe('the example line analyzer, loaded as a user module', async () => {
  const loaded = await loadAnalyzerModule('examples/analyzers/line.ts', ROOT);
  if (!loaded.ok) throw new Error(loaded.error);
  const made = loaded.loaded.create();
  if (!made.ok) throw new Error(made.error);
  const line = made.analyzer;

  it('initialises with the group ports and classifies its lines', () => {
    expect(line.name).toBe('line');
    expect(line.init({ group: 'kv', ports: [PORT], options: {} })).toEqual({ ok: true });
    expect(line.isMine(PORT)).toBe(true);
    expect(line.isMine(PORT + 1)).toBe(false);
    expect(classifyRequest(line, text('42 GET colour\n'), PORT)).toEqual({ kind: 'read', id: 42 });
    expect(classifyRequest(line, text('43 SET colour blue\n'), PORT)).toEqual({ kind: 'write', id: 43 });
    expect(classifyRequest(line, text('44 DEL colour\n'), PORT)).toEqual({ kind: 'drop', reason: 'unknown-operation' });
    expect(classifyRequest(line, text('GET colour\n'), PORT)).toEqual({ kind: 'drop', reason: 'bad-value' });
    const ok = classifyReply(line, text('43 OK blue\n'), PORT);
    expect(ok).toMatchObject({ kind: 'reply', status: 'ok', id: 43 });
    expect(ok.kind === 'reply' && new TextDecoder().decode(ok.value)).toBe('blue');
    expect(classifyReply(line, text('43 ERR read-only\n'), PORT)).toMatchObject({ kind: 'reply', status: 'failure', id: 43 });
  });

  it('its options are checked by its own init, and the message says which analyzer', () => {
    const other = loaded.loaded.create();
    expect(other.ok && other.analyzer.init({ group: 'kv', ports: [PORT], options: { colour: 'red' } })).toEqual({ ok: false, error: 'analyzer line: the line analyzer takes no options (got colour)' });
  });

  it('a factory gives each group its own analyzer', () => {
    const a = loaded.loaded.create();
    const b = loaded.loaded.create();
    expect(a.ok && b.ok && a.analyzer.inner !== b.analyzer.inner).toBe(true);
  });

  it('is the same analyzer imported statically (so tsc checks the example against the interface)', () => {
    const direct: Analyzer = createLine();
    expect(direct.init({ group: 'kv', ports: [PORT], options: {} })).toEqual({ ok: true });
    expect(classifyRequest(direct, text('1 SET k v'), PORT)).toEqual({ kind: 'write', id: 1 });
  });
});

describe('loading broken analyzer modules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-analyzer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const module = (name: string, body: string): string => {
    writeFileSync(join(dir, name), body);
    return name;
  };

  it('names each member that is missing or of the wrong type', async () => {
    const r = await loadAnalyzerModule(module('half.mjs', "export default { name: 'half', init: () => ({ ok: true }), isMine: 1 };\n"), dir);
    expect(r).toEqual({ ok: false, error: `${join(dir, 'half.mjs')}: its default export is not an analyzer: isMine is a number, not a function; missing checkRequest (a function); missing checkReply (a function)` });
  });

  it('a factory returning junk, a factory that throws, no default export, a file that is not there', async () => {
    expect(await loadAnalyzerModule(module('junk.mjs', 'export default () => 7;\n'), dir)).toMatchObject({ ok: false, error: expect.stringContaining('the object its default export (a factory) returned is not an analyzer: not an object (number)') });
    expect(await loadAnalyzerModule(module('throws.mjs', "export default () => { throw new Error('no config'); };\n"), dir)).toMatchObject({ ok: false, error: expect.stringContaining('the analyzer factory threw: no config') });
    expect(await loadAnalyzerModule(module('named.mjs', 'export const analyzer = {};\n'), dir)).toMatchObject({ ok: false, error: expect.stringContaining('no default export') });
    expect(await loadAnalyzerModule('nowhere.mjs', dir)).toMatchObject({ ok: false, error: expect.stringContaining(`${join(dir, 'nowhere.mjs')}: cannot import the analyzer module`) });
  });

  it('an exported object serves one group; a second one is an error saying to export a factory', async () => {
    const r = await loadAnalyzerModule(
      module('one.mjs', "export default { name: 'one', init: () => ({ ok: true }), isMine: () => true, checkRequest: () => 'read', checkReply: () => 'ok' };\n"),
      dir,
    );
    if (!r.ok) throw new Error(r.error);
    expect(r.loaded.create().ok).toBe(true);
    expect(r.loaded.create()).toMatchObject({ ok: false, error: expect.stringContaining('export a factory') });
  });
});

describe('the guard around a user analyzer', () => {
  const base = { name: 'bad', init: () => ({ ok: true }) as const, isMine: () => true };
  const guarded = (a: Partial<Analyzer> & Record<string, unknown>): GuardedAnalyzer => {
    expect(analyzerProblems({ ...base, checkRequest: () => 'read', checkReply: () => 'ok', ...a })).toEqual([]);
    return new GuardedAnalyzer({ ...base, checkRequest: () => 'read', checkReply: () => 'ok', ...a } as Analyzer);
  };
  const p = new Uint8Array(4);

  it('a throw is analyzer-threw, counted, the error kept', () => {
    const g = guarded({ checkRequest: () => { throw new Error('boom'); }, checkReply: () => { throw new Error('bang'); }, isMine: () => { throw new Error('port'); } });
    expect(classifyRequest(g, p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-threw' });
    expect(classifyReply(g, p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-threw' });
    expect(g.isMine(1)).toBe(false);
    expect(g.threw).toBe(3);
    expect((g.lastThrown as Error).message).toBe('port');
  });

  it('a verdict outside the vocabulary, an id not set or not an id, a value outside the payload: analyzer-broke-contract', () => {
    expect(classifyRequest(guarded({ checkRequest: () => 'maybe' as never }), p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-broke-contract' });
    expect(classifyRequest(guarded({ checkRequest: () => 'read' }), p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-broke-contract' }); // no id set
    expect(classifyRequest(guarded({ checkRequest: (_b, _p, out) => ((out.id = 1.5), 'write') }), p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-broke-contract' });
    expect(classifyRequest(guarded({ checkRequest: (_b, _p, out) => ((out.id = 'x'.repeat(65)), 'write') }), p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-broke-contract' });
    expect(classifyRequest(guarded({ checkRequest: (_b, _p, out) => ((out.id = 'tx-9'), 'write') }), p, 1)).toEqual({ kind: 'write', id: 'tx-9' });
    expect(classifyReply(guarded({ checkReply: (_b, _p, out) => ((out.id = 1), (out.valueOff = 2), (out.valueLen = 3), 'ok') }), p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-broke-contract' });
    expect(classifyReply(guarded({ checkReply: (_b, _p, out) => ((out.id = 1), (out.valueOff = 2), (out.valueLen = 2), 'ok') }), p, 1)).toMatchObject({ kind: 'reply', status: 'ok', id: 1 });
    expect(classifyReply(guarded({ checkReply: () => 'truncated' }), p, 1)).toEqual({ kind: 'drop', reason: 'truncated' });
    expect(classifyReply(guarded({ checkReply: () => 'read' as never }), p, 1)).toEqual({ kind: 'drop', reason: 'analyzer-broke-contract' });
  });

  it('init that throws or answers junk is a configuration error naming the analyzer', () => {
    const cfg = { group: 'g', ports: [1], options: {} };
    expect(guarded({ init: () => { throw new Error('nope'); } }).init(cfg)).toEqual({ ok: false, error: 'analyzer bad: init threw: nope' });
    expect(guarded({ init: () => true as never }).init(cfg)).toEqual({ ok: false, error: 'analyzer bad: init returned true, not { ok: true } or { ok: false, error }' });
    expect(guarded({ init: () => ({ ok: false, error: 'needs a port' }) }).init(cfg)).toEqual({ ok: false, error: 'analyzer bad: needs a port' });
  });
});

describe('a module analyzer in a scenario (sg run)', () => {
  it('is imported before the run and carries the group: writes voted, the failing server turned off', async () => {
    const file = 'test/fixtures/scenarios/module-analyzer.yaml';
    const r = loadScenario(readFileSync(file, 'utf8'), file, { fileExists: existsSync });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const mods = await scenarioAnalyzers(r.scenario.cluster);
    expect(mods.ok && mods.makers?.[0]?.().name).toBe('rpc-module');
    const io = memoryIo();
    expect(await main(['run', file], io)).toBe(0);
    expect(io.stdout).toContain('PASS: 5 expectation(s) held');
  });

  it('a module that throws on every request: counted drops, no crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-analyzer-'));
    try {
      writeFileSync(join(dir, 'bad.mjs'), "import base from '" + pathToFileURL(resolve('test/fixtures/analyzers/rpc-module.mjs')).href + "';\nexport default () => ({ ...base(), checkRequest() { throw new Error('boom'); } });\n");
      const text = readFileSync('test/fixtures/scenarios/module-analyzer.yaml', 'utf8')
        .replaceAll('../analyzers/rpc-module.mjs', './bad.mjs')
        .replace(/expect:[\s\S]*$/, 'expect:\n  - count: { match: { kind: drop, layer: rw, reason: analyzer-threw }, min: 5 }\n');
      writeFileSync(join(dir, 's.yaml'), text);
      const io = memoryIo();
      const code = await main(['run', join(dir, 's.yaml')], io);
      expect(code, io.stderr).toBe(0);
      expect(io.stdout).toContain('PASS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a module analyzer under sg sweep and sg fuzz', () => {
  it('each loads the module before its runs', async () => {
    const io = memoryIo();
    expect(await main(['sweep', 'test/fixtures/scenarios/module-analyzer.yaml', '--seeds', '1..2'], io), io.stderr).toBe(0);
    expect(io.stdout).toMatch(/2 seeds, 2 passed/);
    const fz = memoryIo();
    expect(await main(['fuzz', 'test/fixtures/scenarios/module-analyzer.yaml', '--runs', '2', '--faults', 'clock'], fz), fz.stderr).toBe(0);
    expect(fz.stdout).toMatch(/no failure in 2 run/);
  }, 120_000);
});
