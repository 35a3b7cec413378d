import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { instant } from '../src/time.ts';
import {
  DECISION_DETAILS,
  DECISION_WHATS,
  DROP_LAYERS,
  DROP_REASONS,
  EVENT_FIELDS,
  MACHINES,
  traceEventProblem,
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
  { kind: 'state', t: instant(2_000), node: 'sg1', entity: 'server:10.0.1.5', machine: 'server', from: 'alive', to: 'pending', reason: 'probe-timeout' },
  { kind: 'fault', t: instant(3_000), what: 'crash', target: 'sg2' },
  { kind: 'fault', t: instant(3_001), what: 'loss', target: 'link:a-b', detail: 'p=0.3' },
  { kind: 'metric', t: instant(4_000), name: 'links.active', value: 12.5 },
  { kind: 'metric', t: instant(4_000), name: 'rtt', value: -0.25, labels: { server: '10.0.1.5', port: '80' } },
  { kind: 'decision', t: instant(5_000), cause: 3, what: 'link-new', detail: { group: 'web', server: 'rs2', client: '10.0.0.9', sport: 40_000, proto: 6, reason: 'policy' } },
  { kind: 'decision', t: instant(5_001), what: 'ctl-reply', detail: { index: 2, verified: false, bytes: 54 } },
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
    ['{"kind":"decision","id":1,"t":0,"what":"sync-wait","detail":{"position":1,"links":2,"a":{"nested":1}}}', 'unsupported'],
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

describe('the closed vocabulary', () => {
  const decision = (what: string, detail: object) => JSON.stringify({ kind: 'decision', id: 1, t: 0, node: 'sg1', what, detail });
  const reject = (line: string): string => {
    const r = parseTraceLine(line);
    if (r.ok) throw new Error(`accepted: ${line}`);
    expect(r.error).toMatchObject({ layer: 'trace', reason: 'unsupported' });
    return r.error.detail ?? '';
  };

  it('a name outside it is a compile error in a producer', () => {
    const t = instant(0);
    const events: TraceEventInput[] = [
      // @ts-expect-error: 'link-nwe' is not a decision
      { kind: 'decision', t, what: 'link-nwe', detail: { group: 'web', server: 'rs1', client: '10.0.0.9', sport: 1, proto: 6, reason: 'policy' } },
      // @ts-expect-error: link-new has no detail 'servr' (and lacks 'server')
      { kind: 'decision', t, what: 'link-new', detail: { group: 'web', servr: 'rs1', client: '10.0.0.9', sport: 1, proto: 6, reason: 'policy' } },
      // @ts-expect-error: 'health' is not a machine
      { kind: 'state', t, entity: 'web/rs1', machine: 'health', from: 'alive', to: 'dead', reason: 'x' },
      // @ts-expect-error: 'ipv5' is not a drop layer
      { kind: 'drop', t, layer: 'ipv5', reason: 'truncated' },
      // @ts-expect-error: 'bad-checksum' is a reason of ipv4, not of nat
      { kind: 'drop', t, layer: 'nat', reason: 'bad-checksum' },
    ];
    // Forced past the compiler, the writer refuses each one (our bug), naming what is wrong.
    const trace = new JsonlTrace(() => {});
    expect(() => trace.emit(events[0]!)).toThrow(/unknown decision "link-nwe" \(known: link-new, /);
    expect(() => trace.emit(events[1]!)).toThrow(/decision link-new: detail.server: missing/);
    expect(() => trace.emit(events[2]!)).toThrow(/unknown machine "health" \(known: bidd, server, /);
    expect(() => trace.emit(events[3]!)).toThrow(/unknown drop layer "ipv5"/);
    expect(() => trace.emit(events[4]!)).toThrow(/"bad-checksum" is not a reason of layer "nat"/);
  });

  it('the writer refuses a detail a decision does not declare; a reader keeps it (a newer producer\'s addition)', () => {
    const ev = { kind: 'decision', t: instant(0), what: 'sync-ready', detail: { position: 3, links: 2, lag: 1 } } as unknown as TraceEventInput;
    expect(() => new JsonlTrace(() => {}).emit(ev)).toThrow(/decision sync-ready: detail.lag: not a detail of sync-ready \(its details: position, links\)/);
    const line = decision('sync-ready', { position: 3, links: 2, lag: 1 });
    expect(parseTraceLine(line)).toEqual({ ok: true, value: { kind: 'decision', id: 1, t: 0, node: 'sg1', what: 'sync-ready', detail: { position: 3, links: 2, lag: 1 } } });
  });

  it('a reader refuses a line with a name it does not know, saying which and what it knows', () => {
    expect(reject(decision('link-nwe', {}))).toBe(`decision.what: unknown decision "link-nwe" (known: ${DECISION_WHATS.join(', ')})`);
    expect(reject('{"kind":"state","id":1,"t":0,"entity":"e","machine":"health","from":"a","to":"b","reason":"r"}')).toBe(`state.machine: unknown machine "health" (known: ${MACHINES.join(', ')})`);
    expect(reject('{"kind":"drop","id":1,"t":0,"layer":"ipv5","reason":"truncated"}')).toMatch(/^drop\.layer: unknown drop layer "ipv5" \(known: ethernet, /);
    expect(reject('{"kind":"drop","id":1,"t":0,"layer":"ipv4","reason":"bad-chksum"}')).toMatch(/^drop\.reason: unknown drop reason "bad-chksum" \(known: /);
    expect(reject('{"kind":"drop","id":1,"t":0,"layer":"nat","reason":"bad-checksum"}')).toBe(`drop.reason: "bad-checksum" is not a reason of layer "nat" (its reasons: ${DROP_REASONS.nat.join(', ')})`);
    // A declared detail missing or of the wrong type: the typed detail would lie.
    expect(reject(decision('link-remap', { group: 'web', from: 'rs1', client: '10.0.0.9', sport: 5 }))).toBe('decision link-remap: detail.to: missing');
    expect(reject(decision('link-drop', { reason: 'full', group: 'web', client: '10.0.0.9', sport: 5 }))).toBe('decision link-drop: detail.reason: not one of table-full|server-key-taken');
    expect(reject(decision('sync-wait', { position: '3', links: 2 }))).toBe('decision sync-wait: detail.position: not a finite number');
    expect(reject(decision('ctl-reply', { index: 1, verified: 'no' }))).toBe('decision ctl-reply: detail.verified: not a boolean');
    // traceEventProblem is the same check on an object already parsed (the viewer's).
    expect(traceEventProblem(JSON.parse(decision('link-nwe', {})) as Record<string, unknown>)).toMatch(/^decision\.what: unknown decision "link-nwe"/);
    expect(traceEventProblem(JSON.parse(decision('watched-down', { state: 'master' })) as Record<string, unknown>)).toBeUndefined();
  });

  it('every drop layer and reason, and every machine, round-trips', () => {
    for (const layer of DROP_LAYERS) {
      for (const reason of DROP_REASONS[layer]) {
        const line = formatTraceRecord({ kind: 'drop', id: 1, t: instant(0), layer, reason } as TraceRecord);
        expect(parseTraceLine(line)).toEqual({ ok: true, value: { kind: 'drop', id: 1, t: 0, layer, reason } });
      }
    }
    for (const machine of MACHINES) expect(parseTraceLine(formatTraceRecord({ kind: 'state', id: 1, t: instant(0), entity: 'e', machine, from: 'a', to: 'b', reason: 'r' })).ok).toBe(true);
  });

  it('every decision has details of the detail types (strings, numbers, booleans)', () => {
    expect(DECISION_WHATS.length).toBe(Object.keys(DECISION_DETAILS).length);
    for (const w of DECISION_WHATS) {
      for (const f of Object.values(DECISION_DETAILS[w] as Record<string, { type: string; values?: readonly string[] }>)) {
        expect(['string', 'number', 'boolean']).toContain(f.type);
        if (f.values !== undefined) expect(f.type).toBe('string');
      }
    }
  });
});
