/**
 * Building a scenario's cluster in the simulator: one EngineNode per SG node, running the engine
 * (src/engine/sg-node.ts) through the same Port that real mode uses, with its trace events stamped
 * with world time and causality.
 */

import { SgNode } from '../src/engine/sg-node.ts';
import type { ClusterModel, SegmentModel } from '../src/scenario/load.ts';
import { sgNodeConfig, sgNodeSeed } from '../src/scenario/sg-config.ts';
import type { TraceEventInput, TraceSink } from '../src/trace.ts';
import type { Network } from './network.ts';
import type { Switch } from './net/switch.ts';
import type { World } from './world.ts';

/** A trace sink for an engine in the simulator: world time, and the cause of the event being handled. */
export function worldTrace(world: World): TraceSink {
  return {
    emit: (ev: TraceEventInput) => world.emit({ ...ev, t: world.now, ...(world.cause !== undefined ? { cause: world.cause } : {}) } as TraceEventInput),
  };
}

export function buildCluster(net: Network, c: ClusterModel, segments: readonly SegmentModel[], switches: ReadonlyMap<string, Switch>): void {
  const segOf = new Map(segments.map((s) => [s.name, s]));
  for (const [index, n] of c.nodes.entries()) {
    const pubSeg = segOf.get(n.publicSegment)!;
    // Each boot draws a new incarnation on the group, as a real process does at start.
    let boots = 0;
    net.sgNode(n.name, switches.get(n.publicSegment)!, switches.get(n.privateSegment)!, ({ pubMac, privMac }, world, now) => {
      const cfg = sgNodeConfig(c, index, segments, { pubMac, privMac, seed: sgNodeSeed(world.rng, n.name) });
      const incarnations = world.rng.split(`sg:${n.name}:boot:${boots++}`);
      const sg = new SgNode(cfg, { trace: worldTrace(world), now, incarnation: () => incarnations.u32() });
      c.groups.forEach((g, gi) => g.servers.forEach((s, si) => {
        if (s.state !== 'alive') sg.setServerState(gi, si, s.state);
      }));
      return sg;
    }, pubSeg.link);
  }
}
