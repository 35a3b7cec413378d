/**
 * The node's random streams (src/engine/streams.ts): each a named split of the node's seed, the
 * link table hashing under its own, and a client who aims its flows at one bucket of a known
 * seed (0, what every node hashed with before) finding them spread under the node's.
 */

import { describe, expect, it } from 'vitest';
import { HealthMonitor } from '../../src/health/monitor.ts';
import type { HealthConfig } from '../../src/health/types.ts';
import { nodeStreams, NODE_SEED_DEFAULT } from '../../src/engine/streams.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { clientKeyHash, LinkTable } from '../../src/nat/linktable.ts';
import { Rng } from '../../src/rng.ts';
import { millis, type Instant } from '../../src/time.ts';
import { CLIENT, CLIENT_MAC, config, DEFAULT_GROUPS, PUB, SERVERS, SG_PUB_MAC, udpFrame, VIP } from './rig.ts';

const UDP = 17;
const HEALTH: HealthConfig = { keyports: [80], porttest: { interval: millis(1_000), jitter: 0.1, timeout: millis(500), E: 1 }, rise: 1, slowStart: millis(0) };

/** `count` client ports whose flows to VIP:80 share one home bucket of a `buckets` index hashed with `seed`. */
function collidingPorts(seed: number, buckets: number, count: number): number[] {
  const home = (p: number) => clientKeyHash(seed, UDP, CLIENT, p, VIP, 80) & (buckets - 1);
  const target = home(1024);
  const ports: number[] = [];
  for (let p = 1024; p <= 0xffff && ports.length < count; p++) if (home(p) === target) ports.push(p);
  expect(ports, 'enough ports collide to make the point').toHaveLength(count);
  return ports;
}

/** The node after one datagram from each of `ports` to the web group (UDP 80): its link table. */
function flood(node: SgNode, ports: readonly number[]): LinkTable {
  for (const sport of ports) node.handleFrame(0 as Instant, PUB, udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport, dport: 80 }));
  expect(node.links.size).toBe(ports.length);
  node.links.checkInvariants();
  return node.links;
}

describe("the node's streams", () => {
  it('are a function of the seed: the same seed gives the same streams', () => {
    const a = nodeStreams({ seed: 42, groups: DEFAULT_GROUPS });
    const b = nodeStreams({ seed: 42, groups: DEFAULT_GROUPS });
    expect(b.hashSeed).toBe(a.hashSeed);
    expect(b.health).toEqual(a.health);
    expect(b.igmp.u32()).toBe(a.igmp.u32());
    expect(b.incarnation.u32()).toBe(a.incarnation.u32());
  });

  it('differ between seeds: 1000 node seeds give 1000 hash seeds', () => {
    const seeds = new Set<number>();
    for (let s = 0; s < 1000; s++) seeds.add(nodeStreams({ seed: s, groups: [] }).hashSeed);
    expect(seeds.size).toBe(1000);
  });

  it('are named splits of Rng.fromSeed(seed), each stream its own', () => {
    const s = nodeStreams({ seed: 7, groups: DEFAULT_GROUPS });
    const rng = Rng.fromSeed(7);
    expect(s.hashSeed).toBe(rng.split('links').u32());
    expect(s.health).toEqual(DEFAULT_GROUPS.map((g) => rng.split(`health/${g.name}`).u32()));
    expect(s.igmp.u32()).toBe(rng.split('igmp').u32());
    expect(s.incarnation.u32()).toBe(rng.split('incarnation').u32());
    expect(new Set([s.hashSeed, ...s.health]).size).toBe(1 + DEFAULT_GROUPS.length);
    // No seed in the configuration: the default one.
    expect(nodeStreams({ groups: [] }).hashSeed).toBe(nodeStreams({ seed: NODE_SEED_DEFAULT, groups: [] }).hashSeed);
  });

  it("seed the node's link table and health monitors; opts.hashSeed overrides the table's only", () => {
    const cfg = config({ seed: 3, health: [HEALTH, undefined, HEALTH] });
    const s = nodeStreams(cfg);
    const node = new SgNode(cfg, { now: 0 as Instant });
    expect(node.links.hashSeed).toBe(s.hashSeed);
    expect(new SgNode(config({ seed: 4 }), { now: 0 as Instant }).links.hashSeed).not.toBe(s.hashSeed);
    // Each monitor's first port tests fall where a monitor with its stream's seed puts them.
    for (const gi of [0, 2]) {
      const alone = new HealthMonitor(HEALTH, cfg.groups[gi]!.servers.length, { now: 0 as Instant, seed: s.health[gi]! });
      expect(node.monitors[gi]!.pollTimeout(), `group ${gi}`).toBe(alone.pollTimeout());
    }
    expect(node.monitors[0]!.pollTimeout()).not.toBe(node.monitors[2]!.pollTimeout());
    const pinned = new SgNode(cfg, { now: 0 as Instant, hashSeed: 12345 });
    expect(pinned.links.hashSeed).toBe(12345);
    expect(pinned.monitors[0]!.pollTimeout()).toBe(node.monitors[0]!.pollTimeout());
  });
});

describe('flows aimed at one bucket', () => {
  const FLOWS = 24;

  it('pile up in one cluster of a table hashed with the seed they were aimed at', () => {
    const t = new LinkTable({ linksMax: 1_000, hashSeed: 0 });
    const ports = collidingPorts(0, t.buckets, FLOWS);
    ports.forEach((p, i) => t.create(UDP, CLIENT, p, VIP, 80, SERVERS[i % 3]!, 80, 0, i % 3, 0 as Instant));
    expect(t.probeLengthMax()).toBeGreaterThanOrEqual(FLOWS);
  });

  it("spread out in the node's table, which hashes with its own seed", () => {
    const pinned = new SgNode(config(), { now: 0 as Instant, hashSeed: 0 });
    const ports = collidingPorts(0, pinned.links.buckets, FLOWS);
    // A node made to hash with the known seed: one cluster, each lookup of them a long walk.
    expect(flood(pinned, ports).probeLengthMax()).toBeGreaterThanOrEqual(FLOWS);
    // Nodes hashing with their own seeds (the default node seed, and two others): no long run.
    for (const seed of [undefined, 2, 3]) {
      const node = new SgNode(config(seed === undefined ? {} : { seed }), { now: 0 as Instant });
      expect(node.links.buckets).toBe(pinned.links.buckets);
      expect(flood(node, ports).probeLengthMax(), `node seed ${seed}`).toBeLessThan(6);
    }
  });
});
