/**
 * The RPC workload and service: retransmission of the same datagram until a reply or the timeout,
 * unique recorded write values, a server whose writes fail or diverge, and the partitioned
 * service's rule for which reads it answers (slide 20).
 */
import { describe, expect, it } from 'vitest';
import { Network } from '../../sim/network.ts';
import { parseMembers, rpcResponsible } from '../../sim/services.ts';
import { RPC_WRITE_VALUES_MAX, rpcWriteValue } from '../../sim/workload.ts';
import { millis, seconds } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import { encodeRpc, parseRpc, RPC_STATUS } from '../../src/wire/rpc.ts';
import { MemoryTrace } from '../../src/trace.ts';

function lan(trace?: MemoryTrace) {
  const net = new Network(trace ? { seed: 3, trace } : { seed: 3 });
  const sw = net.switch('lan');
  const props = { latency: millis(0.1), bandwidthBps: 100e6 };
  const server = net.host('server', { ifaces: [{ ip: '10.0.0.1/24', on: sw, link: props }] });
  const client = net.host('client', { ifaces: [{ ip: '10.0.0.2/24', on: sw, link: props }] });
  return { net, server, client };
}

/** A UDP responder on the server that records every request and answers the `answer`-th (1-based) of each xid. */
function responder(server: ReturnType<typeof lan>['server'], answer: number) {
  const got: Uint8Array[] = [];
  const seen = new Map<number, number>();
  const sock = server.host.udpBind(2049, {
    onMessage: (payload, from) => {
      got.push(payload.slice());
      const p = parseRpc(payload, 'request');
      if (!p.ok) return;
      const n = (seen.get(p.value.xid) ?? 0) + 1;
      seen.set(p.value.xid, n);
      if (n === answer) sock.sendTo(from.addr, from.port, encodeRpc({ kind: 'reply', xid: p.value.xid, status: RPC_STATUS.ok, value: 0 }));
    },
  });
  return got;
}

const ONE_REQUEST = { arrival: { kind: 'closed', users: 1 }, stop: millis(1) } as const;

describe('rpc retry', () => {
  it('resends the same datagram (same xid) every retry and stops at the reply', () => {
    const { net, server, client } = lan();
    const got = responder(server, 3);
    const w = net.workload({ name: 'w', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc', retry: millis(100) }, ...ONE_REQUEST });
    net.run(seconds(5));
    expect(got.length).toBe(3);
    expect(got[1]).toEqual(got[0]);
    expect(got[2]).toEqual(got[0]);
    expect(w.retransmissions).toBe(2);
    expect(w.log.outcomes.map((o) => o.status)).toEqual(['ok']);
    // Answered after the second retransmission, ~200 ms after the first send.
    expect(w.log.outcomes[0]!.latency).toBeGreaterThanOrEqual(200_000);
    expect(w.log.outcomes[0]!.latency).toBeLessThan(201_000);
  });

  it('without an answer it resends until the timeout, then stops', () => {
    const { net, server, client } = lan();
    const got = responder(server, 0);
    const w = net.workload({ name: 'w', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc', retry: millis(100) }, timeout: millis(1000), ...ONE_REQUEST });
    net.run(seconds(5));
    // Sent at 0, 100, ..., 900 ms; the timeout at 1 s cancels the next.
    expect(got.length).toBe(10);
    expect(new Set(got.map((b) => parseRpc(b, 'request').ok && (parseRpc(b, 'request') as { value: { xid: number } }).value.xid)).size).toBe(1);
    expect(w.log.outcomes.map((o) => o.status)).toEqual(['timeout']);
  });

  it('by default a request is sent once', () => {
    const { net, server, client } = lan();
    const got = responder(server, 0);
    const w = net.workload({ name: 'w', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc' }, timeout: millis(1000), ...ONE_REQUEST });
    net.run(seconds(5));
    expect(got.length).toBe(1);
    expect(w.retransmissions).toBe(0);
  });
});

describe('recorded rpc values', () => {
  it('rpcWriteValue: even, positive, distinct across writes and workloads, within i32', () => {
    const seen = new Set<number>();
    for (let wl = 0; wl < 3; wl++) for (let n = 0; n < 1000; n++) seen.add(rpcWriteValue(n, { index: wl, of: 3 }));
    expect(seen.size).toBe(3000);
    for (const v of seen) expect(v > 0 && v % 2 === 0).toBe(true);
    expect(rpcWriteValue(RPC_WRITE_VALUES_MAX - 1, { index: 0, of: 1 })).toBeLessThanOrEqual(0x7fffffff);
    expect(() => rpcWriteValue(RPC_WRITE_VALUES_MAX, { index: 0, of: 1 })).toThrow(/unique values/);
  });

  it('request events carry rw, key and value; each read names a write of its key or the initial 0', () => {
    const trace = new MemoryTrace();
    const { net, server, client } = lan(trace);
    net.rpc(server, { port: 2049 });
    const req = { kind: 'rpc', writeRatio: 0.5, keys: 5, recordValues: true } as const;
    for (const [index, name] of ['a', 'b'].entries()) {
      net.workload({ name, host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: req, arrival: { kind: 'poisson', rate: 200 }, stop: seconds(2), valueTag: { index, of: 2 } });
    }
    net.run(seconds(3));
    const evs = trace.ofKind('request');
    const writes = evs.filter((e) => e.rw === 'write');
    const reads = evs.filter((e) => e.rw === 'read');
    expect(writes.length).toBeGreaterThan(100);
    expect(reads.length).toBeGreaterThan(100);
    expect(new Set(writes.map((e) => e.value)).size).toBe(writes.length);
    const byKey = new Map<number, Set<number>>();
    for (const e of writes) byKey.set(e.key!, (byKey.get(e.key!) ?? new Set()).add(e.value!));
    for (const e of reads) expect(e.value === 0 || byKey.get(e.key!)?.has(e.value!)).toBe(true);
    for (const e of evs) expect(e.op).toBe('rpc');
  });

  it('a workload that does not record traces no rw, key or value', () => {
    const trace = new MemoryTrace();
    const { net, server, client } = lan(trace);
    net.rpc(server, { port: 2049 });
    net.workload({ name: 'w', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc', writeRatio: 0.5 }, arrival: { kind: 'poisson', rate: 100 }, stop: seconds(1) });
    net.run(seconds(2));
    for (const e of trace.ofKind('request')) expect([e.rw, e.key, e.value]).toEqual([undefined, undefined, undefined]);
  });
});

describe('rpc service faults', () => {
  const run = (opts: { failWrites?: boolean; diverge?: boolean }) => {
    const trace = new MemoryTrace();
    const { net, server, client } = lan(trace);
    const rpc = net.rpc(server, { port: 2049, ...opts });
    const w = net.workload({ name: 'w', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc', writeRatio: 1, keys: 3, recordValues: true }, arrival: { kind: 'poisson', rate: 50 }, stop: seconds(1) });
    net.run(seconds(2));
    return { rpc, w, trace };
  };

  it('fail-writes: every write is answered with status error and nothing is stored', () => {
    const { rpc, w } = run({ failWrites: true });
    expect(w.log.total).toBeGreaterThan(10);
    expect(w.log.byStatus.error).toBe(w.log.total);
    expect(rpc.store.size).toBe(0);
  });

  it('diverge: the service stores value + 1', () => {
    const { rpc, w, trace } = run({ diverge: true });
    expect(w.log.successRatio()).toBe(1);
    const last = new Map<number, number>();
    for (const e of trace.ofKind('request')) last.set(e.key!, e.value!);
    for (const [k, v] of last) expect(rpc.store.get(k)).toBe(v + 1);
  });
});

describe('partitioned rpc service: which reads a server answers', () => {
  const members = ['rs1', 'rs2', 'rs3'];
  const owners = (key: number, replicas: number, ...m: [(readonly string[] | undefined)?]) => ['rs1', 'rs2', 'rs3', 'rs4'].filter((s) => rpcResponsible(m.length === 0 ? members : m[0], s, key, replicas));

  it('key k belongs to members k mod n and the next replicas - 1, in order', () => {
    expect(owners(0, 1)).toEqual(['rs1']);
    expect(owners(1, 1)).toEqual(['rs2']);
    expect(owners(5, 1)).toEqual(['rs3']);
    expect(owners(0, 2)).toEqual(['rs1', 'rs2']);
    expect(owners(2, 2)).toEqual(['rs1', 'rs3']); // wraps around
    expect(owners(7, 3)).toEqual(['rs1', 'rs2', 'rs3']);
    expect(owners(7, 5)).toEqual(['rs1', 'rs2', 'rs3']); // more replicas than members: all of them
  });

  it('every key has exactly min(replicas, n) owners among the members', () => {
    for (let key = 0; key < 50; key++) for (let r = 1; r <= 4; r++) expect(owners(key, r).length).toBe(Math.min(r, 3));
  });

  it('a server not among the members answers none; unknown or empty membership answers all', () => {
    expect(rpcResponsible(members, 'rs4', 0, 3)).toBe(false);
    expect(owners(4, 1, undefined)).toEqual(['rs1', 'rs2', 'rs3', 'rs4']);
    expect(owners(4, 1, [])).toEqual(['rs1', 'rs2', 'rs3', 'rs4']);
    // The membership shifts when a member leaves: rs2 gone, key 1 moves to rs3.
    expect(owners(1, 1, ['rs1', 'rs3'])).toEqual(['rs3']);
  });

  it('parseMembers reads one name per line', () => {
    expect(parseMembers('rs1\nrs3')).toEqual(['rs1', 'rs3']);
    expect(parseMembers('')).toEqual([]);
    expect(parseMembers('rs1\n\nrs3')).toBeUndefined();
  });
});
