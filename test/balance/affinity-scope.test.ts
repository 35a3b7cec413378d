/**
 * Keep-same-server across groups (slides 31-32): groups naming one scope share the client's
 * affinity, so the slide's own example works with one group per port: the RPC client's port-mapper
 * link (UDP 111) pins its RPC link (2345), a squid's ICP link (UDP 3130) its HTTP links (3128).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { affinityTables } from '../../src/balance/affinity.ts';
import { GroupBalancer } from '../../src/balance/balancer.ts';
import type { GroupConfig, KeepSameServer } from '../../src/balance/types.ts';
import { formatScenarioError, loadScenario } from '../../src/scenario/load.ts';
import { instant, seconds, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';

const at = (s: number): Instant => instant(Math.round(s * 1_000_000));
const SCOPED: KeepSameServer = { mode: 'client', timeout: seconds(5), scope: 'rpc' };

function group(name: string, port: number, keepSameServer: KeepSameServer, hosts: readonly number[] = [1, 2, 3]): GroupConfig {
  return {
    name,
    vip: ip('140.116.72.114'),
    port,
    policy: 'round-robin',
    weighted: false,
    keepSameServer,
    loadWindow: seconds(10),
    loadFromTotals: false,
    servers: hosts.map((i) => ({ name: `rs${i}`, addr: ip(`192.168.1.${i}`), weight: 1 })),
  };
}

/** The engine's wiring: one table per group, shared within a scope. */
function balancers(...groups: GroupConfig[]): GroupBalancer[] {
  const tables = affinityTables(groups);
  return groups.map((g, i) => new GroupBalancer(g, { affinity: tables[i]! }));
}

/** A new link from `client`: pick, then report it open; returns the server's name. */
function connect(b: GroupBalancer, client: string, now: Instant): string {
  const addr = ip(client);
  const s = b.pick(now, { addr, port: 1_000 });
  expect(s).toBeDefined();
  b.linkOpened(s as number, now, addr);
  return b.config.servers[s as number]!.name;
}

const C1 = '140.116.72.101';
const C0 = '140.116.72.100';

describe('keep-same-server scope: one client, two per-port groups', () => {
  it("the RPC link goes to the server of the client's port-mapper link", () => {
    const [portmap, rpc] = balancers(group('portmap', 111, SCOPED), group('rpc', 2345, SCOPED));
    expect(connect(portmap!, C0, at(0))).toBe('rs1'); // an rpcinfo probe: the round robins part
    expect(connect(portmap!, C1, at(0.1))).toBe('rs2'); // "which port is server ZZ?"
    expect(connect(rpc!, C1, at(0.3))).toBe('rs2'); // round robin alone: rs1
    expect(rpc!.explainLast()).toMatchObject({ reason: 'affinity', server: 'rs2' });
  });

  it('without a scope (the default) each group follows only its own links', () => {
    const keep: KeepSameServer = { mode: 'client', timeout: seconds(5) };
    const [portmap, rpc] = balancers(group('portmap', 111, keep), group('rpc', 2345, keep));
    connect(portmap!, C0, at(0));
    expect(connect(portmap!, C1, at(0.1))).toBe('rs2');
    expect(connect(rpc!, C1, at(0.3))).toBe('rs1');
    expect(rpc!.explainLast()).toMatchObject({ reason: 'policy' });
  });

  it('groups in different scopes do not share', () => {
    const [portmap, rpc] = balancers(group('portmap', 111, SCOPED), group('rpc', 2345, { ...SCOPED, scope: 'other' }));
    connect(portmap!, C0, at(0));
    connect(portmap!, C1, at(0.1));
    expect(connect(rpc!, C1, at(0.3))).toBe('rs1');
  });

  it('servers are matched by address: the same host at another index in the other group', () => {
    const [portmap, rpc] = balancers(group('portmap', 111, SCOPED, [1, 2, 3]), group('rpc', 2345, SCOPED, [2, 3]));
    connect(portmap!, C0, at(0));
    connect(portmap!, C0, at(0)); // (C0 again: affinity, rs1)
    expect(connect(portmap!, '140.116.72.102', at(0.05))).toBe('rs2');
    expect(connect(portmap!, C1, at(0.1))).toBe('rs3');
    expect(connect(rpc!, C1, at(0.3))).toBe('rs3'); // index 1 in rpc, 2 in portmap (round robin: rs2)
  });

  it("a server not in the new group's pool is not followed: the policy picks", () => {
    const [portmap, rpc] = balancers(group('portmap', 111, SCOPED, [1, 2, 3]), group('rpc', 2345, SCOPED, [1, 2]));
    connect(portmap!, C0, at(0));
    connect(portmap!, '140.116.72.102', at(0.05));
    expect(connect(portmap!, C1, at(0.1))).toBe('rs3');
    expect(connect(rpc!, C1, at(0.3))).toBe('rs1');
    expect(rpc!.explainLast()).toMatchObject({ reason: 'policy' });
  });

  it("a server dead in the new group is not followed, though the client's link elsewhere stays on it", () => {
    const [icp, http] = balancers(group('icp', 3130, SCOPED), group('http', 3128, SCOPED));
    connect(icp!, C0, at(0));
    expect(connect(icp!, C1, at(0.1))).toBe('rs2');
    http!.setState(1, 'dead', at(0.2));
    expect(connect(http!, C1, at(0.3))).toBe('rs1');
    expect(http!.explainLast()).toMatchObject({ reason: 'policy' });
    expect(connect(http!, C1, at(0.4))).toBe('rs1'); // the latest link wins from now on
    expect(connect(icp!, C1, at(0.5))).toBe('rs1'); // in every group of the scope
  });

  it("timeout 0: the entry holds while any of the client's links in the scope is in the table", () => {
    const keep: KeepSameServer = { mode: 'client', timeout: seconds(0), scope: 'rpc' };
    const [portmap, rpc] = balancers(group('portmap', 111, keep), group('rpc', 2345, keep));
    connect(portmap!, C0, at(0));
    expect(connect(portmap!, C1, at(0.1))).toBe('rs2');
    expect(connect(rpc!, C1, at(0.2))).toBe('rs2');
    portmap!.linkClosed(1, at(0.3), ip(C1)); // the port-mapper link leaves; the RPC link is open
    expect(connect(rpc!, C1, at(1))).toBe('rs2');
    rpc!.linkClosed(1, at(2), ip(C1));
    rpc!.linkClosed(1, at(2), ip(C1)); // none left
    expect(connect(rpc!, C1, at(2))).toBe('rs1');
    expect(rpc!.explainLast()).toMatchObject({ reason: 'policy' });
  });

  it('groups of one scope must key and expire alike', () => {
    expect(() => affinityTables([group('portmap', 111, SCOPED), group('rpc', 2345, { ...SCOPED, timeout: seconds(9) })])).toThrow(/scope 'rpc': group rpc must have the same mode, prefix and timeout as group portmap/);
    expect(() => affinityTables([group('a', 1, { mode: 'subnet', prefixLen: 24, timeout: seconds(1), scope: 's' }), group('b', 2, { mode: 'subnet', prefixLen: 16, timeout: seconds(1), scope: 's' })])).toThrow(/scope 's'/);
  });
});

describe('keep-same-server scope in scenario files', () => {
  const text = readFileSync('scenarios/keep-same-server-rpc.yaml', 'utf8');
  const errors = (t: string): string[] => {
    const r = loadScenario(t, 'f.yaml');
    return r.ok ? [] : r.errors.map(formatScenarioError);
  };

  it('loads the scope into the group config', () => {
    const r = loadScenario(text, 'f.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.scenario.cluster!.groups.map((g) => (g.keepSameServer.mode === 'off' ? 'off' : g.keepSameServer.scope ?? '-'))).toEqual(['rpc', 'rpc', '-', '-']);
  });

  it('a scope whose groups disagree is an error at the group', () => {
    const bad = text.replace('port: 2345, keep-same-server: { mode: client, timeout: 30s, scope: rpc }', 'port: 2345, keep-same-server: { mode: client, timeout: 10s, scope: rpc }');
    expect(bad).not.toBe(text);
    expect(errors(bad)).toEqual([expect.stringMatching(/cluster\.groups\[1\]\.keep-same-server: scope 'rpc' is shared with group portmap, which keys or expires differently/)]);
  });

  it('a scope needs keep-same-server on', () => {
    const bad = text.replace('port: 111, keep-same-server: { mode: client, timeout: 30s, scope: rpc }', 'port: 111, keep-same-server: { mode: off, scope: rpc }');
    expect(bad).not.toBe(text);
    expect(errors(bad).join('\n')).toMatch(/scope/);
  });
});
