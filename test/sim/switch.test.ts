import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ifaceName, type IfaceName } from '../../src/port.ts';
import { micros, millis, seconds, type Instant } from '../../src/time.ts';
import { MemoryTrace } from '../../src/trace.ts';
import { ip, mac, MAC_BROADCAST, multicastMac, readMac, type Ipv4Addr, type MacAddr } from '../../src/wire/addr.ts';
import { decodeFrame, encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IGMP_RECORD, type IgmpMessage } from '../../src/wire/igmp.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { Link } from '../../sim/net/link.ts';
import { Switch, type SwitchOptions, type SwitchPort } from '../../sim/net/switch.ts';
import { World, type Attachment, type Device, type WorldOptions } from '../../sim/world.ts';
import { requireTshark, tsharkCheck } from '../support/tshark.ts';

// ---------------------------------------------------------------------------------------------
// Test hosts: a NIC that records deliveries and sends frames it is given.

interface Arrival {
  readonly t: number;
  readonly frame: Uint8Array;
}

class Host implements Device {
  readonly name: IfaceName = ifaceName('eth0');
  readonly mtu = 1500;
  attachment: Attachment | undefined = undefined;
  readonly got: Arrival[] = [];

  constructor(
    private readonly world: World,
    readonly node: string,
    readonly mac: MacAddr,
    readonly ip: Ipv4Addr,
  ) {}

  deliver(frame: Uint8Array): void {
    this.got.push({ t: this.world.now, frame });
  }

  send(frame: Uint8Array): boolean {
    return this.attachment!.send(frame);
  }

  /** A UDP datagram to `dst` (a host, or a group address with its multicast MAC). */
  udp(dst: Host | Ipv4Addr, tag = 0): boolean {
    const dstIp = typeof dst === 'number' ? dst : dst.ip;
    const dstMac = typeof dst === 'number' ? multicastMac(dst) : dst.mac;
    return this.send(
      encodeFrame({
        eth: { dst: dstMac, src: this.mac },
        net: {
          kind: 'ipv4',
          ip: ipv4Header({ src: this.ip, dst: dstIp, protocol: IP_PROTO.udp, ttl: typeof dst === 'number' ? 1 : 64 }),
          l4: { kind: 'udp', udp: { srcPort: 5000, dstPort: 5000, payload: Uint8Array.of(tag) } },
        },
      }),
    );
  }

  igmp(msg: IgmpMessage, dst: Ipv4Addr): boolean {
    return this.send(
      encodeFrame({
        eth: { dst: multicastMac(dst), src: this.mac },
        net: {
          kind: 'ipv4',
          ip: ipv4Header({ src: this.ip, dst, protocol: IP_PROTO.igmp, ttl: 1, options: [{ kind: 'router-alert', value: 0 }] }),
          l4: { kind: 'igmp', igmp: msg },
        },
      }),
    );
  }

  /** Tags of UDP datagrams received (the payload byte), in order. */
  tags(): number[] {
    const out: number[] = [];
    for (const g of this.got) {
      const d = decodeFrame(g.frame);
      if (d.ok && d.value.net.kind === 'ipv4' && d.value.net.l4.kind === 'udp') out.push(d.value.net.l4.udp.payload[0]!);
    }
    return out;
  }

  /** IGMP messages received, with their time. */
  igmpGot(): { t: number; src: Ipv4Addr; dst: Ipv4Addr; ttl: number; msg: IgmpMessage }[] {
    const out: { t: number; src: Ipv4Addr; dst: Ipv4Addr; ttl: number; msg: IgmpMessage }[] = [];
    for (const g of this.got) {
      const d = decodeFrame(g.frame);
      if (d.ok && d.value.net.kind === 'ipv4' && d.value.net.l4.kind === 'igmp') {
        out.push({ t: g.t, src: d.value.net.ip.src, dst: d.value.net.ip.dst, ttl: d.value.net.ip.ttl, msg: d.value.net.l4.igmp });
      }
    }
    return out;
  }

  clear(): void {
    this.got.length = 0;
  }
}

interface Lan {
  readonly world: World;
  readonly sw: Switch;
  readonly hosts: Host[];
  readonly ports: SwitchPort[];
  readonly links: Link[];
  /** Run until `t` µs (everything due by then is delivered). */
  runTo(t: number): void;
}

function lan(n: number, opts: SwitchOptions = {}, worldOpts: WorldOptions = {}): Lan {
  const world = new World(worldOpts);
  const sw = new Switch(world, 'sw0', opts);
  const hosts: Host[] = [];
  const ports: SwitchPort[] = [];
  const links: Link[] = [];
  for (let i = 1; i <= n; i++) {
    const h = new Host(world, `h${i}`, mac(`02:00:00:00:01:${i.toString(16).padStart(2, '0')}`), ip(`10.0.0.${i}`));
    const p = sw.addPort();
    links.push(new Link(world, `h${i}-sw0`, h, p, { latency: micros(10) }));
    hosts.push(h);
    ports.push(p);
  }
  return { world, sw, hosts, ports, links, runTo: (t) => void world.kernel.run({ until: t as Instant }) };
}

/** Which hosts (1-based) got anything since the last clear, then clear. */
function receivers(hosts: readonly Host[]): number[] {
  const r = hosts.flatMap((h, i) => (h.got.length > 0 ? [i + 1] : []));
  for (const h of hosts) h.clear();
  return r;
}

const GROUP = ip('239.1.1.1');
const OTHER_GROUP = ip('239.9.9.9');

// ---------------------------------------------------------------------------------------------

describe('Switch learning', () => {
  it('floods unknown unicast, then forwards only to the learned port', () => {
    const { sw, hosts, ports, runTo } = lan(4);
    const [h1, h2] = hosts as [Host, Host];
    h1.udp(h2, 1);
    runTo(1_000);
    expect(receivers(hosts)).toEqual([2, 3, 4]);
    expect(sw.lookup(h1.mac)).toBe(ports[0]);
    expect(sw.lookup(h2.mac)).toBeUndefined();
    h2.udp(h1, 2);
    runTo(2_000);
    expect(receivers(hosts)).toEqual([1]);
    h1.udp(h2, 3);
    runTo(3_000);
    expect(receivers(hosts)).toEqual([2]);
    expect(sw.counters.flooded).toBe(1);
    expect(sw.counters.forwarded).toBe(2);
    expect(sw.counters.learned).toBe(2);
    expect(sw.macTable().map((e) => [e.mac, e.port.name])).toEqual([
      [h1.mac, 'port1'],
      [h2.mac, 'port2'],
    ]);
  });

  it('each hop is link + link: 10 µs in, 10 µs out, no forwarding delay by default', () => {
    const { hosts, runTo } = lan(2);
    hosts[0]!.udp(hosts[1]!, 1);
    runTo(1_000);
    expect(hosts[1]!.got.map((g) => g.t)).toEqual([20]);
  });

  it('forwardingLatency delays each decision', () => {
    const { hosts, runTo } = lan(2, { forwardingLatency: micros(7) });
    hosts[0]!.udp(hosts[1]!, 1);
    runTo(1_000);
    expect(hosts[1]!.got.map((g) => g.t)).toEqual([27]);
  });

  it('ages entries out after macAging (300 s by default) and floods again', () => {
    const { sw, hosts, runTo } = lan(3);
    const [h1, h2] = hosts as [Host, Host];
    h2.udp(h1, 1); // learn h2
    runTo(1_000);
    receivers(hosts);
    runTo(1_000 + 299_000_000);
    h1.udp(h2, 2);
    runTo(1_000 + 299_001_000);
    expect(receivers(hosts)).toEqual([2]);
    // h2 was last heard at 10 µs; its entry expires at 300 s + 10 µs.
    runTo(300_000_100);
    expect(sw.lookup(h2.mac)).toBeUndefined();
    h1.udp(h2, 3);
    runTo(300_010_000);
    expect(receivers(hosts)).toEqual([2, 3]);
    expect(sw.counters.aged).toBe(1);
  });

  it('aging is configurable, and a station move re-learns the port', () => {
    const { world, sw, hosts, ports, runTo } = lan(3, { macAging: seconds(10) });
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    h2.udp(h1, 1);
    runTo(1_000);
    expect(sw.lookup(h2.mac)).toBe(ports[1]);
    // h3 now sends with h2's address (h2 moved behind port 3).
    h3.send(encodeFrame({ eth: { dst: h1.mac, src: h2.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(2_000);
    expect(sw.lookup(h2.mac)).toBe(ports[2]);
    expect(sw.counters.moved).toBe(1);
    runTo(2_000 + 10_000_000);
    expect(sw.lookup(h2.mac)).toBeUndefined();
    expect(world.now).toBe(10_002_000);
  });

  it('floods broadcast to every other port', () => {
    const { hosts, runTo } = lan(5);
    hosts[2]!.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: hosts[2]!.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(1_000);
    expect(receivers(hosts)).toEqual([1, 2, 4, 5]);
  });

  it('flooded copies are separate buffers', () => {
    const { hosts, runTo } = lan(3);
    hosts[0]!.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: hosts[0]!.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(1_000);
    expect(hosts[1]!.got[0]!.frame).not.toBe(hosts[2]!.got[0]!.frame);
    expect(hosts[1]!.got[0]!.frame).toEqual(hosts[2]!.got[0]!.frame);
  });

  it('filters unicast to an address learned on the ingress port', () => {
    const { sw, hosts, runTo } = lan(3);
    const [h1] = hosts as [Host];
    const behind = mac('02:00:00:00:09:99'); // a station behind h1's port
    h1.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: behind }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(1_000);
    receivers(hosts);
    h1.send(encodeFrame({ eth: { dst: behind, src: h1.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(2_000);
    expect(receivers(hosts)).toEqual([]);
    expect(sw.counters.filtered).toBe(1);
  });

  it('stops learning when the table is full and floods to the unlearned', () => {
    const { sw, hosts, runTo } = lan(4, { macTableMax: 2 });
    const [h1, h2, h3, h4] = hosts as [Host, Host, Host, Host];
    h1.udp(h2, 1);
    h2.udp(h1, 2);
    runTo(1_000);
    h3.udp(h1, 3);
    runTo(2_000);
    expect(sw.counters.tableFull).toBe(1);
    expect(sw.lookup(h3.mac)).toBeUndefined();
    receivers(hosts);
    h4.udp(h3, 4);
    runTo(3_000);
    expect(receivers(hosts)).toEqual([1, 2, 3]);
  });

  it('drops runts and frames with a group or zero source, counting them', () => {
    const trace = new MemoryTrace();
    const { sw, hosts, runTo } = lan(3, {}, { trace });
    const [h1] = hosts as [Host];
    h1.send(new Uint8Array(10));
    h1.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: mac('01:00:5e:00:00:01') }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    h1.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: mac('00:00:00:00:00:00') }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(1_000);
    expect(receivers(hosts)).toEqual([]);
    expect(sw.counters.dropped).toEqual({ 'port-disabled': 0, truncated: 1, 'bad-source': 2, 'bad-igmp': 0 });
    expect(trace.ofKind('drop').map((d) => [d.layer, d.reason, d.node])).toEqual([
      ['switch', 'truncated', 'sw0'],
      ['switch', 'bad-source', 'sw0'],
      ['switch', 'bad-source', 'sw0'],
    ]);
    // The drop's cause is the frame's delivery to the switch port.
    const rx = trace.ofKind('frame').filter((f) => f.dir === 'rx');
    expect(trace.ofKind('drop').map((d) => d.cause)).toEqual(rx.map((f) => f.id));
  });
});

describe('Switch port faults', () => {
  it('a disabled port isolates its host both ways, and re-enabling restores it', () => {
    const { sw, hosts, ports, runTo } = lan(3);
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    h3.udp(h1, 1);
    h1.udp(h3, 2);
    runTo(1_000);
    expect(sw.lookup(h3.mac)).toBe(ports[2]);
    receivers(hosts);
    sw.setPortEnabled(ports[2]!, false);
    expect(sw.lookup(h3.mac)).toBeUndefined(); // flushed
    h1.udp(h3, 3); // unknown now: flooded, but not out of port 3
    h3.udp(h2, 4);
    h3.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: h3.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    h1.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: h1.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    runTo(2_000);
    expect(h3.got).toHaveLength(0);
    expect(h2.tags()).toEqual([3]);
    expect(h2.got).toHaveLength(2); // the flooded unicast and h1's broadcast
    expect(sw.counters.dropped['port-disabled']).toBe(2);
    expect(ports[2]!.counters.rxFrames).toBe(3);
    receivers(hosts);
    sw.setPortEnabled(ports[2]!, true);
    h3.udp(h1, 5);
    runTo(3_000);
    expect(receivers(hosts)).toEqual([1]);
  });

  it('blocking the trunk between two switches partitions the segment', () => {
    // h1, h2 on sw0; h3, h4 on sw1; sw0:port3 <-> sw1:port3.
    const { world, sw, hosts, runTo } = lan(2);
    const sw1 = new Switch(world, 'sw1');
    for (const i of [3, 4]) {
      const h = new Host(world, `h${i}`, mac(`02:00:00:00:01:0${i}`), ip(`10.0.0.${i}`));
      new Link(world, `h${i}-sw1`, h, sw1.addPort(), { latency: micros(10) });
      hosts.push(h);
    }
    const trunk0 = sw.addPort('trunk');
    new Link(world, 'trunk', trunk0, sw1.addPort('trunk'), { latency: micros(10) });
    const everyoneShouts = (): void => {
      for (const h of hosts) h.send(encodeFrame({ eth: { dst: MAC_BROADCAST, src: h.mac }, net: { kind: 'raw', ethertype: 0x88b5, bytes: new Uint8Array(46) } }));
    };
    everyoneShouts();
    runTo(1_000);
    expect(hosts.map((h) => h.got.length)).toEqual([3, 3, 3, 3]);
    receivers(hosts);
    sw.setPortEnabled(trunk0, false);
    everyoneShouts();
    hosts[0]!.udp(hosts[3]!, 1); // learned across the trunk before: now nowhere to go
    runTo(2_000);
    expect(hosts.map((h) => h.got.length)).toEqual([1, 2, 1, 1]);
    expect(hosts[3]!.tags()).toEqual([]);
    sw.setPortEnabled(trunk0, true);
    receivers(hosts);
    everyoneShouts();
    runTo(3_000);
    expect(hosts.map((h) => h.got.length)).toEqual([3, 3, 3, 3]);
  });

  it('port frames the link refuses are counted', () => {
    const { sw, hosts, ports, links, runTo } = lan(2);
    links[1]!.setUp(false);
    hosts[0]!.udp(hosts[1]!, 1);
    runTo(1_000);
    expect(ports[1]!.counters.txRejected).toBe(1);
    expect(sw.counters.txFrames).toBe(0);
  });
});

describe('Switch multicast', () => {
  it('floods multicast when snooping is off, IGMP included', () => {
    const { hosts, runTo } = lan(4);
    hosts[1]!.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(1_000);
    expect(receivers(hosts)).toEqual([1, 3, 4]);
    hosts[2]!.udp(GROUP, 1);
    runTo(2_000);
    expect(receivers(hosts)).toEqual([1, 2, 4]);
  });

  /** h1 is a multicast router (sends queries), h2 a member, h3 the sender, h4 not interested. */
  function snoopLan(opts: SwitchOptions = { igmpSnooping: true }, worldOpts: WorldOptions = {}): Lan {
    const l = lan(4, opts, worldOpts);
    const [router] = l.hosts as [Host];
    router.igmp({ kind: 'query', maxRespCode: 100, group: ip('0.0.0.0') }, ip('224.0.0.1'));
    l.runTo(1_000);
    expect(receivers(l.hosts)).toEqual([2, 3, 4]); // queries are flooded
    expect(l.sw.isRouterPort(l.ports[0]!)).toBe(true);
    return l;
  }

  it('report on port 2: group traffic goes only to port 2 and the router port', () => {
    const { sw, hosts, ports, runTo } = snoopLan();
    const [, h2, h3] = hosts as [Host, Host, Host];
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(2_000);
    expect(receivers(hosts)).toEqual([1]); // reports only to router ports
    expect(sw.members(GROUP)).toEqual([ports[1]]);
    h3.udp(GROUP, 7);
    runTo(3_000);
    expect(receivers(hosts)).toEqual([1, 2]);
    expect(sw.counters.snooped).toBe(1);
  });

  it('a group with no members goes to router ports only; link-local is flooded', () => {
    const { hosts, runTo } = snoopLan();
    hosts[2]!.udp(OTHER_GROUP, 1);
    runTo(2_000);
    expect(receivers(hosts)).toEqual([1]);
    hosts[2]!.udp(ip('224.0.0.251'), 2);
    runTo(3_000);
    expect(receivers(hosts)).toEqual([1, 2, 4]);
  });

  it('non-IPv4 multicast is flooded', () => {
    const { hosts, runTo } = snoopLan();
    hosts[2]!.send(encodeFrame({ eth: { dst: mac('01:80:c2:00:00:0e'), src: hosts[2]!.mac }, net: { kind: 'raw', ethertype: 0x88cc, bytes: new Uint8Array(46) } }));
    runTo(2_000);
    expect(receivers(hosts)).toEqual([1, 2, 4]);
  });

  it('a leave removes the member after the last-member time (2 x 1 s)', () => {
    const trace = new MemoryTrace();
    const { sw, hosts, runTo } = snoopLan({ igmpSnooping: true }, { trace });
    const [, h2, h3] = hosts as [Host, Host, Host];
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(2_000);
    h2.igmp({ kind: 'leave', group: GROUP }, ip('224.0.0.2'));
    runTo(3_000);
    expect(receivers(hosts)).toEqual([1]); // report and leave, both to the router only
    runTo(1_000_000);
    h3.udp(GROUP, 1);
    runTo(1_001_000);
    expect(receivers(hosts)).toEqual([1, 2]); // still a member within the 2 s
    runTo(2_010_000 + 1);
    expect(sw.members(GROUP)).toEqual([]);
    h3.udp(GROUP, 2);
    runTo(2_020_000);
    expect(receivers(hosts)).toEqual([1]);
    const states = trace.ofKind('state').filter((s) => s.machine === 'igmp-member');
    expect(states.map((s) => [s.t, s.entity, s.from, s.to, s.reason])).toEqual([
      [1_010, 'sw0:port2:239.1.1.1', 'absent', 'member', 'v2-report'],
      [2_002_010, 'sw0:port2:239.1.1.1', 'member', 'absent', 'timeout'],
    ]);
  });

  it('fast leave removes at once', () => {
    const { sw, hosts, runTo } = snoopLan({ igmpSnooping: { fastLeave: true } });
    hosts[1]!.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(2_000);
    hosts[1]!.igmp({ kind: 'leave', group: GROUP }, ip('224.0.0.2'));
    runTo(3_000);
    expect(sw.members(GROUP)).toEqual([]);
  });

  it('membership times out after 260 s without reports; a report refreshes it', () => {
    const { sw, hosts, ports, runTo } = snoopLan();
    const [, h2] = hosts as [Host, Host];
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(2_000);
    runTo(200_000_000);
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP); // refresh at 200 s
    runTo(200_000_000 + 259_000_000);
    expect(sw.members(GROUP)).toEqual([ports[1]]);
    runTo(200_000_000 + 260_000_100);
    expect(sw.members(GROUP)).toEqual([]);
    expect(sw.groups()).toEqual([]);
  });

  it('learns from IGMPv3 reports: exclude joins, include-none leaves, block is ignored', () => {
    const { sw, hosts, ports, runTo } = snoopLan({ igmpSnooping: { fastLeave: true } });
    const [, h2, , h4] = hosts as [Host, Host, Host, Host];
    const v3 = ip('224.0.0.22');
    const rec = (type: number, group: Ipv4Addr, sources: Ipv4Addr[] = []) => ({ type, group, sources, auxData: new Uint8Array(0) });
    h2.igmp({ kind: 'v3-report', records: [rec(IGMP_RECORD.changeToExclude, GROUP), rec(IGMP_RECORD.modeIsInclude, OTHER_GROUP, [ip('10.0.0.3')])] }, v3);
    h4.igmp({ kind: 'v3-report', records: [rec(IGMP_RECORD.modeIsExclude, GROUP)] }, v3);
    runTo(2_000);
    expect(receivers(hosts)).toEqual([1]);
    expect(sw.groups()).toEqual([GROUP, OTHER_GROUP]);
    expect(sw.members(GROUP)).toEqual([ports[1], ports[3]]);
    h2.igmp({ kind: 'v3-report', records: [rec(IGMP_RECORD.blockOldSources, OTHER_GROUP, [ip('10.0.0.3')]), rec(IGMP_RECORD.changeToInclude, GROUP)] }, v3);
    runTo(3_000);
    expect(sw.members(GROUP)).toEqual([ports[3]]);
    expect(sw.members(OTHER_GROUP)).toEqual([ports[1]]);
    // Reports for link-local groups are not snooped.
    h2.igmp({ kind: 'v2-report', group: ip('224.0.0.251') }, ip('224.0.0.251'));
    runTo(4_000);
    expect(sw.groups()).toEqual([GROUP, OTHER_GROUP]);
  });

  it('a group-specific query from another querier shortens that group to 2 x its max response', () => {
    const { sw, hosts, runTo } = snoopLan();
    const [router, h2] = hosts as [Host, Host];
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    h2.igmp({ kind: 'v2-report', group: OTHER_GROUP }, OTHER_GROUP);
    runTo(2_000);
    router.igmp({ kind: 'query', maxRespCode: 10, group: GROUP }, GROUP);
    runTo(3_000);
    expect(h2.igmpGot().map((m) => m.msg)).toEqual([{ kind: 'query', maxRespCode: 10, group: GROUP }]);
    runTo(2_003_000);
    expect(sw.groups()).toEqual([OTHER_GROUP]);
  });

  it('router ports: learned from queries, expire after 255 s, or configured', () => {
    const trace = new MemoryTrace();
    const { sw, hosts, ports, runTo } = snoopLan({ igmpSnooping: true }, { trace });
    // The query reached the switch at 10 µs.
    runTo(255_000_000 + 9);
    expect(sw.isRouterPort(ports[0]!)).toBe(true);
    runTo(255_000_000 + 10);
    expect(sw.isRouterPort(ports[0]!)).toBe(false);
    hosts[2]!.udp(OTHER_GROUP, 1);
    runTo(256_000_000);
    expect(receivers(hosts)).toEqual([]);
    sw.setRouterPort(ports[3]!, 'permanent');
    hosts[2]!.udp(OTHER_GROUP, 2);
    runTo(257_000_000);
    expect(receivers(hosts)).toEqual([4]);
    // A query from 0.0.0.0 does not make a router port; 'disabled' ignores queries.
    sw.setRouterPort(ports[1]!, 'disabled');
    hosts[1]!.igmp({ kind: 'query', maxRespCode: 100, group: ip('0.0.0.0') }, ip('224.0.0.1'));
    hosts[2]!.send(
      encodeFrame({
        eth: { dst: multicastMac(ip('224.0.0.1')), src: hosts[2]!.mac },
        net: { kind: 'ipv4', ip: ipv4Header({ src: ip('0.0.0.0'), dst: ip('224.0.0.1'), protocol: IP_PROTO.igmp, ttl: 1 }), l4: { kind: 'igmp', igmp: { kind: 'query', maxRespCode: 100, group: ip('0.0.0.0') } } },
      }),
    );
    runTo(258_000_000);
    expect(ports.map((p) => sw.isRouterPort(p))).toEqual([false, false, false, true]);
    const routerStates = trace.ofKind('state').filter((s) => s.machine === 'igmp-router');
    expect(routerStates.map((s) => [s.entity, s.to, s.reason])).toEqual([
      ['sw0:port1', 'yes', 'query'],
      ['sw0:port1', 'no', 'timeout'],
      ['sw0:port4', 'yes', 'admin'],
    ]);
  });

  it('drops malformed IGMP', () => {
    const { sw, hosts, runTo } = snoopLan();
    const f = encodeFrame({
      eth: { dst: multicastMac(GROUP), src: hosts[1]!.mac },
      net: { kind: 'ipv4', ip: ipv4Header({ src: hosts[1]!.ip, dst: GROUP, protocol: IP_PROTO.igmp, ttl: 1 }), l4: { kind: 'igmp', igmp: { kind: 'v2-report', group: GROUP } } },
    });
    f[f.length - 6]! ^= 0xff; // corrupt the IGMP checksum
    hosts[1]!.send(f);
    runTo(2_000);
    expect(receivers(hosts)).toEqual([]);
    expect(sw.counters.dropped['bad-igmp']).toBe(1);
    expect(sw.groups()).toEqual([]);
  });

  it('disabling a port drops its memberships and router state', () => {
    const { sw, hosts, ports, runTo } = snoopLan();
    hosts[1]!.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(2_000);
    sw.setPortEnabled(ports[1]!, false);
    sw.setPortEnabled(ports[0]!, false);
    expect(sw.groups()).toEqual([]);
    expect(sw.isRouterPort(ports[0]!)).toBe(false);
  });
});

describe('Switch querier', () => {
  const QUERIER = ip('10.0.0.254');

  it('sends IGMPv2 general queries: 2 startup queries QI/4 apart, then every 125 s', () => {
    const { sw, hosts, runTo } = lan(3, { igmpSnooping: true, querier: { source: QUERIER } });
    runTo(600_000_000);
    const got = hosts[0]!.igmpGot();
    const sentAt = [0, 31_250_000, 156_250_000, 281_250_000, 406_250_000, 531_250_000];
    expect(got.map((m) => m.t)).toEqual(sentAt.map((t) => t + 10));
    for (const m of got) {
      expect(m.msg).toEqual({ kind: 'query', maxRespCode: 100, group: 0 });
      expect(m.src).toBe(QUERIER);
      expect(m.dst).toBe(ip('224.0.0.1'));
      expect(m.ttl).toBe(1);
    }
    for (const h of hosts) {
      expect(h.igmpGot()).toHaveLength(6);
      expect(readMac(h.got[0]!.frame, 0)).toBe(multicastMac(ip('224.0.0.1')));
      expect(readMac(h.got[0]!.frame, 6)).toBe(sw.mac);
    }
    expect(sw.counters.queriesSent).toBe(6);
  });

  it('the interval, max response time and startup count are configurable', () => {
    const { hosts, runTo } = lan(1, { querier: { source: QUERIER, interval: seconds(20), maxResponse: millis(2_500), startupCount: 1 } });
    runTo(61_000_000);
    const got = hosts[0]!.igmpGot();
    expect(got.map((m) => m.t)).toEqual([10, 20_000_010, 40_000_010, 60_000_010]);
    expect(got[0]!.msg).toEqual({ kind: 'query', maxRespCode: 25, group: 0 });
  });

  it('falls silent while a querier with a lower address is present', () => {
    const { hosts, runTo } = lan(2, { igmpSnooping: true, querier: { source: QUERIER, startupCount: 1 } });
    const [router, h2] = hosts as [Host, Host];
    runTo(1_000);
    router.igmp({ kind: 'query', maxRespCode: 100, group: ip('0.0.0.0') }, ip('224.0.0.1'));
    runTo(1_000_000_000);
    // The other query reached the switch at 1.01 ms: silent at 125 s and 250 s (before
    // 255.00101 s), sending again from 375 s.
    const ours = h2.igmpGot().filter((m) => m.src === QUERIER).map((m) => m.t - 10);
    expect(ours).toEqual([0, 375_000_000, 500_000_000, 625_000_000, 750_000_000, 875_000_000]);
  });

  it('answers a leave with group-specific queries on that port', () => {
    const { hosts, runTo } = lan(3, { igmpSnooping: true, querier: { source: QUERIER, startupCount: 1 } });
    const [, h2] = hosts as [Host, Host];
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    runTo(1_000_000);
    h2.igmp({ kind: 'leave', group: GROUP }, ip('224.0.0.2'));
    runTo(5_000_000);
    const specific = h2.igmpGot().filter((m) => m.msg.kind === 'query' && m.msg.group !== 0);
    expect(specific.map((m) => [m.t, m.dst, m.msg])).toEqual([
      [1_000_020, GROUP, { kind: 'query', maxRespCode: 10, group: GROUP }],
      [2_000_020, GROUP, { kind: 'query', maxRespCode: 10, group: GROUP }],
    ]);
    expect(hosts[2]!.igmpGot().filter((m) => m.msg.kind === 'query' && m.msg.group !== 0)).toEqual([]);
  });
});

describe('Switch capture', () => {
  const tshark = requireTshark();
  const dir = mkdtempSync(join(tmpdir(), 'sg-switch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.runIf(tshark)('a snooping LAN with a querier gives a capture tshark reads without errors', () => {
    const chunks: Uint8Array[] = [];
    const trace = new MemoryTrace();
    const { hosts, runTo } = lan(3, { igmpSnooping: true, querier: { source: ip('10.0.0.254') } }, { pcap: (c) => chunks.push(c.slice()), trace });
    const [h1, h2, h3] = hosts as [Host, Host, Host];
    runTo(1_000);
    h2.igmp({ kind: 'v2-report', group: GROUP }, GROUP);
    h1.udp(h2, 1);
    h2.udp(h1, 2);
    h3.udp(GROUP, 3);
    runTo(40_000_000);
    const path = join(dir, 'lan.pcapng');
    writeFileSync(path, Buffer.concat(chunks));
    const r = tsharkCheck(path);
    expect(r.packets).toBe(trace.ofKind('frame').filter((f) => f.dir === 'tx').length);
    expect(r.malformed, r.summary.join('\n')).toBe(0);
    expect(r.badChecksums, r.summary.join('\n')).toBe(0);
    expect(r.expertErrors).toEqual([]);
  });
});
