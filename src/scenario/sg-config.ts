/**
 * An SG node's engine configuration from a scenario's cluster: the same function builds the node
 * the simulator runs and the one `sg daemon` runs on real interfaces, so both worlds run the
 * same configuration from the same file. The caller supplies what only it knows: the
 * interfaces' MAC addresses (and names) and the seed.
 */

import { assert } from '../assert.ts';
import type { GroupConfig } from '../balance/types.ts';
import { MODELS_BUILT } from '../rw/models.ts';
import { SG_DEFAULTS, type SgNodeConfig } from '../engine/config.ts';
import { ifaceName } from '../port.ts';
import type { Rng } from '../rng.ts';
import type { MacAddr } from '../wire/addr.ts';
import type { ClusterModel, SegmentModel } from './load.ts';

/** The engine's groups. A group's model is carried only when it is not read-any (the engine's default). */
export function groupConfigs(c: ClusterModel): GroupConfig[] {
  for (const g of c.groups) assert(MODELS_BUILT.includes(g.model.kind), `group ${g.name}: model ${g.model.kind} is not built in the engine (the loader refuses it)`);
  return c.groups.map((g) => ({
    name: g.name,
    vip: g.vip,
    port: g.port,
    policy: g.policy,
    weighted: g.weighted,
    keepSameServer: g.keepSameServer,
    loadWindow: g.loadWindow,
    loadFromTotals: g.loadFromTotals,
    servers: g.servers.map((s) => ({ name: s.host, addr: s.addr, weight: s.weight, ...(s.port !== undefined ? { port: s.port } : {}) })),
    ...(g.model.kind !== 'read-any' ? { model: g.model } : {}),
  }));
}

export interface SgConfigOptions {
  readonly pubMac: MacAddr;
  readonly privMac: MacAddr;
  readonly seed: number;
  /** Interface names (default eth0 and eth1, as the simulator and the lab name them). */
  readonly pubIface?: string;
  readonly privIface?: string;
}

/**
 * The engine seed of SG node `name` in a run whose root generator is `root` (the simulator's
 * world generator, `Rng.fromSeed` of the scenario's seed): the health monitor's
 * port-test schedule (first-test offsets and jitter) and the IGMP report delays come from it
 * (`src/engine/streams.ts`). The simulator and `sg daemon` both use it, so the lab probes each
 * server at the simulator's instants (a daemon drawing its own random seed probed at other phases
 * of the interval, and its Pending/Dead times differed from the simulator's by up to an interval).
 * Incarnations and, in the daemon, the link table's hash seed do not come from it: the daemon
 * draws both from crypto (a scenario's seed is no secret), the simulator incarnations per boot.
 */
export function sgNodeSeed(root: Rng, name: string): number {
  return root.split(`sg:${name}`).u32();
}

/** The configuration of the cluster's node number `index`. */
export function sgNodeConfig(c: ClusterModel, index: number, segments: readonly SegmentModel[], opts: SgConfigOptions): SgNodeConfig {
  const n = c.nodes[index]!;
  const fo = c.failover;
  const groups = groupConfigs(c);
  const segOf = new Map(segments.map((s) => [s.name, s]));
  const pubSeg = segOf.get(n.publicSegment)!;
  const privSeg = segOf.get(n.privateSegment)!;
  const { pubMac, privMac } = opts;
  return {
    name: n.name,
    public: { name: ifaceName(opts.pubIface ?? 'eth0'), mac: pubMac, addr: n.publicAddr, prefixLen: pubSeg.prefixLen },
    private: { name: ifaceName(opts.privIface ?? 'eth1'), mac: privMac, addr: n.privateAddr, prefixLen: privSeg.prefixLen },
    ...(n.gateway !== undefined ? { gateway: n.gateway } : {}),
    groups,
    linksMax: c.linksMax,
    idle: { tcp: c.idle.tcp, tcpClosing: c.idle.closing, unanswered: c.idle.unanswered, udp: c.idle.udp, icmp: c.idle.icmp },
    garpCount: SG_DEFAULTS.garpCount,
    garpInterval: SG_DEFAULTS.garpInterval,
    ...(c.keys.length > 0 ? { ctl: { port: c.controlPort, keys: c.keys.map((k) => k.key) } } : {}),
    ...(c.groups.some((g) => g.health !== undefined) ? { health: c.groups.map((g) => g.health) } : {}),
    seed: opts.seed,
    ...(c.multicast.length > 0 ? { multicast: c.multicast } : {}),
    ...(fo !== undefined
      ? {
          failover: {
            group: fo.group, port: fo.port, node: nodeId(fo.nodeId, index, privMac), price: n.price,
            heartbeatInterval: fo.heartbeat, masterTimeout: fo.masterTimeout, bidTimeout: fo.bidTimeout,
            holdDown: fo.holdDown, stallBound: fo.stallBound, key: { id: 1, secret: fo.secret },
            ...(fo.privateVip !== undefined ? { privateVip: fo.privateVip } : {}),
            ...(fo.sync !== undefined ? { sync: fo.sync } : {}),
            ...(fo.scripts !== undefined ? { scripts: fo.scripts } : {}),
            igmpRefresh: fo.igmpRefresh,
          },
        }
      : {}),
  };
}

/**
 * A node's bidd/sync id: its position under nodes: (from 1), or with `mac` the low 32 bits of its
 * private interface's MAC, so identical configurations still give distinct ids (slides 6-7);
 * 0 (a MAC ending in four zero bytes) becomes 1.
 */
export function nodeId(mode: 'index' | 'mac', index: number, privMac: MacAddr): number {
  if (mode === 'index') return index + 1;
  return privMac % 0x1_0000_0000 || 1;
}
