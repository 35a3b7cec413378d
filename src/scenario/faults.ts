/**
 * The fault vocabulary: every fault a scenario can inject, declared once. `FaultAction` is the
 * closed union (names refer to the scenario's hosts, links, services, groups and servers) and
 * `FAULTS` is, per kind, what is the same wherever the fault runs: the scenario key it is written
 * under and the `what`/`target` of the trace event that records it.
 *
 * Two executors run the union, each a table keyed by kind that must have an entry for every kind
 * (`satisfies { [K in FaultKind]: ... }`, so a new kind is a compile error until both handle it): the
 * simulator's `SIM_FAULTS` (sim/network.ts) and real mode's `REAL_FAULTS` (src/real/faults.ts),
 * where an entry may say explicitly that the lab cannot apply the fault and why.
 */

import type { ServerState } from '../balance/types.ts';
import type { Duration } from '../time.ts';

export type FaultAction =
  /** A host or SG node crashes (all its state lost) / restarts fresh. */
  | { readonly kind: 'crash'; readonly host: string }
  | { readonly kind: 'restart'; readonly host: string }
  /** SG nodes only: SIGHUP/SIGINT (graceful step-down), or the watched process dying / running again. */
  | { readonly kind: 'signal'; readonly host: string }
  | { readonly kind: 'watched-down'; readonly host: string }
  | { readonly kind: 'watched-up'; readonly host: string }
  /** A host's service process is killed, frozen, or started (again). */
  | { readonly kind: 'kill'; readonly host: string; readonly service: string }
  | { readonly kind: 'hang'; readonly host: string; readonly service: string }
  | { readonly kind: 'start'; readonly host: string; readonly service: string }
  /** A link's carrier goes down / comes back (a cable pulled and plugged). */
  | { readonly kind: 'link-down'; readonly link: string }
  | { readonly kind: 'link-up'; readonly link: string }
  /** The network splits into sides that cannot reach each other / is whole again. */
  | { readonly kind: 'partition'; readonly groups: readonly (readonly string[])[] }
  | { readonly kind: 'heal' }
  /** A burst of loss or extra delay on one link for `duration`. */
  | { readonly kind: 'loss'; readonly link: string; readonly p: number; readonly duration: Duration }
  | { readonly kind: 'delay'; readonly link: string; readonly extra: Duration; readonly duration: Duration }
  /** A host's clock runs at `rate`, or stops for `duration` (an SG node: its process pauses). */
  | { readonly kind: 'clock-rate'; readonly host: string; readonly rate: number }
  | { readonly kind: 'clock-stall'; readonly host: string; readonly duration: Duration }
  /** Set a server's state on every SG node that has the group (until health checks decide it). */
  | { readonly kind: 'server-state'; readonly group: string; readonly server: string; readonly state: ServerState }
  /** A server reports its external counter (the feedback protocol's counter property). */
  | { readonly kind: 'counter'; readonly group: string; readonly server: string; readonly value: number };

export type FaultKind = FaultAction['kind'];
export type FaultOf<K extends FaultKind> = Extract<FaultAction, { readonly kind: K }>;

/** What every place that runs or records a fault of kind K agrees on. */
export interface FaultMeta<K extends FaultKind> {
  /** The scenario file's key for it (`faults: - { at: 5s, KEY: ... }`). */
  readonly key: string;
  /** The trace event's `what` (real mode writes it for every fault; the simulator's devices for theirs). */
  readonly what: string;
  /** The trace event's `target`. */
  readonly target: (a: FaultOf<K>) => string;
}

const onHost = (a: { readonly host: string }): string => a.host;
const onService = (a: { readonly host: string; readonly service: string }): string => `${a.host}/${a.service}`;
const onLink = (a: { readonly link: string }): string => a.link;
const onServer = (a: { readonly group: string; readonly server: string }): string => `${a.group}/${a.server}`;

export const FAULTS = {
  crash: { key: 'crash', what: 'crash', target: onHost },
  restart: { key: 'restart', what: 'restart', target: onHost },
  signal: { key: 'signal', what: 'signal', target: onHost },
  'watched-down': { key: 'watched-down', what: 'watched-down', target: onHost },
  'watched-up': { key: 'watched-up', what: 'watched-up', target: onHost },
  kill: { key: 'kill', what: 'kill', target: onService },
  hang: { key: 'hang', what: 'hang', target: onService },
  start: { key: 'start', what: 'start', target: onService },
  'link-down': { key: 'link-down', what: 'link-down', target: onLink },
  'link-up': { key: 'link-up', what: 'link-up', target: onLink },
  partition: { key: 'partition', what: 'partition', target: (a) => a.groups.map((g) => g.join(',')).join(' | ') },
  heal: { key: 'heal', what: 'heal', target: () => 'network' },
  loss: { key: 'loss', what: 'loss', target: onLink },
  delay: { key: 'delay', what: 'delay', target: onLink },
  'clock-rate': { key: 'clock', what: 'clock', target: onHost },
  'clock-stall': { key: 'clock', what: 'stall', target: onHost },
  'server-state': { key: 'server-state', what: 'server-state', target: onServer },
  counter: { key: 'counter', what: 'counter', target: onServer },
} as const satisfies { readonly [K in FaultKind]: FaultMeta<K> };

/** Every fault kind, in declaration order. */
export const FAULT_KINDS = Object.keys(FAULTS) as readonly FaultKind[];

/**
 * The entry of a per-kind table for `kind`, as the type `T` of an entry for any kind. (TypeScript
 * cannot correlate `table[a.kind]` with `a` across the union; the table's own `satisfies` is what
 * guarantees that each entry takes its own kind's action.)
 */
export function faultEntry<T>(table: { readonly [K in FaultKind]: unknown }, kind: FaultKind): T {
  return table[kind] as T;
}

export function faultWhat(a: FaultAction): string {
  return FAULTS[a.kind].what;
}

export function faultTarget(a: FaultAction): string {
  return faultEntry<FaultMeta<FaultKind>>(FAULTS, a.kind).target(a);
}
