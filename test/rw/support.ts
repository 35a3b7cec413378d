/** Shared by the analyzer tests: an initialised analyzer, and the check of any verdict's facts. */
import { expect } from 'vitest';
import { ANALYZER_REASONS, isReplyStatus, isRwMode, type Analyzer, type AnalyzerConfig, type ReplyFacts, type RequestFacts } from '../../src/rw/analyzer.ts';
import { isRwId } from '../../src/rw/guard.ts';
import { fromHex } from '../../src/wire/addr.ts';

export function ready<A extends Analyzer>(a: A, ports: readonly number[], options: AnalyzerConfig['options'] = {}): A {
  expect(a.init({ group: 'g', ports, options })).toEqual({ ok: true });
  return a;
}

/** Hex with spaces, newlines and `#` comments allowed (byte literals laid out like the RFCs). */
export function bytes(text: string): Uint8Array {
  return fromHex(
    text
      .split('\n')
      .map((l) => l.replace(/#.*/, ''))
      .join('')
      .replace(/\s+/g, ''),
  );
}

const VERDICTS = new Set<string>([...ANALYZER_REASONS, 'read', 'write', 'ok', 'failure', 'unstated']);

/** Both checks of `b`: never throw, a verdict of the vocabulary, and facts that keep the API. */
export function checkBoth(a: Analyzer, b: Uint8Array, port: number): void {
  const rq: RequestFacts = { id: -1 };
  const v = a.checkRequest(b, port, rq);
  expect(VERDICTS.has(v) && !isReplyStatus(v)).toBe(true);
  if (isRwMode(v)) expect(isRwId(rq.id)).toBe(true);
  const rp: ReplyFacts = { id: -1, valueOff: -1, valueLen: -1 };
  const w = a.checkReply(b, port, rp);
  expect(VERDICTS.has(w) && !isRwMode(w)).toBe(true);
  if (isReplyStatus(w)) {
    expect(isRwId(rp.id)).toBe(true);
    expect(rp.valueOff >= 0 && rp.valueLen >= 0 && rp.valueOff + rp.valueLen <= b.length).toBe(true);
  }
}
