/**
 * `sg fuzz`: generated fault schedules on top of a scenario's own, a failure shrunk by fast-check
 * to a minimal scenario file that `sg run` replays, the same fuzz seed giving the same file, and
 * schedules that only name what the scenario has.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { fuzzCommand, FUZZ_USAGE, judgeScenario, type SafetyChecker } from '../../src/cli/fuzz.ts';
import { checkNodeInvariants } from '../../src/engine/invariants.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { runCommand } from '../../src/cli/run.ts';
import { caseSchedule, episodeFaults, FUZZ_TICK_MS, fuzzCaseArb, fuzzTargets, type FuzzCase, type FuzzTargets } from '../../src/scenario/fuzz.ts';
import { linkNames, loadScenario, type Scenario } from '../../src/scenario/load.ts';
import type { FaultDoc, ScenarioDoc } from '../../src/scenario/schema.ts';
import { duration } from '../../src/scenario/units.ts';
import { seconds } from '../../src/time.ts';

/** Two hosts, a ping workload that must not lose one request, and a harmless fault of its own. */
const FRAGILE = `# every ping must succeed: any real fault breaks it
name: fragile
seed: 3
duration: 3s
topology:
  segments:
    lan: { subnet: 10.0.0.0/24, link: { latency: 0.1ms } }
  hosts:
    a:
      ifaces: [{ segment: lan, ip: 10.0.0.1 }]
    b:
      ifaces: [{ segment: lan, ip: 10.0.0.2 }]
      services:
        - { kind: udp-echo, port: 7, name: echo }
workload:
  - { name: ping, from: a, to: 10.0.0.2, request: { kind: ping }, rate: 20/s, timeout: 200ms }
faults:
  - { at: 2.9s, delay: { link: b.eth0, extra: 1ms, for: 50ms } }
expect:
  - success: { workload: ping, min: 100% }
`;

/** Router, two servers with services, a client; expectations no fault schedule can break. */
const ROBUST = `name: robust
seed: 5
duration: 3s
topology:
  segments:
    lan: { subnet: 10.0.1.0/24, link: { latency: 0.2ms } }
    srv: { subnet: 10.0.2.0/24, link: { latency: 0.1ms } }
  hosts:
    router:
      router: true
      ifaces:
        - { segment: lan, ip: 10.0.1.254 }
        - { segment: srv, ip: 10.0.2.254 }
    web:
      ifaces: [{ segment: srv, ip: 10.0.2.1 }]
      gateway: 10.0.2.254
      services:
        - { kind: http, port: 80, name: web }
        - { kind: udp-echo, port: 7, name: echo }
    db:
      ifaces: [{ segment: srv, ip: 10.0.2.2 }]
      gateway: 10.0.2.254
      services:
        - { kind: rpc, name: kv }
    client:
      ifaces: [{ segment: lan, ip: 10.0.1.1 }]
      gateway: 10.0.1.254
workload:
  - { name: browse, from: client, to: 10.0.2.1:80, request: { kind: http, size: 2KiB }, rate: 20/s, timeout: 500ms }
  - { name: kv, from: client, to: 10.0.2.2:2049, request: { kind: rpc, write-ratio: 50% }, rate: 20/s, timeout: 300ms }
  - { name: echo, from: client, to: 10.0.2.1:7, request: { kind: udp-echo, size: 64 }, rate: 10/s, timeout: 300ms }
faults:
  - { at: 1s, crash: web }
  - { at: 2s, restart: web }
expect:
  - never: { kind: log, level: error }
  - count: { match: { kind: fault, what: crash }, min: 1 }
`;

let dir: string;
const path = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-fuzz-'));
  writeFileSync(path('fragile.yaml'), FRAGILE);
  writeFileSync(path('robust.yaml'), ROBUST);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string): Scenario {
  const r = loadScenario(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

const faultsOf = (text: string): FaultDoc[] => ((parse(text) as ScenarioDoc).faults ?? []);

describe('sg fuzz: the command', () => {
  it('--help prints the usage; bad options and files exit 2', async () => {
    const help = memoryIo();
    expect(await fuzzCommand(['--help'], help)).toBe(0);
    expect(help.stdout).toContain(FUZZ_USAGE);
    for (const argv of [[], [path('fragile.yaml'), '--runs', 'many'], [path('fragile.yaml'), '--seed', '-1'], [path('fragile.yaml'), '--max-faults', '101'], [path('fragile.yaml'), '--bogus'], [path('nope.yaml')]]) {
      const io = memoryIo();
      expect(await fuzzCommand(argv, io), argv.join(' ')).toBe(2);
      expect(io.stderr).not.toBe('');
    }
  });

  it('exits 0 when no schedule breaks the expectations (20 runs over every fault kind)', async () => {
    const io = memoryIo();
    const code = await fuzzCommand([path('robust.yaml'), '--runs', '20', '--max-faults', '8'], io);
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    expect(io.stdout).toContain('fuzz seed 5 (repeat with --seed 5)');
    expect(io.stdout).toContain('PASS: no failure in 20 run(s)');
  });

  it('finds a failure, shrinks it to at most 2 added faults, writes a file that sg run replays as a failure', async () => {
    const out = path('fragile-min.yaml');
    const io = memoryIo();
    const code = await fuzzCommand([path('fragile.yaml'), '--runs', '50', '--seed', '7', '--out', out], io);
    expect(code, io.stdout + io.stderr).toBe(1);
    expect(io.stdout).toContain(`reproduce: sg run ${out}`);
    expect(io.stdout).toContain('verified');
    expect(io.stdout).toMatch(/expect\[0\].*\[expected >= 100%\]/);

    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^# Found by: sg fuzz .*fragile\.yaml --seed 7 --runs 50 --max-faults 6\n/);
    expect(text).toContain(`# Reproduce: sg run ${out}`);
    expect(text).toContain('fail until the bug is fixed');
    expect(text).toContain('# every ping must succeed'); // the original comments stay
    const faults = faultsOf(text);
    const original = faultsOf(FRAGILE);
    expect(faults).toEqual(expect.arrayContaining(original));
    const added = faults.length - original.length;
    expect(added).toBeGreaterThanOrEqual(1);
    expect(added).toBeLessThanOrEqual(2);
    expect(text.split('\n').filter((l) => l.trimEnd().endsWith('# fuzz'))).toHaveLength(added);

    const run = memoryIo();
    expect(await runCommand([out], run)).toBe(1);
    expect(run.stdout).toContain('FAIL');
  });

  it('the same fuzz seed gives the same minimal file; --json reports it', async () => {
    const out = path('fragile-det.yaml');
    const first = memoryIo();
    expect(await fuzzCommand([path('fragile.yaml'), '--runs', '30', '--seed', '11', '--out', out], first)).toBe(1);
    const a = readFileSync(out, 'utf8');
    rmSync(out);
    const second = memoryIo();
    expect(await fuzzCommand([path('fragile.yaml'), '--runs', '30', '--seed', '11', '--out', out, '--json'], second)).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe(a);
    const j = JSON.parse(second.stdout) as { found: boolean; fuzzSeed: number; reproduced: boolean; replayedBySgRun: boolean; faultsAdded: number; command: string };
    expect(j).toMatchObject({ found: true, fuzzSeed: 11, reproduced: true, replayedBySgRun: true, command: `sg run ${out}` });
    expect(j.faultsAdded).toBe(faultsOf(a).length - faultsOf(FRAGILE).length);
  });

  it('the default fuzz seed is the scenario seed and the default file sits beside the input', async () => {
    const io = memoryIo();
    expect(await fuzzCommand([path('fragile.yaml'), '--runs', '30'], io)).toBe(1);
    expect(io.stdout).toContain('fuzz seed 3 (repeat with --seed 3)');
    const out = path('fragile.fuzz-3.yaml');
    expect(io.stdout).toContain(`reproduce: sg run ${out}`);
    expect(load(readFileSync(out, 'utf8')).name).toBe('fragile-fuzz-3');
  });

  it('shows progress on stderr only when it is a terminal', async () => {
    const io = memoryIo();
    let now = 0;
    Object.assign(io, { isTTY: true, clock: () => (now += 1000) });
    expect(await fuzzCommand([path('fragile.yaml'), '--runs', '30', '--out', path('fragile-tty.yaml')], io)).toBe(1);
    expect(io.stderr).toContain('fuzz: run 1/30');
    expect(io.stderr).toContain('shrinking:');
    expect(io.stderr.endsWith('\r\x1b[K')).toBe(true);
  });

  it('extra safety checkers fail a case on their own', async () => {
    const noCrash: SafetyChecker = {
      name: 'no-crash',
      start: () => {
        let crashes = 0;
        return {
          observe: (ev) => void (ev.kind === 'fault' && ev.what === 'crash' && crashes++),
          finish: () => (crashes > 0 ? [`${crashes} crash(es)`] : []),
        };
      },
    };
    const io = memoryIo();
    const out = path('robust-checker.yaml');
    expect(await fuzzCommand([path('robust.yaml'), '--runs', '5', '--out', out], io, [noCrash])).toBe(1);
    expect(io.stdout).toContain('no-crash: 1 crash(es)');
    expect(io.stdout).toContain('only the fuzz checks fail');
    // The scenario's own crash is enough: shrinking leaves nothing added.
    expect(faultsOf(readFileSync(out, 'utf8'))).toHaveLength(faultsOf(ROBUST).length);
  });
});

describe('sg fuzz: the engine invariant check', () => {
  const safety = load(readFileSync('scenarios/safety-fuzz.yaml', 'utf8'));

  it('runs after every frame and timeout of every SG node; a breach fails the case, as one that sg run does not see', () => {
    let calls = 0;
    const clean = judgeScenario({ ...safety, duration: seconds(2) }, [], (node) => {
      calls++;
      checkNodeInvariants(node);
    });
    expect(clean).toEqual({ failed: false, runFailed: false, failures: [] });
    expect(calls).toBeGreaterThan(100);
    // A node whose counter goes wrong at its 100th step: the run stops there.
    calls = 0;
    const broken = judgeScenario(safety, [], (node) => {
      if (++calls === 100) node.counters.natIn = -1;
      checkNodeInvariants(node);
    });
    expect(broken).toEqual({ failed: true, runFailed: false, failures: ['engine invariant: node sg1: counters.natIn is -1, not a non-negative integer'] });
    expect(calls).toBe(100);
  });
});

describe('sg fuzz: generated schedules', () => {
  const sc = load(ROBUST);
  const t: FuzzTargets = fuzzTargets(sc);

  it('targets are the scenario hosts, services and links', () => {
    expect(t).toEqual({
      hosts: ['router', 'web', 'db', 'client'],
      services: ['web/web', 'web/echo', 'db/kv'],
      links: linkNames(sc.hosts),
      durationTicks: 30,
      sgNodes: [],
    });
  });

  it('only reference existing hosts, services and links, at 100 ms times within the run, and load', () => {
    const hosts = new Set(t.hosts);
    const services = new Set(t.services);
    const links = new Set(t.links);
    fc.assert(
      fc.property(fuzzCaseArb(t, 6), (c) => {
        expect(c.episodes.length).toBeLessThanOrEqual(6);
        const schedule = caseSchedule(sc.doc, t, c);
        const generated = schedule.filter((s) => s.generated);
        for (const { fault: f, atUs } of generated) {
          expect(atUs % (FUZZ_TICK_MS * 1000)).toBe(0);
          expect(atUs).toBeLessThanOrEqual(sc.duration);
          if ('crash' in f) expect(hosts).toContain(f.crash);
          else if ('restart' in f) expect(hosts).toContain(f.restart);
          else if ('kill' in f) expect(services).toContain(f.kill);
          else if ('hang' in f) expect(services).toContain(f.hang);
          else if ('start' in f) expect(services).toContain(f.start);
          else if ('link-down' in f) expect(links).toContain(f['link-down']);
          else if ('link-up' in f) expect(links).toContain(f['link-up']);
          else if ('loss' in f) expect(links).toContain(f.loss.link);
          else if ('delay' in f) expect(links).toContain(f.delay.link);
          else if ('clock' in f) expect(hosts).toContain(f.clock.host);
          else if ('partition' in f) {
            expect(f.partition).toHaveLength(2);
            expect([...f.partition[0]!, ...f.partition[1]!].sort()).toEqual([...t.hosts].sort());
            expect(f.partition.every((g) => g.length > 0)).toBe(true);
          } else expect(f).toHaveProperty('heal', true);
        }
        // Sorted by time, the scenario's own faults all kept, and the document loads as a file would.
        const times = schedule.map((s) => s.atUs);
        expect(times).toEqual([...times].sort((a, b) => a - b));
        expect(schedule.filter((s) => !s.generated).map((s) => s.fault)).toEqual(sc.doc.faults);
        const doc: ScenarioDoc = { ...sc.doc, seed: c.seed, faults: schedule.map((s) => s.fault) };
        const r = loadScenario(stringify(doc));
        expect(r.ok, r.ok ? '' : JSON.stringify(r.errors)).toBe(true);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('leaves out a generated service start while its host is down (the restart starts it)', () => {
    const c: FuzzCase = {
      seed: 1,
      episodes: [
        { kind: 'kill', service: 'web/web', at: 12, for: 3 }, // start at 1.5s: web is down (1s-2s)
        { kind: 'hang', service: 'db/kv', at: 12, for: 3 }, // db is up: kept
      ],
    };
    const schedule = caseSchedule(sc.doc, t, c).map((s) => s.fault);
    expect(schedule).toEqual([
      { at: '1s', crash: 'web' },
      { at: '1.2s', kill: 'web/web' },
      { at: '1.2s', hang: 'db/kv' },
      { at: '1.5s', start: 'db/kv' },
      { at: '2s', restart: 'web' },
    ]);
  });

  it('an episode is a fault and its recovery; a recovery after the end is left out', () => {
    expect(episodeFaults({ kind: 'crash', host: 'web', at: 5, for: 7 }, t)).toEqual([{ at: '0.5s', crash: 'web' }, { at: '1.2s', restart: 'web' }]);
    expect(episodeFaults({ kind: 'link-down', link: 'web.eth0', at: 25, for: 10 }, t)).toEqual([{ at: '2.5s', 'link-down': 'web.eth0' }]);
    expect(episodeFaults({ kind: 'partition', side: ['web'], at: 0, for: 1 }, t)).toEqual([{ at: '0s', partition: [['web'], ['router', 'db', 'client']] }, { at: '0.1s', heal: true }]);
    expect(episodeFaults({ kind: 'loss', link: 'db.eth0', at: 3, for: 20, percent: 20 }, t)).toEqual([{ at: '0.3s', loss: { link: 'db.eth0', p: '20%', for: '2s' } }]);
    expect(episodeFaults({ kind: 'delay', link: 'db.eth0', at: 3, for: 1, extraMs: 50 }, t)).toEqual([{ at: '0.3s', delay: { link: 'db.eth0', extra: '50ms', for: '0.1s' } }]);
    expect(episodeFaults({ kind: 'clock', host: 'db', at: 1, for: 2, rate: 2 }, t)).toEqual([{ at: '0.1s', clock: { host: 'db', rate: 2 } }, { at: '0.3s', clock: { host: 'db', rate: 1 } }]);
    expect(duration('1.2s')).toBe(1_200_000);
  });
});
