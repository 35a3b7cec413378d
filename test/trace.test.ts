import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { instant } from '../src/time.ts';
import {
  EVENT_FIELDS,
  formatTraceRecord,
  JsonlTrace,
  MemoryTrace,
  NullTrace,
  parseTraceLine,
  TRACE_FORMAT,
  TRACE_KINDS,
  TRACE_VERSION,
  type TraceEventInput,
  type TraceRecord,
} from '../src/trace.ts';

/** One event of every kind, as a producer would emit them. */
const SAMPLE: readonly TraceEventInput[] = [
  { kind: 'frame', t: instant(1_500), node: 'sg1', link: 'eth0', dir: 'tx', len: 60, summary: 'ARP who-has 10.0.0.1 tell 10.0.0.2' },
  { kind: 'frame', t: instant(1_600), cause: 1, link: 'lan', dir: 'drop', len: 1514, summary: 'TCP 10.0.0.9:40000 > 10.0.0.1:80 [S]', reason: 'loss' },
  { kind: 'state', t: instant(2_000), node: 'sg1', entity: 'server:10.0.1.5', machine: 'health', from: 'alive', to: 'pending', reason: 'probe-timeout' },
  { kind: 'fault', t: instant(3_000), what: 'crash', target: 'sg2' },
  { kind: 'fault', t: instant(3_001), what: 'loss', target: 'link:a-b', detail: 'p=0.3' },
  { kind: 'metric', t: instant(4_000), name: 'links.active', value: 12.5 },
  { kind: 'metric', t: instant(4_000), name: 'rtt', value: -0.25, labels: { server: '10.0.1.5', port: '80' } },
  { kind: 'decision', t: instant(5_000), cause: 3, what: 'balance', detail: { policy: 'rr', chosen: '10.0.1.6', load: 3, sticky: false } },
  { kind: 'drop', t: instant(6_000), layer: 'ipv4', reason: 'bad-checksum' },
  { kind: 'drop', t: instant(6_001), layer: 'feedback', reason: 'truncated', detail: '7 bytes' },
  { kind: 'log', t: instant(7_000), level: 'warn', msg: 'línea "quoted"\nnext' },
];

describe('trace sinks', () => {
  it('assign monotonic ids from 1', () => {
    const memory = new MemoryTrace();
    const nul = new NullTrace();
    const lines: string[] = [];
    const jsonl = new JsonlTrace((l) => lines.push(l));
    const ids = SAMPLE.map((ev) => [memory.emit(ev), nul.emit(ev), jsonl.emit(ev)]);
    ids.forEach((triple, i) => expect(triple).toEqual([i + 1, i + 1, i + 1]));
    expect(memory.events.map((e) => e.id)).toEqual(SAMPLE.map((_, i) => i + 1));
  });

  it('ofKind filters with the kind type', () => {
    const memory = new MemoryTrace();
    for (const ev of SAMPLE) memory.emit(ev);
    const states = memory.ofKind('state');
    expect(states).toHaveLength(1);
    expect(states[0]?.to).toBe('pending'); // typed: `to` exists on StateEvent only
    expect(memory.ofKind('drop').map((d) => d.reason)).toEqual(['bad-checksum', 'truncated']);
  });

  it('MemoryTrace has a bound', () => {
    const memory = new MemoryTrace({ maxEvents: 1 });
    memory.emit({ kind: 'log', t: instant(0), level: 'info', msg: 'a' });
    expect(() => memory.emit({ kind: 'log', t: instant(0), level: 'info', msg: 'b' })).toThrow(/maxEvents 1/);
  });
});

describe('JSON Lines', () => {
  it('writes a header then one line per event, keys in declared order', () => {
    const lines: string[] = [];
    const trace = new JsonlTrace((l) => lines.push(l), { seed: 7, scenario: 'failover-basic' });
    trace.emit(SAMPLE[0] as TraceEventInput);
    trace.emit({ kind: 'metric', node: 'sg1', value: 3, name: 'x', t: instant(9), labels: { b: '1', a: '2' } });
    expect(lines).toEqual([
      '{"kind":"header","format":"sg-trace","version":1,"seed":7,"scenario":"failover-basic"}',
      '{"kind":"frame","id":1,"t":1500,"node":"sg1","link":"eth0","dir":"tx","len":60,"summary":"ARP who-has 10.0.0.1 tell 10.0.0.2"}',
      '{"kind":"metric","id":2,"t":9,"node":"sg1","name":"x","value":3,"labels":{"b":"1","a":"2"}}',
    ]);
  });

  it('round-trips every sample through parseTraceLine', () => {
    const lines: string[] = [];
    const memory = new MemoryTrace();
    const trace = new JsonlTrace((l) => lines.push(l), { seed: 'abc', startedAt: '2024-01-01T00:00:00.000Z' });
    for (const ev of SAMPLE) {
      trace.emit(ev);
      memory.emit(ev);
    }
    const parsed = lines.map((l) => parseTraceLine(l));
    const records: TraceRecord[] = parsed.map((p) => {
      if (!p.ok) throw new Error(`${p.error.reason}: ${p.error.detail}`);
      return p.value;
    });
    expect(records[0]).toEqual({ kind: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, seed: 'abc', startedAt: '2024-01-01T00:00:00.000Z' });
    expect(records.slice(1)).toEqual(memory.events);
    // Byte-identical when written again.
    expect(records.map((r) => formatTraceRecord(r))).toEqual(lines);
  });

  it('has a field table entry for every kind', () => {
    expect([...TRACE_KINDS].sort()).toEqual(['decision', 'drop', 'fault', 'frame', 'log', 'metric', 'request', 'state']);
    for (const kind of TRACE_KINDS) expect(Object.keys(EVENT_FIELDS[kind]).length).toBeGreaterThan(0);
  });

  it('refuses to write a malformed event (our bug)', () => {
    const trace = new JsonlTrace(() => {});
    expect(() => trace.emit({ kind: 'frame', t: instant(0), link: 'l', dir: 'tx', len: 1.5, summary: '' })).toThrow(/len/);
    expect(() => trace.emit({ kind: 'metric', t: instant(0), name: 'm', value: Number.NaN })).toThrow(/value/);
    expect(() => trace.emit({ kind: 'log', t: 1.5 as never, level: 'info', msg: '' })).toThrow(/integer/);
  });
});

describe('parseTraceLine', () => {
  const frameLine = '{"kind":"frame","id":1,"t":5,"link":"l","dir":"rx","len":60,"summary":"s"}';

  it('accepts a minimal event and ignores unknown keys', () => {
    const r = parseTraceLine('{"kind":"frame","id":1,"t":5,"link":"l","dir":"rx","len":60,"summary":"s","future":true}');
    expect(r).toEqual({ ok: true, value: { kind: 'frame', id: 1, t: 5, link: 'l', dir: 'rx', len: 60, summary: 's' } });
  });

  it.each([
    ['', 'truncated'],
    ['{"kind":"frame","id":1,', 'truncated'],
    ['null', 'unsupported'],
    ['[1,2]', 'unsupported'],
    ['{"id":1}', 'unsupported'],
    ['{"kind":"teleport","id":1,"t":0}', 'unsupported'],
    ['{"kind":"toString","id":1,"t":0}', 'unsupported'],
    [frameLine.replace('"id":1,', ''), 'unsupported'],
    [frameLine.replace('"t":5', '"t":-5'), 'unsupported'],
    [frameLine.replace('"t":5', '"t":5.5'), 'unsupported'],
    [frameLine.replace('"len":60', '"len":"60"'), 'unsupported'],
    [frameLine.replace('"dir":"rx"', '"dir":"sideways"'), 'unsupported'],
    [frameLine.replace(',"summary":"s"', ''), 'unsupported'],
    [frameLine.replace('"id":1', '"id":1,"cause":"x"'), 'unsupported'],
    ['{"kind":"decision","id":1,"t":0,"what":"w","detail":{"a":{"nested":1}}}', 'unsupported'],
    ['{"kind":"metric","id":1,"t":0,"name":"m","value":1,"labels":{"a":1}}', 'unsupported'],
    ['{"kind":"header","format":"pcap","version":1}', 'bad-magic'],
    ['{"kind":"header","format":"sg-trace","version":2}', 'bad-version'],
    ['{"kind":"header","format":"sg-trace"}', 'bad-version'],
    ['{"kind":"header","format":"sg-trace","version":1,"seed":1.5}', 'unsupported'],
  ])('rejects %j as %s', (line, reason) => {
    const r = parseTraceLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.reason).toBe(reason);
      expect(r.error.layer).toBe('trace');
    }
  });

  it('keeps a "__proto__" key as data', () => {
    const r = parseTraceLine('{"kind":"metric","id":1,"t":0,"name":"m","value":1,"labels":{"__proto__":"x"}}');
    expect(r.ok).toBe(true);
    if (r.ok && r.value.kind === 'metric') {
      expect(Object.getPrototypeOf(r.value.labels)).toBe(Object.prototype);
      expect(Object.keys(r.value.labels ?? {})).toEqual(['__proto__']);
    }
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        parseTraceLine(s);
      }),
      { numRuns: 1_000 },
    );
  });

  it('never throws on arbitrary JSON, and accepted values re-emit without error', () => {
    const arb = fc.oneof(
      fc.json(),
      fc.record({
        kind: fc.constantFrom('header', ...TRACE_KINDS),
        id: fc.oneof(fc.nat(), fc.double(), fc.string()),
        t: fc.oneof(fc.nat(), fc.constant(-1)),
        format: fc.constantFrom('sg-trace', 'x'),
        version: fc.constantFrom(1, 2),
        link: fc.string(),
        dir: fc.constantFrom('tx', 'rx', 'drop', 'up'),
        len: fc.nat(),
        summary: fc.string(),
        level: fc.constantFrom('info', 'loud'),
        msg: fc.string(),
        what: fc.string(),
        target: fc.string(),
        detail: fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean()))),
      }, { requiredKeys: ['kind'] }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(arb, (line) => {
        const r = parseTraceLine(line);
        if (r.ok) expect(parseTraceLine(formatTraceRecord(r.value))).toEqual(r);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('request events', () => {
  it('round-trip through JSON Lines with optional fields', () => {
    const lines: string[] = [];
    const trace = new JsonlTrace((l) => lines.push(l));
    trace.emit({ kind: 'request', t: 1500 as never, node: 'client1', service: 'web', op: 'http-get', status: 'ok', start: 1000, latency: 500, server: 'rs2' });
    trace.emit({ kind: 'request', t: 9000 as never, node: 'client1', service: 'web', op: 'http-get', status: 'timeout', start: 1000, latency: 8000 });
    const [, ok1, to] = lines;
    expect(ok1).toBe('{"kind":"request","id":1,"t":1500,"node":"client1","service":"web","op":"http-get","status":"ok","start":1000,"latency":500,"server":"rs2"}');
    const parsed = parseTraceLine(to!);
    expect(parsed).toMatchObject({ ok: true, value: { kind: 'request', status: 'timeout', latency: 8000 } });
    expect(parseTraceLine(to!.replace('"timeout"', '"maybe"')).ok).toBe(false);
  });
});
