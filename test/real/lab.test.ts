/**
 * The real-mode suite: `scenarios/lab-basic.yaml` built as network namespaces (`sg lab up`), two
 * `sg daemon`s on AF_PACKET sockets, nginx (or the Node server) on the real servers, curl and a
 * Node TCP client in the client namespace. Needs root and iproute2 (CI has both); skipped
 * elsewhere with the reason printed.
 *
 * 1. balancing through the VIP with curl: round robin alternates rs1, rs2;
 * 2. the control plane: `sg cmd` against the master daemon;
 * 3. an established TCP connection (to the echo group) survives the master's SIGKILL;
 * 4. the master killed: the VIP is taken over, and the client's neighbour entry for the VIP
 *    moves to the new master's MAC (its gratuitous ARP);
 * 5. a killed server is detected (port test) and avoided;
 * 6. `sg lab down` leaves no namespace and no process behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunLab, curl, sh, SH_TIMEOUT_MS, until } from './support.ts';
import { alive, LAB_READY_TIMEOUT_MS, labDown, labUp, nsName, type LabState } from '../../src/real/lab.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';
import { readDaemonStatus } from '../../src/real/daemon.ts';

const why = canRunLab();
if (why !== undefined) console.warn(`real-mode suite skipped: ${why}`);

const SCENARIO = 'scenarios/lab-basic.yaml';
const VIP = '10.10.1.10';

function pidOf(lab: LabState, name: string): number {
  const p = lab.processes.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no process ${name}`);
  return p.pid;
}

function macOf(lab: LabState, node: string): string {
  return sh(nsName(lab.prefix, node), 'cat', ['/sys/class/net/eth0/address']).trim();
}

function masterOf(lab: LabState): string | undefined {
  return lastMaster(lab)?.who;
}

/** The latest bidd `to master` event in the daemons' traces (trace time: µs since the lab's t0). */
function lastMaster(lab: LabState): { t: number; who: string } | undefined {
  let last: { t: number; who: string } | undefined;
  for (const n of ['sg1', 'sg2']) {
    let text = '';
    try {
      text = readFileSync(`${lab.dir}/${n}.jsonl`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('"machine":"bidd"')) continue;
      const ev = JSON.parse(line) as { t: number; to: string; entity: string };
      if (ev.to === 'master' && (last === undefined || ev.t > last.t)) last = { t: ev.t, who: ev.entity };
    }
  }
  return last;
}

describe.skipIf(why !== undefined)('real mode: lab-basic in network namespaces', () => {
  let lab: LabState;

  beforeAll(async () => {
    // labUp returns once every daemon is ready (bounded by LAB_READY_TIMEOUT_MS) and started.
    lab = labUp(SCENARIO);
    // The daemons elect sg1 (listen 300 ms + bid 100 ms) and the servers answer.
    await until('curl through the VIP', () => curl(lab, VIP) !== '', 15_000);
  }, LAB_READY_TIMEOUT_MS + 30_000);

  afterAll(() => {
    if (lab === undefined) return;
    const { namespaces } = labDown(lab.prefix);
    expect(namespaces.length).toBe(6);
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(left).not.toContain(`${lab.prefix}-`);
    for (const p of lab.processes) expect(alive(p.pid), `${p.name} (pid ${p.pid}) still runs`).toBe(false);
  });

  it('starts every daemon at the one t0, fixed only once all had bound their sockets', () => {
    const daemons = lab.processes.filter((p) => p.kind === 'daemon');
    expect(daemons.map((p) => p.name).sort()).toEqual(['sg1', 'sg2']);
    for (const p of daemons) {
      const st = readDaemonStatus(p.status!);
      expect(st?.phase, `${p.name}: ${JSON.stringify(st)}`).toBe('running');
      expect(st!.t0).toBe(lab.t0);
      expect(st!.at).toBe(lab.t0);
      // Ready before the start was given: its start-up time is not in the timeline.
      expect(st!.boundAt!).toBeLessThan(lab.t0);
      expect(st!.startLateUs).toBeGreaterThanOrEqual(0);
    }
  });

  it('balances through the VIP: round robin alternates the two nginx servers', () => {
    const seen = Array.from({ length: 10 }, () => curl(lab, VIP));
    expect(new Set(seen)).toEqual(new Set(['rs1', 'rs2']));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
  });

  it('answers sg cmd (the feedback protocol) from the daemon', { timeout: 2 * SH_TIMEOUT_MS }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-lab-key-'));
    const key = join(dir, 'admin.key');
    writeFileSync(key, JSON.stringify({ id: 1, secret: '0f1e2d3c4b5a69788796a5b4c3d2e1f0', role: 'admin' }), { mode: 0o600 });
    const out = sh(nsName(lab.prefix, 'client'), process.execPath, ['bin/sg.mjs', 'cmd', '--node', '10.10.1.11', '--key', key, 'list', 'group', 'web']);
    expect(out).toMatch(/rs1/);
    expect(out).toMatch(/rs2/);
  });

  it('keeps an established TCP connection across the master SIGKILL, and moves the VIP with a gratuitous ARP', async () => {
    expect(masterOf(lab)).toBe('sg1');
    // A client that keeps one connection to the echo group open and echoes a line every 50 ms;
    // it says 'flowing' at the first echo and reports once every line came back (or at 15 s).
    const script = `
      const s = require('node:net').connect(7, '${VIP}');
      let n = 0, got = 0, buf = '', sent = false;
      const report = () => { if (!sent) { sent = true; console.log('echoed ' + got + ' of ' + n); s.end(); } };
      s.setNoDelay(true);
      s.on('data', (d) => { buf += d; const lines = buf.split('\\n'); buf = lines.pop(); if (got === 0 && lines.length > 0) console.log('flowing'); got += lines.length; if (n === 60 && got >= n) report(); });
      s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
      s.on('connect', () => { const t = setInterval(() => { s.write('line ' + (n++) + '\\n'); if (n === 60) { clearInterval(t); setTimeout(report, 15000); } }, 50); });
    `;
    const client = spawn('ip', ['netns', 'exec', nsName(lab.prefix, 'client'), process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    client.stdout.on('data', (d) => (output += d));
    const exited = new Promise<number>((res) => client.on('exit', (c) => res(c ?? -1)));
    await until('the echo connection to carry data', () => output.includes('flowing'), 15_000);
    const before = sh(nsName(lab.prefix, 'client'), 'ip', ['neigh', 'show', VIP]);
    expect(before).toContain(macOf(lab, 'sg1'));
    const killedAt = monotonicUs() - lab.t0;
    process.kill(pidOf(lab, 'sg1'), 'SIGKILL');
    await until('sg2 to become master', () => masterOf(lab) === 'sg2', 10_000);
    // The takeover's time in the daemons' own clock (no polling or trace flush in it).
    expect(lastMaster(lab)!.t - killedAt).toBeLessThan(2_000_000);
    expect(await exited).toBe(0);
    expect(output.trim()).toBe('flowing\nechoed 60 of 60');
    await until('the client to see the VIP at sg2', () => sh(nsName(lab.prefix, 'client'), 'ip', ['neigh', 'show', VIP]).includes(macOf(lab, 'sg2')), 5_000);
    expect(curl(lab, VIP)).toMatch(/^rs[12]$/);
  }, 40_000);

  it('detects a killed server with port tests and avoids it', async () => {
    // Kill every process of rs2's web server (nginx's master and its worker).
    const ns = nsName(lab.prefix, 'rs2');
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    const web = pids.filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').match(/nginx|serve\x00http/));
    expect(web.length).toBeGreaterThan(0);
    for (const p of web) process.kill(p, 'SIGKILL');
    await until('rs2 to be avoided', () => Array.from({ length: 4 }, () => curl(lab, VIP)).every((r) => r === 'rs1'), 20_000);
    const seen = Array.from({ length: 6 }, () => curl(lab, VIP));
    expect(seen).toEqual(Array(6).fill('rs1'));
  }, 60_000);

  it('SIGTERM: the daemon steps down (master -> exit in its trace), then exits cleanly', async () => {
    expect(masterOf(lab)).toBe('sg2');
    const pid = pidOf(lab, 'sg2');
    process.kill(pid, 'SIGTERM');
    await until('sg2 to exit', () => !alive(pid), 20_000);
    const log = readFileSync(`${lab.dir}/sg2.log`, 'utf8');
    expect(log).toMatch(/sg2: stopped \{/);
    const trace = readFileSync(`${lab.dir}/sg2.jsonl`, 'utf8');
    expect(trace).toMatch(/"machine":"bidd","from":"master","to":"exit"/);
  }, 30_000);
});
