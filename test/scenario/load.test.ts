/**
 * Scenario files: a good file loads into base units; a broken one gets errors that name the file,
 * line, column, path inside the document and what is wrong, and nothing throws.
 */
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchProblems } from '../../src/scenario/match.ts';
import { formatScenarioError, loadScenario, type LoadOptions } from '../../src/scenario/load.ts';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { groupConfigs } from '../../src/scenario/sg-config.ts';
import {
  GROUP_MODELS, MODELS_BUILT, READ_ANY, REPLIES_HELD_DEFAULT, REPLIES_HELD_MAX, RW_ANALYZER_NAMES, WRITE_TIMEOUT_DEFAULT_US, WRITE_TIMEOUT_MAX_US, WRITE_TIMEOUT_MIN_US, WRITES_PENDING_DEFAULT, WRITES_PENDING_MAX,
} from '../../src/rw/models.ts';
import { scenarioJsonSchema } from '../../src/scenario/schema.ts';
import { bandwidth, duration, fraction, rate, size } from '../../src/scenario/units.ts';
import { ip } from '../../src/wire/addr.ts';

const GOOD = `name: t
duration: 10s
topology:
  segments:
    lan: { subnet: 10.0.0.0/24, link: { latency: 1ms, bandwidth: 100Mbit, loss: 0.5% } }
  hosts:
    a:
      ifaces: [{ segment: lan, ip: 10.0.0.1 }]
      services: [{ kind: http, port: 80, service-time: { exponential: 2ms } }]
    b:
      ifaces: [{ segment: lan, ip: 10.0.0.2 }]
workload:
  - { name: w, from: b, to: 10.0.0.1:80, request: { kind: http, size: 64KiB }, rate: 100/s, stop: 9s }
faults:
  - { at: 2s, crash: a }
  - { at: 3s, restart: a }
expect:
  - success: { workload: w, between: [0s, 2s], min: 99.9% }
`;

function errorsOf(text: string): string[] {
  const r = loadScenario(text, 'f.yaml');
  if (r.ok) return [];
  return r.errors.map(formatScenarioError);
}

/** Replace one line of GOOD (1-based) and return the new text. */
function withLine(n: number, line: string): string {
  const lines = GOOD.split('\n');
  lines[n - 1] = line;
  return lines.join('\n');
}

describe('units', () => {
  it('parse durations, rates, sizes, bandwidth and ratios', () => {
    expect(duration('150ms')).toBe(150_000);
    expect(duration('2.5s')).toBe(2_500_000);
    expect(duration('10us')).toBe(10);
    expect(rate('100/s')).toBe(100);
    expect(rate('6/m')).toBe(0.1);
    expect(size('64KiB')).toBe(65536);
    expect(size('10MB')).toBe(10_000_000);
    expect(size(1500)).toBe(1500);
    expect(size('1.5B')).toBeUndefined();
    expect(bandwidth('100Mbit')).toBe(100e6);
    expect(bandwidth('1Gbit')).toBe(1e9);
    expect(fraction('99.9%')).toBeCloseTo(0.999);
    expect(fraction(0.5)).toBe(0.5);
    expect(fraction('120%')).toBeUndefined();
  });
});

describe('loading a good file', () => {
  it('resolves everything to base units', () => {
    const r = loadScenario(GOOD, 'good.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const s = r.scenario;
    expect(s.duration).toBe(10_000_000);
    expect(s.seed).toBe(1);
    expect(s.segments[0]).toMatchObject({ name: 'lan', net: ip('10.0.0.0'), prefixLen: 24, link: { latency: 1000, bandwidthBps: 100e6, loss: 0.005 } });
    expect(s.hosts[0]).toMatchObject({ name: 'a', ifaces: [{ name: 'eth0', addrs: [{ addr: ip('10.0.0.1'), prefixLen: 24 }], link: { latency: 1000 } }], services: [{ kind: 'http', name: 'http:80', port: 80, serviceTime: { kind: 'exponential', mean: 2000 } }] });
    expect(s.workloads[0]).toMatchObject({ name: 'w', from: 'b', to: ip('10.0.0.1'), port: 80, request: { kind: 'http', size: 65536 }, arrival: { kind: 'poisson', rate: 100 }, stop: 9_000_000 });
    expect(s.faults.map((f) => f.action)).toEqual([{ kind: 'crash', host: 'a' }, { kind: 'restart', host: 'a' }]);
    expect(s.expectations[0]).toMatchObject({ model: { kind: 'success', workload: 'w', from: 0, to: 2_000_000, min: 0.999 }, path: 'expect[0]', line: 18 });
  });

  it('every scenario in scenarios/ loads', async () => {
    const { readdirSync } = await import('node:fs');
    for (const f of readdirSync('scenarios').filter((x) => x.endsWith('.yaml'))) {
      const r = loadScenario(readFileSync(`scenarios/${f}`, 'utf8'), f);
      expect(r.ok ? [] : r.errors.map(formatScenarioError), f).toEqual([]);
    }
  });
});

describe('errors point at the line and path', () => {
  it('YAML syntax error', () => {
    const e = errorsOf(withLine(2, 'duration: [10s'));
    expect(e.length).toBeGreaterThan(0);
    expect(e[0]).toMatch(/^f\.yaml:\d+:\d+: .*YAML/);
  });

  it('a typo in a key is an unknown key at its line', () => {
    expect(errorsOf(withLine(2, 'duraton: 10s')).sort()).toEqual(['f.yaml:1:1: duration: missing required key', 'f.yaml:2:1: duraton: unknown key']);
  });

  it('a bad duration names the value and the format', () => {
    expect(errorsOf(withLine(2, 'duration: 10 seconds'))).toEqual(['f.yaml:2:11: duration: "10 seconds" is not valid (A duration such as 150ms, 2s, 1.5m, 10us)']);
  });

  it('an unknown segment, with the ones that exist', () => {
    expect(errorsOf(withLine(11, '      ifaces: [{ segment: lab, ip: 10.0.0.2 }]'))).toEqual(["f.yaml:11:27: topology.hosts.b.ifaces[0].segment: unknown segment 'lab' (segments: lan)"]);
  });

  it('an address outside its segment', () => {
    expect(errorsOf(withLine(11, '      ifaces: [{ segment: lan, ip: 10.0.9.2 }]'))).toEqual(['f.yaml:11:36: topology.hosts.b.ifaces[0].ip: 10.0.9.2 is outside segment lan (10.0.0.0/24)']);
  });

  it('a service kind that does not exist lists the kinds', () => {
    const e = errorsOf(withLine(9, '      services: [{ kind: htp, port: 80 }]'));
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^f\.yaml:9:\d+: topology\.hosts\.a\.services\[0\]: kind must be one of: http, bulk, tcp-echo, udp-echo, rpc, multicast-sink, dns$/);
  });

  it('a fault on a host that does not exist', () => {
    expect(errorsOf(withLine(15, '  - { at: 2s, crash: nobody }'))).toEqual(["f.yaml:15:22: faults[0].crash: unknown host 'nobody' (hosts: a, b)"]);
  });

  it('a fault after the end of the run', () => {
    expect(errorsOf(withLine(15, '  - { at: 20s, crash: a }'))).toEqual(['f.yaml:15:11: faults[0].at: at 20s is after the end of the run (duration 10s)']);
  });

  it('an expectation on an unknown workload', () => {
    expect(errorsOf(withLine(18, '  - success: { workload: nope, between: [0s, 2s], min: 99.9% }'))).toEqual(["f.yaml:18:26: expect[0].success.workload: unknown workload 'nope' (workloads: w)"]);
  });

  it('a tcp-echo request with hold: (long-lived links) loads in µs; a bad hold is an error', () => {
    const r = loadScenario(withLine(13, '  - { name: w, from: b, to: 10.0.0.1:7, request: { kind: tcp-echo, size: 64, hold: 90s }, users: 5 }'), 'f.yaml');
    expect(r.ok && r.scenario.workloads[0]!.request).toEqual({ kind: 'tcp-echo', size: 64, hold: 90_000_000 });
    const e = errorsOf(withLine(13, '  - { name: w, from: b, to: 10.0.0.1:7, request: { kind: tcp-echo, size: 64, hold: soon }, users: 5 }'));
    expect(e).toHaveLength(1);
    expect(e[0]).toMatch(/^f\.yaml:13:\d+: workload\[0\]\.request\.hold: /);
  });

  it('a match: field that no event of its kind carries is an error naming the kind\'s fields, not a silent pass', () => {
    const state = 'state events have no field';
    expect(errorsOf(withLine(18, '  - never: { kind: state, machin: bidd }'))).toEqual([`f.yaml:18:27: expect[0].never.machin: ${state} 'machin' (their fields: id, t, cause, node, entity, machine, from, to, reason)`]);
    expect(errorsOf(withLine(18, '  - count: { match: { kind: request, to: master }, max: 0 }'))).toEqual([
      "f.yaml:18:38: expect[0].count.match.to: request events have no field 'to' (their fields: id, t, cause, node, service, op, status, start, latency, bytes, server, rw, key, value, since)",
    ]);
    expect(errorsOf(withLine(18, '  - within: { after: { kind: fault, what: crash }, then: { kind: state, entty: a, to: dead }, within: 1s }'))).toEqual([
      expect.stringMatching(/^f\.yaml:18:\d+: expect\[0\]\.within\.then\.entty: state events have no field 'entty' \(/),
    ]);
    expect(errorsOf(withLine(18, '  - within: { after: { kind: fault, wat: crash }, then: { kind: state, to: dead }, within: 1s }'))).toEqual([
      expect.stringMatching(/^f\.yaml:18:\d+: expect\[0\]\.within\.after\.wat: fault events have no field 'wat' \(their fields: id, t, cause, node, what, target, detail\)$/),
    ]);
  });

  it('an unknown kind in match: lists the kinds', () => {
    expect(errorsOf(withLine(18, '  - never: { kind: requests, status: reset }'))).toEqual(['f.yaml:18:20: expect[0].never.kind: unknown event kind "requests" (kinds: frame, state, fault, metric, decision, drop, log, request)']);
  });

  it('a match: value no event can carry (enum, type, dotted key into a non-record) is an error', () => {
    const one = (m: string): string[] => errorsOf(withLine(18, `  - never: { ${m} }`)).map((e) => e.replace(/^f\.yaml:18:\d+: /, ''));
    expect(one('kind: request, status: rset')).toEqual(['expect[0].never.status: status is one of ok, timeout, refused, reset, unreachable, error, never "rset"']);
    expect(one('kind: log, level: fatal')).toEqual(['expect[0].never.level: level is one of debug, info, warn, error, never "fatal"']);
    expect(one('kind: state, entity: 1')).toEqual(['expect[0].never.entity: entity is a string, never 1 (quote it)']);
    expect(one('kind: frame, len: "60"')).toEqual(['expect[0].never.len: len is a non-negative integer, never "60"']);
    expect(one('kind: fault, detail.server: rs1')).toEqual(['expect[0].never.detail.server: detail is a string, it has no entry server']);
    expect(one('kind: decision, detail: x')).toEqual(['expect[0].never.detail: detail is a record: match one of its entries as detail.<key>']);
    expect(one('kind: metric, labels.x: 3')).toEqual(['expect[0].never.labels.x: the values in labels are strings, not 3']);
    // What events do carry still loads.
    for (const ok of ['kind: decision, what: link-new, node: sg1, detail.server: rs1, detail.sport: 8', 'kind: metric, name: m, value: 1.5, labels.x: y', 'kind: drop, layer: ipv4, count: 3', 'kind: request, service: w, status: reset, t: 5, cause: 2']) expect(one(ok), ok).toEqual([]);
  });

  it('a decision, machine or drop outside the trace vocabulary (src/trace.ts) is an error naming the known ones', () => {
    const one = (m: string): string[] => errorsOf(withLine(18, `  - never: { ${m} }`)).map((e) => e.replace(/^f\.yaml:18:\d+: /, ''));
    const [typo] = one('kind: decision, what: link-nwe');
    expect(typo).toMatch(/^expect\[0\]\.never\.what: unknown decision 'link-nwe' \(known: link-new, link-drop, link-remap, .*\bctl-reply\b.*\)$/);
    // The column points at the value.
    expect(errorsOf(withLine(18, '  - never: { kind: decision, what: link-nwe }'))[0]).toMatch(/^f\.yaml:18:36: /);
    expect(one('kind: state, machine: bid, to: master')).toEqual([expect.stringMatching(/^expect\[0\]\.never\.machine: unknown machine 'bid' \(known: bidd, server, igmp-host, link, /)]);
    expect(one('kind: drop, layer: ipv5')).toEqual([expect.stringMatching(/^expect\[0\]\.never\.layer: unknown drop layer 'ipv5' \(known: ethernet, arp, ipv4, /)]);
    expect(one('kind: drop, reason: bad-chksum')).toEqual([expect.stringMatching(/^expect\[0\]\.never\.reason: unknown drop reason 'bad-chksum' \(known: truncated, bad-checksum, /)]);
    // A reason of another layer: no drop of this layer carries it.
    expect(one('kind: drop, layer: nat, reason: bad-checksum')).toEqual([
      "expect[0].never.reason: drop layer 'nat' has no reason 'bad-checksum' (its reasons: standby, fragment, no-link, truncated, no-group, no-server, table-full, server-key-taken)",
    ]);
    // A detail the decision does not have, or of the wrong type.
    expect(one('kind: decision, what: link-new, detail.servr: rs1')).toEqual(["expect[0].never.detail.servr: decision 'link-new' has no detail 'servr' (its details: group, server, client, sport, proto, reason)"]);
    expect(one('kind: decision, what: link-new, detail.sport: "80"')).toEqual(["expect[0].never.detail.sport: detail.sport of decision 'link-new' is a number, never \"80\""]);
    expect(one('kind: decision, what: link-drop, detail.reason: full')).toEqual(["expect[0].never.detail.reason: detail.reason of decision 'link-drop' is one of table-full, server-key-taken, never 'full'"]);
    expect(one('kind: decision, detail.servr: rs1')).toEqual(["expect[0].never.detail.servr: no decision has a detail 'servr'"]);
    expect(one('kind: decision, detail.which: 1')).toEqual(['expect[0].never.detail.which: detail.which is a string, never 1 (quote it) (in decisions script)']);
    // A misspelt decision is reported once, at `what`, not again at each detail.
    expect(one('kind: decision, what: link-nwe, detail.server: rs1')).toHaveLength(1);
    // What the vocabulary has loads; so does every name a scenario in scenarios/ uses (the scenario tests load them all).
    for (const ok of ['kind: decision, what: ctl, detail.status: replay', 'kind: decision, what: ctl-reply, detail.index: 8, detail.status: ok', 'kind: decision, detail.server: rs2', 'kind: drop, layer: bidd, reason: replay', 'kind: drop, reason: replay', 'kind: state, machine: igmp-host, entity: x']) expect(one(ok), ok).toEqual([]);
  });

  it('a match without kind may use a field of any kind, but not one no kind has', () => {
    expect(matchProblems({ to: 'master', status: 'ok', 'detail.server': 'rs1' })).toEqual([]);
    expect(matchProblems({ status: 'rset' }).map((x) => x.message)).toEqual(['in request events, status is one of ok, timeout, refused, reset, unreachable, error, never "rset"']);
    const [p] = matchProblems({ machin: 'bidd' });
    expect(p).toMatchObject({ field: 'machin', atKey: true });
    expect(p?.message).toMatch(/^no trace event has field 'machin' \(fields of any kind: id, t, cause, node, link, dir, .*machine.*\)$/);
  });

  it('rate and users together', () => {
    expect(errorsOf(withLine(13, '  - { name: w, from: b, to: 10.0.0.1:80, request: { kind: http, size: 1 }, rate: 1/s, users: 2 }'))).toEqual(['f.yaml:13:5: workload[0]: give exactly one of rate: (open loop) or users: (closed loop)']);
  });

  it('a host name that is not a name is an error, not silently accepted', () => {
    const e = errorsOf(GOOD.replace('    b:', '    b!:'));
    expect(e.some((x) => x.includes("topology.hosts.b!: unknown key"))).toBe(true);
  });

  it('udp-keyports (slide 38) reach the health config; one that is not a keyport is an error', () => {
    const udp = readFileSync('scenarios/health-udp.yaml', 'utf8');
    const r = loadScenario(udp, 'health-udp.yaml');
    expect(r.ok && r.scenario.cluster?.groups[0]?.health).toMatchObject({ keyports: [7], udpKeyports: [7] });
    const none = loadScenario(udp.replace(' udp-keyports: [7],', ''), 'f.yaml');
    expect(none.ok && none.scenario.cluster?.groups[0]?.health?.udpKeyports).toBeUndefined();
    expect(errorsOf(udp.replace('[7], udp-keyports: [7]', '[7], udp-keyports: [7, 80]'))).toEqual([expect.stringMatching(/^f\.yaml:\d+:\d+: cluster\.groups\[0\]\.health\.udp-keyports\[1\]: udp keyport 80 is not in keyports \[7\]$/)]);
    expect(errorsOf(udp.replace('[7], udp-keyports: [7]', '[7], udp-keyports: [0]'))).toEqual([expect.stringMatching(/health\.udp-keyports\[0\]: expected integer to be greater or equal to 1$/)]); // 0 is ICMP echo
  });

  it('several errors are all reported', () => {
    const text = withLine(15, '  - { at: 2s, crash: nobody }').replace('from: b', 'from: c');
    expect(errorsOf(text)).toHaveLength(2);
  });

  it('arbitrary text never throws and always gives errors or a scenario', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
      const r = loadScenario(text, 'x.yaml');
      if (!r.ok) for (const e of r.errors) expect(e.line).toBeGreaterThan(0);
    }), { numRuns: 500 });
  });

  it('mutated good files never throw', () => {
    fc.assert(fc.property(fc.nat(GOOD.length - 1), fc.string({ maxLength: 5 }), (at, ins) => {
      loadScenario(GOOD.slice(0, at) + ins + GOOD.slice(at + 1), 'x.yaml');
    }), { numRuns: 500 });
  });
});

describe('the shipped JSON Schema', () => {
  it('is the one the code validates with (run `npm run schema` after changing the format)', () => {
    const shipped = JSON.parse(readFileSync('schema/scenario.schema.json', 'utf8'));
    expect(shipped).toEqual(scenarioJsonSchema());
  });
});

describe('cluster.nodes.NAME.watch (real mode: the process sg daemon watches, slide 6)', () => {
  const lab = readFileSync('scenarios/lab-basic.yaml', 'utf8');
  const SG1 = '    sg1: { public: { segment: public, ip: 10.10.1.11 }, private: { segment: pool, ip: 10.10.2.11 }, price: 200 }';
  const line = lab.split('\n').indexOf(SG1) + 1;
  const withWatch = (w: string) => lab.replace(SG1, `${SG1.slice(0, -2)}, watch: ${w} }`);
  const node = (text: string, name = 'sg1') => {
    const r = loadScenario(text, 'f.yaml');
    if (!r.ok) throw new Error(r.errors.map(formatScenarioError).join('\n'));
    return r.scenario.cluster!.nodes.find((n) => n.name === name)!;
  };

  it('loads into the node model: by name or by pid file, interval defaulting to 150 ms', () => {
    expect(line).toBeGreaterThan(0);
    expect(node(withWatch('{ process: nginx }')).watch).toEqual({ target: { kind: 'name', name: 'nginx' }, interval: 150_000 });
    expect(node(withWatch('{ pidfile: /run/nginx.pid, interval: 50ms }')).watch).toEqual({ target: { kind: 'pidfile', file: '/run/nginx.pid' }, interval: 50_000 });
    expect(node(withWatch('{ process: nginx }'), 'sg2').watch).toBeUndefined();
    expect(node(lab).watch).toBeUndefined();
  });

  it('each bad form is an error at its line', () => {
    const at = (w: string) => errorsOf(withWatch(w)).map((e) => e.replace(/^f\.yaml:(\d+):\d+: /, (_, l) => `${Number(l) === line ? 'L' : l}: `));
    const p = 'L: cluster.nodes.sg1.watch';
    expect(at('{}')).toEqual([`${p}: give exactly one of process: (a process name) or pidfile: (an absolute path)`]);
    expect(at('{ process: nginx, pidfile: /run/nginx.pid }')).toEqual([`${p}: give exactly one of process: (a process name) or pidfile: (an absolute path)`]);
    expect(at('{ process: "" }')).toEqual([`${p}.process: "" is not a process name (non-empty, no '/' or control characters; a path is pidfile:)`]);
    expect(at('{ process: "  " }')).toEqual([`${p}.process: "  " is not a process name (non-empty, no '/' or control characters; a path is pidfile:)`]);
    expect(at('{ process: /usr/sbin/nginx }')).toEqual([`${p}.process: "/usr/sbin/nginx" is not a process name (non-empty, no '/' or control characters; a path is pidfile:)`]);
    expect(at('{ pidfile: run/nginx.pid }')).toEqual([`${p}.pidfile: "run/nginx.pid" is not an absolute path`]);
    expect(at('{ pidfile: "" }')).toEqual([`${p}.pidfile: "" is not an absolute path`]);
    expect(at('{ process: nginx, interval: 1ms }')).toEqual([`${p}.interval: "1ms" is shorter than the minimum 10ms`]);
    expect(at('{ process: nginx, interval: 0s }')).toEqual([`${p}.interval: "0s" is shorter than the minimum 10ms`]);
    expect(at('{ process: nginx, interval: 11s }')).toEqual([`${p}.interval: "11s" is longer than the maximum 10s`]);
    expect(at('{ process: nginx, interval: fast }')).toEqual([expect.stringMatching(/^L: cluster\.nodes\.sg1\.watch\.interval: /)]);
    expect(at('{ process: nginx, every: 1s }')).toEqual([expect.stringMatching(/^L: cluster\.nodes\.sg1\.watch\.every: unknown key/)]);
    expect(at('{ process: 7 }')).toEqual([expect.stringMatching(/^L: cluster\.nodes\.sg1\.watch\.process: /)]);
  });
});

describe('a group\'s model (slide 13): read-any, read-one-write-all, read-first-write-all', () => {
  // Three RPC servers joining 239.1.1.1 (UDP 2049), one web server (TCP 80).
  const RW = `name: rw
duration: 5s
topology:
  segments:
    public: { subnet: 10.0.1.0/24 }
    pool: { subnet: 10.0.2.0/24 }
  hosts:
    rs1: { ifaces: [{ segment: pool, ip: 10.0.2.1 }], gateway: 10.0.2.254, services: [{ kind: rpc, port: 2049, group: 239.1.1.1 }] }
    rs2: { ifaces: [{ segment: pool, ip: 10.0.2.2 }], gateway: 10.0.2.254, services: [{ kind: rpc, port: 2049, group: 239.1.1.1 }] }
    rs3: { ifaces: [{ segment: pool, ip: 10.0.2.3 }], gateway: 10.0.2.254, services: [{ kind: rpc, port: 2049, group: 239.1.1.1 }, { kind: http, port: 80 }] }
    c: { ifaces: [{ segment: public, ip: 10.0.1.100 }] }
cluster:
  nodes:
    sg1: { public: { segment: public, ip: 10.0.1.11 }, private: { segment: pool, ip: 10.0.2.254 } }
  groups:
    - { name: store, vip: 10.0.1.50, port: 2049, GROUP, servers: [{ host: rs1 }, { host: rs2 }, { host: rs3 }] }
workload:
  - { name: rpc, from: c, to: 10.0.1.50:2049, request: { kind: rpc, write-ratio: 20% }, rate: 10/s }
`;
  const LINE = RW.split('\n').findIndex((l) => l.includes('GROUP')) + 1;
  const ALL_MODELS = { modelsBuilt: GROUP_MODELS };
  const withGroup = (g: string, text = RW) => text.replace('GROUP', g);
  const groupOf = (g: string, opts: LoadOptions = ALL_MODELS) => {
    const r = loadScenario(withGroup(g), 'dir/rw.yaml', opts);
    if (!r.ok) throw new Error(r.errors.map(formatScenarioError).join('\n'));
    return r.scenario.cluster!.groups[0]!;
  };
  /** Errors with every model allowed, the group's line as L. */
  const errs = (g: string, opts: LoadOptions = ALL_MODELS, text = RW) => {
    const r = loadScenario(withGroup(g, text), 'f.yaml', opts);
    return r.ok ? [] : r.errors.map((e) => formatScenarioError(e).replace(/^f\.yaml:(\d+):\d+: /, (_, l) => `${Number(l) === LINE ? 'L' : l}: `));
  };
  const P = 'L: cluster.groups[0]';

  it('defaults to read-any, which the engine config leaves out (today\'s behaviour, goldens unchanged)', () => {
    const g = groupOf('policy: round-robin');
    expect(g.model).toEqual({ kind: 'read-any' });
    expect(groupOf('model: read-any').model).toEqual({ kind: 'read-any' });
    const r = loadScenario(withGroup('policy: round-robin'), 'f.yaml');
    expect(r.ok && 'model' in groupConfigs(r.scenario.cluster!)[0]!).toBe(false);
  });

  it('a write model resolves its analyzer, fan-out and bounds, with the documented defaults', () => {
    expect(groupOf('model: read-one-write-all, analyzer: rpc, write-group: 239.1.1.1').model).toEqual({
      kind: 'read-one-write-all',
      writeAll: { analyzer: { kind: 'builtin', name: 'rpc' }, fanout: { kind: 'multicast', group: ip('239.1.1.1') }, writesPendingMax: WRITES_PENDING_DEFAULT, writeTimeout: WRITE_TIMEOUT_DEFAULT_US, repliesHeldMax: REPLIES_HELD_DEFAULT },
    });
    expect([WRITES_PENDING_DEFAULT, WRITE_TIMEOUT_DEFAULT_US, REPLIES_HELD_DEFAULT]).toEqual([4096, 200_000, 8192]);
    expect(groupOf('model: read-first-write-all, analyzer: oncrpc, write-fanout: unicast, writes-pending: 16, write-timeout: 50ms, replies-held: 48').model).toEqual({
      kind: 'read-first-write-all',
      writeAll: { analyzer: { kind: 'builtin', name: 'oncrpc' }, fanout: { kind: 'unicast' }, writesPendingMax: 16, writeTimeout: 50_000, repliesHeldMax: 48 },
    });
    for (const name of RW_ANALYZER_NAMES) expect(groupOf(`model: read-one-write-all, analyzer: ${name}, write-fanout: unicast`).model).toMatchObject({ writeAll: { analyzer: { kind: 'builtin', name } } });
  });

  it('a user analyzer is a module path relative to the scenario file, which must exist', () => {
    const seen: string[] = [];
    const exists = (p: string) => (seen.push(p), p === 'dir/an/my.ts' || p === '/abs/a.mjs');
    const g = groupOf('model: read-one-write-all, analyzer: an/my.ts, write-fanout: unicast', { ...ALL_MODELS, fileExists: exists });
    expect(g.model).toMatchObject({ writeAll: { analyzer: { kind: 'module', path: 'an/my.ts', resolved: 'dir/an/my.ts' } } });
    expect(groupOf('model: read-one-write-all, analyzer: /abs/a.mjs, write-fanout: unicast', { ...ALL_MODELS, fileExists: exists }).model).toMatchObject({ writeAll: { analyzer: { kind: 'module', resolved: '/abs/a.mjs' } } });
    expect(errs('model: read-one-write-all, analyzer: ./gone.js, write-fanout: unicast', { ...ALL_MODELS, fileExists: () => false })).toEqual([`${P}.analyzer: analyzer module "./gone.js" not found (looked for ./gone.js, relative to the scenario file)`]);
    expect(groupOf('model: read-one-write-all, analyzer: ./an/my.ts, write-fanout: unicast', { ...ALL_MODELS, fileExists: exists }).model).toMatchObject({ writeAll: { analyzer: { kind: 'module', path: './an/my.ts', resolved: 'dir/an/my.ts' } } });
    expect(seen).toEqual(['dir/an/my.ts', '/abs/a.mjs', 'dir/an/my.ts']);
  });

  it('is carried into the engine\'s GroupConfig as the same closed union', () => {
    const r = loadScenario(withGroup('model: read-one-write-all, analyzer: dns, write-fanout: unicast'), 'f.yaml', ALL_MODELS);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(groupConfigs(r.scenario.cluster!)[0]!.model).toMatchObject({ kind: 'read-one-write-all', writeAll: { analyzer: { kind: 'builtin', name: 'dns' }, fanout: { kind: 'unicast' } } });
    const built = { ...r.scenario.cluster!, groups: r.scenario.cluster!.groups.map((g) => ({ ...g, model: READ_ANY })) };
    expect(groupConfigs(built)[0]).not.toHaveProperty('model');
  });

  it('the engine runs every model; one it did not run would be refused at load, never run as read-any', () => {
    expect(MODELS_BUILT).toEqual(GROUP_MODELS);
    for (const m of ['read-one-write-all', 'read-first-write-all']) {
      expect(errs(`model: ${m}, analyzer: rpc, write-group: 239.1.1.1`, { modelsBuilt: ['read-any'] })).toEqual([`${P}.model: model ${m} is not built in the engine: sg does not run this file rather than balance the group as read-any; the model's settings are checked`]);
    }
  });

  it('a write model needs a UDP request/reply service: port all, ICMP, a TCP server, TCP health or a TCP workload is an error', () => {
    const w = 'model: read-one-write-all, analyzer: rpc, write-fanout: unicast';
    const why = (rest: string) => `${P}.model: read-one-write-all needs a UDP request/reply service (slide 13); ${rest}`;
    expect(errs(w.replace('model:', 'health: { keyports: [2049], udp-keyports: [2049] }, model:'))).toEqual([]);
    expect(errs(w, ALL_MODELS, RW.replace('port: 2049, GROUP', 'port: all, GROUP'))).toEqual([why("this group's port is all (every port, TCP and ICMP too): give the service's UDP port")]);
    expect(errs(w, ALL_MODELS, RW.replace('port: 2049, GROUP', 'port: 0, GROUP').replace(/workload:\n.*\n$/, ''))).toEqual([why("this group's port is 0, ICMP echo")]);
    expect(errs(w, ALL_MODELS, RW.replace('port: 2049, GROUP', 'port: 80, GROUP').replace(/workload:\n.*\n$/, ''))).toEqual([why("this group's port 80 is served by rs3/http:80, a TCP service (http) on port 80")]);
    expect(errs(w.replace('model:', 'health: { keyports: [2049] }, model:'))).toEqual([why("this group's health probes port 2049 as TCP (it is in keyports, not in udp-keyports)")]);
    expect(errs(w, ALL_MODELS, `${RW}  - { name: web, from: c, to: 10.0.1.50:2049, request: { kind: http, size: 1 }, rate: 1/s }\n`)).toEqual([why('workload web sends http (TCP) to 10.0.1.50:2049')]);
  });

  it('the analyzer: missing, unknown (the known ones listed), or on a read-any group', () => {
    expect(errs('model: read-one-write-all, write-fanout: unicast')).toEqual([`${P}.model: read-one-write-all needs analyzer: (the packet analyzer that tells a write from a read and a reply's request, slide 25): one of rpc, oncrpc, nfs3, dns, or a module path ending in .ts, .js, .mjs`]);
    expect(errs('model: read-first-write-all, analyzer: nfs, write-fanout: unicast')).toEqual([`${P}.analyzer: unknown analyzer 'nfs' (built in: rpc, oncrpc, nfs3, dns; or a module path ending in .ts, .js, .mjs)`]);
    expect(errs('analyzer: rpc')).toEqual([`${P}.analyzer: analyzer: has no effect on a read-any group (it is a setting of model: read-one-write-all or read-first-write-all)`]);
    expect(errs('model: read-any, write-timeout: 1s, write-group: 239.1.1.1')).toEqual([
      `${P}.write-group: write-group: has no effect on a read-any group (it is a setting of model: read-one-write-all or read-first-write-all)`,
      `${P}.write-timeout: write-timeout: has no effect on a read-any group (it is a setting of model: read-one-write-all or read-first-write-all)`,
    ]);
    expect(errs('model: read-all')[0]).toMatch(/^L: cluster\.groups\[0\]\.model: "read-all" is not valid \(Read\/write model \(slide 13\)/);
  });

  it('the fan-out: multicast (the default) needs a routable write-group the servers join; unicast takes none', () => {
    const w = 'model: read-one-write-all, analyzer: rpc';
    expect(errs(w)).toEqual([`${P}.model: write-fanout multicast (the default) needs write-group: the multicast address on the private segment the servers join (slides 15, 21), e.g. 239.1.1.1; or write-fanout: unicast`]);
    expect(errs(`${w}, write-fanout: multicast`)).toHaveLength(1);
    const notMc = (a: string) => `${P}.write-group: ${a} is not a routable multicast address (224.0.1.0 to 239.255.255.255; 224.0.0.x is link-local control)`;
    expect(errs(`${w}, write-group: 10.0.2.9`)).toEqual([notMc('10.0.2.9')]);
    expect(errs(`${w}, write-group: 224.0.0.5`)).toEqual([notMc('224.0.0.5')]);
    expect(errs(`${w}, write-group: 240.0.0.1`)).toEqual([notMc('240.0.0.1')]);
    expect(errs(`${w}, write-group: 239.9.9.9`)).toEqual([
      `${P}.write-group: rs1/rpc:2049 joins 239.1.1.1 (its group:), so it would not hear the writes sent to 239.9.9.9`,
      `${P}.write-group: rs2/rpc:2049 joins 239.1.1.1 (its group:), so it would not hear the writes sent to 239.9.9.9`,
      `${P}.write-group: rs3/rpc:2049 joins 239.1.1.1 (its group:), so it would not hear the writes sent to 239.9.9.9`,
    ]);
    expect(errs(`${w}, write-fanout: unicast, write-group: 239.1.1.1`)).toEqual([`${P}.write-group: write-group: has no effect with write-fanout: unicast (each server gets its own copy)`]);
    expect(errs(`${w}, write-fanout: broadcast`)[0]).toMatch(/^L: cluster\.groups\[0\]\.write-fanout: "broadcast" is not valid/);
  });

  it('the bounds: writes-pending, write-timeout and replies-held within the limits of limits.ts', () => {
    const w = 'model: read-one-write-all, analyzer: rpc, write-fanout: unicast';
    expect(errs(`${w}, writes-pending: 0`)).toEqual([`${P}.writes-pending: expected integer to be greater or equal to 1 (Writes collected at once (default 4096); one more is dropped and counted)`]);
    expect(errs(`${w}, writes-pending: ${WRITES_PENDING_MAX + 1}`)[0]).toMatch(/writes-pending: expected integer to be less or equal to 65536/);
    expect(errs(`${w}, writes-pending: ${WRITES_PENDING_MAX}, replies-held: ${REPLIES_HELD_MAX}`)).toEqual([]);
    expect(errs(`${w}, replies-held: ${REPLIES_HELD_MAX + 1}`)[0]).toMatch(/replies-held: expected integer to be less or equal to 1048576/);
    expect(errs(`${w}, replies-held: 2`)).toEqual([`${P}.replies-held: replies-held 2 is fewer than the group's 3 servers: no write could collect every reply`]);
    expect(errs(`${w}, write-timeout: 500us`)).toEqual([`${P}.write-timeout: "500us" is shorter than the minimum 1ms`]);
    expect(errs(`${w}, write-timeout: 0s`)).toEqual([`${P}.write-timeout: "0s" is shorter than the minimum 1ms`]);
    expect(errs(`${w}, write-timeout: 61s`)).toEqual([`${P}.write-timeout: "61s" is longer than the maximum 60s`]);
    expect(errs(`${w}, write-timeout: soon`)[0]).toMatch(/^L: cluster\.groups\[0\]\.write-timeout: "soon" is not valid/);
    expect([WRITE_TIMEOUT_MIN_US, WRITE_TIMEOUT_MAX_US]).toEqual([1_000, 60_000_000]);
  });
});
