/**
 * The ARP cache of a simulated host (RFC 826, with Linux's neighbour-table habits).
 *
 * Per (interface, IPv4 address) an entry is one of
 *   incomplete  resolution running: requests sent `retryInterval` apart, at most
 *               `requestsMax` of them; packets wait in a bounded queue (`pendingPerHopMax`,
 *               Linux's unres_qlen of 3: a fourth packet pushes out the oldest). When the last
 *               request goes unanswered the queued packets are handed back through `env.failed`
 *               (the host then sends ICMP host unreachable or reports to the local sender).
 *   reachable   a MAC learned from an ARP packet; removed `entryTimeout` after the last update.
 *   static      configured; never times out.
 *
 * Updating follows RFC 826's merge rule: any ARP packet whose sender is already in the table
 * (incomplete entries included) updates the entry, so a gratuitous ARP moves an address to a new
 * MAC (slide 7, VIP takeover). New entries are created only by the host for requests and replies
 * that target one of its addresses (`learn`).
 *
 * The limits are the project's one ARP vocabulary (src/arp-limits.ts, HOST_ARP_LIMITS by default).
 * This module holds state and timers only; the host sends and receives the packets. Its timers go
 * through `env.timer`, i.e. the host's clock (rate and stall apply).
 */

import type { IfaceName } from '../../src/port.ts';
import { arpLimits, HOST_ARP_LIMITS, type ArpLimits } from '../../src/arp-limits.ts';
import type { Duration, Instant } from '../../src/time.ts';
import type { Ipv4Addr, MacAddr } from '../../src/wire/addr.ts';

export type ArpState = 'incomplete' | 'reachable' | 'static';

/** Why a packet never left: its queue overflowed, or the table had no room for its next hop. */
export type ArpDropReason = 'arp-queue-full' | 'arp-table-full';

/** What the cache needs from its host. `P` is whatever the host queues (a frame and its origin). */
export interface ArpEnv<P> {
  now(): Instant;
  timer(d: Duration, fn: () => void): () => void;
  sendRequest(iface: IfaceName, target: Ipv4Addr): void;
  /** Resolution finished: send the queued packet to `mac`. */
  transmit(iface: IfaceName, mac: MacAddr, pkt: P): void;
  /** Resolution failed after every request: these packets are undeliverable. */
  failed(iface: IfaceName, target: Ipv4Addr, pkts: readonly P[]): void;
  dropped(pkt: P, reason: ArpDropReason): void;
  /** An entry changed state or MAC (for the trace). `from`/`to` are states or 'none'. */
  changed(iface: IfaceName, ip: Ipv4Addr, from: ArpState | 'none', to: ArpState | 'none', reason: string): void;
}

/** A read-only view of one entry, for tests and inspection. */
export interface ArpEntryView {
  readonly iface: IfaceName;
  readonly ip: Ipv4Addr;
  readonly state: ArpState;
  readonly mac?: MacAddr;
  /** Local-clock instant a reachable entry expires. */
  readonly expiresAt?: Instant;
  /** Requests sent so far (incomplete entries). */
  readonly requests: number;
  /** Packets waiting (incomplete entries). */
  readonly queued: number;
}

interface Entry<P> {
  readonly iface: IfaceName;
  readonly ip: Ipv4Addr;
  state: ArpState;
  mac: MacAddr | undefined;
  expiresAt: Instant | undefined;
  requests: number;
  queue: P[];
  cancel: (() => void) | undefined;
}

export class ArpCache<P> {
  readonly config: ArpLimits;
  readonly #env: ArpEnv<P>;
  readonly #byIface = new Map<IfaceName, Map<Ipv4Addr, Entry<P>>>();
  #size = 0;

  constructor(env: ArpEnv<P>, limits: Partial<ArpLimits> = {}) {
    this.#env = env;
    this.config = arpLimits(HOST_ARP_LIMITS, limits);
  }

  get size(): number {
    return this.#size;
  }

  /** The MAC of a reachable or static entry (on `iface`, or on any interface when omitted). */
  get(ip: Ipv4Addr, iface?: IfaceName): MacAddr | undefined {
    const e = this.#find(ip, iface);
    return e !== undefined && e.state !== 'incomplete' ? e.mac : undefined;
  }

  /** The entry for `ip` (on `iface`, or the first interface holding one), in any state. */
  entry(ip: Ipv4Addr, iface?: IfaceName): ArpEntryView | undefined {
    const e = this.#find(ip, iface);
    return e === undefined ? undefined : view(e);
  }

  /** Every entry, interface by interface in the order they were first used, then by insertion. */
  entries(): ArpEntryView[] {
    const out: ArpEntryView[] = [];
    for (const m of this.#byIface.values()) for (const e of m.values()) out.push(view(e));
    return out;
  }

  /**
   * The MAC for next hop `ip` on `iface`, or undefined when `pkt` now waits for resolution (or
   * was dropped, reported through `env.dropped`).
   */
  resolve(iface: IfaceName, ip: Ipv4Addr, pkt: P): MacAddr | undefined {
    const e = this.#table(iface).get(ip);
    if (e !== undefined && e.state !== 'incomplete') return e.mac;
    if (e !== undefined) {
      e.queue.push(pkt);
      if (e.queue.length > this.config.pendingPerHopMax) this.#env.dropped(e.queue.shift() as P, 'arp-queue-full');
      return undefined;
    }
    if (this.#size >= this.config.entriesMax) {
      this.#env.dropped(pkt, 'arp-table-full');
      return undefined;
    }
    const fresh: Entry<P> = {
      iface,
      ip,
      state: 'incomplete',
      mac: undefined,
      expiresAt: undefined,
      requests: 0,
      queue: [pkt],
      cancel: undefined,
    };
    this.#table(iface).set(ip, fresh);
    this.#size++;
    this.#env.changed(iface, ip, 'none', 'incomplete', 'resolve');
    this.#solicit(fresh);
    return undefined;
  }

  /**
   * RFC 826 merge: when `ip` is in the table on `iface`, record `mac` for it (moving the entry if
   * the MAC changed, completing it if it was incomplete) and return true. Static entries stay.
   */
  update(iface: IfaceName, ip: Ipv4Addr, mac: MacAddr): boolean {
    const e = this.#table(iface).get(ip);
    if (e === undefined) return false;
    if (e.state === 'static') return true;
    this.#setReachable(e, mac);
    return true;
  }

  /** Create or update a reachable entry (a request or reply aimed at us). */
  learn(iface: IfaceName, ip: Ipv4Addr, mac: MacAddr): void {
    if (this.update(iface, ip, mac)) return;
    if (this.#size >= this.config.entriesMax) return;
    const e: Entry<P> = {
      iface,
      ip,
      state: 'incomplete',
      mac: undefined,
      expiresAt: undefined,
      requests: 0,
      queue: [],
      cancel: undefined,
    };
    this.#table(iface).set(ip, e);
    this.#size++;
    this.#setReachable(e, mac, 'none');
  }

  /** A permanent entry (like `arp -s`); replaces any learned one. */
  addStatic(iface: IfaceName, ip: Ipv4Addr, mac: MacAddr): void {
    const old = this.#table(iface).get(ip);
    if (old !== undefined) this.#remove(old, 'static', false);
    const e: Entry<P> = { iface, ip, state: 'static', mac, expiresAt: undefined, requests: 0, queue: [], cancel: undefined };
    this.#table(iface).set(ip, e);
    this.#size++;
    this.#env.changed(iface, ip, 'none', 'static', 'configured');
    if (old !== undefined) for (const p of old.queue) this.#env.transmit(iface, mac, p);
  }

  /** Remove the entry for `ip` on `iface`; queued packets are dropped silently. */
  delete(iface: IfaceName, ip: Ipv4Addr): boolean {
    const e = this.#table(iface).get(ip);
    if (e === undefined) return false;
    this.#remove(e, 'deleted', true);
    return true;
  }

  /** Forget everything without callbacks (host crash). Timers are cancelled. */
  clear(): void {
    for (const m of this.#byIface.values()) for (const e of m.values()) e.cancel?.();
    this.#byIface.clear();
    this.#size = 0;
  }

  #solicit(e: Entry<P>): void {
    e.requests++;
    this.#env.sendRequest(e.iface, e.ip);
    e.cancel = this.#env.timer(this.config.retryInterval, () => {
      e.cancel = undefined;
      if (e.requests < this.config.requestsMax) {
        this.#solicit(e);
        return;
      }
      const pkts = e.queue;
      e.queue = [];
      this.#remove(e, 'no reply', true);
      this.#env.failed(e.iface, e.ip, pkts);
    });
  }

  #setReachable(e: Entry<P>, mac: MacAddr, from: ArpState | 'none' = e.state): void {
    const moved = e.state === 'reachable' && e.mac !== mac;
    e.cancel?.();
    e.state = 'reachable';
    e.mac = mac;
    e.requests = 0;
    e.expiresAt = (this.#env.now() + this.config.entryTimeout) as Instant;
    e.cancel = this.#env.timer(this.config.entryTimeout, () => {
      e.cancel = undefined;
      this.#remove(e, 'timeout', true);
    });
    if (from !== 'reachable') this.#env.changed(e.iface, e.ip, from, 'reachable', 'learned');
    else if (moved) this.#env.changed(e.iface, e.ip, 'reachable', 'reachable', 'moved');
    const queue = e.queue;
    e.queue = [];
    for (const p of queue) this.#env.transmit(e.iface, mac, p);
  }

  #remove(e: Entry<P>, reason: string, notify: boolean): void {
    e.cancel?.();
    e.cancel = undefined;
    const t = this.#byIface.get(e.iface);
    if (t?.get(e.ip) === e) {
      t.delete(e.ip);
      this.#size--;
      if (notify) this.#env.changed(e.iface, e.ip, e.state, 'none', reason);
    }
  }

  #table(iface: IfaceName): Map<Ipv4Addr, Entry<P>> {
    let t = this.#byIface.get(iface);
    if (t === undefined) {
      t = new Map();
      this.#byIface.set(iface, t);
    }
    return t;
  }

  #find(ip: Ipv4Addr, iface: IfaceName | undefined): Entry<P> | undefined {
    if (iface !== undefined) return this.#byIface.get(iface)?.get(ip);
    for (const m of this.#byIface.values()) {
      const e = m.get(ip);
      if (e !== undefined) return e;
    }
    return undefined;
  }
}

function view<P>(e: Entry<P>): ArpEntryView {
  return {
    iface: e.iface,
    ip: e.ip,
    state: e.state,
    ...(e.mac !== undefined ? { mac: e.mac } : {}),
    ...(e.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}),
    requests: e.requests,
    queued: e.queue.length,
  };
}
