/**
 * The SG node as SGctrld's target (slide 27): the engine's control adapter. SGctrld
 * (src/ctl/ctld.ts) reads and writes through the `CtlTarget` interface; this class implements it
 * over the node's `CtlNode` surface (which `SgNode` has), so neither the control part nor this
 * file imports the node.
 */

import type { PropRef, PropValue, PropWrite } from '../ctl/properties.ts';
import type { CtlTarget, WriteOrigin, WriteOutcome } from '../ctl/ctld.ts';
import type { Instant } from '../time.ts';
import { formatIpv4 } from '../wire/addr.ts';
import { assert, assertNever } from '../assert.ts';
import type { GroupBalancer } from '../balance/balancer.ts';
import type { ServerState } from '../balance/types.ts';
import type { SgNodeConfig } from './config.ts';

/** What the adapter reads and calls of the SG node (`SgNode` has all of it). */
export interface CtlNode {
  readonly cfg: SgNodeConfig;
  readonly links: { readonly size: number };
  readonly balancers: readonly GroupBalancer[];
  groupIndex(name: string): number;
  /** An admin's or a server's state write, through the node so its health monitor sees it. */
  setServerState(group: number, server: number, state: ServerState, now?: Instant): void;
  /** Send the server's state (and hold) to the slaves. */
  syncServer(group: number, server: number): void;
  heartbeat(group: number, server: number, now?: Instant): void;
}

/** The last heartbeat of a server (slide 41): its count and when it arrived (node clock, µs). */
export interface HeartbeatRecord {
  readonly count: number;
  readonly at: Instant;
}

/**
 * The SG node as a CtlTarget, plus the control-plane state the node does not hold yet: the
 * read-only flags (slide 45, for the rw models) and each server's last heartbeat (for the health
 * part). Until the node implements CtlTarget itself, this is the adapter.
 *
 * Writes go to the group's balancer at the `now` SGctrld is handed, so call SGctrld at the
 * node's current instant (the `now` of the handleFrame that carried the datagram): the balancer
 * refuses time going backwards. Changing a group's policy or weighting at run time needs
 * GroupBalancer support and is 'not-supported' here (setting the current value is accepted).
 */
export class SgNodeTarget implements CtlTarget {
  readonly node: CtlNode;
  #clusterReadOnly = false;
  readonly #groupReadOnly: boolean[];
  readonly #heartbeats: (HeartbeatRecord | undefined)[][];
  /** Per server: held by an admin (see Ctld's header, Admin hold). */
  readonly #held: boolean[][];

  constructor(node: CtlNode) {
    this.node = node;
    this.#groupReadOnly = node.cfg.groups.map(() => false);
    this.#heartbeats = node.cfg.groups.map((g) => g.servers.map(() => undefined));
    this.#held = node.cfg.groups.map((g) => g.servers.map(() => false));
  }

  /** Whether an admin holds server `server` of group `group`. */
  /** Hold or release a server (an admin's write, or the master's sync stream on a slave). */
  setHeld(group: number, server: number, held: boolean): void {
    const row = this.#held[group];
    assert(row !== undefined && server >= 0 && server < row.length, `no server ${group}/${server}`);
    row[server] = held;
  }

  held(group: number, server: number): boolean {
    return this.#held[group]?.[server] === true;
  }

  /** Whether group `g` is read-only now (its own flag or the cluster's). */
  readOnly(group: number): boolean {
    return this.#clusterReadOnly || this.#groupReadOnly[group] === true;
  }

  heartbeat(group: number, server: number): HeartbeatRecord | undefined {
    return this.#heartbeats[group]?.[server];
  }

  findGroup(name: string): number {
    return this.node.groupIndex(name);
  }

  findServer(group: number, name: string): number {
    return this.node.cfg.groups[group]?.servers.findIndex((s) => s.name === name) ?? -1;
  }

  read(ref: PropRef): PropValue {
    const node = this.node;
    switch (ref.cls) {
      case 'cluster':
        switch (ref.property) {
          case 'links':
            return node.links.size;
          case 'links-max':
            return node.cfg.linksMax;
          case 'read-only':
            return this.#clusterReadOnly;
          case 'groups':
            return node.cfg.groups.map((g) => g.name);
          default:
            return assertNever(ref, 'cluster property');
        }
      case 'group': {
        const g = node.cfg.groups[ref.group];
        assert(g !== undefined, `no group ${ref.group}`);
        switch (ref.property) {
          case 'policy':
            return g.policy;
          case 'weighted':
            return g.weighted;
          case 'read-only':
            return this.#groupReadOnly[ref.group] === true;
          case 'servers':
            return g.servers.map((s) => s.name);
          case 'members': {
            const b = node.balancers[ref.group]!;
            return g.servers.filter((_, si) => b.state(si) === 'alive').map((s) => s.name);
          }
          case 'vip':
            return formatIpv4(g.vip);
          case 'port':
            return String(g.port);
          default:
            return assertNever(ref, 'group property');
        }
      }
      case 'server': {
        const s = node.cfg.groups[ref.group]?.servers[ref.server];
        const b = node.balancers[ref.group];
        assert(s !== undefined && b !== undefined, `no server ${ref.group}/${ref.server}`);
        switch (ref.property) {
          case 'state':
            return b.state(ref.server);
          case 'held':
            return this.held(ref.group, ref.server);
          case 'weight':
            return b.weight(ref.server);
          case 'counter':
            return b.counterValue(ref.server) ?? null;
          case 'heartbeat':
            return this.heartbeat(ref.group, ref.server)?.count ?? null;
          case 'heartbeat-at':
            return this.heartbeat(ref.group, ref.server)?.at ?? null;
          case 'links':
            return b.openLinks(ref.server);
          case 'addr':
            return s.port === undefined ? formatIpv4(s.addr) : `${formatIpv4(s.addr)}:${s.port}`;
          default:
            return assertNever(ref, 'server property');
        }
      }
      default:
        return assertNever(ref, 'class');
    }
  }

  write(w: PropWrite, now: Instant, by: WriteOrigin): WriteOutcome {
    const node = this.node;
    switch (w.cls) {
      case 'cluster': {
        this.#clusterReadOnly = w.value;
        return { ok: true };
      }
      case 'group': {
        const g = node.cfg.groups[w.group];
        assert(g !== undefined, `no group ${w.group}`);
        switch (w.property) {
          case 'read-only': {
            this.#groupReadOnly[w.group] = w.value;
            return { ok: true };
          }
          case 'policy':
            if (w.value === g.policy) return { ok: true };
            return { ok: false, status: 'not-supported', message: 'changing the policy at run time is not supported yet' };
          case 'weighted':
            if (w.value === g.weighted) return { ok: true };
            return { ok: false, status: 'not-supported', message: 'changing weighting at run time is not supported yet' };
          default:
            return assertNever(w, 'group property');
        }
      }
      case 'server': {
        const b = node.balancers[w.group];
        assert(b !== undefined && w.server >= 0 && w.server < b.size, `no server ${w.group}/${w.server}`);
        switch (w.property) {
          case 'state':
            // Through the node, so its health monitor (if any) takes it as its latest event.
            this.node.setServerState(w.group, w.server, w.value, now);
            return { ok: true };
          case 'held':
            this.setHeld(w.group, w.server, w.value);
            this.node.syncServer(w.group, w.server); // the slaves hold it too
            return { ok: true };
          case 'weight':
            b.setWeight(w.server, w.value, now);
            return { ok: true };
          case 'counter':
            b.counter(w.server, w.value, now);
            return { ok: true };
          case 'heartbeat': {
            const row = this.#heartbeats[w.group];
            assert(row !== undefined, `no group ${w.group}`);
            row[w.server] = { count: w.value, at: now };
            // A held server's own heartbeats are recorded, but must not revive it through the
            // health monitor (an admin's dead wins until an admin lifts it).
            if (by === 'admin' || !this.held(w.group, w.server)) this.node.heartbeat(w.group, w.server, now);
            return { ok: true };
          }
          default:
            return assertNever(w, 'server property');
        }
      }
      default:
        return assertNever(w, 'class');
    }
  }
}
