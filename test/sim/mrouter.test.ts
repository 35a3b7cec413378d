/**
 * The mrouted-like multicast router (sim/host/mrouter.ts): querier timing, membership learning
 * and forwarding between subnets, and the learning delay after a restart (slides 21-22).
 */
import { describe, expect, it } from 'vitest';
import { MemoryTrace } from '../../src/trace.ts';
import { millis, type Duration, type Instant } from '../../src/time.ts';
import { ip, mac, type MacAddr } from '../../src/wire/addr.ts';
import { decodeFrame, type DecodedFrame } from '../../src/wire/frame.ts';
import { IGMP_ALL_SYSTEMS, type IgmpMessage } from '../../src/wire/igmp.ts';
import { Host } from '../../sim/host/host.ts';
import { MulticastRouter, type MrouterConfig } from '../../sim/host/mrouter.ts';
import type { UdpSocket } from '../../sim/host/udp.ts';
import type { Attachment, Device } from '../../sim/world.ts';
import { World } from '../../sim/world.ts';
import { decode, hub, igmpOf, macN, run, type Sent } from '../support/wire.ts';







function isUdp(frame: Uint8Array): boolean {
  const d = decode(frame);
  return d.net.kind === 'ipv4' && d.net.l4.kind === 'udp';
}


const GROUP = ip('234.116.72.114'); // slide 21's multicast write group
const PORT = 7000;

/**
 * Three subnets around one router R (forwarding, mrouted):
 *   A 10.0.1.0/24: S (source) .10, R eth0 .1
 *   B 10.0.2.0/24: M (member) .20, R eth1 .1
 *   C 10.0.3.0/24: N (not a member) .30, R eth2 .1
 */
function topology(seed: number, cfg: Partial<MrouterConfig> = {}) {
  const trace = new MemoryTrace();
  const world = new World({ seed, trace });
  const r = new Host(world, 'r', { forwarding: true });
  const rA = r.addInterface({ name: 'eth0', mac: macN(0x100), addrs: [{ addr: ip('10.0.1.1'), prefixLen: 24 }] });
  const rB = r.addInterface({ name: 'eth1', mac: macN(0x101), addrs: [{ addr: ip('10.0.2.1'), prefixLen: 24 }] });
  const rC = r.addInterface({ name: 'eth2', mac: macN(0x102), addrs: [{ addr: ip('10.0.3.1'), prefixLen: 24 }] });
  const leaf = (name: string, n: number, addr: string, gw: string): { host: Host; dev: Device } => {
    const host = new Host(world, name);
    const dev = host.addInterface({ name: 'eth0', mac: macN(n), addrs: [{ addr: ip(addr), prefixLen: 24 }] });
    host.addRoute({ dst: ip('0.0.0.0'), prefixLen: 0, via: ip(gw), iface: 'eth0' });
    return { host, dev };
  };
  const s = leaf('s', 1, '10.0.1.10', '10.0.1.1');
  const m = leaf('m', 2, '10.0.2.20', '10.0.2.1');
  const n = leaf('n', 3, '10.0.3.30', '10.0.3.1');
  const logA: Sent[] = [];
  const logB: Sent[] = [];
  const logC: Sent[] = [];
  hub(world, [s.dev, rA], millis(1), logA);
  hub(world, [m.dev, rB], millis(1), logB);
  hub(world, [n.dev, rC], millis(1), logC);
  const router = new MulticastRouter(r, cfg);
  const arrivals: { t: number; ttl: number }[] = [];
  const member: { sock: UdpSocket | undefined } = { sock: undefined };
  const listen = (): void => {
    member.sock = m.host.udpBind(PORT, { onMessage: (_p, _f, info) => arrivals.push({ t: world.now, ttl: info.ttl }) });
    member.sock.joinGroup(GROUP);
  };
  const tx = s.host.udpBind(0, { multicastTtl: 8, onMessage: () => {} });
  const send = (): void => void tx.sendTo(GROUP, PORT, new Uint8Array(32));
  return { world, trace, r, router, s: s.host, m: m.host, n: n.host, logA, logB, logC, arrivals, listen, send, member };
}

/** Send from S every `every` µs over [from, to). */
function stream(world: World, send: () => void, from: number, to: number, every: number): void {
  for (let t = from; t < to; t += every) world.at(t as Instant, send);
}

// ---------------------------------------------------------------------------------------------

describe('IGMP querier', () => {
  it('startup queries at 0 and Q/4, then every Q = 125 s, with max response 10 s', () => {
    const { world, logB } = topology(1);
    run(world, 300_000_000);
    const queries = logB.filter((s) => s.node === 'r' && igmpOf(s.frame)?.kind === 'query');
    expect(queries.map((q) => q.t)).toEqual([0, 31_250_000, 156_250_000, 281_250_000]);
    const d = decode(queries[0]!.frame);
    expect(d.net).toMatchObject({
      kind: 'ipv4',
      ip: { src: ip('10.0.2.1'), dst: IGMP_ALL_SYSTEMS, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] },
      l4: { kind: 'igmp', igmp: { kind: 'query', maxRespCode: 100, group: 0 } },
    });
  });

  it('the lowest address on a link is the querier; the other takes over when it goes quiet', () => {
    const trace = new MemoryTrace();
    const world = new World({ seed: 1, trace });
    const mk = (name: string, n: number, addr: string): { host: Host; dev: Device } => {
      const host = new Host(world, name, { forwarding: true });
      const dev = host.addInterface({ name: 'eth0', mac: macN(n), addrs: [{ addr: ip(addr), prefixLen: 24 }] });
      return { host, dev };
    };
    const low = mk('low', 1, '10.0.2.1');
    const high = mk('high', 2, '10.0.2.2');
    const log: Sent[] = [];
    hub(world, [low.dev, high.dev], millis(1), log);
    new MulticastRouter(low.host);
    const hr = new MulticastRouter(high.host);
    run(world, 10_000_000);
    expect(hr.isQuerier('eth0')).toBe(false);
    world.at(100_000_000 as Instant, () => low.host.crash());
    run(world, 600_000_000);
    const highQueries = log.filter((s) => s.node === 'high' && igmpOf(s.frame)?.kind === 'query').map((s) => s.t);
    // One startup query at 0 (before it heard the other), then silence until the Other Querier
    // Present Interval (2 * 125 s + 5 s) after the last query it heard (at 31.25 s) has passed.
    expect(highQueries[0]).toBe(0);
    expect(highQueries[1]).toBe(31_251_000 + 255_000_000);
    expect(hr.isQuerier('eth0')).toBe(true);
  });
});

describe('membership and forwarding', () => {
  it('reports for link-local groups (224.0.0.0/24) are not tracked: they are never forwarded', () => {
    // The Linux bridge of the lab reports 224.0.0.106 (all-snoopers) from 0.0.0.0: no membership.
    const { world, router, trace } = topology(1);
    run(world, 1_000);
    router.igmpInput('eth1' as never, ip('0.0.0.0'), ip('224.0.0.106'), { kind: 'v2-report', group: ip('224.0.0.106') });
    router.igmpInput('eth1' as never, ip('10.0.2.20'), GROUP, { kind: 'v2-report', group: GROUP });
    expect(router.hasMembers('eth1', ip('224.0.0.106'))).toBe(false);
    expect(router.hasMembers('eth1', GROUP)).toBe(true);
    expect(trace.events.filter((e) => e.kind === 'state' && e.machine === 'mroute-membership').map((e) => (e as { entity: string }).entity)).toEqual(['r/eth1/234.116.72.114']);
  });

  it('forwards to subnets with members only, with TTL - 1; nothing before the first report', () => {
    const { world, router, arrivals, listen, send, logC } = topology(2);
    world.at(500_000 as Instant, send); // no member yet
    world.at(1_000_000 as Instant, listen); // unsolicited report at once
    world.at(2_000_000 as Instant, send);
    run(world, 3_000_000);
    expect(router.hasMembers('eth1', GROUP)).toBe(true);
    expect(arrivals).toEqual([{ t: 2_002_000, ttl: 7 }]); // S -> R, R -> M: 1 ms each, no ARP for groups
    expect(router.counters.noMembers).toBe(1);
    expect(router.counters.forwarded).toBe(1);
    expect(logC.filter((s) => isUdp(s.frame))).toEqual([]);
  });

  it('a datagram with TTL 1 (the socket default) stays on its subnet', () => {
    const { world, router, arrivals, listen, s } = topology(3);
    listen();
    const local = s.udpBind(0, { onMessage: () => {} }); // multicast TTL 1
    world.at(1_000_000 as Instant, () => void local.sendTo(GROUP, PORT, new Uint8Array(4)));
    run(world, 2_000_000);
    expect(arrivals).toEqual([]);
    expect(router.counters.ttlTooLow).toBe(1);
  });

  it('a silent member times out after Robustness * Q + 10 s = 260 s; a leave ends it in 2 s', () => {
    const a = topology(4);
    a.listen();
    run(a.world, 1_000);
    const reportAt = a.router.memberships()[0]!.expiresAt - a.router.membershipTimeout;
    a.world.at(5_000_000 as Instant, () => a.m.crash()); // no leave; answers no query
    run(a.world, 400_000_000);
    const expired = a.trace.ofKind('state').find((e) => e.machine === 'mroute-membership' && e.to === 'absent');
    expect(a.router.membershipTimeout).toBe(260_000_000);
    // The last report: the startup query at 0 found the fresh join's timer shorter, or the
    // repeat of the unsolicited report came later; either way expiry is 260 s after it.
    const lastReport = a.logB.filter((s) => s.node === 'm' && igmpOf(s.frame)?.kind === 'v2-report').at(-1)!.t + 1_000;
    expect(reportAt).toBeLessThanOrEqual(lastReport);
    expect(expired?.t).toBe(lastReport + 260_000_000);
    expect(expired?.reason).toBe('timeout');

    const b = topology(5);
    b.listen();
    run(b.world, 20_000_000);
    b.member.sock!.leaveGroup(GROUP);
    run(b.world, 30_000_000);
    const gsq = b.logB.filter((s) => s.node === 'r' && igmpOf(s.frame)?.kind === 'query' && s.t >= 20_000_000);
    expect(gsq.map((s) => s.t)).toEqual([20_001_000, 21_001_000]);
    expect(igmpOf(gsq[0]!.frame)).toEqual({ kind: 'query', maxRespCode: 10, group: GROUP });
    const left = b.trace.ofKind('state').find((e) => e.machine === 'mroute-membership' && e.to === 'absent');
    expect(left).toMatchObject({ t: 22_001_000, reason: 'leave' });
  });
});

describe('learning delay after a restart (slides 21-22)', () => {
  /** Restart the router at `tr` while S streams every 20 ms; returns the outage and M's report delay. */
  function outage(seed: number, how: 'daemon' | 'host'): { gap: number; reportDelay: number; during: number } {
    const { world, trace, r, router, arrivals, listen, send } = topology(seed);
    listen();
    const tr = 200_000_000;
    stream(world, send, 100_000_000, 240_000_000, 20_000);
    if (how === 'daemon') world.at(tr as Instant, () => router.restart());
    else {
      world.at(tr as Instant, () => r.crash());
      world.at(tr as Instant, () => r.restart());
    }
    run(world, 250_000_000);
    const timer = trace
      .decisions('igmp-report-timer')
      .find((e) => e.node === 'm' && e.detail.trigger === 'query' && e.t > tr);
    const reportDelay = timer!.detail.delayUs;
    expect(timer!.t).toBe(tr + 1_000); // the startup query reached M 1 ms after the restart
    const after = arrivals.filter((a) => a.t > tr + 2_000);
    const first = after[0]!.t;
    // Report leaves M at tr + 1 ms + delay, reaches R 1 ms later; the next datagram from S (every
    // 20 ms, 1 ms from R) is forwarded and reaches M 1 ms after that.
    const learnedAt = tr + 2_000 + reportDelay;
    expect(first).toBeGreaterThan(learnedAt);
    expect(first).toBeLessThanOrEqual(learnedAt + 20_000 + 2_000);
    return { gap: first - tr, reportDelay, during: arrivals.filter((a) => a.t > tr + 2_000 && a.t < learnedAt).length };
  }

  it('after an mrouted restart nothing is forwarded until the member reports, up to 10 s later', () => {
    const o = outage(21, 'daemon');
    expect(o.during).toBe(0);
    expect(o.reportDelay).toBeLessThanOrEqual(10_000_000);
    expect(o.gap).toBeGreaterThan(o.reportDelay);
  });

  it('a router host crash and restart behaves the same', () => {
    const o = outage(22, 'host');
    expect(o.during).toBe(0);
    expect(o.gap).toBeGreaterThan(o.reportDelay);
  });

  it('across seeds the outage spreads over (0, 10 s]: the failover cost of slide 22', () => {
    const gaps = Array.from({ length: 24 }, (_, i) => outage(100 + i, 'daemon').gap);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(10_000_000 + 24_000);
    expect(Math.max(...gaps)).toBeGreaterThan(7_000_000);
    expect(Math.min(...gaps)).toBeLessThan(3_000_000);
  });
});

describe('alias subnets (slide 21: mrouted does not route them by default)', () => {
  function aliasSetup(routeAliasSubnets: boolean) {
    const t = topology(6, { routeAliasSubnets });
    // The SG node's public interface: primary 10.0.1.1, alias (VIP subnet) 140.116.72.1/24.
    t.r.addAddress('eth0', ip('140.116.72.1'), 24);
    t.s.addAddress('eth0', ip('140.116.72.114'), 24);
    t.listen();
    const fromAlias = t.s.udpBind(0, { addr: ip('140.116.72.114'), multicastTtl: 8, onMessage: () => {} });
    t.world.at(2_000_000 as Instant, () => void fromAlias.sendTo(GROUP, PORT, new Uint8Array(8)));
    // The router host itself sending from an alias address (the SG node with its VIP).
    t.r.addAddress('eth0', ip('140.116.72.219'), 24);
    const vipSock = t.r.udpBind(0, { addr: ip('140.116.72.219'), multicastTtl: 8, multicastIface: 'eth0', onMessage: () => {} });
    t.world.at(3_000_000 as Instant, () => void vipSock.sendTo(GROUP, PORT, new Uint8Array(8)));
    t.world.at(4_000_000 as Instant, t.send); // from the primary subnet: always routed
    run(t.world, 5_000_000);
    return t;
  }

  it('by default a source in an alias subnet fails the reverse-path check', () => {
    const t = aliasSetup(false);
    expect(t.arrivals.map((a) => a.t)).toEqual([4_002_000]);
    expect(t.router.counters.rpfFailed).toBe(2);
  });

  it('with routeAliasSubnets (mrouted altnet) it is forwarded', () => {
    const t = aliasSetup(true);
    expect(t.arrivals.map((a) => a.t)).toEqual([2_002_000, 3_001_000, 4_002_000]);
    expect(t.router.counters.rpfFailed).toBe(0);
  });
});


