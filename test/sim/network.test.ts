/**
 * The simulator end to end: hosts with the full stack on switches and routers, services,
 * workloads and faults, built with `Network`.
 */
import { describe, expect, it } from 'vitest';
import { Network } from '../../sim/network.ts';
import { millis, seconds, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import { MemoryTrace } from '../../src/trace.ts';

function lan(seed = 1, trace?: MemoryTrace) {
  const net = new Network(trace ? { seed, trace } : { seed });
  const sw = net.switch('lan');
  const props = { latency: millis(0.1), bandwidthBps: 100e6 };
  const server = net.host('server', { ifaces: [{ ip: '10.0.0.1/24', on: sw, link: props }] });
  const client = net.host('client', { ifaces: [{ ip: '10.0.0.2/24', on: sw, link: props }] });
  return { net, sw, server, client };
}

describe('Network: services, workloads and faults', () => {
  it('an HTTP workload succeeds, with latency = handshake + request + service time', () => {
    const { net, server, client } = lan();
    net.http(server, { port: 80, serviceTime: { kind: 'fixed', d: millis(2) } });
    const w = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.0.1'), port: 80 }, request: { kind: 'http', size: 1000 }, arrival: { kind: 'poisson', rate: 50 }, stop: seconds(5) });
    net.run(seconds(6));
    expect(w.log.total).toBeGreaterThan(200);
    expect(w.log.byStatus.ok).toBe(w.log.total);
    const p50 = w.log.latencyPercentile(50)!;
    // Two round trips (SYN, request) of 4 x 0.1 ms propagation plus the 2 ms service time.
    expect(p50).toBeGreaterThan(2_400);
    expect(p50).toBeLessThan(4_000);
  });

  it('a host crash makes requests fail until it restarts; autostart services come back', () => {
    const { net, server, client } = lan();
    net.http(server, { port: 80 });
    const w = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.0.1'), port: 80 }, request: { kind: 'http', size: 100 }, arrival: { kind: 'poisson', rate: 20 }, timeout: seconds(1), stop: seconds(9) });
    net.fault(seconds(3), { kind: 'crash', host: 'server' });
    net.fault(seconds(6), { kind: 'restart', host: 'server' });
    net.run(seconds(12));
    expect(w.log.successRatio(0, 2.9e6)).toBe(1);
    expect(w.log.successRatio(3.1e6, 4.9e6)).toBe(0);
    expect(w.log.successRatio(7e6, 9e6)).toBe(1);
  });

  it('a killed service refuses (RST), a hung one times out', () => {
    const { net, server, client } = lan();
    net.http(server, { port: 80, name: 'web' });
    const w = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.0.1'), port: 80 }, request: { kind: 'http', size: 100 }, arrival: { kind: 'poisson', rate: 20 }, timeout: seconds(1), stop: seconds(8) });
    net.fault(seconds(2), { kind: 'kill', host: 'server', service: 'web' });
    net.fault(seconds(4), { kind: 'start', host: 'server', service: 'web' });
    net.fault(seconds(5), { kind: 'hang', host: 'server', service: 'web' });
    net.run(seconds(10));
    const between = (a: number, b: number) => w.log.window(a * 1e6, b * 1e6).map((o) => o.status);
    expect(new Set(between(2.1, 3.9))).toEqual(new Set(['refused']));
    expect(new Set(between(4.1, 4.8))).toEqual(new Set(['ok']));
    expect(new Set(between(5.1, 7.9))).toEqual(new Set(['timeout']));
  });

  it('a partition cuts hosts apart and healing restores them', () => {
    const { net, client } = lan();
    const w = net.workload({ name: 'ping', host: client, target: { addr: ip('10.0.0.1') }, request: { kind: 'ping' }, arrival: { kind: 'poisson', rate: 20 }, timeout: millis(500), stop: seconds(6) });
    net.fault(seconds(2), { kind: 'partition', groups: [['client'], ['server']] });
    net.fault(seconds(4), { kind: 'heal' });
    net.run(seconds(7));
    expect(w.log.successRatio(0, 1.9e6)).toBe(1);
    expect(w.log.successRatio(2.01e6, 3.4e6)).toBe(0);
    expect(w.log.successRatio(4.01e6, 6e6)).toBe(1);
    // The client's echo requests die on the last hop to the server.
    expect(net.getLink('server.eth0').stats('ba').dropped.partition).toBeGreaterThan(0);
  });

  it('routes between two subnets through a router', () => {
    const net = new Network({ seed: 3 });
    const a = net.switch('a');
    const b = net.switch('b');
    net.router('r', { ifaces: [{ ip: '10.0.1.254/24', on: a }, { ip: '10.0.2.254/24', on: b }] });
    const server = net.host('server', { ifaces: [{ ip: '10.0.2.1/24', on: b }], gateway: '10.0.2.254' });
    const client = net.host('client', { ifaces: [{ ip: '10.0.1.1/24', on: a }], gateway: '10.0.1.254' });
    net.http(server, { port: 8080 });
    net.udpEcho(server, { port: 7 });
    const web = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.2.1'), port: 8080 }, request: { kind: 'http', size: 5000 }, arrival: { kind: 'closed', users: 3 }, stop: seconds(1) });
    const echo = net.workload({ name: 'echo', host: client, target: { addr: ip('10.0.2.1'), port: 7 }, request: { kind: 'udp-echo', size: 64 }, arrival: { kind: 'poisson', rate: 100 }, stop: seconds(1) });
    net.run(seconds(2));
    expect(web.log.total).toBeGreaterThan(50);
    expect(web.log.successRatio()).toBe(1);
    expect(echo.log.successRatio()).toBe(1);
    expect(net.getHost('r').host.counters.ipForwarded).toBeGreaterThan(0);
  });

  it('RPC to a closed UDP port is refused through ICMP port unreachable', () => {
    const { net, client } = lan();
    const w = net.workload({ name: 'rpc', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc' }, arrival: { kind: 'poisson', rate: 10 }, stop: seconds(1) });
    net.run(seconds(2));
    expect(w.log.total).toBeGreaterThan(3);
    expect(w.log.byStatus.refused).toBe(w.log.total);
  });

  it('RPC writes are answered with the SG write-status IP option', () => {
    const trace = new MemoryTrace();
    const { net, server, client } = lan(5, trace);
    const rpc = net.rpc(server, { port: 2049 });
    const w = net.workload({ name: 'rpc', host: client, target: { addr: ip('10.0.0.1'), port: 2049 }, request: { kind: 'rpc', writeRatio: 1, keys: 10 }, arrival: { kind: 'poisson', rate: 50 }, stop: seconds(1) });
    net.run(seconds(2));
    expect(w.log.successRatio()).toBe(1);
    expect(rpc.store.size).toBeGreaterThan(0);
    expect(rpc.counters.replies).toBe(w.log.total);
    expect(trace.ofKind('request').length).toBe(w.log.total);
  });

  it('a bulk download at 100 Mbit/s runs close to line rate', () => {
    const { net, server, client } = lan();
    net.bulk(server, { port: 21 });
    const size = 5_000_000;
    const w = net.workload({ name: 'ftp', host: client, target: { addr: ip('10.0.0.1'), port: 21 }, request: { kind: 'bulk', size }, arrival: { kind: 'closed', users: 1 }, timeout: seconds(30), stop: millis(1) });
    net.run(seconds(5));
    expect(w.log.total).toBe(1);
    const o = w.log.outcomes[0]!;
    expect(o.status).toBe('ok');
    expect(o.bytes).toBe(size);
    const mbps = (size * 8) / o.latency; // bits per µs = Mbit/s
    expect(mbps).toBeGreaterThan(85);
    expect(mbps).toBeLessThan(100);
  });
});

describe('denial of service (slide 46)', () => {
  it('a SYN flood from spoofed sources fills the listen backlog; legitimate clients time out until the half-open entries expire', async () => {
    const { synFlood } = await import('../../sim/raw-node.ts');
    const { net, sw, server, client } = lan(11);
    const http = net.http(server, { port: 80, backlog: 16 });
    const attacker = net.raw('attacker', sw, { latency: millis(0.1), bandwidthBps: 100e6 });
    const serverMac = server.host.interface('eth0')!.mac;
    synFlood(attacker, { dstMac: serverMac, dst: ip('10.0.0.1'), dstPort: 80, srcFrom: ip('10.0.0.100'), srcTo: ip('10.0.0.200'), rate: 2000, start: seconds(2), stop: seconds(6) });
    const w = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.0.1'), port: 80 }, request: { kind: 'http', size: 100 }, arrival: { kind: 'poisson', rate: 20 }, timeout: seconds(2), stop: seconds(80) });
    net.run(seconds(85));
    expect(w.log.successRatio(0, 1.9e6)).toBe(1);
    expect(w.log.successRatio(2.5e6, 5.5e6)).toBeLessThan(0.2);
    // Without SYN cookies a half-open entry lives through 5 SYN-ACK retries (1+2+4+8+16+32 s, as
    // Linux's tcp_synack_retries=5): the server stays unreachable for about a minute after the flood.
    expect(w.log.successRatio(10e6, 55e6)).toBeLessThan(0.5);
    expect(w.log.successRatio(72e6, 80e6)).toBe(1);
    expect(http.listener!.overflows).toBeGreaterThan(1000);
  });

  it('a server with a small concurrency limit and slow service saturates: excess requests are reset', () => {
    const { net, server, client } = lan(12);
    const http = net.http(server, { port: 80, concurrency: 2, queueMax: 2, serviceTime: { kind: 'fixed', d: millis(200) } });
    const w = net.workload({ name: 'web', host: client, target: { addr: ip('10.0.0.1'), port: 80 }, request: { kind: 'http', size: 100 }, arrival: { kind: 'poisson', rate: 50 }, stop: seconds(2) });
    net.run(seconds(4));
    expect(http.counters.rejected).toBeGreaterThan(10);
    expect(w.log.byStatus.reset).toBe(http.counters.rejected);
    expect(w.log.byStatus.ok).toBeGreaterThan(10);
  });
});

describe('bad fault schedules are handled, not crashes', () => {
  it('starting a service on a crashed host is a traced no-op; the host restart brings it back', () => {
    const { net, server, client } = lan(13);
    net.udpEcho(server, { port: 7, name: 'echo' });
    const w = net.workload({ name: 'echo', host: client, target: { addr: ip('10.0.0.1'), port: 7 }, request: { kind: 'udp-echo', size: 10 }, arrival: { kind: 'poisson', rate: 20 }, timeout: millis(200), stop: seconds(5) });
    net.fault(seconds(1), { kind: 'crash', host: 'server' });
    net.fault(seconds(2), { kind: 'start', host: 'server', service: 'echo' });
    net.fault(seconds(3), { kind: 'restart', host: 'server' });
    net.run(seconds(6));
    expect(server.service('echo').state).toBe('running');
    expect(w.log.successRatio(1.1e6, 2.9e6)).toBe(0);
    expect(w.log.successRatio(3.1e6, 5e6)).toBe(1);
  });
});

describe('long-lived idle connections (tcp-echo with hold)', () => {
  it('keep every connection open and idle for the hold, with no send buffer; a closed-loop user waits for the close', () => {
    const { net, server, client } = lan();
    net.tcpEcho(server, { port: 7 });
    // One ping first resolves ARP (a host queues only a few packets per unresolved address).
    net.workload({ name: 'arp', host: client, target: { addr: ip('10.0.0.1') }, request: { kind: 'ping' }, arrival: { kind: 'closed', users: 1 }, stop: millis(1) });
    const w = net.workload({ name: 'hold', host: client, target: { addr: ip('10.0.0.1'), port: 7 }, request: { kind: 'tcp-echo', size: 64, hold: seconds(2) }, arrival: { kind: 'closed', users: 20 }, start: millis(500), stop: seconds(3) });
    net.run(seconds(1));
    // Each user's echo came back at once; its connection is still open, idle, holding no buffer.
    expect(w.log.byStatus.ok).toBe(20);
    expect(w.log.total).toBe(20);
    const [ct, st] = [client.tcp!, server.tcp!];
    expect(ct.connections().map((c) => c.state)).toEqual(Array(20).fill('ESTABLISHED'));
    expect(st.connections().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(20);
    expect(ct.sendBufferBytesAllocated()).toBe(0);
    expect(st.sendBufferBytesAllocated()).toBe(0);
    net.run(seconds(3));
    // The holds ended near 2.5 s: each user closed, then opened its second connection.
    expect(w.log.byStatus.ok).toBe(40);
    expect(ct.connections().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(20);
    net.run(seconds(8));
    // Stopped at 3 s: the second connections closed at about 4.5 s, and nothing followed.
    expect(w.log.total).toBe(40);
    expect(ct.connections().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(0);
  });

  it('an open-loop workload with hold keeps one connection per arrival', () => {
    const { net, server, client } = lan();
    net.tcpEcho(server, { port: 7 });
    const w = net.workload({ name: 'hold', host: client, target: { addr: ip('10.0.0.1'), port: 7 }, request: { kind: 'tcp-echo', size: 16, hold: seconds(100) }, arrival: { kind: 'poisson', rate: 300 }, stop: seconds(1) });
    net.run(seconds(2));
    expect(w.log.byStatus.ok).toBe(w.log.total);
    expect(w.log.total).toBeGreaterThan(250);
    expect(client.tcp!.connections().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(w.log.total);
    expect(client.tcp!.sendBufferBytesAllocated()).toBe(0);
  });
});
