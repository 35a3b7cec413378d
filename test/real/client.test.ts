/**
 * The lab's client (src/real/client.ts) against a local UDP echo server, no namespaces needed:
 * closed-loop users issue the simulator's first request even when the client wakes after a short
 * window's stop, and think between requests as the simulator's users do.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClient, type ClientSpec } from '../../src/real/client.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';
import type { WorkloadModel } from '../../src/scenario/load.ts';

let echo: Socket;
let port = 0;

beforeAll(async () => {
  echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((res) => echo.bind(0, '127.0.0.1', () => res()));
  port = echo.address().port;
});
afterAll(() => echo.close());

function workload(arrival: WorkloadModel['arrival'], start: number, stop: number): WorkloadModel {
  return { name: 'w', from: 'client', to: 0x7f000001 as WorkloadModel['to'], port, request: { kind: 'udp-echo', size: 32 }, arrival, start: start as WorkloadModel['start'] & number, stop: stop as WorkloadModel['stop'] & number, timeout: 2_000_000 as WorkloadModel['timeout'] & number } as WorkloadModel;
}

async function run(spec: ClientSpec): Promise<{ kind: string; status?: string }[]> {
  const out: { kind: string; status?: string }[] = [];
  await runClient(spec, (l) => out.push(JSON.parse(l) as { kind: string }));
  return out;
}

describe('closed-loop users in the lab', () => {
  it('issue their first request when the client woke after a short window (as the simulator does)', async () => {
    // Window [0, 1 ms) of a run whose t0 was a second ago: the client is 1 s late.
    const evs = await run({ workload: workload({ kind: 'closed', users: 3 }, 0, 1000), t0: monotonicUs() - 1_000_000, seed: 1 });
    const reqs = evs.filter((e) => e.kind === 'request');
    expect(reqs.length).toBe(3);
    expect(reqs.every((e) => e.status === 'ok')).toBe(true);
  });

  it('think between requests (fixed 50 ms over a 200 ms window: at most 5 each)', async () => {
    const evs = await run({ workload: workload({ kind: 'closed', users: 1, think: { kind: 'fixed', d: 50_000 as never } }, 0, 200_000), t0: monotonicUs(), seed: 1 });
    const reqs = evs.filter((e) => e.kind === 'request');
    expect(reqs.length).toBeGreaterThanOrEqual(1);
    expect(reqs.length).toBeLessThanOrEqual(5);
  });
});
