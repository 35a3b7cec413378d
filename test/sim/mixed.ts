/**
 * A small mixed network used by the determinism and tshark tests: two subnets joined by a router
 * running the multicast router, ARP, ICMP (ping and port unreachable), UDP echo, TCP (HTTP-like and
 * a bulk transfer over a lossy link), and IGMP (a member joins, the mrouter queries and forwards).
 */
import { Network } from '../../sim/network.ts';
import { JsonlTrace } from '../../src/trace.ts';
import { millis, seconds, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';

export interface MixedRun {
  readonly trace: string;
  readonly pcap: Uint8Array;
  readonly events: number;
}

export function runMixed(seed: number, until = seconds(4)): MixedRun {
  const lines: string[] = [];
  const chunks: Uint8Array[] = [];
  const net = new Network({
    seed,
    trace: new JsonlTrace((l) => lines.push(l), { seed, scenario: 'mixed' }),
    pcap: (c) => chunks.push(c),
  });
  const a = net.switch('a');
  const b = net.switch('b');
  const fast = { latency: millis(0.2), bandwidthBps: 100e6 };
  net.router('r', { ifaces: [{ ip: '10.0.1.254/24', on: a, link: fast }, { ip: '10.0.2.254/24', on: b, link: { ...fast, loss: 0.01 } }], mrouter: true });
  const server = net.host('server', { ifaces: [{ ip: '10.0.2.1/24', on: b, link: fast }], gateway: '10.0.2.254' });
  const member = net.host('member', { ifaces: [{ ip: '10.0.2.2/24', on: b, link: fast }], gateway: '10.0.2.254' });
  const client = net.host('client', { ifaces: [{ ip: '10.0.1.1/24', on: a, link: fast }], gateway: '10.0.1.254' });
  net.http(server, { port: 80, serviceTime: { kind: 'exponential', mean: millis(2) } });
  net.bulk(server, { port: 21 });
  net.udpEcho(server, { port: 7 });
  const group = ip('239.1.1.1');
  const sink = member.host.udpBind(5000, { onMessage: () => {} });
  sink.joinGroup(group);
  net.workload({ name: 'web', host: client, target: { addr: ip('10.0.2.1'), port: 80 }, request: { kind: 'http', size: 3000 }, arrival: { kind: 'poisson', rate: 20 }, stop: seconds(3) });
  net.workload({ name: 'ftp', host: client, target: { addr: ip('10.0.2.1'), port: 21 }, request: { kind: 'bulk', size: 300_000 }, arrival: { kind: 'closed', users: 1 }, stop: millis(10) });
  net.workload({ name: 'ping', host: client, target: { addr: ip('10.0.2.1') }, request: { kind: 'ping' }, arrival: { kind: 'poisson', rate: 5 }, stop: seconds(3) });
  net.workload({ name: 'echo', host: client, target: { addr: ip('10.0.2.1'), port: 7 }, request: { kind: 'udp-echo', size: 100 }, arrival: { kind: 'poisson', rate: 10 }, stop: seconds(3) });
  net.workload({ name: 'closed-port', host: client, target: { addr: ip('10.0.2.1'), port: 9 }, request: { kind: 'udp-echo', size: 10 }, arrival: { kind: 'poisson', rate: 2 }, stop: seconds(3) });
  // A multicast sender on the other subnet (TTL 8 to cross the mrouter).
  const sender = client.host.udpBind(0, { multicastTtl: 8, onMessage: () => {} });
  for (let i = 1; i <= 30; i++) net.world.at((i * 100_000) as Instant, () => void sender.sendTo(group, 5000, new TextEncoder().encode(`mcast ${i}`)));
  net.run(until);
  let size = 0;
  for (const c of chunks) size += c.length;
  const pcap = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    pcap.set(c, off);
    off += c.length;
  }
  return { trace: lines.join('\n') + '\n', pcap, events: net.world.kernel.handled };
}

// As a script: print the SHA-256 of the trace and the capture for a seed (used across processes).
if (process.argv[1]?.endsWith('mixed.ts') && process.argv[2] !== undefined) {
  const { createHash } = await import('node:crypto');
  const r = runMixed(Number(process.argv[2]));
  const h = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
  process.stdout.write(JSON.stringify({ trace: h(r.trace), pcap: h(r.pcap), events: r.events, traceBytes: r.trace.length, pcapBytes: r.pcap.length }) + '\n');
}
