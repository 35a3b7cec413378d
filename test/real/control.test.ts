/**
 * The control timeline, counter and server-state faults in real mode (src/real/control.ts): which host sends
 * what to which node, with which key. Pure: the lab run itself is test/real/agreement.test.ts
 * (scenarios/lab-control.yaml is marked real: true).
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { controlSenders, runSender, type SenderSpec } from '../../src/real/control.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';
import { loadScenario, type Scenario } from '../../src/scenario/load.ts';

function load(file: string): Scenario {
  const r = loadScenario(readFileSync(file, 'utf8'), file);
  if (!r.ok) throw new Error(`${file} does not load`);
  return r.scenario;
}

describe('control senders', () => {
  it('control.yaml: one sender per host; the replayed message is reported, the replay goes to its node', () => {
    const s = controlSenders(load('scenarios/control.yaml'));
    expect(s.map((x) => x.host).sort()).toEqual(['admin', 'c1', 'rs1', 'rs2', 'rs3']);
    const admin = s.find((x) => x.host === 'admin')!;
    expect(admin.entries.find((e) => e.kind === 'send' && e.index === 5)).toMatchObject({ report: true, node: '140.116.72.211', port: 5890, at: 3_000_000 });
    const c1 = s.find((x) => x.host === 'c1')!;
    expect(c1.entries.find((e) => e.kind === 'replay')).toEqual({ kind: 'replay', index: 6, at: 3_500_000, of: 5, node: '140.116.72.211', port: 5890 });
    // The forgery keeps its own (wrong) secret.
    expect(c1.entries.find((e) => e.kind === 'send' && e.index === 4)).toMatchObject({ key: { id: 1, secret: 'deadbeefdeadbeefdeadbeefdeadbeef' } });
    const rs2 = s.find((x) => x.host === 'rs2')!;
    expect(rs2.entries.find((e) => e.kind === 'send' && e.index === 1)).toMatchObject({ every: 500_000, until: 6_000_000, request: { property: 'counter', data: '10' } });
  });

  it('a counter fault is sent from the server host to every node, signed with a key allowed to set it', () => {
    const s = controlSenders(load('scenarios/lab-control.yaml'));
    const faults = s.find((x) => x.host === 'rs2')!.entries.filter((e) => e.kind === 'send' && e.fault === 0);
    expect(faults.map((e) => (e.kind === 'send' ? [e.node, e.key.id, e.request.data, e.at] : []))).toEqual([
      ['10.10.2.11', 12, '90', 6_500_000],
      ['10.10.2.12', 12, '90', 6_500_000],
    ]);
  });

  it('a counter fault with no admin key or server key is an error at start', () => {
    const sc = load('scenarios/web-cluster-policies.yaml');
    const noKeys = { ...sc, cluster: { ...sc.cluster!, keys: [] } };
    expect(() => controlSenders(noKeys)).toThrow(/faults\[\d+\]: counter ctr\/rs1 is sent as a feedback command in real mode and needs a key in cluster.keys/);
  });

  it('a server-state fault is sent as `set server G/S state X` from the server host to every node, with its own key', () => {
    const s = controlSenders(load('scenarios/lab-server-state.yaml'));
    const rs2 = s.find((x) => x.host === 'rs2')!;
    const sent = rs2.entries.map((e) => (e.kind === 'send' ? [e.fault, e.node, e.key.id, e.key.role, e.request, e.at] : []));
    const req = (state: string) => ({ cls: 'server', op: 'set', group: 'web', server: 'rs2', property: 'state', data: state });
    const role = { kind: 'server', group: 'web', server: 'rs2' };
    expect(sent).toEqual([
      [0, '10.10.2.11', 12, role, req('dead'), 3_000_000],
      [0, '10.10.2.12', 12, role, req('dead'), 3_000_000],
      [1, '10.10.2.11', 12, role, req('alive'), 6_000_000],
      [1, '10.10.2.12', 12, role, req('alive'), 6_000_000],
    ]);
  });

  it("a server-state fault takes the server's own key over an admin's (an admin's dead holds the server); an admin key alone does", () => {
    const sc = load('scenarios/lab-server-state.yaml');
    const adminKey = { name: 'ops', key: { id: 1, secret: new Uint8Array(16).fill(1), role: { kind: 'admin' as const } } };
    const both = { ...sc, cluster: { ...sc.cluster!, keys: [adminKey, ...sc.cluster!.keys] } };
    const ids = (x: Scenario) => controlSenders(x).flatMap((h) => h.entries.map((e) => (e.kind === 'send' ? e.key.id : -1)));
    expect(ids(both)).toEqual([12, 12, 12, 12]);
    expect(ids({ ...sc, cluster: { ...sc.cluster!, keys: [adminKey] } })).toEqual([1, 1, 1, 1]);
  });

  it('a server-state fault with no admin key or server key is an error at start', () => {
    const sc = load('scenarios/links.yaml');
    expect(() => controlSenders(sc)).toThrow(/^faults\[1\]: server-state web\/rs2 is sent as a feedback command in real mode and needs a key in cluster.keys with role \{ group: web, server: rs2 \}/);
  });

  it('sends no message before its time (setTimeout alone fired early: a heartbeat due at 6 s reached sg1 at 5.999993 s)', async () => {
    // lab-heartbeat's rs2 heartbeats, every 5 ms from 10 ms to 400 ms, to a socket on loopback.
    const rx = createSocket('udp4');
    await new Promise<void>((res) => rx.bind(0, '127.0.0.1', res));
    const port = rx.address().port;
    const rs2 = controlSenders(load('scenarios/lab-heartbeat.yaml')).find((x) => x.host === 'rs2')!;
    const first = rs2.entries[0]!;
    if (first.kind !== 'send') throw new Error('send');
    const every = 5_000;
    const spec: SenderSpec = { host: 'rs2', end: 400_000, entries: [{ ...first, at: 10_000, every, until: 400_000, node: '127.0.0.1', port }] };
    const t0 = monotonicUs();
    const arrivals: number[] = [];
    rx.on('message', () => arrivals.push(monotonicUs() - t0));
    await runSender(spec, t0, () => {}, async () => undefined);
    rx.close();
    expect(arrivals.length).toBe(79);
    // The k-th message is due at 10 ms + k * 5 ms; none may arrive before that.
    const early = arrivals.map((t, k) => t - (10_000 + k * every)).filter((d) => d < 0);
    expect(early, 'µs before the due time').toEqual([]);
  });
});
