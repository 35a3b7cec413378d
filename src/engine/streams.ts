/**
 * The random streams of one SG node (STYLE.md 4): every one is a named split of the node's
 * generator, `Rng.fromSeed(cfg.seed)`, so a stream depends only on the seed and its name and a
 * draw in one part never moves another's. This is the one place that names them.
 *
 *   igmp          the delays of IGMP membership reports
 *   incarnation   the node's incarnations, when the caller gives no source of its own
 *   links         the link table's hash seed (one u32): a client that cannot know it cannot aim
 *                 its flows at one bucket
 *   health/NAME   the port-test schedule (first offsets, jitter) of group NAME's health monitor
 *
 * The balancer draws nothing: every policy is a function of the counts it keeps.
 */

import { Rng } from '../rng.ts';
import type { SgNodeConfig } from './config.ts';

/** The node seed when the configuration gives none. */
export const NODE_SEED_DEFAULT = 1;

export interface NodeStreams {
  readonly igmp: Rng;
  readonly incarnation: Rng;
  /** The link table's hash seed, a u32. */
  readonly hashSeed: number;
  /** Per group (indexed as `cfg.groups`): its health monitor's seed, a u32. */
  readonly health: readonly number[];
}

export function nodeStreams(cfg: Pick<SgNodeConfig, 'seed' | 'groups'>): NodeStreams {
  const rng = Rng.fromSeed(cfg.seed ?? NODE_SEED_DEFAULT);
  return {
    igmp: rng.split('igmp'),
    incarnation: rng.split('incarnation'),
    hashSeed: rng.split('links').u32(),
    // Scenario group names are unique (src/scenario/load.ts), so each monitor has its own stream.
    health: cfg.groups.map((g) => rng.split(`health/${g.name}`).u32()),
  };
}
