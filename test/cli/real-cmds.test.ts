/**
 * The real-mode and timeline commands' bad input: a clear message and exit 2, before anything is
 * built or bound (no root needed).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';

async function run(...argv: string[]): Promise<{ code: number; err: string; out: string }> {
  const io = memoryIo();
  const code = await main(argv, io);
  return { code, err: io.stderr, out: io.stdout };
}

describe('real-mode and timeline commands: bad input', () => {
  it('sg daemon: missing or unknown node, missing config', async () => {
    expect(await run('daemon')).toMatchObject({ code: 2, err: expect.stringContaining('--config FILE is required') });
    expect(await run('daemon', '--config', 'scenarios/lab-basic.yaml')).toMatchObject({ code: 2, err: expect.stringContaining('--node NAME is required') });
    expect(await run('daemon', '--config', 'scenarios/lab-basic.yaml', '--node', 'nope')).toMatchObject({ code: 2, err: expect.stringContaining("no SG node 'nope' (nodes: sg1, sg2)") });
    expect(await run('daemon', '--config', 'no/such.yaml', '--node', 'sg1')).toMatchObject({ code: 2, err: expect.stringContaining('no/such.yaml') });
  });

  it('sg daemon: one watched process, named', async () => {
    const base = ['daemon', '--config', 'scenarios/lab-basic.yaml', '--node', 'sg1'];
    expect(await run(...base, '--watch-process', 'nginx', '--watch-pidfile', '/run/nginx.pid')).toMatchObject({ code: 2, err: expect.stringContaining('give --watch-process or --watch-pidfile, not both') });
    expect(await run(...base, '--watch-process', '')).toMatchObject({ code: 2, err: expect.stringContaining('--watch-process needs a process name') });
    expect(await run(...base, '--watch-pidfile', '')).toMatchObject({ code: 2, err: expect.stringContaining('--watch-pidfile needs a file') });
  });

  it('sg daemon: --hash-seed is a u32', async () => {
    const base = ['daemon', '--config', 'scenarios/lab-basic.yaml', '--node', 'sg1'];
    for (const bad of ['', '+1', '1.5', '0x10', '4294967296', 'random']) {
      expect(await run(...base, '--hash-seed', bad), bad).toMatchObject({ code: 2, err: expect.stringContaining('--hash-seed must be an integer 0..4294967295') });
    }
    // A good one passes the flags and stops at the configuration (lab-basic holds a key: mode 600).
    const ok = await run(...base, '--hash-seed', '4294967295');
    expect(ok).toMatchObject({ code: 2, err: expect.stringContaining('chmod 600') });
    expect(ok.err).not.toContain('--hash-seed');
  });

  it('sg daemon: a configuration holding secrets must be mode 600, as key files are for sg cmd and sg hb', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-daemon-'));
    const config = join(dir, 'lab.yaml');
    copyFileSync('scenarios/lab-basic.yaml', config);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(config, mode);
      const r = await run('daemon', '--config', config, '--node', 'sg1', '--public', 'sg-no-such-if0');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${config}: configuration holding secrets (cluster.keys, cluster.failover.key) is readable by group or others (mode ${mode.toString(8)}); chmod 600 ${config}`);
    }
    // At 600 the file passes and the daemon goes on to its interfaces (here one that does not exist).
    chmodSync(config, 0o600);
    const r = await run('daemon', '--config', config, '--node', 'sg1', '--public', 'sg-no-such-if0');
    expect(r.code).toBe(2);
    expect(r.err).not.toContain('readable by group or others');
    expect(r.err).toContain('sg-no-such-if0');
    // A configuration without secrets may be world-readable.
    const open = await run('daemon', '--config', 'scenarios/bombing.yaml', '--node', 'sg1', '--public', 'sg-no-such-if0');
    expect(open.err).not.toContain('readable by group or others');
    expect(open.err).toContain('sg-no-such-if0');
  });

  it('sg lab: missing subcommand, file or prefix; a bad prefix is refused before anything is made', async () => {
    expect(await run('lab')).toMatchObject({ code: 2, err: expect.stringContaining('missing subcommand') });
    expect(await run('lab', 'up')).toMatchObject({ code: 2, err: expect.stringContaining('needs a scenario FILE') });
    expect(await run('lab', 'down')).toMatchObject({ code: 2, err: expect.stringContaining('needs a PREFIX') });
    const bad = await run('lab', 'up', 'scenarios/lab-basic.yaml', '--prefix', 'Bad-Prefix!');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("lab prefix 'Bad-Prefix!' must be");
  });

  it('sg diff and sg viz: usage errors and unreadable files', async () => {
    expect(await run('diff', 'only-one.jsonl')).toMatchObject({ code: 2, err: expect.stringContaining('give two trace files') });
    expect(await run('diff', 'no/a.jsonl', 'no/b.jsonl')).toMatchObject({ code: 2, err: expect.stringContaining('no/a.jsonl') });
    expect(await run('diff', 'a', 'b', '--tolerance', 'soon')).toMatchObject({ code: 2, err: expect.stringContaining('--tolerance') });
    expect(await run('viz')).toMatchObject({ code: 2, err: expect.stringContaining('give one trace file') });
    expect(await run('viz', 'no/such.jsonl')).toMatchObject({ code: 2, err: expect.stringContaining('no such file') });
  });

  it('sg lab up on a missing or broken file: exit 2 with the file named, before anything is made', async () => {
    expect(await run('lab', 'up', 'no/such.yaml')).toMatchObject({ code: 2, err: expect.stringContaining('no/such.yaml: cannot read: no such file') });
    const dir = mkdtempSync(join(tmpdir(), 'sg-lab-bad-'));
    writeFileSync(join(dir, 'b.yaml'), 'name: b\n');
    expect(await run('lab', 'up', join(dir, 'b.yaml'))).toMatchObject({ code: 2, err: expect.stringMatching(/b\.yaml:1:1: duration: missing required key/) });
  });

  it('sg lab client with bad SPEC-JSON and sg lab serve with a bad port or kind: exit 2 with a message', async () => {
    for (const spec of ['{not json', '42', '{}', '{"workload":{},"t0":0,"seed":1}', '{"workload":{"name":"w","from":"c","to":1,"request":{"kind":"http"},"arrival":{"kind":"poisson","rate":-1}},"t0":0,"seed":1}']) {
      const r = await run('lab', 'client', spec);
      expect(r.code, spec).toBe(2);
      expect(r.err, spec).toContain('sg lab: client: bad SPEC-JSON: ');
    }
    for (const port of ['abc', '0', '70000', '-1', '8.5', '']) {
      const r = await run('lab', 'serve', 'http', port, '--name', 'rs1');
      expect(r.code, port).toBe(2);
      expect(r.err, port).toContain('PORT must be an integer 1..65535');
    }
    expect(await run('lab', 'serve', 'gopher', '80', '--name', 'rs1')).toMatchObject({ code: 2, err: expect.stringContaining("unknown kind 'gopher'") });
  });

  it('sg lab serve multicast-sink: a missing or bad option is a usage error (exit 2), before anything is bound', async () => {
    const ok = ['--name', 'm1', '--group', '239.1.2.3', '--iface-addr', '10.0.0.1', '--service', 'sink'];
    const without = (flag: string) => ok.filter((_, i) => ok[i] !== flag && ok[i - 1] !== flag);
    const cases: [string[], string][] = [
      [[], 'missing PORT'],
      [['abc', ...ok], 'PORT must be an integer 1..65535'],
      [['5000', '6000', ...ok], "unexpected argument '6000'"],
      [['5000', ...without('--name')], '--name is required'],
      [['5000', ...without('--group')], '--group is required'],
      [['5000', ...without('--iface-addr')], '--iface-addr is required'],
      [['5000', ...without('--service')], '--service is required'],
      [['5000', ...without('--group'), '--group', '10.1.2.3'], "--group must be a multicast IPv4 address (224.0.0.0/4), got '10.1.2.3'"],
      [['5000', ...without('--group'), '--group', '239.1.2'], '--group must be a multicast IPv4 address'],
      [['5000', ...without('--iface-addr'), '--iface-addr', 'eth0'], "--iface-addr must be an IPv4 address, got 'eth0'"],
      [['5000', ...ok, '--ttl', '3'], "Unknown option '--ttl'"],
    ];
    for (const [argv, msg] of cases) {
      const r = await run('lab', 'serve', 'multicast-sink', ...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toContain(msg);
      expect(r.err, argv.join(' ')).toContain('usage: sg lab serve multicast-sink PORT --name HOST --group GROUP --iface-addr ADDR --service NAME');
    }
  });

  it('sg lab mrouter: a bad SPEC-JSON is a usage error (exit 2) naming what is wrong, before any socket', async () => {
    const ok = { host: 'mr', ifaces: [{ name: 'eth0', addrs: [{ addr: 167903742, prefixLen: 24 }] }], routes: [], startFile: '/x.start', status: '/x.status', trace: '/x.jsonl' };
    const cases: [string, string][] = [
      ['{not json', 'not JSON'],
      [JSON.stringify({ ...ok, host: 3 }), 'host: a string'],
      [JSON.stringify({ ...ok, ifaces: [] }), 'ifaces: a non-empty array'],
      [JSON.stringify({ ...ok, ifaces: [{ name: 'eth0', addrs: [{ addr: -1, prefixLen: 24 }] }] }), 'ifaces[]:'],
      [JSON.stringify({ ...ok, ifaces: [{ name: 'eth0', addrs: [{ addr: 1, prefixLen: 33 }] }] }), 'ifaces[]:'],
      [JSON.stringify({ ...ok, routes: [{ dst: 0, prefixLen: 0 }] }), 'routes:'],
      [JSON.stringify({ ...ok, queryInterval: 0 }), 'queryInterval'],
      [JSON.stringify({ ...ok, trace: undefined }), 'trace: a file name'],
    ];
    for (const [spec, msg] of cases) {
      const r = await run('lab', 'mrouter', spec);
      expect(r.code, spec).toBe(2);
      expect(r.err, spec).toContain(`mrouter: bad SPEC-JSON: ${msg}`);
    }
    expect(await run('lab', 'mrouter')).toMatchObject({ code: 2, err: expect.stringContaining('usage: sg lab mrouter SPEC-JSON') });
  });

  it('sg lab client and serve with bad input, as processes: exit 2 and no stack trace', () => {
    for (const argv of [['lab', 'client', '{not json'], ['lab', 'serve', 'http', 'abc', '--name', 'rs1'], ['lab', 'serve', 'multicast-sink', '5000', '--name', 'm1'], ['lab', 'mrouter', '[]']]) {
      const p = spawnSync(process.execPath, ['bin/sg.mjs', ...argv], { encoding: 'utf8', timeout: 30_000 });
      expect(p.status, argv.join(' ')).toBe(2);
      expect(p.stderr).not.toMatch(/\n\s+at |Error:/);
    }
  }, 60_000);

  it('sg run --real refuses simulator-only options', async () => {
    expect(await run('run', 'scenarios/lab-basic.yaml', '--real', '--seed', '3')).toMatchObject({ code: 2, err: expect.stringContaining('--seed and --until are for the simulator') });
  });
});
