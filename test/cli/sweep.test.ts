/**
 * `sg sweep`: seed lists, shards, and sweeps over tiny scenarios in worker threads, in-process
 * through `sweepCommand` and once through the real `node bin/sg.mjs` command line. A failing
 * seed's reproduce command, run as printed, fails the same way.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryIo, type Io } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { parseSeeds, parseShard, reproduceCommand, runSweep, shardSeeds, shellQuote, SWEEP_SEEDS_MAX, SWEEP_USAGE, sweepCommand } from '../../src/cli/sweep.ts';

/** Pings over a cable that loses 2% of frames: `min: 100%` holds on some seeds only. */
const LOSSY = `name: lossy
seed: 1
duration: 3s
topology:
  segments:
    lan: { subnet: 10.0.0.0/24, link: { latency: 1ms } }
  hosts:
    server:
      ifaces: [{ segment: lan, ip: 10.0.0.1, link: { loss: 2% } }]
    client:
      ifaces: [{ segment: lan, ip: 10.0.0.2 }]
workload:
  - { name: ping, from: client, to: 10.0.0.1, request: { kind: ping }, rate: 10/s, start: 0.5s, stop: 2.5s, timeout: 200ms }
expect:
  - success: { workload: ping, min: 100% }
`;

/** Lossless: holds on every seed. */
const CLEAN = LOSSY.replace('name: lossy', 'name: clean').replace(', link: { loss: 2% }', '');

/** Expects a fault that never comes: fails on every seed. */
const NEVER = `name: never
duration: 1s
topology:
  segments:
    lan: { subnet: 10.0.0.0/24 }
  hosts:
    lonely:
      ifaces: [{ segment: lan, ip: 10.0.0.1 }]
expect:
  - count: { match: { kind: fault }, min: 1 }
`;

let dir = '';
const file = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-sweep-'));
  writeFileSync(file('lossy.yaml'), LOSSY);
  writeFileSync(file('clean.yaml'), CLEAN);
  writeFileSync(file('never.yaml'), NEVER);
  writeFileSync(file('broken.yaml'), CLEAN.replace('duration: 3s', 'duration: soon'));
});

async function sweep(...argv: string[]): Promise<{ code: number; io: ReturnType<typeof memoryIo> }> {
  const io = memoryIo();
  const code = await sweepCommand(argv, io);
  return { code, io };
}

interface JsonReport {
  seedsTotal: number;
  seedsSelected: number;
  seedsRun: number;
  passed: number;
  failed: { seed: number; events: number; failures: { path: string; measured: string; bound: string }[]; reproduce: string; error?: string }[];
  shard: { index: number; count: number } | null;
  jobs: number;
  stopped: string | null;
}

describe('seed lists', () => {
  const ok = (spec: string): readonly number[] => {
    const r = parseSeeds(spec);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };
  const err = (spec: string): string => {
    const r = parseSeeds(spec);
    if (r.ok) throw new Error(`'${spec}' parsed`);
    return r.error;
  };

  it('takes inclusive ranges, comma lists and mixes, sorted and without duplicates', () => {
    expect(ok('1..5')).toEqual([1, 2, 3, 4, 5]);
    expect(ok('7')).toEqual([7]);
    expect(ok('3..3')).toEqual([3]);
    expect(ok('1,5,9')).toEqual([1, 5, 9]);
    expect(ok('1..3,20')).toEqual([1, 2, 3, 20]);
    expect(ok('20, 1..3')).toEqual([1, 2, 3, 20]);
    expect(ok('5..8,1..6,6')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ok('0,4294967295')).toEqual([0, 4294967295]);
    expect(ok('1..1000')).toHaveLength(1000);
    expect(ok(`1..${SWEEP_SEEDS_MAX}`)).toHaveLength(SWEEP_SEEDS_MAX);
  });

  it('refuses bad syntax, reversed or empty ranges, out-of-range seeds and too many seeds', () => {
    expect(err('')).toMatch(/empty/);
    expect(err(' ')).toMatch(/empty/);
    expect(err('1,,2')).toMatch(/empty item/);
    expect(err('1,')).toMatch(/empty item/);
    expect(err('a')).toMatch(/bad seed item 'a'/);
    expect(err('1-5')).toMatch(/bad seed item '1-5'/);
    expect(err('1...5')).toMatch(/bad seed item/);
    expect(err('-1')).toMatch(/bad seed item/);
    expect(err('1.5')).toMatch(/bad seed item/);
    expect(err('5..1')).toMatch(/empty seed range '5\.\.1'/);
    expect(err('4294967296')).toMatch(/out of range/);
    expect(err('0..4294967295')).toMatch(/4294967296 seeds is more than the limit of 1000000/);
    expect(err(`0..${SWEEP_SEEDS_MAX}`)).toMatch(/more than the limit/);
    // Overlaps are counted once: this is exactly the limit.
    expect(ok(`1..${SWEEP_SEEDS_MAX},5..10,${SWEEP_SEEDS_MAX}`)).toHaveLength(SWEEP_SEEDS_MAX);
  });

  it('parses shards I/N counted from 1', () => {
    expect(parseShard('1/4')).toEqual({ ok: true, value: { index: 1, count: 4 } });
    expect(parseShard('4/4')).toEqual({ ok: true, value: { index: 4, count: 4 } });
    for (const bad of ['0/4', '5/4', '1/0', '1', '1/', 'a/b', '-1/4', '1/4/2']) expect(parseShard(bad).ok, bad).toBe(false);
  });

  it('shards partition the seed list exactly: disjoint, and together every seed once', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat({ max: 10_000 }), { maxLength: 200 }), fc.integer({ min: 1, max: 12 }), (raw, n) => {
        const seeds = [...raw].sort((a, b) => a - b);
        const shards = Array.from({ length: n }, (_, i) => shardSeeds(seeds, { index: i + 1, count: n }));
        const union = shards.flat().sort((a, b) => a - b);
        expect(union).toEqual(seeds); // same multiset: nothing lost, nothing twice
        // Position p goes to shard p % n + 1, so shard sizes differ by at most one.
        seeds.forEach((s, p) => expect(shards[p % n]).toContain(s));
        const sizes = shards.map((s) => s.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
    expect(shardSeeds([1, 2, 3, 4, 5, 6, 7], { index: 2, count: 3 })).toEqual([2, 5]);
  });

  it('quotes the file in the reproduce command only when a shell needs it', () => {
    expect(reproduceCommand('scenarios/demo.yaml', 17)).toBe('sg run scenarios/demo.yaml --seed 17');
    expect(reproduceCommand("my dir/it's.yaml", 3)).toBe(`sg run 'my dir/it'\\''s.yaml' --seed 3`);
    expect(shellQuote('')).toBe("''");
  });
});

describe('sg sweep usage', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, io } = await sweep('--help');
    expect(code).toBe(0);
    expect(io.stdout).toBe(SWEEP_USAGE + '\n');
    expect(SWEEP_USAGE).toMatch(/--shard I\/N/);
    expect(SWEEP_USAGE).toMatch(/1-based/);
  });

  it.each([
    [['--seeds', '1..3'], /expected one scenario file, got 0/],
    [['x.yaml'], /--seeds is required/],
    [['x.yaml', '--seeds', '3..1'], /--seeds: empty seed range/],
    [['x.yaml', '--seeds', 'x'], /--seeds: bad seed item 'x'/],
    [['x.yaml', '--seeds', '1..2000000'], /more than the limit/],
    [['x.yaml', '--seeds', '1..3', '--shard', '0/2'], /--shard: .*counted from 1/],
    [['x.yaml', '--seeds', '1..3', '--jobs', '0'], /--jobs must be an integer/],
    [['x.yaml', '--seeds', '1..3', '--jobs', '2x'], /--jobs must be an integer/],
    [['x.yaml', '--seeds', '1..3', '--bogus'], /Unknown option '--bogus'/],
  ])('%j exits 2 with a message', async (argv, message) => {
    const { code, io } = await sweep(...argv);
    expect(code).toBe(2);
    expect(io.stderr).toMatch(message);
    expect(io.stdout).toBe('');
  });

  it('a bad or missing scenario file exits 2 with its errors before any worker starts', async () => {
    const broken = await sweep(file('broken.yaml'), '--seeds', '1..3');
    expect(broken.code).toBe(2);
    expect(broken.io.stderr).toMatch(/broken\.yaml:3:\d+: duration/);
    expect(broken.io.stdout).toBe('');
    const missing = await sweep(file('missing.yaml'), '--seeds', '1..3');
    expect(missing.code).toBe(2);
    expect(missing.io.stderr).toMatch(/missing\.yaml: cannot read: no such file/);
  });
});

describe('sg sweep in worker threads', () => {
  it('a sweep where every seed passes exits 0 with the summary', async () => {
    const { code, io } = await sweep(file('clean.yaml'), '--seeds', '1..4', '--jobs', '2');
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    expect(io.stdout).toMatch(/^4 seeds, 4 passed, 0 failed \(\d+(ms|\.\ds), [\d.]+ seeds\/s\)\n$/);
  });

  it('a failing seed prints its failed expectation and a reproduce command that fails the same way', async () => {
    const lossy = file('lossy.yaml');
    const { code, io } = await sweep(lossy, '--seeds', '1..6', '--jobs', '2');
    expect(code).toBe(1);
    const lines = io.stdout.trim().split('\n');
    const fails = lines.filter((l) => l.startsWith('FAIL seed '));
    // Some seeds lose a ping and some do not: the sweep tells them apart.
    expect(fails.length).toBeGreaterThan(0);
    expect(fails.length).toBeLessThan(6);
    expect(lines.at(-1)).toMatch(new RegExp(`^6 seeds, ${6 - fails.length} passed, ${fails.length} failed \\(`));
    const m = /^FAIL seed (\d+): expect\[0\] \(line 15\): [\d.]+% \(\d+\/\d+\) \[expected >= 100%\]; reproduce: (sg run .* --seed \d+)$/.exec(fails[0]!);
    expect(m, fails[0]).not.toBeNull();
    const seed = Number(m![1]);
    expect(m![2]).toBe(`sg run ${lossy} --seed ${seed}`);

    // The JSON report has the same failures and the work each took.
    const json = await sweep(lossy, '--seeds', '1..6', '--jobs', '2', '--json');
    expect(json.code).toBe(1);
    const report = JSON.parse(json.io.stdout) as JsonReport;
    expect(report.seedsRun).toBe(6);
    expect(report.passed).toBe(6 - fails.length);
    expect(report.failed.map((f) => `FAIL seed ${f.seed}`)).toEqual(fails.map((l) => l.split(':')[0]));
    const first = report.failed[0]!;
    expect(first.reproduce).toBe(m![2]);
    expect(first.failures[0]).toMatchObject({ path: 'expect[0]', bound: '>= 100%' });

    // Run the reproduce command (through the same entry point as the `sg` binary): it fails
    // the same way, with the same number of simulated events.
    const argv = first.reproduce.split(' ').slice(1);
    const runIo = memoryIo();
    expect(await main([...argv, '--json'], runIo)).toBe(1);
    const run = JSON.parse(runIo.stdout) as { seed: number; events: number; expectations: { pass: boolean; measured: string }[] };
    expect(run.seed).toBe(seed);
    expect(run.events).toBe(first.events);
    expect(run.expectations[0]).toMatchObject({ pass: false, measured: first.failures[0]!.measured });
  });

  it('--shard runs exactly its share: the shards of a sweep are disjoint and cover every seed', async () => {
    const never = file('never.yaml');
    const got: number[][] = [];
    for (const i of [1, 2, 3]) {
      const { code, io } = await sweep(never, '--seeds', '1..7', '--shard', `${i}/3`, '--jobs', '1', '--json');
      expect(code).toBe(1);
      const r = JSON.parse(io.stdout) as JsonReport;
      expect(r.shard).toEqual({ index: i, count: 3 });
      expect(r.seedsTotal).toBe(7);
      expect(r.seedsRun).toBe(r.seedsSelected);
      got.push(r.failed.map((f) => f.seed));
    }
    expect(got).toEqual([[1, 4, 7], [2, 5], [3, 6]]);
    const text = await sweep(never, '--seeds', '1..7', '--shard', '2/3', '--jobs', '1');
    expect(text.io.stdout).toMatch(/^shard 2\/3: 2 of 7 seeds$/m);
    // A shard with no seeds runs nothing and passes.
    const empty = await sweep(never, '--seeds', '1,2', '--shard', '3/3');
    expect(empty.code).toBe(0);
    expect(empty.io.stdout).toMatch(/^0 seeds, 0 passed, 0 failed/m);
  });

  it('--fail-fast stops at the first failure', async () => {
    const { code, io } = await sweep(file('never.yaml'), '--seeds', '1..50', '--jobs', '1', '--fail-fast', '--json');
    expect(code).toBe(1);
    const r = JSON.parse(io.stdout) as JsonReport;
    expect(r.stopped).toBe('fail-fast');
    expect(r.seedsRun).toBe(1);
    expect(r.failed.map((f) => f.seed)).toEqual([1]);
  });

  it('draws a progress bar on a terminal and clears it at the end', async () => {
    let t = 0;
    const io: Io & { stdout: string; stderr: string } = { ...memoryIo(), isTTY: true, clock: () => (t += 250) };
    // memoryIo's methods write to its own object: route them to this one.
    io.out = (s) => void (io.stdout += s);
    io.err = (s) => void (io.stderr += s);
    io.errRaw = (s) => void (io.stderr += s);
    const code = await sweepCommand([file('never.yaml'), '--seeds', '1..3', '--jobs', '1'], io);
    expect(code).toBe(1);
    expect(io.stderr).toMatch(/\r\[#{24}\] 3\/3 seeds, 3 failed \(lowest seed 1\), [\d.]+ seeds\/s, ETA 0s/);
    expect(io.stderr.endsWith('\r\x1b[K')).toBe(true);
    expect(io.stdout).toMatch(/^3 seeds, 0 passed, 3 failed/m);
  });

  it('a worker that throws or exits mid-seed fails that seed, and the sweep goes on', async () => {
    // A stand-in worker speaking the protocol: seed 2 throws out of the handler (the thread
    // dies with an uncaught error), seed 4 calls process.exit, the others pass.
    const fake = file('fake-worker.mjs');
    writeFileSync(fake, `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (m) => {
  if (m.seed === 2) throw new Error('boom at seed 2');
  if (m.seed === 4) process.exit(3);
  parentPort.postMessage({ kind: 'result', seed: m.seed, passed: true, failures: [], events: 1, wallMs: 0 });
});
parentPort.postMessage({ kind: 'ready' });
`);
    const out = await runSweep({ file: file('clean.yaml'), seeds: [1, 2, 3, 4, 5, 6], jobs: 2, failFast: false, workerModule: pathToFileURL(fake) });
    expect(out.fatal).toBeUndefined();
    expect(out.stopped).toBeUndefined();
    const bySeed = new Map(out.results.map((r) => [r.seed, r]));
    expect([...bySeed.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(bySeed.get(2)).toMatchObject({ passed: false, error: expect.stringMatching(/died: Error: boom at seed 2/) });
    expect(bySeed.get(4)).toMatchObject({ passed: false, error: expect.stringMatching(/died: exited with code 3/) });
    for (const s of [1, 3, 5, 6]) expect(bySeed.get(s)?.passed).toBe(true);
    expect(out.workersStarted).toBeGreaterThanOrEqual(3); // two, and replacements while seeds remain

    // A worker that cannot start at all is fatal: nothing is reported as a seed failure.
    const dead = file('dead-worker.mjs');
    writeFileSync(dead, `throw new Error('cannot start');\n`);
    const bad = await runSweep({ file: file('clean.yaml'), seeds: [1, 2, 3], jobs: 2, failFast: false, workerModule: pathToFileURL(dead) });
    expect(bad.fatal).toMatch(/a sweep worker failed to start: Error: cannot start/);
    expect(bad.results).toEqual([]);

    // So is a file that no longer loads in the worker (it changed after the parent checked it).
    const gone = await runSweep({ file: file('broken.yaml'), seeds: [1, 2], jobs: 1, failFast: false });
    expect(gone.fatal).toMatch(/broken\.yaml:3:\d+: duration/);
    expect(gone.results).toEqual([]);
  });
});

describe('the sg command line', () => {
  it('node bin/sg.mjs sweep runs workers, and its reproduce command fails the same seed', () => {
    const lossy = file('lossy.yaml');
    const sg = (...args: string[]) => spawnSync(process.execPath, ['bin/sg.mjs', ...args], { encoding: 'utf8', timeout: 60_000 });
    const r = sg('sweep', lossy, '--seeds', '1..6', '--jobs', '2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const cmd = /reproduce: (sg run .*)$/m.exec(r.stdout)?.[1];
    expect(cmd, r.stdout).toBeDefined();
    const rerun = sg(...cmd!.split(' ').slice(1));
    expect(rerun.status).toBe(1);
    expect(rerun.stdout).toMatch(/FAIL {2}expect\[0\]/);
    const pass = sg('sweep', file('clean.yaml'), '--seeds', '1,2', '--jobs', '2');
    expect(pass.status).toBe(0);
    expect(pass.stdout).toMatch(/^2 seeds, 2 passed, 0 failed/);
  });
});
