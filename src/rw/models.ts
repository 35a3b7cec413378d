/**
 * A group's read/write model (slide 13), as the engine is told it: a closed union to switch on.
 *
 * - `read-any`: today's behaviour: each new link (TCP, UDP or ICMP) goes to one server by the
 *   group's policy (slides 28-32).
 * - `read-one-write-all` (slides 15-17): a UDP request/reply service; the analyzer classifies each
 *   request; a write goes to every member and the replies are voted on, a read to one server.
 * - `read-first-write-all` (slides 18-20): the same writes; a read goes to every member and the
 *   client gets the earliest reply.
 *
 * The engine runs the write models in src/engine/rw.ts. `MODELS_BUILT` lists the models the
 * engine runs; a loaded file naming another is refused rather than run as read-any.
 */

import type { Duration } from '../time.ts';
import type { Ipv4Addr } from '../wire/addr.ts';

export const GROUP_MODELS = ['read-any', 'read-one-write-all', 'read-first-write-all'] as const;
export type GroupModelKind = (typeof GROUP_MODELS)[number];

/** The models the engine runs. A loaded file naming another is a load error at its line. */
export const MODELS_BUILT: readonly GroupModelKind[] = ['read-any', 'read-one-write-all', 'read-first-write-all'];

/** Built-in packet analyzers (slide 25), by the name a scenario gives in `analyzer:`. */
export const RW_ANALYZER_NAMES = ['rpc', 'oncrpc', 'nfs3', 'dns'] as const;
export type RwAnalyzerName = (typeof RW_ANALYZER_NAMES)[number];

/** File name endings of a user analyzer module (`analyzer: ./my-analyzer.ts`). */
export const RW_ANALYZER_MODULE_EXTS = ['.ts', '.js', '.mjs'] as const;

export type AnalyzerRef =
  | { readonly kind: 'builtin'; readonly name: RwAnalyzerName }
  /** `path` as written; `resolved`: relative to the scenario file's directory (or absolute). */
  | { readonly kind: 'module'; readonly path: string; readonly resolved: string };

/** How a write reaches every member (slides 15, 21). */
export type WriteFanout =
  /** One datagram to the group's multicast address on the private segment; the servers join it. */
  | { readonly kind: 'multicast'; readonly group: Ipv4Addr }
  /** A unicast copy to each member (no multicast needed on the switch). */
  | { readonly kind: 'unicast' };

export interface WriteAllConfig {
  readonly analyzer: AnalyzerRef;
  readonly fanout: WriteFanout;
  /** Writes being collected at once; a new write beyond it is dropped and counted. */
  readonly writesPendingMax: number;
  /** A member that has not replied this long after a write was sent counts as a write mismatch. */
  readonly writeTimeout: Duration;
  /** Replies held for votes in progress, over all pending writes; one beyond it is dropped and counted. */
  readonly repliesHeldMax: number;
}

export type GroupModel =
  | { readonly kind: 'read-any' }
  | { readonly kind: 'read-one-write-all'; readonly writeAll: WriteAllConfig }
  | { readonly kind: 'read-first-write-all'; readonly writeAll: WriteAllConfig };

export const READ_ANY: GroupModel = { kind: 'read-any' };

export const WRITES_PENDING_DEFAULT = 4096;
export const WRITES_PENDING_MAX = 65_536;
export const REPLIES_HELD_DEFAULT = 8192;
export const REPLIES_HELD_MAX = 1 << 20;
export const WRITE_TIMEOUT_DEFAULT_US = 200_000;
export const WRITE_TIMEOUT_MIN_US = 1_000;
export const WRITE_TIMEOUT_MAX_US = 60_000_000;
