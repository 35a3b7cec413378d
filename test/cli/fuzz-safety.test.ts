/**
 * The cluster's safety property under random fault schedules: `sg fuzz` on the fuzzing
 * target finds no schedule where a new link goes to a Dead server while an Alive one exists, and
 * none that makes the engine or simulator throw.
 */
import { describe, expect, it } from 'vitest';
import { fuzzCommand } from '../../src/cli/fuzz.ts';
import { memoryIo } from '../../src/cli/io.ts';

describe('sg fuzz on the cluster safety target', () => {
  it('no failing schedule in 12 runs of up to 8 faults', async () => {
    const io = memoryIo();
    const code = await fuzzCommand(['scenarios/safety-fuzz.yaml', '--runs', '12', '--seed', '2026', '--max-faults', '8', '--out', '/tmp/sg-safety-fuzz-failure.yaml'], io);
    expect(io.stdout + io.stderr).toMatch(/no failure in 12 run/);
    expect(code).toBe(0);
  }, 180_000);
});

describe('sg fuzz on the failover target', () => {
  it('never two masters beyond convergence in 40 runs of up to 8 faults (three SG nodes crashed, cut off, partitioned, stalled, signalled, watched process killed)', async () => {
    const io = memoryIo();
    const code = await fuzzCommand(['scenarios/failover-fuzz.yaml', '--runs', '40', '--seed', '5', '--max-faults', '8', '--out', '/tmp/sg-failover-fuzz-failure.yaml'], io);
    expect(io.stdout + io.stderr).toMatch(/no failure in 40 run/);
    expect(code).toBe(0);
  }, 180_000);
});

describe('sg fuzz on the read/write target', () => {
  it('no read goes back in time in 15 runs of up to 6 faults (crashes, kills, hangs, cut links, loss, delay, clocks, master failover; no partition: see the README)', async () => {
    const io = memoryIo();
    const faults = 'crash,kill,hang,link-down,loss,delay,clock,stall,watched,signal';
    const code = await fuzzCommand(['scenarios/rw-fuzz.yaml', '--runs', '15', '--seed', '17', '--faults', faults, '--out', '/tmp/sg-rw-fuzz-failure.yaml'], io);
    expect(io.stdout + io.stderr).toMatch(/no failure in 15 run/);
    expect(code).toBe(0);
  }, 300_000);

  it('--faults refuses an unknown kind', async () => {
    const io = memoryIo();
    expect(await fuzzCommand(['scenarios/rw-fuzz.yaml', '--faults', 'crash,meteor'], io)).toBe(2);
    expect(io.stderr).toContain('unknown kind(s) meteor');
  });
});
