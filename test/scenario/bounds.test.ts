/**
 * Bounded inputs: every numeric field of the scenario format has the maximum the engine supports
 * (src/scenario/limits.ts). A value beyond it is a load error at its line, `file:line:col: path:
 * message` (exit 2), never an assertion, a stack trace or a hang in the run. The fixture
 * (bounds-fixture.yaml) has every numeric field once; the sweep sets each to huge, negative and
 * fractional values, and a second sweep runs the simulator with each field at its maximum.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { runScenario } from '../../sim/scenario.ts';
import { formatScenarioError, loadScenario, type LoadResult } from '../../src/scenario/load.ts';
import {
  ADDRESSES_PER_INTERFACE_MAX, CLOCK_RATE_MAX, CLOCK_RATE_MIN, COUNTER_MAX, HOST_INTERFACES_MAX, KEYPORTS_MAX, ROUTES_MAX, SWITCH_PORTS_MAX, DURATION_MAX_US, HEALTH_COUNT_MAX, HTTP_BODY_MAX, HTTP_CONCURRENCY_MAX, HTTP_QUEUE_MAX, KEY_ID_MAX, LINK_BANDWIDTH_MAX_BPS,
  LINK_DELAY_MAX_US, LINK_JITTER_MAX_US, LINK_QUEUE_FRAMES_MAX, LINKS_MAX_LIMIT, PING_SIZE_MAX, RPC_KEYS_MAX, SCENARIO_DURATION_MAX_US, SYNC_LOG_MAX, TCP_BACKLOG_MAX_DEFAULT,
  TCP_ECHO_SIZE_MAX, UDP_PAYLOAD_MAX, WEIGHT_MAX, WORKLOAD_RATE_MIN_PER_S, WORKLOAD_USERS_MAX,
} from '../../src/scenario/limits.ts';

const FIXTURE = readFileSync(new URL('./bounds-fixture.yaml', import.meta.url), 'utf8');

type Path = (string | number)[];

function dotted(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/** The fixture with the value at `path` replaced (and more path, value pairs). */
function mutate(path: Path, value: unknown, ...more: [Path, unknown][]): string {
  const d = parseDocument(FIXTURE);
  for (const [p, v] of [[path, value] as [Path, unknown], ...more]) d.setIn(p, v);
  return d.toString({ lineWidth: 0 });
}

/** Line (1-based) of the value at `path` in `text`. */
function lineOf(text: string, path: Path): number {
  const lc = new LineCounter();
  const d = parseDocument(text, { lineCounter: lc });
  const n = d.getIn(path, true) as { range?: [number, number, number] } | undefined;
  return lc.linePos(n!.range![0]).line;
}

/** Every scalar of the fixture that is a number or a quantity with a unit. */
function numericLeaves(): { path: Path; value: number | string; kind: 'number' | 'duration' | 'rate' | 'size' | 'bandwidth' | 'percent' }[] {
  const out: ReturnType<typeof numericLeaves> = [];
  const walk = (n: unknown, path: Path): void => {
    if (isMap(n)) for (const it of n.items) walk(it.value, [...path, (it.key as { value: string }).value]);
    else if (isSeq(n)) n.items.forEach((x, i) => walk(x, [...path, i]));
    else if (isScalar(n)) {
      const v = n.value;
      if (typeof v === 'number') out.push({ path, value: v, kind: 'number' });
      else if (typeof v === 'string') {
        if (/^\d+(\.\d+)?(us|ms|s|m|h)$/.test(v)) out.push({ path, value: v, kind: 'duration' });
        else if (/^\d+(\.\d+)?\/(s|m|h)$/.test(v)) out.push({ path, value: v, kind: 'rate' });
        else if (/^\d+(\.\d+)?(KiB|B|MB)$/.test(v)) out.push({ path, value: v, kind: 'size' });
        else if (/^\d+(\.\d+)?(Mbit|Gbit)$/.test(v)) out.push({ path, value: v, kind: 'bandwidth' });
        else if (/^\d+(\.\d+)?%$/.test(v)) out.push({ path, value: v, kind: 'percent' });
      }
    }
  };
  walk(parseDocument(FIXTURE).contents, []);
  return out;
}

/**
 * Load; the result must be errors naming `path` at its line, in file:line:col: path: form
 * (`orParent`: or the mapping that holds it, for a rule about two fields such as a window).
 */
function expectRejected(text: string, path: Path, why: string, orParent = false): void {
  let r: LoadResult;
  expect(() => (r = loadScenario(text, 'b.yaml')), why).not.toThrow();
  expect(r!.ok, `${why}: accepted`).toBe(false);
  if (r!.ok) return;
  const at = r!.errors.filter((e) => e.path === dotted(path) || (orParent && e.path === dotted(path.slice(0, -1))));
  expect(at.length, `${why}: no error at ${dotted(path)}, got ${r!.errors.map(formatScenarioError).join('; ')}`).toBeGreaterThan(0);
  const p = at[0]!.path === dotted(path) ? path : path.slice(0, -1);
  expect(formatScenarioError(at[0]!)).toMatch(new RegExp(`^b\\.yaml:${lineOf(text, p)}:\\d+: ${dotted(p).replace(/[[\].]/g, '\\$&')}: \\S`));
}

const HUGE_DIGITS = `1${'0'.repeat(300)}`;

/** Numeric fields that are only compared (never sized, counted or scheduled), so any number is fine. */
const ANY_NUMBER = [/^expect\[\d+\]\.count\.(min|max)$/, /^expect\[\d+\]\.value\.(min|max)$/, /^control\[\d+\]\.value$/];
/** Numeric fields that are not integers. */
const FRACTIONAL_OK = [/clock\.rate$/, /counter\.value$/, /latency\.p$/, ...ANY_NUMBER];

describe('scenario bounds: the audit examples', () => {
  const health = ['cluster', 'groups', 0, 'health'];
  const cases: [string, Path, unknown, RegExp][] = [
    ['porttest.E at 1e16', [...health, 'porttest', 'E'], 1e16, /less or equal to 4294967295/],
    ['snoop.P at 1e16', [...health, 'snoop', 'P'], 1e16, /less or equal to 4294967295/],
    ['a link queue of 2,000,000', ['topology', 'segments', 'internet', 'link', 'queue'], 2_000_000, new RegExp(`less or equal to ${LINK_QUEUE_FRAMES_MAX}`)],
    ['a backlog of 5,000', ['topology', 'hosts', 'rs1', 'services', 0, 'backlog'], 5_000, new RegExp(`less or equal to ${TCP_BACKLOG_MAX_DEFAULT}`)],
    ['concurrency 1e300', ['topology', 'hosts', 'rs1', 'services', 0, 'concurrency'], 1e300, new RegExp(`less or equal to ${HTTP_CONCURRENCY_MAX}`)],
    ['backlog 1e300', ['topology', 'hosts', 'rs1', 'services', 0, 'backlog'], 1e300, /less or equal/],
    ['users 2^53', ['workload', 1, 'users'], 2 ** 53, new RegExp(`less or equal to ${WORKLOAD_USERS_MAX}`)],
    ['duration 1e300s', ['duration'], `${HUGE_DIGITS}s`, /longer than the maximum 86400s/],
    ['a rate of 1e300/s', ['workload', 0, 'rate'], `${HUGE_DIGITS}/s`, /outside/],
    ['a latency of 1e300ms', ['topology', 'segments', 'internet', 'link', 'latency'], `${HUGE_DIGITS}ms`, /longer than the maximum 3600s/],
    ['a bandwidth of 1e300Gbit', ['topology', 'segments', 'internet', 'link', 'bandwidth'], `${HUGE_DIGITS}Gbit`, /more than the maximum 1000Gbit/],
  ];
  for (const [what, path, value, message] of cases) {
    it(`${what}: a load error at its line`, () => {
      const text = mutate(path, value);
      expectRejected(text, path, what);
      const r = loadScenario(text, 'b.yaml');
      expect(!r.ok && r.errors.map((e) => e.message).join('\n')).toMatch(message);
    });
  }

  it('the fixture itself loads (so every rejection above is the mutated field)', () => {
    const r = loadScenario(FIXTURE, 'b.yaml');
    expect(r.ok ? [] : r.errors.map(formatScenarioError)).toEqual([]);
  });
});

describe('scenario bounds: every numeric field, swept', () => {
  const leaves = numericLeaves();

  it('finds the numeric fields of the fixture', () => {
    // A fixture edit that loses fields would make the sweep vacuous.
    expect(leaves.filter((l) => l.kind === 'number').length).toBeGreaterThanOrEqual(30);
    expect(leaves.filter((l) => l.kind === 'duration').length).toBeGreaterThanOrEqual(40);
    for (const k of ['rate', 'size', 'bandwidth', 'percent'] as const) expect(leaves.some((l) => l.kind === k), k).toBe(true);
  });

  it('numbers: 1e16, 2^53, 1e300, -1 and 1.5 are load errors at the field (or, where only compared, harmless)', () => {
    const accepted: string[] = [];
    for (const { path, kind } of leaves) {
      if (kind !== 'number') continue;
      const key = dotted(path);
      for (const v of [1e16, 2 ** 53, 1e300, -1, 1.5, Number.POSITIVE_INFINITY]) {
        const text = mutate(path, v);
        const ok = ANY_NUMBER.some((re) => re.test(key)) || (v === 1.5 && FRACTIONAL_OK.some((re) => re.test(key)));
        if (ok) {
          expect(() => loadScenario(text, 'b.yaml')).not.toThrow();
          accepted.push(`${key}=${v}`);
        } else expectRejected(text, path, `${key}=${v}`);
      }
    }
    expect(accepted.length).toBeGreaterThan(0);
  });

  it('quantities: huge, beyond 2^53 µs/bytes, and sub-unit values are load errors at the field', () => {
    for (const { path, value, kind } of leaves) {
      if (kind === 'number') continue;
      const unit = /^[\d.]+\s*(.*)$/.exec(String(value))![1]!;
      const bad = [`${HUGE_DIGITS}${unit}`, `9007199254740993${unit}`, `10000000000000000${unit}`];
      if (kind !== 'percent') bad.push(`0.0000000001${unit}`); // below 1 µs, 1 byte, 1 bit/s, or the slowest rate
      if (kind === 'duration') bad.push(`${DURATION_MAX_US / 1e6 + 1}s`);
      for (const v of bad) expectRejected(mutate(path, v), path, `${dotted(path)}=${v}`);
    }
  });

  it('durations of zero are a load error where the engine needs a positive one, else they run', () => {
    const zeroRuns: string[] = [];
    for (const { path, kind } of leaves) {
      if (kind !== 'duration') continue;
      const text = mutate(path, '0s');
      const r = loadScenario(text, 'b.yaml');
      if (!r.ok) {
        expectRejected(text, path, `${dotted(path)}=0s`, true);
        continue;
      }
      zeroRuns.push(dotted(path));
      expect(() => runScenario(r.scenario, { until: 1_300_000 as never }), `${dotted(path)}=0s`).not.toThrow();
    }
    expect(zeroRuns.length).toBeGreaterThan(10);
  }, 120_000);
});

describe('scenario bounds: prefix lengths and counts', () => {
  const c1 = ['topology', 'hosts', 'c1'];
  const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));
  const cases: [string, Path, unknown, Path][] = [
    ['a /40 address', [...c1, 'ifaces', 0, 'ip'], '140.116.72.118/40', [...c1, 'ifaces', 0, 'ip']],
    ['a /33 route', [...c1, 'routes'], [{ dst: '10.0.0.0/33', via: '140.116.72.1' }], [...c1, 'routes', 0, 'dst']],
    ['a /99 subnet', ['topology', 'segments', 'pool', 'subnet'], '192.168.1.0/99', ['topology', 'segments', 'pool', 'subnet']],
    [`${ROUTES_MAX + 1} routes`, [...c1, 'routes'], many(ROUTES_MAX + 1, (i) => ({ dst: `10.${i >> 8}.${i & 255}.0/24`, via: '140.116.72.1' })), [...c1, 'routes']],
    [`${ADDRESSES_PER_INTERFACE_MAX + 1} addresses`, [...c1, 'ifaces', 0, 'ip'], many(ADDRESSES_PER_INTERFACE_MAX + 1, (i) => `140.116.${73 + (i >> 8)}.${i & 255}/16`), [...c1, 'ifaces', 0, 'ip']],
    [`${HOST_INTERFACES_MAX + 1} interfaces`, [...c1, 'ifaces'], many(HOST_INTERFACES_MAX + 1, (i) => ({ segment: 'internet', ip: `140.116.72.${20 + i}` })), [...c1, 'ifaces']],
    ['duplicate keyports', ['cluster', 'groups', 0, 'health', 'keyports'], [80, 80], ['cluster', 'groups', 0, 'health', 'keyports']],
    [`${KEYPORTS_MAX + 1} keyports`, ['cluster', 'groups', 0, 'health', 'keyports'], many(KEYPORTS_MAX + 1, (i) => 80 + i), ['cluster', 'groups', 0, 'health', 'keyports']],
  ];
  for (const [what, path, value, at] of cases) it(`${what}: a load error at its line`, () => expectRejected(mutate(path, value), at, what));

  it(`more than ${SWITCH_PORTS_MAX} interfaces on one segment: a load error at the segment`, () => {
    const hosts = Object.fromEntries(Array.from({ length: SWITCH_PORTS_MAX }, (_, i) => [`h${i}`, { ifaces: [{ segment: 'lan', ip: `10.${i >> 8}.${i & 255}.1` }, { segment: 'lan', ip: `10.${i >> 8}.${i & 255}.2` }] }] as const));
    const text = `name: big\nduration: 1s\ntopology:\n  segments:\n    lan: { subnet: 10.0.0.0/8 }\n  hosts: ${JSON.stringify(hosts)}\n`;
    const r = loadScenario(text, 'big.yaml');
    expect(!r.ok && r.errors.map(formatScenarioError)).toEqual([`big.yaml:5:5: topology.segments.lan: ${2 * SWITCH_PORTS_MAX} interfaces on segment lan, more than its switch's ${SWITCH_PORTS_MAX} ports`]);
  });
});

describe('scenario bounds: the engine runs every field at its maximum', () => {
  const h = ['topology', 'hosts', 'rs1'];
  const g = ['cluster', 'groups', 0];
  const big = `${DURATION_MAX_US / 1e6}s`;
  const delayMax = `${LINK_DELAY_MAX_US / 1e6}s`;
  const cases: [Path, unknown, ...[Path, unknown][]][] = [
    [['duration'], `${SCENARIO_DURATION_MAX_US / 1e6}s`],
    [['topology', 'segments', 'internet', 'link', 'queue'], LINK_QUEUE_FRAMES_MAX],
    [['topology', 'segments', 'internet', 'link', 'latency'], delayMax],
    [['topology', 'segments', 'internet', 'link', 'jitter'], `${LINK_JITTER_MAX_US / 1e6}s`],
    [['topology', 'segments', 'internet', 'link', 'bandwidth'], `${LINK_BANDWIDTH_MAX_BPS / 1e9}Gbit`],
    [['topology', 'segments', 'pool', 'link', 'bandwidth'], '1bit'],
    [[...h, 'services', 0, 'concurrency'], HTTP_CONCURRENCY_MAX],
    [[...h, 'services', 0, 'queue'], HTTP_QUEUE_MAX],
    [[...h, 'services', 0, 'backlog'], TCP_BACKLOG_MAX_DEFAULT],
    [[...h, 'services', 0, 'service-time', 'exponential'], big],
    [[...h, 'services', 1, 'service-time'], big],
    [['topology', 'hosts', 'gw', 'mrouter', 'query-interval'], big],
    [['cluster', 'failover', 'heartbeat'], `${DURATION_MAX_US / 1e6 - 1}s`, [['cluster', 'failover', 'master-timeout'], big]],
    [['cluster', 'failover', 'master-timeout'], big],
    [['cluster', 'failover', 'bid-timeout'], big],
    [['cluster', 'failover', 'hold-down'], big],
    [['cluster', 'failover', 'stall-bound'], big],
    [['cluster', 'failover', 'scripts', 'timeout'], big],
    [['cluster', 'failover', 'sync', 'flush'], big],
    [['cluster', 'failover', 'sync', 'retransmit'], big],
    [['cluster', 'failover', 'sync', 'log-max'], SYNC_LOG_MAX],
    [['cluster', 'links-max'], LINKS_MAX_LIMIT],
    [['cluster', 'idle', 'tcp'], big],
    [['cluster', 'keys', 0, 'id'], KEY_ID_MAX],
    [['cluster', 'nodes', 'sg1', 'price'], 0xffffffff],
    [[...g, 'keep-same-server', 'timeout'], big],
    [[...g, 'load-window'], big],
    [[...g, 'health', 'snoop', 'P'], HEALTH_COUNT_MAX],
    [[...g, 'health', 'snoop', 'T'], big],
    [[...g, 'health', 'porttest', 'E'], HEALTH_COUNT_MAX],
    [[...g, 'health', 'porttest', 'interval'], big],
    [[...g, 'health', 'heartbeat', 'H'], big],
    [[...g, 'health', 'mcast', 'M'], HEALTH_COUNT_MAX],
    [[...g, 'health', 'slow-start'], big],
    [[...g, 'servers', 0, 'weight'], WEIGHT_MAX],
    [['workload', 0, 'request', 'size'], HTTP_BODY_MAX],
    [['workload', 0, 'timeout'], big],
    [['workload', 0, 'rate'], `${WORKLOAD_RATE_MIN_PER_S * 3600}/h`],
    [['workload', 1, 'users'], WORKLOAD_USERS_MAX],
    [['workload', 1, 'think', 'exponential'], big],
    [['workload', 2, 'request', 'keys'], RPC_KEYS_MAX],
    [['workload', 3, 'request', 'size'], PING_SIZE_MAX],
    [['workload', 4, 'request', 'size'], UDP_PAYLOAD_MAX],
    [['workload', 5, 'request', 'size'], TCP_ECHO_SIZE_MAX],
    [['workload', 6, 'request', 'size'], HTTP_BODY_MAX],
    [['workload', 7, 'request', 'size'], UDP_PAYLOAD_MAX],
    [['faults', 0, 'loss', 'for'], delayMax],
    [['faults', 1, 'delay', 'extra'], delayMax],
    [['faults', 1, 'delay', 'for'], delayMax],
    [['faults', 2, 'clock', 'rate'], CLOCK_RATE_MAX],
    [['faults', 2, 'clock', 'rate'], CLOCK_RATE_MIN],
    [['faults', 3, 'clock', 'stall'], big],
    [['faults', 4, 'counter', 'value'], COUNTER_MAX],
    [['control', 0, 'every'], big],
    [['control', 0, 'skew'], big],
  ];
  for (const [path, value, ...more] of cases) {
    it(`${dotted(path)} = ${String(value)}`, () => {
      const r = loadScenario(mutate(path, value, ...more), 'b.yaml');
      expect(r.ok ? [] : r.errors.map(formatScenarioError)).toEqual([]);
      if (!r.ok) return;
      // A short window of the run: the limits bite when the config is built and in the first
      // 1.3 s (the fixture's faults, workloads and control messages all start by then).
      expect(() => runScenario(r.scenario, { until: 1_300_000 as never })).not.toThrow();
    }, 60_000);
  }
});

describe('sg run on a file beyond a bound', () => {
  it('exits 2 with file:line:col: path: message and no stack trace', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sg-bounds-')), 'b.yaml');
    const bad: [Path, unknown][] = [
      [['topology', 'segments', 'internet', 'link', 'queue'], 2_000_000],
      [['workload', 1, 'users'], 2 ** 53],
      [['topology', 'hosts', 'rs1', 'services', 0, 'concurrency'], 1e300],
      [['cluster', 'groups', 0, 'health', 'porttest', 'E'], 1e16],
    ];
    const text = mutate(...bad[0]!, ...bad.slice(1));
    writeFileSync(file, text);
    const p = spawnSync(process.execPath, ['bin/sg.mjs', 'run', file], { encoding: 'utf8', timeout: 60_000 });
    expect(p.status, p.stderr).toBe(2);
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    for (const [path] of bad) expect(p.stderr).toMatch(new RegExp(`^${esc(file)}:${lineOf(text, path)}:\\d+: ${esc(dotted(path))}: \\S`, 'm'));
    expect(p.stderr).not.toMatch(/\n\s+at |assertion failed|Error:/);
  }, 60_000);
});
