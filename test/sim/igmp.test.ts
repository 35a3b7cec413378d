/**
 * IGMPv2 host side (RFC 2236) and multicast receive filtering (slides 8 and 21), over a minimal
 * in-test wire.
 */
import { describe, expect, it } from 'vitest';
import { MemoryTrace } from '../../src/trace.ts';
import { millis, seconds, type Duration, type Instant } from '../../src/time.ts';
import { ip, mac, multicastMac, type Ipv4Addr, type MacAddr } from '../../src/wire/addr.ts';
import { decodeFrame, encodeFrame, ipv4Header, type DecodedFrame } from '../../src/wire/frame.ts';
import { IGMP_ALL_ROUTERS, IGMP_ALL_SYSTEMS, type IgmpMessage } from '../../src/wire/igmp.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { Host, type HostOptions } from '../../sim/host/host.ts';
import { IGMP_HOST_TRANSITIONS, igmpHostTransition, type IgmpHostState } from '../../sim/host/igmp.ts';
import type { Attachment, Device } from '../../sim/world.ts';
import { World } from '../../sim/world.ts';
import { decode, hub, igmpOf, macN, run, Sink, type Sent } from '../support/wire.ts';









function mkHost(world: World, name: string, n: number, opts: HostOptions = {}): { host: Host; dev: Device } {
  const host = new Host(world, name, opts);
  const dev = host.addInterface({ name: 'eth0', mac: macN(n), addrs: [{ addr: (ip('10.0.0.0') + n) as Ipv4Addr, prefixLen: 16 }] });
  return { host, dev };
}

const QUERIER_MAC = macN(0xfffe);

/** An IGMPv2 query as a querier at 10.0.255.254 sends it. */
function queryFrame(maxRespCode: number, group: Ipv4Addr = 0 as Ipv4Addr): Uint8Array {
  const dst = group === 0 ? IGMP_ALL_SYSTEMS : group;
  return encodeFrame({
    eth: { dst: multicastMac(dst), src: QUERIER_MAC },
    net: {
      kind: 'ipv4',
      ip: ipv4Header({ src: ip('10.0.255.254'), dst, protocol: IP_PROTO.igmp, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] }),
      l4: { kind: 'igmp', igmp: { kind: 'query', maxRespCode, group } },
    },
  });
}

const G = ip('239.1.2.3');

// ---------------------------------------------------------------------------------------------

describe('the RFC 2236 host state machine as data', () => {
  it('matches the diagram of section 6', () => {
    expect(igmpHostTransition('non-member', 'join')).toEqual({ to: 'delaying', actions: ['send-report', 'set-flag', 'start-timer'] });
    expect(igmpHostTransition('delaying', 'report-heard')).toEqual({ to: 'idle', actions: ['stop-timer', 'clear-flag'] });
    expect(igmpHostTransition('idle', 'query')?.to).toBe('delaying');
    expect(igmpHostTransition('idle', 'report-heard')).toBeUndefined();
    expect(igmpHostTransition('non-member', 'query')).toBeUndefined();
    // Every state can be left by leave, except non-member.
    const states = Object.keys(IGMP_HOST_TRANSITIONS) as IgmpHostState[];
    for (const s of states) expect(igmpHostTransition(s, 'leave')?.to ?? 'non-member').toBe('non-member');
  });
});

describe('joining a group', () => {
  it('reports at once (TTL 1, Router Alert, group MAC) and once more after a random delay up to 10 s', () => {
    const trace = new MemoryTrace();
    const world = new World({ seed: 11, trace });
    const { host, dev } = mkHost(world, 'h', 1);
    const log: Sent[] = [];
    hub(world, [dev, new Sink(world, 'q', QUERIER_MAC)], millis(1), log);
    host.joinGroup('eth0', G);
    run(world, 30_000_000);
    expect(log).toHaveLength(2);
    const d = decode(log[0]!.frame);
    expect(d.eth.dst).toBe(multicastMac(G));
    expect(d.net).toMatchObject({
      kind: 'ipv4',
      ip: { src: ip('10.0.0.1'), dst: G, ttl: 1, dscp: 48, options: [{ kind: 'router-alert', value: 0 }] },
      l4: { kind: 'igmp', igmp: { kind: 'v2-report', group: G } },
    });
    const timer = trace.decisions('igmp-report-timer')[0];
    expect(timer?.detail).toMatchObject({ trigger: 'join', maxUs: 10_000_000, group: '239.1.2.3' });
    expect(log[1]!.t).toBe(timer?.detail.delayUs);
    expect(log[0]!.t).toBe(0);
    const states = trace.ofKind('state').filter((e) => e.machine === 'igmp-host').map((e) => `${e.from}>${e.to}:${e.reason}`);
    expect(states).toEqual(['non-member>delaying:join', 'delaying>idle:timer-expired']);
  });

  it('joins are reference counted; the last leave sends Leave Group to 224.0.0.2', () => {
    const world = new World({ seed: 2 });
    const { host, dev } = mkHost(world, 'h', 1);
    const log: Sent[] = [];
    hub(world, [dev, new Sink(world, 'q', QUERIER_MAC)], millis(1), log);
    const s1 = host.udpBind(5000, { reuseAddr: true, onMessage: () => {} });
    const s2 = host.udpBind(5000, { reuseAddr: true, onMessage: () => {} });
    s1.joinGroup(G);
    s2.joinGroup(G);
    run(world, 20_000_000);
    expect(log.map((s) => igmpOf(s.frame)?.kind)).toEqual(['v2-report', 'v2-report']);
    s1.close();
    expect(host.isMember('eth0', G)).toBe(true);
    s2.close();
    expect(host.isMember('eth0', G)).toBe(false);
    const leave = decode(log[2]!.frame);
    expect(leave.net).toMatchObject({ ip: { dst: IGMP_ALL_ROUTERS }, l4: { igmp: { kind: 'leave', group: G } } });
  });
});

describe('answering queries', () => {
  it('report delays after a 10 s general query are spread uniformly over [0, 10 s] (slide 21)', () => {
    const trace = new MemoryTrace();
    const world = new World({ seed: 2024, trace });
    const n = 200;
    const hosts = Array.from({ length: n }, (_, i) => mkHost(world, `m${i}`, i + 1));
    const reports: number[] = [];
    hosts.forEach(({ host, dev }, i) => {
      const q = new Sink(world, `q${i}`, QUERIER_MAC);
      const log: Sent[] = [];
      hub(world, [dev, q], 0 as Duration, log);
      host.joinGroup('eth0', G);
      // Reports after the query, as times on the member's own link.
      world.at(30_000_000 as Instant, () => {
        log.length = 0;
      });
      world.at(45_000_000 as Instant, () => {
        for (const s of log) if (igmpOf(s.frame)?.kind === 'v2-report') reports.push(s.t - 30_000_000);
      });
    });
    world.at(30_000_000 as Instant, () => {
      for (const { dev } of hosts) dev.deliver(queryFrame(100));
    });
    run(world, 50_000_000);
    const delays = trace
      .decisions('igmp-report-timer')
      .filter((e) => e.detail.trigger === 'query')
      .map((e) => e.detail.delayUs);
    expect(delays).toHaveLength(n);
    // What the members drew is what the wire shows: one report each, exactly that long after the query.
    expect([...reports].sort((a, b) => a - b)).toEqual([...delays].sort((a, b) => a - b));
    const max = Math.max(...delays);
    const min = Math.min(...delays);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(10_000_000);
    expect(min).toBeLessThan(250_000);
    expect(max).toBeGreaterThan(9_750_000);
    const mean = delays.reduce((a, b) => a + b, 0) / n;
    expect(mean).toBeGreaterThan(4_400_000);
    expect(mean).toBeLessThan(5_600_000);
    const deciles = Array.from({ length: 10 }, () => 0);
    for (const d of delays) deciles[Math.min(9, Math.floor(d / 1_000_000))]!++;
    for (const c of deciles) {
      expect(c).toBeGreaterThanOrEqual(6);
      expect(c).toBeLessThanOrEqual(34);
    }
  });

  it('suppression: on a shared segment one member answers for all; alone, each answers', () => {
    const n = 20;
    const reportsAfterQuery = (shared: boolean): { reports: number; suppressed: number; leaves: number } => {
      const world = new World({ seed: 77 });
      const hosts = Array.from({ length: n }, (_, i) => mkHost(world, `m${i}`, i + 1));
      const log: Sent[] = [];
      const querier = new Sink(world, 'q', QUERIER_MAC);
      if (shared) hub(world, [querier, ...hosts.map((h) => h.dev)], millis(1), log);
      else hosts.forEach(({ dev }, i) => hub(world, [dev, new Sink(world, `q${i}`, QUERIER_MAC)], millis(1), log));
      for (const { host } of hosts) host.joinGroup('eth0', G);
      run(world, 25_000_000);
      log.length = 0;
      const suppressedBefore = hosts.reduce((a, { host }) => a + host.igmp.counters.reportsSuppressed, 0);
      if (shared) querier.send(queryFrame(100));
      else for (const { dev } of hosts) dev.deliver(queryFrame(100));
      run(world, 40_000_000);
      const reports = log.filter((s) => igmpOf(s.frame)?.kind === 'v2-report').length;
      const suppressed = hosts.reduce((a, { host }) => a + host.igmp.counters.reportsSuppressed, 0) - suppressedBefore;
      for (const { host } of hosts) host.leaveGroup('eth0', G);
      const leaves = log.filter((s) => igmpOf(s.frame)?.kind === 'leave').length;
      return { reports, suppressed, leaves };
    };
    const alone = reportsAfterQuery(false);
    expect(alone.reports).toBe(n);
    expect(alone.leaves).toBe(n);
    const shared = reportsAfterQuery(true);
    expect(shared.reports).toBeLessThanOrEqual(2);
    expect(shared.reports + shared.suppressed).toBe(n);
    // Only the last reporter sends a leave (RFC 2236 flag).
    expect(shared.leaves).toBe(shared.reports);
  });

  it('a group-specific query starts only that group; a v1 query (code 0) means 10 s', () => {
    const trace = new MemoryTrace();
    const world = new World({ seed: 3, trace });
    const { host, dev } = mkHost(world, 'h', 1);
    hub(world, [dev, new Sink(world, 'q', QUERIER_MAC)], millis(1));
    const g2 = ip('239.9.9.9');
    host.joinGroup('eth0', G);
    host.joinGroup('eth0', g2);
    run(world, 20_000_000);
    const queryTimers = (): { group: unknown; maxUs: unknown }[] =>
      trace
        .decisions('igmp-report-timer')
        .filter((e) => e.detail.trigger === 'query')
        .map((e) => ({ group: e.detail.group, maxUs: e.detail.maxUs }));
    dev.deliver(queryFrame(20, g2));
    run(world, 25_000_000);
    expect(queryTimers()).toEqual([{ group: '239.9.9.9', maxUs: 2_000_000 }]);
    dev.deliver(queryFrame(0));
    run(world, 40_000_000);
    expect(queryTimers().slice(1)).toEqual([
      { group: '239.1.2.3', maxUs: 10_000_000 },
      { group: '239.9.9.9', maxUs: 10_000_000 },
    ]);
  });

  it('a running timer is reset only by a query with a shorter max response time', () => {
    const trace = new MemoryTrace();
    const world = new World({ seed: 4, trace });
    const { host, dev } = mkHost(world, 'h', 1, { igmp: { unsolicitedReportInterval: seconds(100) } });
    hub(world, [dev, new Sink(world, 'q', QUERIER_MAC)], millis(1));
    host.joinGroup('eth0', G);
    const reportAt = (): number | undefined => host.igmp.memberships()[0]?.reportAt;
    const first = reportAt()!;
    expect(first).toBeGreaterThan(1_000_000); // drawn from [0, 100 s]
    dev.deliver(queryFrame(5)); // 0.5 s: shorter, so reset
    const second = reportAt()!;
    expect(second).toBeLessThanOrEqual(500_000);
    dev.deliver(queryFrame(100)); // 10 s: longer than what is left, so kept
    expect(reportAt()).toBe(second);
  });
});

describe('multicast receive filtering (slide 8)', () => {
  it('delivers only joined groups even when two groups share a MAC (224.1.1.1 vs 225.1.1.1)', () => {
    const world = new World({ seed: 5 });
    const s = mkHost(world, 's', 1);
    const r1 = mkHost(world, 'r1', 2);
    const r2 = mkHost(world, 'r2', 3);
    hub(world, [s.dev, r1.dev, r2.dev], millis(1));
    expect(multicastMac(ip('224.1.1.1'))).toBe(multicastMac(ip('225.1.1.1')));
    const got: string[] = [];
    const sock = r1.host.udpBind(5000, { onMessage: (_p, _f, info) => got.push(`${info.dst}/${info.ttl}`) });
    sock.joinGroup(ip('224.1.1.1'));
    r2.host.udpBind(5000, { onMessage: () => got.push('r2') });
    const own: string[] = [];
    const tx = s.host.udpBind(5000, { onMessage: (_p, _f, info) => own.push(`${info.dst}`) });
    tx.joinGroup(ip('224.1.1.1'));
    run(world, 20_000_000);
    const filteredBefore = r2.host.counters.framesFiltered;
    expect(tx.sendTo(ip('224.1.1.1'), 5000, new Uint8Array(4))).toBe('sent');
    expect(tx.sendTo(ip('225.1.1.1'), 5000, new Uint8Array(4))).toBe('sent');
    run(world, 21_000_000);
    expect(got).toEqual([`${ip('224.1.1.1')}/1`]); // default multicast TTL 1
    expect(r1.host.counters.mcastNotMember).toBe(1); // the MAC matched, the group did not
    expect(r2.host.counters.framesFiltered - filteredBefore).toBe(2); // no group joined: MAC filter
    expect(own).toEqual([`${ip('224.1.1.1')}`]); // IP_MULTICAST_LOOP
    const quiet = s.host.udpBind(0, { multicastLoop: false, onMessage: () => {} });
    quiet.sendTo(ip('224.1.1.1'), 5000, new Uint8Array(1));
    run(world, 22_000_000);
    expect(own).toHaveLength(1);
    expect(got).toHaveLength(2);
  });
});
