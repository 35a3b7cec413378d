/**
 * The lab's client (src/real/client.ts) against a local UDP echo server, no namespaces needed:
 * closed-loop users issue the simulator's first request even when the client wakes after a short
 * window's stop, and think between requests as the simulator's users do; open-loop requests start
 * no earlier than the simulator's times for them.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClient, type ClientSpec } from '../../src/real/client.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';
import { Rng } from '../../src/rng.ts';
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

describe('open-loop arrivals in the lab', () => {
  it("start no request before the simulator's time for it (setTimeout alone fired up to 1.7 ms early)", async () => {
    const rate = 200;
    const [startUs, stopUs] = [20_000, 300_000];
    const evs = (await run({ workload: workload({ kind: 'poisson', rate } as WorkloadModel['arrival'], startUs, stopUs), t0: monotonicUs(), seed: 1 })) as { kind: string; t: number; start?: number }[];
    // The simulator's arrival times: its stream for the workload, the echo id drawn first.
    const rng = Rng.fromSeed(1).split('workload:w');
    rng.int(1, 0xffff);
    const due: number[] = [];
    for (let next = startUs + Math.max(1, Math.round(rng.exponential(1_000_000 / rate))); next < stopUs; next += Math.max(1, Math.round(rng.exponential(1_000_000 / rate)))) due.push(next);
    const starts = evs.filter((e) => e.kind === 'request').map((e) => e.start!).sort((a, b) => a - b);
    expect(starts.length).toBe(due.length);
    expect(evs.find((e) => e.kind === 'client-start')!.t).toBeGreaterThanOrEqual(startUs);
    expect(starts.map((t, k) => t - due[k]!).filter((d) => d < 0), 'µs before the due time').toEqual([]);
  });
});
