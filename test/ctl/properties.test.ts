/**
 * The property model (src/ctl/properties.ts): the table says who writes what, and values travel
 * as text that parses by type and range or is refused with a message.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WEIGHT_MAX } from '../../src/balance/balancer.ts';
import {
  COUNTER_MAX,
  formatValue,
  HEARTBEAT_MAX,
  mayWrite,
  parseValue,
  propNames,
  propSpec,
  PROPERTIES,
  VALUE_TEXT_MAX,
  WRITABLE,
  type PropSpec,
} from '../../src/ctl/properties.ts';

function spec(cls: 'cluster' | 'group' | 'server', p: string): PropSpec {
  const s = propSpec(cls, p);
  if (s === undefined) throw new Error(`no ${cls}.${p}`);
  return s;
}

const parse = (cls: 'cluster' | 'group' | 'server', p: string, text: string) => parseValue(p, spec(cls, p), text);

describe('the table', () => {
  it('lists the properties of each class', () => {
    expect(propNames('cluster')).toEqual(['links', 'links-max', 'read-only', 'groups']);
    expect(propNames('group')).toEqual(['policy', 'weighted', 'read-only', 'servers', 'members', 'vip', 'port']);
    expect(propNames('server')).toEqual(['state', 'held', 'weight', 'counter', 'heartbeat', 'heartbeat-at', 'links', 'addr']);
  });

  it('says who may write: admin everything writable, a server key only state, counter, heartbeat and its group\'s read-only', () => {
    expect(WRITABLE).toEqual({ cluster: ['read-only'], group: ['policy', 'weighted', 'read-only'], server: ['state', 'held', 'weight', 'counter', 'heartbeat'] });
    const self = (['cluster', 'group', 'server'] as const).flatMap((c) => propNames(c).filter((p) => mayWrite(spec(c, p), 'self')).map((p) => `${c}.${p}`));
    expect(self).toEqual(['group.read-only', 'server.state', 'server.counter', 'server.heartbeat']);
    for (const c of ['cluster', 'group', 'server'] as const) {
      for (const p of WRITABLE[c] as readonly string[]) expect(mayWrite(spec(c, p), 'admin')).toBe(true);
    }
  });

  it('knows only its own keys: inherited names are no properties', () => {
    for (const p of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'Weight']) expect(propSpec('server', p)).toBeUndefined();
  });

  it('gives every property a type and every writable number a range', () => {
    for (const c of ['cluster', 'group', 'server'] as const) {
      for (const [name, s] of Object.entries(PROPERTIES[c]) as [string, PropSpec][]) {
        expect(s.read, name).toBe(true);
        if (s.type === 'int' || s.type === 'number') expect(s.min, name).toBeLessThanOrEqual(s.max);
      }
    }
    expect(spec('server', 'weight')).toMatchObject({ type: 'int', min: 0, max: WEIGHT_MAX });
    expect(spec('server', 'heartbeat')).toMatchObject({ type: 'int', min: 0, max: HEARTBEAT_MAX });
    expect(spec('server', 'counter')).toMatchObject({ type: 'number', min: 0, max: COUNTER_MAX });
  });
});

describe('parsing values', () => {
  it('int: decimal digits within the range', () => {
    expect(parse('server', 'weight', '0')).toEqual({ ok: true, value: 0 });
    expect(parse('server', 'weight', '1000')).toEqual({ ok: true, value: 1000 });
    expect(parse('server', 'weight', '007')).toEqual({ ok: true, value: 7 });
    expect(parse('server', 'weight', '-0')).toEqual({ ok: true, value: 0 });
    expect(parse('server', 'heartbeat', String(HEARTBEAT_MAX))).toEqual({ ok: true, value: HEARTBEAT_MAX });
    for (const bad of ['', ' 1', '1 ', '+1', '1.5', '1e3', '0x10', 'abc', 'NaN', '１']) {
      const r = parse('server', 'weight', bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/^weight must be an integer in 0\.\.1000, got /);
    }
    expect(parse('server', 'weight', '1001')).toEqual({ ok: false, message: 'weight must be in 0..1000, got 1001' });
    expect(parse('server', 'weight', '-1')).toEqual({ ok: false, message: 'weight must be in 0..1000, got -1' });
    expect(parse('server', 'heartbeat', String(HEARTBEAT_MAX + 1)).ok).toBe(false);
    expect(parse('server', 'heartbeat', '99999999999999999999').ok).toBe(false); // not a safe integer
  });

  it('number: decimal with fraction and exponent, finite, within the range', () => {
    expect(parse('server', 'counter', '0')).toEqual({ ok: true, value: 0 });
    expect(parse('server', 'counter', '2.5')).toEqual({ ok: true, value: 2.5 });
    expect(parse('server', 'counter', '.5')).toEqual({ ok: true, value: 0.5 });
    expect(parse('server', 'counter', '1e3')).toEqual({ ok: true, value: 1000 });
    expect(parse('server', 'counter', '-0')).toEqual({ ok: true, value: 0 });
    for (const bad of ['', '-1', '-0.001', 'NaN', 'Infinity', '1e400', '1e', '.', '1,5', '0x1', ' 1', '1_000']) {
      expect(parse('server', 'counter', bad).ok, bad).toBe(false);
    }
    expect(parse('server', 'counter', '9007199254740992')).toEqual({ ok: false, message: 'counter must be in 0..9007199254740991, got "9007199254740992"' });
  });

  it('bool: true, false, 1, 0', () => {
    expect(parse('cluster', 'read-only', 'true')).toEqual({ ok: true, value: true });
    expect(parse('cluster', 'read-only', '1')).toEqual({ ok: true, value: true });
    expect(parse('cluster', 'read-only', 'false')).toEqual({ ok: true, value: false });
    expect(parse('cluster', 'read-only', '0')).toEqual({ ok: true, value: false });
    for (const bad of ['', 'TRUE', 'yes', 'on', '2', 'true ']) expect(parse('cluster', 'read-only', bad).ok, bad).toBe(false);
    expect(parse('group', 'weighted', 'maybe')).toEqual({ ok: false, message: 'weighted must be true or false, got "maybe"' });
  });

  it('enum: exactly one of the values', () => {
    for (const p of ['round-robin', 'connections', 'packets', 'counter']) expect(parse('group', 'policy', p)).toEqual({ ok: true, value: p });
    for (const s of ['alive', 'pending', 'dead']) expect(parse('server', 'state', s)).toEqual({ ok: true, value: s });
    expect(parse('server', 'state', 'Alive')).toEqual({ ok: false, message: 'state must be one of alive, pending, dead, got "Alive"' });
    expect(parse('group', 'policy', 'random').ok).toBe(false);
  });

  it('refuses text longer than the bound before looking at it, and quotes at most a little of it', () => {
    const long = '1'.repeat(VALUE_TEXT_MAX + 1);
    expect(parse('server', 'counter', long)).toEqual({ ok: false, message: `counter: value longer than ${VALUE_TEXT_MAX} characters` });
    const r = parse('server', 'state', 'x'.repeat(VALUE_TEXT_MAX));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.length).toBeLessThan(100);
  });

  it('formats values as the text they parse from', () => {
    expect(formatValue(null)).toBe('');
    expect(formatValue(true)).toBe('true');
    expect(formatValue(2.5)).toBe('2.5');
    expect(formatValue(['a', 'b'])).toBe('a\nb');
    fc.assert(
      fc.property(fc.double({ min: 0, max: COUNTER_MAX, noNaN: true }), (v) => {
        expect(parse('server', 'counter', formatValue(v))).toEqual({ ok: true, value: v === 0 ? 0 : v });
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: WEIGHT_MAX }), (v) => {
        expect(parse('server', 'weight', formatValue(v))).toEqual({ ok: true, value: v });
      }),
    );
  });

  it('never throws, whatever the text', () => {
    const all = (['cluster', 'group', 'server'] as const).flatMap((c) => propNames(c).map((p) => [p, spec(c, p)] as const));
    fc.assert(
      fc.property(fc.constantFrom(...all), fc.string({ unit: 'binary', maxLength: 80 }), ([name, s], text) => {
        const r = parseValue(name, s, text);
        expect(typeof r.ok).toBe('boolean');
      }),
    );
  });
});
