/**
 * The lab's ping (src/real/icmp.ts): `scenarios/lab-ping.yaml` run with `sg run --real` pings
 * from the client's own ICMP socket. Every echo is matched and counted, the median round trip is
 * well under what starting a `ping` process costs (8-35 ms here), no `ping` process is started (a
 * `ping` first on PATH would leave a mark), and the open-loop workload issues exactly the
 * simulator's requests (the simulator's random stream). Needs root and iproute2, like lab.test.ts.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../sim/scenario.ts';
import { LAB_READY_TIMEOUT_MS } from '../../src/real/lab.ts';
import { runReal } from '../../src/real/run.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { canRunLab } from './support.ts';

const why = canRunLab();
if (why !== undefined) console.warn(`lab ping test skipped: ${why}`);

const FILE = 'scenarios/lab-ping.yaml';

describe.skipIf(why !== undefined)('lab ping', () => {
  it('is measured by the client itself: matched, counted, sub-millisecond median, no ping process', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'sg-noping-'));
    const mark = join(bin, 'ping-was-run');
    writeFileSync(join(bin, 'ping'), `#!/bin/sh\ntouch ${mark}\nexit 0\n`);
    chmodSync(join(bin, 'ping'), 0o755);
    const saved = process.env['PATH'];
    process.env['PATH'] = `${bin}:${saved ?? ''}`;
    let real;
    try {
      real = await runReal(FILE);
    } finally {
      process.env['PATH'] = saved;
    }
    const loaded = loadScenario(readFileSync(FILE, 'utf8'), FILE);
    if (!loaded.ok) throw new Error('load');
    const sim = runScenario(loaded.scenario);
    expect(existsSync(mark)).toBe(false);
    const open = real.workloads.find((w) => w.name === 'ping-open')!;
    const closed = real.workloads.find((w) => w.name === 'ping-closed')!;
    const simOpen = sim.workloads.find((w) => w.name === 'ping-open')!;
    // Every echo answered and matched; the open loop's arrivals are the simulator's.
    expect(open.requests).toBe(simOpen.requests);
    expect(open.ok).toBe(open.requests);
    expect(closed.ok).toBe(closed.requests);
    expect(closed.requests).toBeGreaterThanOrEqual(100);
    // A process start costs 8-35 ms; a round trip on a veth and bridge is a fraction of one.
    expect(open.p50).toBeLessThan(5_000);
    expect(closed.p50).toBeLessThan(5_000);
    expect(real.passed).toBe(true);
  }, 2 * LAB_READY_TIMEOUT_MS + 60_000);
});
