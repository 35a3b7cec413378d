/**
 * Identical nodes (slides 6-7): every node has the same configuration, the same initial address
 * included, and tells itself apart in bidd/sync by an id derived from its private MAC.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BiddConfig } from '../../src/failover/bidd.ts';
import { Rng } from '../../src/rng.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { nodeId, sgNodeConfig } from '../../src/scenario/sg-config.ts';
import { addDuration, EPOCH, millis, seconds } from '../../src/time.ts';
import type { MacAddr } from '../../src/wire/addr.ts';
import { BiddCluster } from './bus.ts';

const FILE = 'scenarios/failover-identical.yaml';
const text = readFileSync(FILE, 'utf8');
const macs = [0x02_00_00_00_00_05, 0x02_00_00_00_00_07, 0x02_00_00_00_00_09] as MacAddr[];

describe('identical nodes sharing one initial address', () => {
  it('load: node-id: mac accepts the shared initial addresses; without it they are an error', () => {
    const r = loadScenario(text, FILE);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const c = r.scenario.cluster!;
    expect(c.failover?.nodeId).toBe('mac');
    expect(new Set(c.nodes.map((n) => n.privateAddr)).size).toBe(1);
    const bad = loadScenario(text.replace(', node-id: mac }', ' }'), 'f.yaml');
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.errors.map((e) => e.message).join('\n')).toMatch(/192\.168\.1\.250 is already used by A\.private \(nodes may share an initial address with failover node-id: mac\)/);
  });

  it('health probes with a shared private address are an error, not silently misrouted', () => {
    const r = loadScenario(text.replace('servers: [{ host: rs1 }, { host: rs2 }] }', 'servers: [{ host: rs1 }, { host: rs2 }], health: { keyports: [80] } }'), 'f.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^nodes share a private address, so health probes/)]);
  });

  it('a host may still not take a node\'s address', () => {
    const r = loadScenario(text.replace('ip: 192.168.1.2 }]', 'ip: 192.168.1.250 }]'), 'f.yaml');
    expect(r.ok).toBe(false);
  });

  it('the nodes\' engine configurations differ only in name, MACs and the MAC-derived node id', () => {
    const r = loadScenario(text, FILE);
    if (!r.ok) throw new Error('does not load');
    const c = r.scenario.cluster!;
    const cfgs = c.nodes.map((_, i) => sgNodeConfig(c, i, r.scenario.segments, { pubMac: (macs[i]! - 1) as MacAddr, privMac: macs[i]!, seed: 1 }));
    expect(cfgs.map((x) => x.failover?.node)).toEqual([5, 7, 9]);
    const strip = (x: (typeof cfgs)[number]) => ({ ...x, name: '', public: { ...x.public, mac: 0 }, private: { ...x.private, mac: 0 }, failover: { ...x.failover!, node: 0 } });
    expect(strip(cfgs[1]!)).toEqual(strip(cfgs[0]!));
    expect(strip(cfgs[2]!)).toEqual(strip(cfgs[0]!));
    expect(nodeId('mac', 0, 0xaa_bb_00_00_00_00 as MacAddr)).toBe(1); // never 0
    expect(nodeId('mac', 0, 0xaa_bb_12_34_56_78 as MacAddr)).toBe(0x12345678);
    expect(nodeId('index', 2, macs[0]!)).toBe(3);
  });

  it('bidd: start-up A -> B -> C with the same price: A is master, B and C stay backups, one master throughout', () => {
    const hb = seconds(1);
    const cfg = (mac: MacAddr): BiddConfig => ({ node: nodeId('mac', 0, mac), price: 100, group: 0xe1010101, heartbeatInterval: hb, masterTimeout: seconds(3), bidTimeout: seconds(1), holdDown: seconds(10), stallBound: millis(500) });
    const c = new BiddCluster(macs.map(cfg), millis(1), Rng.fromSeed(7), EPOCH);
    c.crash(1);
    c.crash(2);
    let two = 0;
    const watch = (cl: BiddCluster) => { if (cl.masters().length > 1) two++; };
    c.runUntil(addDuration(EPOCH, seconds(5)), watch);
    expect(c.masters()).toEqual([0]);
    c.restart(1);
    c.runUntil(addDuration(EPOCH, seconds(7)), watch);
    c.restart(2);
    c.runUntil(addDuration(EPOCH, seconds(30)), watch);
    expect(c.masters()).toEqual([0]);
    expect(c.nodes.map((n) => n.bidd?.state)).toEqual(['master', 'slave', 'slave']);
    expect(two).toBe(0);
  });
});
