/** `sg run` and `sg`: exit codes, output, files written, bad input. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPcapng } from '../../src/capture/pcapng-read.ts';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { parseTraceLine } from '../../src/trace.ts';

const TINY = `name: tiny
duration: 3s
topology:
  segments:
    lan: { subnet: 10.9.0.0/24, link: { latency: 0.1ms, bandwidth: 100Mbit } }
  hosts:
    s: { ifaces: [{ segment: lan, ip: 10.9.0.1 }], services: [{ kind: udp-echo, port: 7 }] }
    c: { ifaces: [{ segment: lan, ip: 10.9.0.2 }] }
workload:
  - { name: echo, from: c, to: 10.9.0.1:7, request: { kind: udp-echo, size: 100 }, rate: 100/s, stop: 2.5s }
expect:
  - success: { workload: echo, min: 100% }
`;

function tmp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sg-run-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('sg run', () => {
  it('exit 0 when every expectation holds; prints measured values and bounds', async () => {
    const io = memoryIo();
    expect(await main(['run', tmp('t.yaml', TINY)], io)).toBe(0);
    expect(io.stdout).toMatch(/pass {2}expect\[0\] \(line 12\): 100% \(\d+\/\d+\) {2}\[expected >= 100%\]/);
    expect(io.stdout).toMatch(/PASS: 1 expectation\(s\) held/);
  });

  it('exit 1 when one fails, with the failing expectation as written', async () => {
    const io = memoryIo();
    const file = tmp('t.yaml', TINY + '  - latency: { workload: echo, p: 50, max: 10us }\n');
    expect(await main(['run', file], io)).toBe(1);
    expect(io.stdout).toMatch(/FAIL {2}expect\[1\] \(line 13\): p50 = [\d.]+(us|ms) over \d+ requests {2}\[expected <= 10us\]/);
    expect(io.stdout).toMatch(/FAIL: 1 of 2 expectation\(s\) failed/);
  });

  it('exit 2 on a bad file, naming file, line and path, and running nothing', async () => {
    const io = memoryIo();
    const file = tmp('bad.yaml', TINY.replace('from: c', 'from: nobody'));
    expect(await main(['run', file], io)).toBe(2);
    expect(io.stderr).toBe(`${file}:10:25: workload[0].from: unknown host 'nobody' (hosts: s, c)\n`);
    expect(io.stdout).toBe('');
  });

  it('exit 2 on bad usage', async () => {
    for (const argv of [['run'], ['run', 'a', 'b'], ['run', 'x.yaml', '--seed', 'abc'], ['run', 'x.yaml', '--until', 'soon'], ['run', '--bogus'], ['nope']]) {
      const io = memoryIo();
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.stderr.length).toBeGreaterThan(0);
    }
    const io = memoryIo();
    expect(await main(['run', '/nonexistent/x.yaml'], io)).toBe(2);
    expect(io.stderr).toMatch(/\/nonexistent\/x\.yaml: cannot read: no such file/);
  });

  it('--trace and --pcap write a valid trace and capture; --json prints the result; --seed changes the run', async () => {
    const file = tmp('t.yaml', TINY);
    const dir = mkdtempSync(join(tmpdir(), 'sg-out-'));
    const io = memoryIo();
    expect(await main(['run', file, '--trace', join(dir, 't.jsonl'), '--pcap', join(dir, 't.pcapng'), '--json', '--seed', '9'], io)).toBe(0);
    const res = JSON.parse(io.stdout);
    expect(res).toMatchObject({ scenario: 'tiny', seed: 9, passed: true, trace: join(dir, 't.jsonl') });
    const lines = readFileSync(join(dir, 't.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(100);
    for (const l of lines) expect(parseTraceLine(l).ok).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ kind: 'header', format: 'sg-trace', version: 1, seed: 9, scenario: 'tiny' });
    const cap = readPcapng(readFileSync(join(dir, 't.pcapng')));
    expect(cap.ok && cap.value.packets.length).toBeGreaterThan(100);
  });

  it('the same seed gives the same trace bytes; --until stops early', async () => {
    const file = tmp('t.yaml', TINY);
    const dir = mkdtempSync(join(tmpdir(), 'sg-out-'));
    await main(['run', file, '--trace', join(dir, 'a.jsonl')], memoryIo());
    await main(['run', file, '--trace', join(dir, 'b.jsonl')], memoryIo());
    expect(readFileSync(join(dir, 'a.jsonl'))).toEqual(readFileSync(join(dir, 'b.jsonl')));
    const io = memoryIo();
    await main(['run', file, '--until', '1s', '--json'], io);
    expect(JSON.parse(io.stdout).end).toBe(1_000_000);
  });

  it('--trace, --pcap or --report to a path that cannot be opened: exit 2 with a message, before the run', async () => {
    const file = tmp('t.yaml', TINY);
    const dir = mkdtempSync(join(tmpdir(), 'sg-run-out-'));
    for (const opt of ['--trace', '--pcap', '--report']) {
      for (const out of [join(dir, 'no', 'such', 'dir', 'x'), dir]) {
        const io = memoryIo();
        expect(await main(['run', file, opt, out], io), `${opt} ${out}`).toBe(2);
        expect(io.stderr).toContain(`sg run: ${opt} ${out}: cannot open for writing: `);
        expect(io.stdout).toBe('');
      }
    }
    const p = spawnSync(process.execPath, ['bin/sg.mjs', 'run', file, '--trace', join(dir, 'no', 'x.jsonl')], { encoding: 'utf8' });
    expect(p.status).toBe(2);
    expect(p.stderr).not.toMatch(/\n\s+at |Error:/);
  });

  it('the real command line: bin/sg.mjs exits with the same codes', () => {
    const ok = spawnSync(process.execPath, ['bin/sg.mjs', 'run', tmp('t.yaml', TINY), '-q'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const bad = spawnSync(process.execPath, ['bin/sg.mjs', 'run', tmp('t.yaml', 'name: x\n')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/missing required key/);
  });

  it('npm start (sg demo) runs the demo and says where the trace and capture went', () => {
    const out = execFileSync(process.execPath, ['bin/sg.mjs', 'demo'], { encoding: 'utf8' });
    expect(out).toMatch(/PASS: \d+ expectation\(s\) held/);
    expect(out).toMatch(/trace: out\/demo\.jsonl/);
    expect(out).toMatch(/capture: out\/demo\.pcapng/);
    expect(existsSync('out/demo.pcapng')).toBe(true);
    // The self-contained timeline report, with the run's trace embedded.
    expect(out).toMatch(/report: out\/demo\.html/);
    const html = readFileSync('out/demo.html', 'utf8');
    expect(html).toContain('<script id="sg-trace" type="application/x-ndjson">');
    expect(html).toContain('PASS: demo');
  }, 120_000);
});
