import { describe, expect, it } from 'vitest';
import { AffinityTable } from '../../src/balance/affinity.ts';
import { GroupBalancer, type BalancerOptions } from '../../src/balance/balancer.ts';
import type { GroupConfig, KeepSameServer, PolicyName } from '../../src/balance/types.ts';
import { instant, seconds, type Instant } from '../../src/time.ts';
import { ip, type Ipv4Addr } from '../../src/wire/addr.ts';

const at = (s: number): Instant => instant(Math.round(s * 1_000_000));
const NAMES = 'abcdefgh';
const CLIENT_MODE: KeepSameServer = { mode: 'client', timeout: seconds(5) };

function balancer(keepSameServer: KeepSameServer, policy: PolicyName = 'round-robin', opts: BalancerOptions = {}): GroupBalancer {
  const cfg: GroupConfig = {
    name: 'rpc',
    vip: ip('140.116.72.114'),
    port: 'all',
    policy,
    weighted: false,
    keepSameServer,
    loadWindow: seconds(10),
    loadFromTotals: false,
    servers: [1, 2, 3].map((i) => ({ name: NAMES[i - 1] as string, addr: ip(`192.168.1.${i}`), weight: 1 })),
  };
  return new GroupBalancer(cfg, opts);
}

/** What the engine does for a new link: pick, then report the link with its client. */
function connect(b: GroupBalancer, client: string, now: Instant): number {
  const addr = ip(client);
  const s = b.pick(now, { addr, port: 1_000 });
  expect(s).toBeDefined();
  b.linkOpened(s as number, now, addr);
  return s as number;
}

function close(b: GroupBalancer, server: number, client: string, now: Instant): void {
  b.linkClosed(server, now, ip(client));
}

describe('keep same server, client mode (slides 31-32)', () => {
  it('port mapper then RPC: both links from one client land on one server', () => {
    const b = balancer(CLIENT_MODE);
    const portmapper = connect(b, '140.116.72.118', at(0)); // "which port is server ZZ?"
    expect(connect(b, '140.116.72.200', at(0.1))).toBe(1); // another client: balanced
    close(b, portmapper, '140.116.72.118', at(0.2)); // the UDP link leaves the table
    const rpc = connect(b, '140.116.72.118', at(2)); // "request sent to port 2345"
    expect(rpc).toBe(portmapper); // round robin alone would have said c
    expect(b.explainLast()).toMatchObject({ reason: 'affinity', server: 'a' });
  });

  it('concurrent related links (ICP then HTTP) share the server while one is open', () => {
    const b = balancer(CLIENT_MODE);
    const icp = connect(b, '10.9.0.1', at(0));
    connect(b, '10.9.0.2', at(0));
    expect(connect(b, '10.9.0.1', at(0))).toBe(icp);
    expect(connect(b, '10.9.0.1', at(0))).toBe(icp);
  });

  it('holds for as long as a link is open, however long', () => {
    const b = balancer(CLIENT_MODE);
    const s = connect(b, '10.9.0.1', at(0));
    connect(b, '10.9.0.2', at(0));
    expect(connect(b, '10.9.0.1', at(3_600))).toBe(s);
  });

  it('expires `timeout` after the last link from the client left the table', () => {
    const b = balancer(CLIENT_MODE);
    const s1 = connect(b, '10.9.0.1', at(0));
    const s2 = connect(b, '10.9.0.1', at(1));
    expect(s2).toBe(s1);
    close(b, s1, '10.9.0.1', at(2));
    expect(b.pick(at(8), { addr: ip('10.9.0.1'), port: 1 })).toBe(s1); // one link still open
    close(b, s2, '10.9.0.1', at(10)); // the last one: the timeout starts
    expect(b.pick(at(14.999999), { addr: ip('10.9.0.1'), port: 1 })).toBe(s1);
    expect(b.explainLast()).toMatchObject({ reason: 'affinity' });
    expect(b.pick(at(15), { addr: ip('10.9.0.1'), port: 1 })).toBe(1); // balanced normally
    expect(b.explainLast()).toMatchObject({ reason: 'policy' });
  });

  it('timeout 0 is exactly the slide: only while a link is in the table', () => {
    const b = balancer({ mode: 'client', timeout: seconds(0) });
    const s = connect(b, '10.9.0.1', at(0));
    expect(connect(b, '10.9.0.1', at(1))).toBe(s);
    close(b, s, '10.9.0.1', at(2));
    close(b, s, '10.9.0.1', at(2));
    expect(connect(b, '10.9.0.1', at(2))).not.toBe(s);
  });

  it('a server that is no longer a candidate is not kept; the new link moves the entry', () => {
    const b = balancer(CLIENT_MODE);
    const s = connect(b, '10.9.0.1', at(0));
    expect(s).toBe(0);
    b.setState(0, 'dead', at(1));
    const moved = connect(b, '10.9.0.1', at(1));
    expect(moved).toBe(1);
    b.setState(0, 'alive', at(2));
    expect(connect(b, '10.9.0.1', at(3))).toBe(moved); // the latest choice wins
  });

  it('weight 0 and exclude (a remap) override the entry', () => {
    const b = balancer(CLIENT_MODE);
    const s = connect(b, '10.9.0.1', at(0));
    expect(b.pick(at(1), { addr: ip('10.9.0.1'), port: 2 }, s)).not.toBe(s);
    b.setWeight(s, 0, at(2));
    expect(b.pick(at(2), { addr: ip('10.9.0.1'), port: 3 })).not.toBe(s);
  });

  it('overrides the load policy too', () => {
    const b = balancer(CLIENT_MODE, 'connections');
    const s = connect(b, '10.9.0.1', at(0));
    for (let k = 0; k < 5; k++) expect(connect(b, '10.9.0.1', at(0))).toBe(s);
    expect(b.recentLinks(s, at(0))).toBe(6);
  });

  it('a remap reported as close on the old server and open on the new one', () => {
    const b = balancer(CLIENT_MODE);
    const client = ip('10.9.0.1');
    const old = connect(b, '10.9.0.1', at(0));
    b.setState(old, 'dead', at(0.5));
    const next = b.pick(at(0.5), { addr: client, port: 1_000 }, old) as number;
    b.linkClosed(old, at(0.5), client);
    b.linkOpened(next, at(0.5), client);
    close(b, next, '10.9.0.1', at(1));
    expect(b.pick(at(5.9), { addr: client, port: 1_001 })).toBe(next);
    expect(b.pick(at(6), { addr: client, port: 1_001 })).not.toBe(next); // one open link: expired at 1 + 5
  });

  it('links reported without a client address make no entry', () => {
    const b = balancer(CLIENT_MODE);
    const addr = ip('10.9.0.1');
    const s = b.pick(at(0), { addr, port: 1 }) as number;
    b.linkOpened(s, at(0));
    expect(b.pick(at(0), { addr, port: 2 })).not.toBe(s);
    expect(b.affinityStats().entries).toBe(0);
  });
});

describe('keep same server, subnet mode', () => {
  it('clients in one /24 share a server; others do not', () => {
    const b = balancer({ mode: 'subnet', prefixLen: 24, timeout: seconds(5) });
    const s = connect(b, '10.9.0.5', at(0));
    expect(connect(b, '10.9.0.77', at(0))).toBe(s);
    expect(connect(b, '10.9.1.5', at(0))).not.toBe(s);
    expect(connect(b, '10.9.0.200', at(1))).toBe(s);
  });

  it('prefix 0 keeps the whole world on one server; 32 is client mode', () => {
    const all = balancer({ mode: 'subnet', prefixLen: 0, timeout: seconds(5) });
    const s = connect(all, '1.2.3.4', at(0));
    expect(connect(all, '200.1.1.1', at(0))).toBe(s);
    const one = balancer({ mode: 'subnet', prefixLen: 32, timeout: seconds(5) });
    const t = connect(one, '1.2.3.4', at(0));
    expect(connect(one, '1.2.3.5', at(0))).not.toBe(t);
    expect(connect(one, '1.2.3.4', at(0))).toBe(t);
  });

  it('expires after the timeout like client mode', () => {
    const b = balancer({ mode: 'subnet', prefixLen: 16, timeout: seconds(5) });
    const s = connect(b, '10.9.0.5', at(0));
    close(b, s, '10.9.0.5', at(1));
    expect(connect(b, '10.9.200.1', at(5))).toBe(s);
    close(b, s, '10.9.200.1', at(5));
    expect(connect(b, '10.9.3.3', at(10))).not.toBe(s);
  });

  it('rejects a bad prefix length', () => {
    expect(() => balancer({ mode: 'subnet', prefixLen: 33, timeout: seconds(1) })).toThrow(/prefix/);
  });
});

describe('keep same server off', () => {
  it('every link is balanced', () => {
    const b = balancer({ mode: 'off' });
    expect([0, 1, 2, 3].map((k) => connect(b, '10.9.0.1', at(k)))).toEqual([0, 1, 2, 0]);
  });
});

describe('AffinityTable bounds', () => {
  const key = (n: number): Ipv4Addr => ip(`10.0.0.${n}`);

  it('when full, evicts the oldest idle entry; with none idle, drops the new key', () => {
    const t = new AffinityTable(CLIENT_MODE, 2);
    t.opened(key(1), 0, at(0));
    t.opened(key(2), 1, at(0));
    t.opened(key(3), 2, at(1)); // both busy
    expect(t.stats()).toEqual({ entries: 2, evicted: 0, dropped: 1 });
    expect(t.lookup(key(3), at(1))).toBeUndefined();
    t.closed(key(2), at(2));
    t.closed(key(1), at(3));
    t.opened(key(4), 2, at(3)); // evicts 2, idle since 2
    expect(t.stats()).toEqual({ entries: 2, evicted: 1, dropped: 1 });
    expect(t.lookup(key(2), at(3))).toBeUndefined();
    expect(t.lookup(key(1), at(3))).toBe(0);
    expect(t.lookup(key(4), at(3))).toBe(2);
  });

  it('expired entries are swept as time passes', () => {
    const t = new AffinityTable(CLIENT_MODE, 100);
    for (let n = 1; n <= 10; n++) {
      t.opened(key(n), 0, at(n / 10));
      t.closed(key(n), at(n / 10));
    }
    expect(t.stats().entries).toBe(10);
    t.sweep(at(5.5)); // idle since 0.1..0.5 expired (>= 5s ago), 0.6..1.0 not
    expect(t.stats().entries).toBe(5);
    t.sweep(at(100));
    expect(t.stats().entries).toBe(0);
  });

  it('a close with no recorded open is ignored', () => {
    const t = new AffinityTable(CLIENT_MODE, 4);
    t.closed(key(1), at(0));
    t.opened(key(1), 1, at(0));
    t.closed(key(1), at(1));
    t.closed(key(1), at(1));
    expect(t.lookup(key(1), at(5.5))).toBe(1);
    expect(t.lookup(key(1), at(6))).toBeUndefined();
  });
});
