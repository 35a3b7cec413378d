/**
 * The lab's multicast pieces without namespaces (no root needed), on the loopback interface: the
 * sink (src/real/serve.ts multicastSink) ignores datagrams shorter than 12 bytes and a send time
 * that is not a number without crashing, and the client's `multicast` request (src/real/client.ts)
 * sends the simulator's payload: max(12, size) bytes, the xid from 1 at offset 0 and the absolute
 * CLOCK_MONOTONIC µs of the send at offset 4. The sink in namespaces: mcast-lab.test.ts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { multicastSink, type McastLine } from '../../src/real/serve.ts';
import { runClient } from '../../src/real/client.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';
import type { WorkloadModel } from '../../src/scenario/load.ts';
import { until } from './support.ts';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

function sendTo(s: Socket, port: number, b: Buffer): Promise<void> {
  return new Promise((res, rej) => s.send(b, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
}

describe('lab multicast sink', () => {
  it('records datagrams of 12 bytes or more, counts and ignores shorter ones, never crashes', async () => {
    const lines: McastLine[] = [];
    const errors: Error[] = [];
    const sink = multicastSink({ port: 0, name: 'm1', service: 'sink', group: '239.7.7.8', ifaceAddr: '127.0.0.1' }, (l) => lines.push(JSON.parse(l) as McastLine), () => {}, (e) => errors.push(e));
    closers.push(sink.close);
    await until('the join', () => lines.some((l) => l.kind === 'mcast-joined') || errors.length > 0, 10_000);
    expect(errors).toEqual([]);
    expect(lines).toEqual([{ kind: 'mcast-joined', tm: expect.any(Number), group: '239.7.7.8' }]);
    const tx = createSocket('udp4');
    closers.push(() => tx.close());
    const ok = Buffer.alloc(12);
    ok.writeUInt32BE(1, 0);
    ok.writeDoubleBE(1234, 4);
    const nan = Buffer.alloc(40);
    nan.writeDoubleBE(Number.NaN, 4);
    // Loopback keeps one socket's datagrams in order: the short ones arrive before the last.
    for (const b of [Buffer.alloc(0), Buffer.alloc(4), Buffer.alloc(11), ok, nan]) await sendTo(tx, sink.port(), b);
    await until('two mcast-recv lines', () => lines.filter((l) => l.kind === 'mcast-recv').length >= 2, 10_000);
    const before = monotonicUs();
    expect(lines.slice(1)).toEqual([
      { kind: 'mcast-recv', tm: expect.any(Number), sent: 1234, node: 'm1', service: 'sink', bytes: 12 },
      { kind: 'mcast-recv', tm: expect.any(Number), sent: null, node: 'm1', service: 'sink', bytes: 40 },
    ]);
    for (const l of lines) expect(l.tm).toBeLessThanOrEqual(before);
    expect(sink.counts).toEqual({ received: 2, short: 3 });
    expect(errors).toEqual([]);
  });

  it('says why it cannot join (no interface with that address) instead of throwing', async () => {
    const errors: Error[] = [];
    const lines: string[] = [];
    const sink = multicastSink({ port: 0, name: 'm1', service: 'sink', group: '239.7.7.8', ifaceAddr: '192.0.2.77' }, (l) => lines.push(l), () => {}, (e) => errors.push(e));
    closers.push(sink.close);
    await until('the join to fail', () => errors.length > 0, 10_000);
    expect(errors[0]!.message).toContain('cannot join 239.7.7.8 on 192.0.2.77');
    expect(lines).toEqual([]);
  });
});

describe('lab client: multicast requests', () => {
  it('send max(12, size) bytes: the xid from 1 (u32) and the absolute monotonic send time (f64), ok once sent', async () => {
    const got: Buffer[] = [];
    const rx = createSocket('udp4');
    rx.on('message', (m) => got.push(m));
    await new Promise<void>((res) => rx.bind(0, '127.0.0.1', () => res()));
    closers.push(() => rx.close());
    const port = rx.address().port;
    type Ev = { kind: string; op?: string; status?: string; node?: string; service?: string };
    for (const size of [4, 100]) {
      const w = { name: `mc${size}`, from: 'src', to: 0x7f000001, port, request: { kind: 'multicast', size }, arrival: { kind: 'closed', users: 1, think: { kind: 'fixed', d: 1000 } }, start: 0, stop: 20_000 } as unknown as WorkloadModel;
      const before = monotonicUs();
      got.length = 0;
      const evs: Ev[] = [];
      await runClient({ workload: w, t0: before, seed: 1 }, (l) => evs.push(JSON.parse(l) as Ev));
      const reqs = evs.filter((e) => e.kind === 'request');
      expect(reqs.length).toBeGreaterThanOrEqual(1);
      expect(reqs.every((e) => e.op === 'multicast' && e.status === 'ok' && e.node === 'src' && e.service === `mc${size}`)).toBe(true);
      await until(`${reqs.length} datagrams`, () => got.length >= reqs.length, 10_000);
      const after = monotonicUs();
      expect(got.length).toBe(reqs.length);
      got.forEach((m, i) => {
        expect(m.length).toBe(Math.max(12, size));
        expect(m.readUInt32BE(0)).toBe(i + 1);
        const sent = m.readDoubleBE(4);
        expect(sent).toBeGreaterThanOrEqual(before);
        expect(sent).toBeLessThanOrEqual(after);
      });
    }
  });
});
