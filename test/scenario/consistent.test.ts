/**
 * The consistency expectation (`consistent:`) and the rpc options it works with: judged on
 * hand-built traces (a stale read is found and reported, fresh reads pass, failed writes count as
 * maybe applied), its load errors and those of rpc retry / fail-writes / diverge / partition at
 * file:line, a partitioned service learning its group's members from a real SG node, and `sg
 * fuzz`'s verdict including it.
 */
import { describe, expect, it } from 'vitest';
import { Evaluator } from '../../src/scenario/expect.ts';
import { formatScenarioError, loadScenario, type Scenario } from '../../src/scenario/load.ts';
import { judgeScenario } from '../../src/cli/fuzz.ts';
import { runScenario } from '../../sim/scenario.ts';
import { MemoryTrace, type RequestEvent, type RequestStatus } from '../../src/trace.ts';
import type { Instant } from '../../src/time.ts';

let id = 0;
/** A recorded rpc request of workload `service`, from `start` to `end` (µs). */
function req(service: string, rw: 'read' | 'write', key: number, value: number | undefined, start: number, end: number, status: RequestStatus = 'ok'): RequestEvent {
  return { kind: 'request', id: ++id, t: end as Instant, service, op: 'rpc', status, start, latency: end - start, rw, key, ...(value !== undefined ? { value } : {}) };
}

function judge(events: readonly RequestEvent[], workloads = ['a', 'b']) {
  const ev = new Evaluator([{ model: { kind: 'consistent', workloads }, path: 'expect[0]', line: 1, text: 'consistent' }]);
  for (const e of events) ev.observe(e);
  return ev.finish(1_000_000_000 as Instant)[0]!;
}

describe('consistent: judged over request events', () => {
  it('fresh reads pass, the initial 0 before any write included', () => {
    const r = judge([req('a', 'read', 1, 0, 0, 5), req('a', 'write', 1, 2, 10, 20), req('b', 'read', 1, 2, 30, 35), req('b', 'write', 1, 4, 40, 50), req('a', 'read', 1, 4, 60, 65)]);
    expect(r.pass).toBe(true);
    expect(r.measured).toBe('consistent: 3 reads, 2 acknowledged writes, 0 maybe applied (failed or timed out), 0 unanswered reads, over 1 keys');
  });

  it('a stale read is found and reported with the read, the value seen, and the newer acknowledged write', () => {
    const r = judge([req('a', 'write', 7, 2, 1_000, 2_000), req('b', 'write', 7, 4, 3_000, 4_000), req('a', 'read', 7, 2, 5_000, 6_000)]);
    expect(r.pass).toBe(false);
    expect(r.measured).toMatch(/^1 stale and 0 unknown-value reads of 1 reads/);
    expect(r.detail).toBe('a read key 7 in [5ms, 6ms] and got 2 (written by a in [1ms, 2ms]), but b had written 4 in [3ms, 4ms], acknowledged before the read started');
  });

  it('the initial value after an acknowledged write is stale; a value nobody wrote is reported as such', () => {
    const r = judge([req('a', 'write', 3, 2, 0, 10), req('b', 'read', 3, 0, 20, 30), req('b', 'read', 3, 9, 40, 50)]);
    expect(r.pass).toBe(false);
    expect(r.measured).toMatch(/^1 stale and 1 unknown-value reads/);
    expect(r.detail).toContain('got 0 (the initial value), but a had written 2');
    expect(r.detail).toContain('got 9, a value no write stored');
  });

  it('failed and timed-out writes are maybe applied: never make a read stale, and their value may be read later', () => {
    const r = judge([
      req('a', 'write', 1, 2, 0, 10),
      req('a', 'write', 1, 4, 20, 2_000_020, 'timeout'),
      req('b', 'write', 1, 6, 30, 40, 'error'),
      req('b', 'read', 1, 2, 50, 60), // 4 and 6 may not have happened
      req('b', 'read', 1, 4, 3_000_000, 3_000_010), // 4 may have landed at any time
    ]);
    expect(r.pass).toBe(true);
    expect(r.measured).toContain('1 acknowledged writes, 2 maybe applied');
  });

  it('only the named workloads count; reads without an answer saw nothing; keys are separate', () => {
    const r = judge([req('a', 'write', 1, 2, 0, 10), req('c', 'write', 1, 4, 20, 30), req('a', 'read', 1, 2, 40, 50), req('a', 'read', 1, undefined, 40, 50, 'timeout'), req('a', 'read', 2, 0, 40, 50)], ['a']);
    expect(r.pass).toBe(true);
    expect(r.measured).toContain('1 unanswered reads, over 2 keys');
  });

  it('no answered reads is a failure, not a vacuous pass', () => {
    const r = judge([req('a', 'write', 1, 2, 0, 10)]);
    expect(r.pass).toBe(false);
    expect(r.measured).toBe('no answered rpc reads recorded for a, b');
  });
});

/** Three rpc servers behind an SG node, each with its own key; one client straight to each. */
function partitioned(extra: { service?: string; workload?: string; expect?: string; faults?: string } = {}): string {
  const svc = (n: number) => `[{ kind: rpc, port: 2049${extra.service ?? `, partition: { replicas: 1, control-key: rs${n} }`} }]`;
  return `name: p
duration: 4s
topology:
  segments:
    public: { subnet: 10.0.0.0/24, link: { latency: 0.1ms } }
    pool: { subnet: 192.168.1.0/24, link: { latency: 0.1ms } }
  hosts:
    rs1: { ifaces: [{ segment: pool, ip: 192.168.1.1 }], gateway: 192.168.1.254, services: ${svc(1)} }
    rs2: { ifaces: [{ segment: pool, ip: 192.168.1.2 }], gateway: 192.168.1.254, services: ${svc(2)} }
    rs3: { ifaces: [{ segment: pool, ip: 192.168.1.3 }], gateway: 192.168.1.254, services: ${svc(3)} }
    c1: { ifaces: [{ segment: pool, ip: 192.168.1.9 }] }
cluster:
  nodes:
    sg1: { public: { segment: public, ip: 10.0.0.254 }, private: { segment: pool, ip: 192.168.1.254 } }
  keys:
    - { name: rs1, id: 11, secret: "11111111111111111111111111111111", role: { group: store, server: rs1 } }
    - { name: rs2, id: 12, secret: "22222222222222222222222222222222", role: { group: store, server: rs2 } }
    - { name: rs3, id: 13, secret: "33333333333333333333333333333333", role: { group: store, server: rs3 } }
    - { name: admin, id: 1, secret: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", role: admin }
  groups:
    - { name: store, vip: 10.0.0.50, port: 2049, servers: [{ host: rs1 }, { host: rs2 }, { host: rs3 }] }
workload:
  - { name: r2, from: c1, to: 192.168.1.2:2049, request: { kind: rpc, keys: 30${extra.workload ?? ''} }, rate: 100/s, start: 1s, stop: 3s, timeout: 300ms }
${extra.faults ?? ''}expect:
${extra.expect ?? '  - consistent: { workloads: [r2] }'}
`;
}

function load(text: string): Scenario {
  const r = loadScenario(text, 'p.yaml');
  if (!r.ok) throw new Error(r.errors.map(formatScenarioError).join('\n'));
  return r.scenario;
}

function errorsOf(text: string): string[] {
  const r = loadScenario(text, 'p.yaml');
  return r.ok ? [] : r.errors.map(formatScenarioError);
}

describe('partitioned rpc service in a run', () => {
  it('learns the members from the SG node and answers reads of its own keys only (key mod 3 = 1 for rs2)', () => {
    const trace = new MemoryTrace();
    const res = runScenario(load(partitioned()), { trace });
    const log = trace.ofKind('log').filter((e) => e.node === 'rs2');
    expect(log.map((e) => e.msg)).toEqual([expect.stringMatching(/^rpc:2049: members rs1, rs2, rs3;/)]);
    const reqs = trace.ofKind('request').filter((e) => e.service === 'r2');
    expect(reqs.length).toBeGreaterThan(150);
    for (const e of reqs) expect([e.key! % 3 === 1, e.status]).toEqual(e.key! % 3 === 1 ? [true, 'ok'] : [false, 'timeout']);
    const drops = trace.ofKind('drop').filter((d) => d.node === 'rs2' && d.reason === 'not-responsible');
    expect(drops.length).toBe(reqs.filter((e) => e.status === 'timeout').length);
    // Its reads returned the initial value (nobody wrote): consistent.
    expect(res.expectations[0]!.pass).toBe(true);
  });

  it('a server taken out of service changes the members: the others take over its keys', () => {
    const trace = new MemoryTrace();
    runScenario(load(partitioned({ faults: 'faults:\n  - { at: 0.2s, server-state: { group: store, server: rs1, state: dead } }\n' })), { trace });
    // members rs2, rs3: rs2 is index 0, so it now answers the even keys.
    expect(trace.ofKind('log').filter((e) => e.node === 'rs2').map((e) => e.msg).at(-1)).toMatch(/^rpc:2049: members rs2, rs3;/);
    const ok = trace.ofKind('request').filter((e) => e.service === 'r2' && e.t > 1_000_000 && e.status === 'ok');
    expect(ok.length).toBeGreaterThan(50);
    for (const e of ok) expect(e.key! % 2).toBe(0);
  });
});

describe('load errors of the new options name file:line', () => {
  it('partition: unknown key, an admin key, another server\'s key, no node to ask', () => {
    const t = partitioned();
    expect(errorsOf(t.replace('control-key: rs1 }', 'control-key: nobody }'))).toEqual([
      "p.yaml:8:157: topology.hosts.rs1.services[0].partition.control-key: unknown key 'nobody' (keys: rs1, rs2, rs3, admin)",
    ]);
    expect(errorsOf(t.replace('control-key: rs1 }', 'control-key: admin }'))).toEqual([
      'p.yaml:8:157: topology.hosts.rs1.services[0].partition.control-key: key admin is an admin key: a partitioned service uses its own server\'s key (role: { group, server: rs1 })',
    ]);
    expect(errorsOf(t.replace('control-key: rs1 }', 'control-key: rs2 }'))).toEqual([
      "p.yaml:8:157: topology.hosts.rs1.services[0].partition.control-key: key rs2 is server store/rs2's, but this service runs on rs1 (members names servers by host)",
    ]);
    expect(errorsOf(t.replace('gateway: 192.168.1.254, services: [{ kind: rpc, port: 2049, partition: { replicas: 1, control-key: rs1 }', 'services: [{ kind: rpc, port: 2049, partition: { replicas: 1, control-key: rs1 }'))).toEqual([
      "p.yaml:8:105: topology.hosts.rs1.services[0].partition: give node: (the SG node's control address): host rs1 has no gateway to default to",
    ]);
    expect(errorsOf(t.replace('control-key: rs1 }', 'control-key: rs1, refresh: 5ms }'))).toEqual([
      'p.yaml:8:171: topology.hosts.rs1.services[0].partition.refresh: refresh 5ms is outside 10ms to 60s',
    ]);
    expect(errorsOf(t.replace('replicas: 1, control-key: rs1', 'replicas: 0, control-key: rs1'))[0]).toMatch(/^p\.yaml:8:141: topology\.hosts\.rs1\.services\[0\]\.partition\.replicas: expected integer to be greater or equal to 1/);
  });

  it('recover: unknown key, an admin key, another server\'s key', () => {
    const t = partitioned().replace('partition: { replicas: 1, control-key: rs1 }', 'recover: { control-key: rs1 }');
    expect(errorsOf(t)).toEqual([]);
    expect(errorsOf(t.replace('recover: { control-key: rs1 }', 'recover: { control-key: nobody }'))).toEqual([
      expect.stringMatching(/^p\.yaml:8:\d+: topology\.hosts\.rs1\.services\[0\]\.recover\.control-key: unknown key 'nobody' \(keys: rs1, rs2, rs3, admin\)$/),
    ]);
    expect(errorsOf(t.replace('recover: { control-key: rs1 }', 'recover: { control-key: admin }'))).toEqual([
      expect.stringMatching(/recover\.control-key: key admin is an admin key: a recovering service uses its own server's key/),
    ]);
    expect(errorsOf(t.replace('recover: { control-key: rs1 }', 'recover: { control-key: rs2 }'))).toEqual([expect.stringMatching(/recover\.control-key: key rs2 is server store\/rs2's, but this service runs on rs1/)]);
  });

  it('fail-writes with diverge; retry too short or not shorter than the timeout', () => {
    const plain = { service: '' };
    expect(errorsOf(partitioned({ service: ', fail-writes: true, diverge: true' })).slice(0, 1)).toEqual([
      "p.yaml:8:146: topology.hosts.rs1.services[0].diverge: a service whose writes fail stores nothing, so it cannot also diverge: give fail-writes: or diverge:, not both",
    ]);
    expect(errorsOf(partitioned({ ...plain, workload: ', retry: 0.5ms' }))).toEqual(['p.yaml:23:88: workload[0].request.retry: retry 0.5ms is shorter than 1ms']);
    expect(errorsOf(partitioned({ ...plain, workload: ', retry: 300ms' }))).toEqual(['p.yaml:23:88: workload[0].request.retry: retry 300ms is not shorter than the timeout (300ms): nothing would be resent']);
  });

  it('consistent: an unknown workload, a workload that is not rpc', () => {
    const t = partitioned({ service: '', expect: '  - consistent: { workloads: [r2, nope] }' });
    expect(errorsOf(t)).toEqual(["p.yaml:25:35: expect[0].consistent.workloads[1]: unknown workload 'nope' (workloads: r2)"]);
    const http = partitioned({ service: '', expect: '  - consistent: { workloads: [r2, web] }' }).replace('workload:\n', 'workload:\n  - { name: web, from: c1, to: 192.168.1.1:80, request: { kind: http, size: 10 }, rate: 1/s }\n');
    expect(errorsOf(http)).toEqual(['p.yaml:26:35: expect[0].consistent.workloads[1]: workload web sends http requests: the consistency check reads rpc reads and writes']);
  });

  it('a consistent expectation turns record-values on for its workloads only', () => {
    const sc = load(partitioned({ service: '', expect: '  - success: { workload: r2, min: 0% }' }));
    expect(sc.workloads[0]!.request).toEqual({ kind: 'rpc', writeRatio: 0, keys: 30 });
    const sc2 = load(partitioned({ service: '', workload: ', retry: 100ms' }));
    expect(sc2.workloads[0]!.request).toEqual({ kind: 'rpc', writeRatio: 0, keys: 30, retry: 100_000, recordValues: true });
  });
});

describe('sg fuzz judges the consistent expectation', () => {
  // One rpc server, no cluster; a client writing and reading 4 keys.
  const single = (faults: string) => `name: c
duration: 4s
topology:
  segments:
    lan: { subnet: 10.0.0.0/24, link: { latency: 0.1ms } }
  hosts:
    rs: { ifaces: [{ segment: lan, ip: 10.0.0.1 }], services: [{ kind: rpc, port: 2049 }] }
    c: { ifaces: [{ segment: lan, ip: 10.0.0.2 }] }
workload:
  - { name: w, from: c, to: 10.0.0.1:2049, request: { kind: rpc, write-ratio: 30%, keys: 4, retry: 50ms }, users: 1, think: 10ms, timeout: 1s }
${faults}expect:
  - consistent: { workloads: [w] }
`;

  it('a server that loses its data (killed and started again) serves stale reads: the fuzz verdict says so', () => {
    const v = judgeScenario(load(single('faults:\n  - { at: 2s, kill: rs/rpc:2049 }\n  - { at: 2.2s, start: rs/rpc:2049 }\n')), []);
    expect(v.failed).toBe(true);
    expect(v.failures.join('\n')).toMatch(/^expect\[0\] .*consistent.*stale .*got 0 \(the initial value\), but w had written/);
  });

  it('without the fault the same case passes', () => {
    const v = judgeScenario(load(single('')), []);
    expect(v.failures).toEqual([]);
    expect(v.failed).toBe(false);
  });
});
