/**
 * Building a scenario's cluster in the simulator: one EngineNode per SG node, running the engine
 * (src/engine/sg-node.ts) through the same Port that real mode uses, with its trace events stamped
 * with world time and causality.
 */

import type { GroupConfig } from '../src/balance/types.ts';
import { SG_DEFAULTS, type SgNodeConfig } from '../src/engine/config.ts';
import { SgNode } from '../src/engine/sg-node.ts';
import { ifaceName } from '../src/port.ts';
import type { ClusterModel, SegmentModel } from '../src/scenario/load.ts';
import type { TraceEventInput, TraceSink } from '../src/trace.ts';
import type { Network } from './network.ts';
import type { Switch } from './net/switch.ts';
import type { World } from './world.ts';

export function groupConfigs(c: ClusterModel): GroupConfig[] {
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
  }));
}

/** A trace sink for an engine in the simulator: world time, and the cause of the event being handled. */
export function worldTrace(world: World): TraceSink {
  return {
    emit: (ev: TraceEventInput) => world.emit({ ...ev, t: world.now, ...(world.cause !== undefined ? { cause: world.cause } : {}) } as TraceEventInput),
  };
}

export function buildCluster(net: Network, c: ClusterModel, segments: readonly SegmentModel[], switches: ReadonlyMap<string, Switch>): void {
  const groups = groupConfigs(c);
  const segOf = new Map(segments.map((s) => [s.name, s]));
  for (const [index, n] of c.nodes.entries()) {
    const fo = c.failover;
    const pubSeg = segOf.get(n.publicSegment)!;
    const privSeg = segOf.get(n.privateSegment)!;
    net.sgNode(n.name, switches.get(n.publicSegment)!, switches.get(n.privateSegment)!, ({ pubMac, privMac }, world) => {
      const cfg: SgNodeConfig = {
        name: n.name,
        public: { name: ifaceName('eth0'), mac: pubMac, addr: n.publicAddr, prefixLen: pubSeg.prefixLen },
        private: { name: ifaceName('eth1'), mac: privMac, addr: n.privateAddr, prefixLen: privSeg.prefixLen },
        ...(n.gateway !== undefined ? { gateway: n.gateway } : {}),
        groups,
        linksMax: c.linksMax,
        idle: { tcp: c.idle.tcp, tcpClosing: c.idle.closing, unanswered: c.idle.unanswered, udp: c.idle.udp, icmp: c.idle.icmp },
        garpCount: SG_DEFAULTS.garpCount,
        garpInterval: SG_DEFAULTS.garpInterval,
        ...(c.keys.length > 0 ? { ctl: { port: c.controlPort, keys: c.keys.map((k) => k.key) } } : {}),
        ...(c.groups.some((g) => g.health !== undefined) ? { health: c.groups.map((g) => g.health) } : {}),
        seed: world.rng.split(`sg:${n.name}`).u32(),
        ...(c.multicast.length > 0 ? { multicast: c.multicast } : {}),
        ...(fo !== undefined
          ? {
              failover: {
                group: fo.group, port: fo.port, node: index + 1, price: n.price,
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
      const sg = new SgNode(cfg, { trace: worldTrace(world), now: world.now });
      c.groups.forEach((g, gi) => g.servers.forEach((s, si) => {
        if (s.state !== 'alive') sg.setServerState(gi, si, s.state);
      }));
      return sg;
    }, pubSeg.link);
  }
}
