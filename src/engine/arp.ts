/**
 * The SG node's ARP table (RFC 826), sans-IO, kept per interface (an ARP heard on one side never
 * changes where traffic to the other side goes): the node asks for a next hop's MAC; when unknown,
 * the frame waits (bounded) while requests go out, and the table tells the node when to retry and
 * when to give up. Entries learnt from replies and from requests aimed at us; an existing entry is
 * updated by any ARP from its address (gratuitous ARP moves it).
 */

import { arpLimits, SG_ARP_LIMITS, type ArpLimits } from '../arp-limits.ts';
import { assert } from '../assert.ts';
import type { IfaceName } from '../port.ts';
import type { Instant } from '../time.ts';
import type { Ipv4Addr, MacAddr } from '../wire/addr.ts';

/** The node's limits (src/arp-limits.ts): a frame waits while up to 3 requests go out 1 s apart. */
export const ARP_DEFAULTS: ArpLimits = SG_ARP_LIMITS;

interface Entry {
  mac: MacAddr;
  expires: number;
}

/** Entries are keyed by interface slot and address: slot * 2^32 + ip. */
function key(slot: number, ip: number): number {
  return slot * 0x100000000 + ip;
}

interface Pending {
  readonly iface: IfaceName;
  readonly ip: Ipv4Addr;
  frames: Uint8Array[];
  tries: number;
  nextTry: number;
}

export class ArpTable {
  readonly #cfg: ArpLimits;
  readonly #entries = new Map<number, Entry>();
  readonly #pending = new Map<number, Pending>();
  /** Frames dropped because a next hop's queue was full or it never answered. */
  dropped = 0;

  constructor(limits: Partial<ArpLimits> = {}) {
    this.#cfg = arpLimits(ARP_DEFAULTS, limits);
  }

  /**
   * The last entry found, per interface slot: most forwarded frames go to the next hop the one
   * before went to (the gateway, one busy server), so a hit skips the map. Cleared on any removal.
   */
  readonly #lastIp = [-1, -1];
  readonly #lastEntry: (Entry | undefined)[] = [undefined, undefined];

  lookup(slot: number, ip: Ipv4Addr, now: Instant): MacAddr | undefined {
    let e = this.#lastIp[slot] === ip ? this.#lastEntry[slot] : undefined;
    if (e === undefined) {
      e = this.#entries.get(key(slot, ip));
      if (e === undefined) return undefined;
      this.#lastIp[slot] = ip;
      this.#lastEntry[slot] = e;
    }
    if (e.expires <= now) {
      this.#entries.delete(key(slot, ip));
      this.#forget();
      return undefined;
    }
    return e.mac;
  }

  #forget(): void {
    this.#lastIp[0] = this.#lastIp[1] = -1;
    this.#lastEntry[0] = this.#lastEntry[1] = undefined;
  }

  /**
   * Learn `ip` at `mac`. `create`: add a new entry (a reply, or a request aimed at us); otherwise
   * only update an existing one. Returns frames that were waiting for this address.
   */
  learn(slot: number, ip: Ipv4Addr, mac: MacAddr, now: Instant, create: boolean): Uint8Array[] {
    const k = key(slot, ip);
    const e = this.#entries.get(k);
    if (e !== undefined) {
      e.mac = mac;
      e.expires = now + this.#cfg.entryTimeout;
    } else if (create || this.#pending.has(k)) {
      if (this.#entries.size >= this.#cfg.entriesMax) this.#evictOne();
      this.#entries.set(k, { mac, expires: now + this.#cfg.entryTimeout });
    }
    const p = this.#pending.get(k);
    if (p === undefined) return [];
    this.#pending.delete(k);
    return p.frames;
  }

  /**
   * Queue a frame for an unresolved next hop: 'request' (first frame: send an ARP request now),
   * 'queued', or 'full' (the hop's queue is full: the frame is dropped; the caller counts it).
   */
  enqueue(slot: number, ip: Ipv4Addr, iface: IfaceName, frame: Uint8Array, now: Instant): 'request' | 'queued' | 'full' {
    const k = key(slot, ip);
    let p = this.#pending.get(k);
    if (p === undefined) {
      p = { iface, ip, frames: [], tries: 1, nextTry: now + this.#cfg.retryInterval };
      this.#pending.set(k, p);
      p.frames.push(frame);
      return 'request';
    }
    if (p.frames.length >= this.#cfg.pendingPerHopMax) {
      this.dropped++;
      return 'full';
    }
    p.frames.push(frame);
    return 'queued';
  }

  /** Next hops to ask again now, and ones given up on (their frames are dropped). */
  poll(now: Instant): { retry: { ip: Ipv4Addr; iface: IfaceName }[]; failed: { ip: Ipv4Addr; frames: number }[] } {
    const retry: { ip: Ipv4Addr; iface: IfaceName }[] = [];
    const failed: { ip: Ipv4Addr; frames: number }[] = [];
    for (const [k, p] of this.#pending) {
      if (p.nextTry > now) continue;
      if (p.tries >= this.#cfg.requestsMax) {
        this.dropped += p.frames.length;
        this.#pending.delete(k);
        failed.push({ ip: p.ip, frames: p.frames.length });
      } else {
        p.tries++;
        p.nextTry = now + this.#cfg.retryInterval;
        retry.push({ ip: p.ip, iface: p.iface });
      }
    }
    return { retry, failed };
  }

  /** Earliest retry deadline, if any resolution is pending. */
  nextDeadline(): number | undefined {
    let t: number | undefined;
    for (const p of this.#pending.values()) if (t === undefined || p.nextTry < t) t = p.nextTry;
    return t;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Asserts the table and every next hop's queue are within their limits. */
  checkBounds(): void {
    assert(this.#entries.size <= this.#cfg.entriesMax, `ARP table holds ${this.#entries.size} entries, limit ${this.#cfg.entriesMax}`);
    for (const p of this.#pending.values()) assert(p.frames.length <= this.#cfg.pendingPerHopMax, `ARP queue for ${p.ip} holds ${p.frames.length} frames, limit ${this.#cfg.pendingPerHopMax}`);
  }

  #evictOne(): void {
    const first = this.#entries.keys().next();
    if (!first.done) this.#entries.delete(first.value);
    this.#forget();
  }
}
