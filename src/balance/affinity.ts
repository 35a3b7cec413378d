/**
 * Keep-same-server (slides 31-32): related links from one client (an RPC client asking the port
 * mapper, then calling the RPC server; a squid's ICP query, then its HTTP get) must reach the
 * same real server.
 *
 * The rule, exactly:
 * - The key is the client address ('client' mode) or the client address masked to `prefixLen`
 *   bits ('subnet' mode).
 * - An entry records the server of the key's latest link and how many of the key's links are in
 *   the link table (`open`, over all servers). The engine reports links entering and leaving the
 *   table through `LoadEvents.linkOpened` / `linkClosed` with the client address.
 * - The entry holds while `open > 0` (slide 31: "if any link from same client is still available
 *   in the SG internal link table") and for `timeout` after the last of them left the table:
 *   it is valid at `now` iff `open > 0 || now - idleSince < timeout`. So with timeout 0 it is
 *   exactly the slide's rule; a positive timeout also covers a short gap between the two links
 *   (a port-mapper UDP link that expired before the RPC call).
 * - A new link from the key moves the entry to the new link's server (the latest choice wins).
 *
 * Groups naming the same scope (`keep.scope`) share one table (see affinityTables); the bound
 * on a table is at AffinityTable.
 */

import type { Duration, Instant } from '../time.ts';
import type { Ipv4Addr } from '../wire/addr.ts';
import { assert } from '../assert.ts';
import type { GroupConfig, KeepSameServer } from './types.ts';

/** Default bound on keep-same-server entries per table (one group, or one scope's groups). */
export const AFFINITY_ENTRIES_MAX = 65_536;
/** Expired idle entries removed per call (amortised sweeping; lookups also drop stale entries). */
export const AFFINITY_SWEEP_MAX = 64;

interface Entry {
  /** The server of the key's latest link, as the caller names it (the balancer: its address). */
  server: number;
  /** Links from this key in the link table. */
  open: number;
  /** When `open` last dropped to 0. */
  idleSince: Instant;
}

export interface AffinityStats {
  readonly entries: number;
  readonly evicted: number;
  readonly dropped: number;
}

/**
 * Bounded by `entriesMax`: idle entries expire in the order they became idle (a Map kept in that
 * order, swept a few per call), and when the table is full the oldest idle entry is evicted; if
 * every entry still has open links the new key is not recorded (counted in `dropped`). Keeping
 * `entriesMax` at least the link table's bound makes that impossible, since each open link
 * belongs to one key.
 */
export class AffinityTable {
  readonly keep: KeepSameServer;
  readonly entriesMax: number;
  readonly #mask: number;
  readonly #timeout: Duration;
  readonly #entries = new Map<number, Entry>();
  /** Entries with `open === 0`, in the order they became idle (which is also expiry order). */
  readonly #idle = new Map<number, Entry>();
  #evicted = 0;
  #dropped = 0;

  constructor(keep: KeepSameServer, entriesMax: number = AFFINITY_ENTRIES_MAX) {
    assert(Number.isSafeInteger(entriesMax) && entriesMax > 0, `affinityEntriesMax must be a positive integer, got ${entriesMax}`);
    this.keep = keep;
    this.entriesMax = entriesMax;
    switch (keep.mode) {
      case 'off':
        this.#mask = 0;
        this.#timeout = 0 as Duration;
        break;
      case 'client':
        this.#mask = 0xffffffff;
        this.#timeout = keep.timeout;
        break;
      case 'subnet': {
        const p = keep.prefixLen;
        assert(Number.isInteger(p) && p >= 0 && p <= 32, `keep-same-server prefix length must be 0..32, got ${p}`);
        this.#mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
        this.#timeout = keep.timeout;
        break;
      }
    }
    assert(Number.isSafeInteger(this.#timeout) && this.#timeout >= 0, `keep-same-server timeout must be >= 0 µs, got ${this.#timeout}`);
  }

  get enabled(): boolean {
    return this.keep.mode !== 'off';
  }

  /** The table key of a client address (the address itself, or its subnet). */
  keyOf(clientAddr: Ipv4Addr): number {
    return (clientAddr & this.#mask) >>> 0;
  }

  /** The server related links from `clientAddr` should go to, if an entry is valid at `now`. */
  lookup(clientAddr: Ipv4Addr, now: Instant): number | undefined {
    if (!this.enabled) return undefined;
    const key = this.keyOf(clientAddr);
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (this.#expired(e, now)) {
      this.#entries.delete(key);
      this.#idle.delete(key);
      return undefined;
    }
    return e.server;
  }

  /** A link from `clientAddr` to `server` entered the link table. */
  opened(clientAddr: Ipv4Addr, server: number, now: Instant): void {
    if (!this.enabled) return;
    this.sweep(now);
    const key = this.keyOf(clientAddr);
    const e = this.#entries.get(key);
    if (e !== undefined) {
      if (e.open === 0) this.#idle.delete(key);
      e.open++;
      e.server = server;
      return;
    }
    if (this.#entries.size >= this.entriesMax) {
      const oldest = this.#idle.keys().next();
      if (oldest.done === true) {
        this.#dropped++;
        return;
      }
      this.#idle.delete(oldest.value);
      this.#entries.delete(oldest.value);
      this.#evicted++;
    }
    this.#entries.set(key, { server, open: 1, idleSince: now });
  }

  /** A link from `clientAddr` left the link table. */
  closed(clientAddr: Ipv4Addr, now: Instant): void {
    if (!this.enabled) return;
    const key = this.keyOf(clientAddr);
    const e = this.#entries.get(key);
    // Not recorded (dropped when full) or more closes than recorded opens: best effort, ignore.
    if (e === undefined || e.open === 0) return;
    e.open--;
    if (e.open === 0) {
      e.idleSince = now;
      this.#idle.set(key, e);
    }
    this.sweep(now);
  }

  /** Remove up to AFFINITY_SWEEP_MAX expired entries, oldest idle first. */
  sweep(now: Instant): void {
    let n = 0;
    for (const [key, e] of this.#idle) {
      if (n >= AFFINITY_SWEEP_MAX || !this.#expired(e, now)) break;
      this.#idle.delete(key);
      this.#entries.delete(key);
      n++;
    }
  }

  stats(): AffinityStats {
    return { entries: this.#entries.size, evicted: this.#evicted, dropped: this.#dropped };
  }

  #expired(e: Entry, now: Instant): boolean {
    return e.open === 0 && now - e.idleSince >= this.#timeout;
  }
}

/**
 * One table per group: groups with the same `keepSameServer.scope` share one (they must agree on
 * mode, prefix and timeout), the others get their own.
 *
 * A shared entry is the client's latest link in any of the scope's groups, and `open` counts its
 * links in all of them. The balancer records servers by address (the groups' server indexes
 * differ) and follows an entry only to a server in its own pool that is a candidate now (alive,
 * weight > 0); otherwise the new link is balanced by the policy. Only the latest server is kept:
 * if it is not in the group's pool, an older link's server is not tried.
 */
export function affinityTables(groups: readonly GroupConfig[], entriesMax: number = AFFINITY_ENTRIES_MAX): AffinityTable[] {
  const byScope = new Map<string, { table: AffinityTable; group: string }>();
  return groups.map((g) => {
    const k = g.keepSameServer;
    if (k.mode === 'off' || k.scope === undefined) return new AffinityTable(k, entriesMax);
    const prev = byScope.get(k.scope);
    if (prev === undefined) {
      const table = new AffinityTable(k, entriesMax);
      byScope.set(k.scope, { table, group: g.name });
      return table;
    }
    assert(sameRule(prev.table.keep, k), `keep-same-server scope '${k.scope}': group ${g.name} must have the same mode, prefix and timeout as group ${prev.group}`);
    return prev.table;
  });
}

/** Whether two keep-same-server settings key and expire entries alike. */
export function sameRule(a: KeepSameServer, b: KeepSameServer): boolean {
  if (a.mode === 'off' || b.mode === 'off') return a.mode === b.mode;
  if (a.mode !== b.mode || a.timeout !== b.timeout) return false;
  return a.mode !== 'subnet' || b.mode !== 'subnet' || a.prefixLen === b.prefixLen;
}
