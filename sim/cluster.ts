/**
 * Building a scenario's cluster in the simulator: one EngineNode per SG node, running the engine
 * (src/engine/sg-node.ts) through the same Port that real mode uses, with its trace events stamped
 * with world time and causality; optionally checked after every frame and timeout it handles.
 */

import { SgNode } from '../src/engine/sg-node.ts';
import type { ClusterModel, SegmentModel } from '../src/scenario/load.ts';
import { sgNodeConfig, sgNodeSeed } from '../src/scenario/sg-config.ts';
import type { IfaceName } from '../src/port.ts';
import type { Analyzer } from '../src/rw/analyzer.ts';
import type { Instant } from '../src/time.ts';
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

/** An SG node that calls `check` after every frame and timeout it handles. */
class CheckedSgNode extends SgNode {
  readonly #check: (node: SgNode) => void;

  constructor(cfg: ConstructorParameters<typeof SgNode>[0], opts: ConstructorParameters<typeof SgNode>[1], check: (node: SgNode) => void) {
    super(cfg, opts);
    this.#check = check;
  }

  override handleFrame(now: Instant, iface: IfaceName, f: Uint8Array): void {
    super.handleFrame(now, iface, f);
    this.#check(this);
  }

  override handleTimeout(now: Instant): void {
    super.handleTimeout(now);
    this.#check(this);
  }
}

/** `check`: called after every frame and timeout each node handles (see RunOptions.checkEngine). */
export function buildCluster(
  net: Network,
  c: ClusterModel,
  segments: readonly SegmentModel[],
  switches: ReadonlyMap<string, Switch>,
  check?: (node: SgNode) => void,
  analyzers?: readonly ((() => Analyzer) | undefined)[],
): void {
  const segOf = new Map(segments.map((s) => [s.name, s]));
  for (const [index, n] of c.nodes.entries()) {
    const pubSeg = segOf.get(n.publicSegment)!;
    // Each boot draws a new incarnation on the group, as a real process does at start.
    let boots = 0;
    net.sgNode(n.name, switches.get(n.publicSegment)!, switches.get(n.privateSegment)!, ({ pubMac, privMac }, world, now) => {
      const cfg = sgNodeConfig(c, index, segments, { pubMac, privMac, seed: sgNodeSeed(world.rng, n.name) });
      const incarnations = world.rng.split(`sg:${n.name}:boot:${boots++}`);
      const opts = { trace: worldTrace(world), now, incarnation: () => incarnations.u32(), ...(analyzers !== undefined ? { analyzers: c.groups.map((_, gi) => analyzers[gi]?.()) } : {}) };
      const sg = check === undefined ? new SgNode(cfg, opts) : new CheckedSgNode(cfg, opts, check);
      c.groups.forEach((g, gi) => g.servers.forEach((s, si) => {
        if (s.state !== 'alive') sg.setServerState(gi, si, s.state);
      }));
      return sg;
    }, pubSeg.link);
  }
}
