/**
 * The balancer's contract (slides 28-32, 35). A group is the VIP with one port or all ports and a
 * list of real servers; a policy picks the server for each new link among the candidates that
 * the servers' states allow (Alive, else Pending, else Dead).
 */

import type { Duration, Instant } from '../time.ts';
import type { Ipv4Addr } from '../wire/addr.ts';
import type { GroupModel } from '../rw/models.ts';

export const SERVER_STATES = ['alive', 'pending', 'dead'] as const;
export type ServerState = (typeof SERVER_STATES)[number];

export const POLICIES = ['round-robin', 'connections', 'packets', 'counter'] as const;
/**
 * round-robin: in turn; connections: fewest new links recently (see load); packets: least packet
 * traffic recently; counter: lowest external counter reported by the server. Each may be weighted.
 */
export type PolicyName = (typeof POLICIES)[number];

export type KeepSameServer =
  | { readonly mode: 'off' }
  /** Related links from the same client address go to the same server while one is in the table. */
  | { readonly mode: 'client'; readonly timeout: Duration; readonly scope?: string }
  /** The same, for every client in the same subnet (prefix length). */
  | { readonly mode: 'subnet'; readonly prefixLen: number; readonly timeout: Duration; readonly scope?: string };
/*
 * `scope`: groups naming the same scope share one keep-same-server table, so a client's link in
 * any of them counts (slide 31: "any link from same client ... in the SG internal link table"),
 * e.g. a port-mapper group (UDP 111) and an RPC group (2345) on one VIP. Without it a group
 * follows only its own links. Groups in one scope must agree on mode, prefix and timeout.
 */

export interface ServerConfig {
  readonly name: string;
  readonly addr: Ipv4Addr;
  /** Port on the server; undefined: the same port the client asked for (whole-server groups). */
  readonly port?: number;
  /** Relative weight (default 1); 0 takes the server out of new-link selection. */
  readonly weight: number;
}

export interface GroupConfig {
  readonly name: string;
  readonly vip: Ipv4Addr;
  /** The VIP port this group serves, or 'all' (whole server: every port). */
  readonly port: number | 'all';
  readonly policy: PolicyName;
  readonly weighted: boolean;
  readonly keepSameServer: KeepSameServer;
  /**
   * Load is measured over this window of recent history (slide 30): the change of a counter in
   * the window, not its total, so a server that joins a busy group is not bombed.
   */
  readonly loadWindow: Duration;
  /** Use totals instead of recent change (to show the bombing problem side by side). */
  readonly loadFromTotals: boolean;
  readonly servers: readonly ServerConfig[];
  /**
   * The read/write model (slide 13, `src/rw/models.ts`); absent: read-any. A write model makes
   * the group a UDP request/reply service on `port`, handled by request in src/engine/rw.ts.
   */
  readonly model?: GroupModel;
}

/**
 * What the balancer is told about each server as traffic flows (the engine calls these).
 *
 * `clientAddr` on `linkOpened` / `linkClosed` feeds keep-same-server (slide 31): pass the
 * link's client address whenever a link enters or leaves the link table (a remap is a close on
 * the old server and an open on the new one). Without it the link still counts as load but
 * creates no affinity; with keep-same-server 'off' it is ignored.
 */
export interface LoadEvents {
  linkOpened(server: number, now: Instant, clientAddr?: Ipv4Addr): void;
  linkClosed(server: number, now: Instant, clientAddr?: Ipv4Addr): void;
  packets(server: number, count: number, now: Instant): void;
  /** An external counter value reported by the server (feedback protocol, or an admin call). */
  counter(server: number, value: number, now: Instant): void;
}
