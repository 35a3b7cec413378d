/**
 * The timeline's model (viz/src/model.ts) over a real scenario trace: one lane per node with the
 * SG nodes first, a role band per bidd state interval, the crash as a fault marker, control
 * arrows matched through the cause chain from sender to receiver, request metrics per bucket.
 */
import { describe, expect, it } from 'vitest';
import { BAD_LINES_SHOWN, buildModel, causeChain, decodeSummary, flowArrows, flowPort, parseTrace, windowMetrics, windowRates } from '../../viz/src/model.ts';
import { scenarioTrace } from './trace-helper.ts';

describe('viz model: server states', () => {
  it('draws each server state as each SG node sees it, from the health decisions', () => {
    const { events } = parseTrace(scenarioTrace('scenarios/health-crash.yaml'));
    const m = buildModel(events);
    const server = m.bands.filter((b) => b.row !== 'role');
    expect(server.length).toBeGreaterThan(0);
    const states = new Set(server.map((b) => b.state));
    expect(states.has('dead')).toBe(true);
    // The bands of one server row tile time without overlap, in order.
    const byRow = new Map<string, typeof server>();
    for (const b of server) byRow.set(`${b.lane}/${b.row}`, [...(byRow.get(`${b.lane}/${b.row}`) ?? []), b]);
    for (const rows of byRow.values()) for (let i = 1; i < rows.length; i++) expect(rows[i]!.from).toBeGreaterThanOrEqual(rows[i - 1]!.to);
    // Each band starts at a server state event of that node and entity.
    for (const b of server) expect(events.some((e) => e.kind === 'state' && e.machine === 'server' && e.node === b.lane && e.entity === b.row && e.t === b.from && e.to === b.state)).toBe(true);
  });

  it('re-buckets the data rates of a zoomed window from the events', () => {
    const { events } = parseTrace(scenarioTrace('scenarios/lab-basic.yaml'));
    const w = windowRates(events, new Set(['client', 'sg1']), 2_000_000, 3_000_000, 50);
    const sent = events.filter((e) => e.kind === 'frame' && e.dir === 'tx' && e.node === 'client' && e.t >= 2_000_000 && e.t < 3_000_000).length;
    expect(sent).toBeGreaterThan(0);
    expect([...w.rates.get('client')!].reduce((a, b) => a + b, 0)).toBe(sent);
    expect(w.rates.has('rs1')).toBe(false);
  });

  it('re-buckets the metrics of a zoomed window from the events', () => {
    const { events } = parseTrace(scenarioTrace('scenarios/lab-basic.yaml'));
    const w = windowMetrics(events, 2_000_000, 3_000_000, 100);
    expect(w.bucketUs).toBe(10_000);
    const inWindow = events.filter((e) => e.kind === 'request' && e.t >= 2_000_000 && e.t < 3_000_000).length;
    expect(w.metrics.reduce((s, b) => s + b.requests, 0)).toBe(inWindow);
  });
});

describe('viz model', () => {
  const text = scenarioTrace('scenarios/lab-basic.yaml');
  const { events, header, bad } = parseTrace(text);
  const m = buildModel(events, header);

  it('parses every line', () => {
    expect(bad).toBe(0);
    expect(header?.['scenario']).toBe('lab-basic');
    expect(m.events).toBe(text.trim().split('\n').length - 1);
  });

  it('skips a line outside the trace vocabulary, counts it and says why; reads the rest', () => {
    const lines = text.trim().split('\n');
    const odd = [
      '{"kind":"decision","id":900001,"t":5,"node":"sg1","what":"link-nwe","detail":{}}',
      '{"kind":"state","id":900002,"t":5,"node":"sg1","entity":"sg1","machine":"bid","from":"a","to":"b","reason":"r"}',
      '{"kind":"drop","id":900003,"t":5,"layer":"nat","reason":"bad-checksum"}',
      '{"kind":"decision","id":900004,"t":5,"node":"sg1","what":"script","detail":{"state":"master","epoch":1}}',
      'not json',
    ];
    const r = parseTrace([...lines.slice(0, 2), ...odd, ...lines.slice(2)].join('\n'));
    expect(r.events.length).toBe(events.length);
    expect(r.bad).toBe(odd.length);
    expect(r.problems).toHaveLength(BAD_LINES_SHOWN);
    expect(r.problems[0]).toMatch(/^line 3: decision\.what: unknown decision "link-nwe" \(known: link-new, /);
    expect(r.problems[1]).toMatch(/^line 4: state\.machine: unknown machine "bid" \(known: bidd, /);
    expect(r.problems[2]).toBe('line 5: drop.reason: "bad-checksum" is not a reason of layer "nat" (its reasons: standby, fragment, no-link, truncated, no-group, no-server, table-full, server-key-taken)');
    // The viewer's events are the trace's type: a misspelt name is a compile error here too.
    // @ts-expect-error: 'link-nwe' is not a decision, so this comparison can never be true
    expect(events.filter((e) => e.kind === 'decision' && e.what === 'link-nwe')).toEqual([]);
    // @ts-expect-error: 'bid' is not a machine
    expect(events.filter((e) => e.kind === 'state' && e.machine === 'bid')).toEqual([]);
  });

  it('has a lane per node, SG nodes first', () => {
    expect(m.lanes.slice(0, 2)).toEqual(['sg1', 'sg2']);
    for (const n of ['client', 'rs1', 'rs2']) expect(m.lanes).toContain(n);
  });

  it('draws role bands from the bidd transitions and the crash as a marker', () => {
    const roles = m.bands.filter((b) => b.row === 'role');
    const sg1 = roles.filter((b) => b.lane === 'sg1').map((b) => b.state);
    expect(sg1).toContain('master');
    const sg2Master = roles.find((b) => b.lane === 'sg2' && b.state === 'master')!;
    expect(sg2Master.from).toBeGreaterThan(5_000_000);
    // sg1's master band ends at the crash.
    const sg1Master = roles.find((b) => b.lane === 'sg1' && b.state === 'master')!;
    expect(sg1Master.to).toBe(5_000_000);
    expect(m.markers.some((k) => k.kind === 'fault' && k.label === 'crash sg1' && k.t === 5_000_000)).toBe(true);
  });

  it('matches control arrows from sender to receiver through the switch', () => {
    const bidd = m.arrows.filter((a) => a.label === 'bidd');
    expect(bidd.length).toBeGreaterThan(20);
    expect(bidd.every((a) => a.t1 >= a.t0 && a.from !== a.to)).toBe(true);
    expect(bidd.some((a) => a.from === 'sg1' && a.to === 'sg2')).toBe(true);
    expect(bidd.some((a) => a.from === 'sg2' && a.to === 'sg1')).toBe(true);
    // The receiving frame's cause chain leads back to the sender's transmission.
    const a = bidd[0]!;
    const chain = causeChain(m, a.id);
    expect(chain.some((e) => e.node === a.from && e.kind === 'frame' && e.dir === 'tx')).toBe(true);
  });

  it('buckets requests, failures and latency', () => {
    const total = m.metrics.reduce((s, b) => s + b.requests, 0);
    expect(total).toBe(events.filter((e) => e.kind === 'request').length);
    expect(m.metrics.some((b) => Number.isFinite(b.p99))).toBe(true);
    expect([...m.links.keys()].sort()).toEqual(['web/rs1', 'web/rs2']);
  });
});

describe('viz model: flows', () => {
  it('a multicast write fans out: the relayed datagram reaches both servers from the SG node (slides 16, 19)', () => {
    const { events } = parseTrace(scenarioTrace('scenarios/failover-multicast.yaml'));
    const m = buildModel(events);
    const first = events.find((e) => e.kind === 'frame' && e.dir === 'rx' && e.node === 'rs1' && e.summary.includes('> 234.116.72.114:5000'))!;
    const port = flowPort(first.kind === 'frame' ? first.summary : '')!;
    const arrows = flowArrows(m, events, port, first.t - 1000, first.t + 1000);
    const toServers = arrows.filter((a) => a.from === 'sg1' && (a.to === 'rs1' || a.to === 'rs2') && Math.abs(a.t1 - first.t) < 1000);
    expect(new Set(toServers.map((a) => a.to))).toEqual(new Set(['rs1', 'rs2']));
    // And the datagram reached sg1 from the router first.
    expect(arrows.some((a) => a.from === 'mr' && a.to === 'sg1')).toBe(true);
  });

  it('decodes a frame summary into fields', () => {
    expect(decodeSummary('TCP 10.0.0.1:40000 > 10.0.0.2:80 [ACK,SYN] seq=1 ack=2 len=0')).toEqual({ protocol: 'TCP', source: '10.0.0.1:40000', destination: '10.0.0.2:80', flags: 'ACK,SYN', seq: '1', ack: '2', len: '0' });
    expect(decodeSummary('UDP 10.0.0.1:5891 > 224.1.1.1:5891 len=67')['service']).toBe('bidd (heartbeat/bid/resign)');
    expect(decodeSummary('ARP who-has 10.0.0.1 tell 10.0.0.2')).toEqual({ protocol: 'ARP', text: 'who-has 10.0.0.1 tell 10.0.0.2' });
  });
});
