/**
 * Properties of every analyzer, built-in and the example user one (STYLE.md 8): arbitrary bytes,
 * and valid messages with bytes flipped, cut or appended, never throw and always give a verdict
 * of the vocabulary with facts that keep the API (an id, a value inside the payload). And the
 * vocabulary itself: modes, statuses and reasons are disjoint strings, and the registry makes
 * fresh analyzers of every built-in name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import createLine from '../../examples/analyzers/line.ts';
import { ANALYZER_REASONS, classifyRequest, isAnalyzerReason, type Analyzer } from '../../src/rw/analyzer.ts';
import { BUILTIN_ANALYZER_NAMES, BUILTIN_ANALYZERS, builtinAnalyzer, isBuiltinAnalyzer } from '../../src/rw/analyzers/index.ts';
import { NFS3_PROGRAM, OncRpcAnalyzer } from '../../src/rw/analyzers/oncrpc.ts';
import { GuardedAnalyzer } from '../../src/rw/guard.ts';
import { fromHex } from '../../src/wire/addr.ts';
import { checkBoth, ready } from './support.ts';

const PORT = 9;
const DNS_DIR = new URL('../fixtures/dns/', import.meta.url);
const DNS_SEEDS = readdirSync(DNS_DIR)
  .filter((f) => f.endsWith('.hex'))
  .map((f) => fromHex(readFileSync(new URL(f, DNS_DIR), 'utf8').trim()));
const ONC_SEEDS = [
  // NFSv3 WRITE call with AUTH_UNIX, and an accepted NFS3_OK reply
  fromHex('8a6b0c01 00000000 00000002 000186a3 00000003 00000007 00000001 0000001c 00000000 00000004 686f7374 000003e8 000003e8 00000001 000003e8 00000000 00000000 00000008 0102030405060708'),
  fromHex('8a6b0c01 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004 00000002 0011223344556677'),
];
const RPC_SEEDS = [fromHex('01020304 01 0a0b fffffffe'), fromHex('fffffffe 00 0001e240')];
const LINE_SEEDS = [new TextEncoder().encode('42 SET colour blue\n'), new TextEncoder().encode('42 OK blue\n')];

const SUBJECTS: readonly (readonly [string, () => Analyzer, readonly Uint8Array[]])[] = [
  ['rpc', () => ready(BUILTIN_ANALYZERS.rpc(), [PORT]), RPC_SEEDS],
  ['nfs3', () => ready(BUILTIN_ANALYZERS.nfs3(), [PORT]), ONC_SEEDS],
  ['nfs3 compare results', () => ready(new OncRpcAnalyzer(NFS3_PROGRAM), [PORT], { compare: 'results' }), ONC_SEEDS],
  ['dns', () => ready(BUILTIN_ANALYZERS.dns(), [PORT]), DNS_SEEDS],
  ['line (guarded)', () => ready(new GuardedAnalyzer(createLine()), [PORT]), LINE_SEEDS],
];

/** A seed with some bytes replaced, then cut or extended. */
const mutated = (seeds: readonly Uint8Array[]) =>
  fc
    .record({
      seed: fc.constantFrom(...seeds),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.nat(),
      tail: fc.uint8Array({ maxLength: 8 }),
      keep: fc.boolean(),
    })
    .map(({ seed, edits, cut, tail, keep }) => {
      const b = seed.slice();
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
      const body = keep ? b : b.subarray(0, cut % (b.length + 1));
      const out = new Uint8Array(body.length + tail.length);
      out.set(body);
      out.set(tail, body.length);
      return out;
    });

describe('analyzers never throw', () => {
  for (const [name, make, seeds] of SUBJECTS) {
    it(`${name}: arbitrary bytes give a verdict of the vocabulary`, () => {
      const a = make();
      fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => checkBoth(a, b, PORT)), { numRuns: 2000 });
    });
    it(`${name}: valid messages flipped, cut and extended give a verdict of the vocabulary`, () => {
      const a = make();
      expect(seeds.length).toBeGreaterThan(0);
      fc.assert(fc.property(mutated(seeds), (b) => checkBoth(a, b, PORT)), { numRuns: 3000 });
    });
  }

  it('the ONC RPC seed is a valid WRITE call (so the mutations start from one)', () => {
    expect(classifyRequest(ready(BUILTIN_ANALYZERS.nfs3(), [PORT]), ONC_SEEDS[0]!, PORT)).toEqual({ kind: 'write', id: 0x8a6b0c01 });
  });
});

describe('the vocabulary and the registry', () => {
  it('modes, statuses and reasons are disjoint; reasons are unique', () => {
    expect(new Set(ANALYZER_REASONS).size).toBe(ANALYZER_REASONS.length);
    for (const v of ['read', 'write', 'ok', 'failure', 'unstated']) expect(isAnalyzerReason(v)).toBe(false);
  });

  it('every built-in name makes a fresh analyzer with that name', () => {
    expect([...BUILTIN_ANALYZER_NAMES]).toEqual(['rpc', 'oncrpc', 'nfs3', 'dns']);
    for (const name of BUILTIN_ANALYZER_NAMES) {
      const a = builtinAnalyzer(name);
      expect(a?.name).toBe(name);
      expect(a).not.toBe(builtinAnalyzer(name));
    }
    expect(isBuiltinAnalyzer('toString')).toBe(false);
    expect(builtinAnalyzer('./my.ts')).toBeUndefined();
  });
});
