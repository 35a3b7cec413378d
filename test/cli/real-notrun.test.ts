/**
 * `sg run --real` never skips part of a scenario silently: what the lab cannot run is printed
 * (`not run in real mode: ...`), and a counter fault it cannot sign is an error before any lab is
 * built (so this needs no root).
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';

describe('sg run --real: nothing skipped silently', () => {
  it('a counter fault without a key to send it with: an error at start, after the not-run lines', async () => {
    const io = memoryIo();
    expect(await main(['run', '--real', 'scenarios/web-cluster-policies.yaml'], io)).toBe(1);
    expect(io.stderr).toContain('not run in real mode: link latency, jitter and loss of public (latency 100us), pool (latency 50us): not applied');
    expect(io.stderr).toContain('not run in real mode: service-time, concurrency, queue and backlog of rs1/rr');
    expect(io.stderr).toContain('sg run --real: faults[0]: counter ctr/rs1 is sent as a feedback command in real mode and needs a key in cluster.keys with role admin or { group: ctr, server: rs1 }');
    expect(io.stderr).not.toContain('lab sg'); // no lab was built
  });
});
