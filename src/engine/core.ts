/**
 * What every part of an SG node shares: the config, one `Group` record per group, the link
 * table, the timers, the transmit queue, the node's time and drop counting. The parts around it
 * (ingress, nat, egress, failover, multicast, health, local) each hold the core and nothing of
 * each other's state; `sg-node.ts` wires them.
 */

import { affinityTables } from '../balance/affinity.ts';
import { GroupBalancer } from '../balance/balancer.ts';
import type { Bidd } from '../failover/bidd.ts';
import type { GroupConfig } from '../balance/types.ts';
import { HealthMonitor } from '../health/monitor.ts';
import { LinkTable } from '../nat/linktable.ts';
import type { LinkId, LinkInfo } from '../nat/types.ts';
import type { IfaceName, TxFrame } from '../port.ts';
import type { Instant } from '../time.ts';
import { TimerTable } from '../timers.ts';
import type { DropLayer, DropReason, TraceEventInput, TraceSink } from '../trace.ts';
import { assert } from '../assert.ts';
import type { SgIfaceConfig, SgNodeConfig } from './config.ts';
import { DropSampler } from './drop-trace.ts';
import { DropCounter } from './drops.ts';
import type { NodeStreams } from './streams.ts';

export const ETH = 14;

export const TIMERS = ['garp', 'arp', 'sweep', 'health', 'bidd', 'sync', 'igmp', 'drops', 'rw'] as const;
export type TimerName = (typeof TIMERS)[number];

/** Frames queued for transmission at most (a burst beyond it is dropped and counted). */
export const TX_QUEUE_MAX = 65_536;

export interface SgCounters {
  framesIn: number;
  framesOut: number;
  /** Client -> server packets translated. */
  natIn: number;
  /** Server -> client packets translated. */
  natOut: number;
  linksCreated: number;
  linksRemapped: number;
  linksExpired: number;
  /** New links dropped because the table was full. */
  tableFull: number;
  /** Multicast write datagrams relayed to the private segment (slide 21). */
  mcastRelayed: number;
  /** Drops by 'layer/reason'. */
  readonly drops: ReadonlyMap<string, number>;
}

export interface Iface {
  readonly cfg: SgIfaceConfig;
  readonly mask: number;
  /** 0 public, 1 private: the ARP table's per-interface slot. */
  readonly slot: number;
}

/** One virtual server (slide 12): its config, balancer and health monitor, by index. */
export interface Group {
  readonly index: number;
  readonly cfg: GroupConfig;
  readonly balancer: GroupBalancer;
  /** Undefined: no health checks for this group. */
  readonly monitor: HealthMonitor | undefined;
  /** Whether its policy needs per-packet counts (only 'packets' does; others skip the cost). */
  readonly countPackets: boolean;
}

/** What is left of a link that ended (the table has let it go): what its `linkClosed` hooks read. */
export type LinkGone = Pick<LinkInfo, 'proto' | 'clientAddr' | 'clientPort' | 'vip' | 'vport' | 'group' | 'server'>;

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

export class NodeCore {
  readonly cfg: SgNodeConfig;
  readonly name: string;
  readonly trace: TraceSink | undefined;
  readonly pub: Iface;
  readonly priv: Iface;
  readonly groups: readonly Group[];
  readonly links: LinkTable;
  readonly timers = new TimerTable<TimerName>(TIMERS);
  readonly #drops = new DropCounter();
  readonly counters: SgCounters = {
    framesIn: 0, framesOut: 0, natIn: 0, natOut: 0, linksCreated: 0, linksRemapped: 0, linksExpired: 0, tableFull: 0, mcastRelayed: 0, drops: this.#drops.counts,
  };
  /** The node's time: the latest frame's, timeout's or admin call's. Never goes backwards. */
  now: Instant;
  /** The failover election, when there is one (failover.ts sets it). */
  bidd: Bidd | undefined = undefined;
  /** Set when a monitor was told something this frame (snoop, probe answer): changes to apply. */
  healthDirty = false;
  /** Run in order when a link's state changed (new or not): the stateful-failover stream attaches here. */
  readonly linkChanged: ((id: LinkId) => void)[] = [];
  /** Run in order when a link ends, after its balancer was told: sync's 'link-gone', and any part that must hear of it. */
  readonly linkClosed: ((gone: LinkGone) => void)[] = [];
  readonly #dropTrace = new DropSampler();
  /** The transmit queue: slots [head, tail) hold frames not yet polled. */
  readonly #tx: (TxFrame | undefined)[] = [];
  #txHead = 0;
  #txTail = 0;

  /** `streams`: the node's random streams (streams.ts); `hashSeed` overrides the link table's. */
  constructor(cfg: SgNodeConfig, trace: TraceSink | undefined, now: Instant, streams: NodeStreams, hashSeed?: number) {
    this.cfg = cfg;
    this.name = cfg.name;
    this.trace = trace;
    this.now = now;
    this.pub = { cfg: cfg.public, mask: maskOf(cfg.public.prefixLen), slot: 0 };
    this.priv = { cfg: cfg.private, mask: maskOf(cfg.private.prefixLen), slot: 1 };
    this.links = new LinkTable({ linksMax: cfg.linksMax, hashSeed: hashSeed ?? streams.hashSeed });
    const affinity = affinityTables(cfg.groups); // keep-same-server scopes share a table
    this.groups = cfg.groups.map((g, gi) => {
      const h = cfg.health?.[gi];
      return {
        index: gi,
        cfg: g,
        balancer: new GroupBalancer(g, { affinity: affinity[gi]! }),
        monitor: h === undefined ? undefined : new HealthMonitor(h, g.servers.length, { now, seed: streams.health[gi]! }),
        countPackets: g.policy === 'packets',
      };
    });
  }

  /** Whether this node serves the VIPs now: always without failover, else only while master. */
  get active(): boolean {
    const b = this.bidd;
    return b === undefined || b.state === 'master';
  }

  /** Move the node's time to `now` (a frame or a timeout): asserted never to go backwards. */
  advance(now: Instant): void {
    if (now < this.now) assert(false, `${this.name}: time went backwards, ${now} < ${this.now}`);
    this.now = now;
  }

  /** An admin call's time: the caller's when it is ahead of the node's (between frames), else the node's. */
  catchUp(now: Instant | undefined): Instant {
    if (now !== undefined && now > this.now) this.now = now;
    return this.now;
  }

  emit(ev: TraceEventInput): void {
    this.trace?.emit(ev);
  }

  // ---- links ----

  /** A link's state changed (created, answered, closing, remapped). */
  changed(id: LinkId): void {
    const hooks = this.linkChanged;
    for (let i = 0; i < hooks.length; i++) hooks[i]!(id);
  }

  /**
   * A link ended (slide 29's 'gone'), already removed from the table or about to be: its
   * balancer forgets it, then every hook runs.
   */
  closed(gone: LinkGone): void {
    this.groups[gone.group]?.balancer.linkClosed(gone.server, this.now, gone.clientAddr);
    const hooks = this.linkClosed;
    for (let i = 0; i < hooks.length; i++) hooks[i]!(gone);
  }

  /** The link's key and owner, read before the table lets it go. */
  gone(id: LinkId): LinkGone {
    const l = this.links;
    return { proto: l.proto(id), clientAddr: l.clientAddr(id), clientPort: l.clientPort(id), vip: l.vip(id), vport: l.vport(id), group: l.group(id), server: l.server(id) };
  }

  // ---- transmit queue ----

  push(iface: IfaceName, frame: Uint8Array): void {
    if (this.#txTail - this.#txHead >= TX_QUEUE_MAX) return this.drop('tx', 'queue-full');
    this.#tx[this.#txTail++] = { iface, frame };
    this.counters.framesOut++;
  }

  poll(): TxFrame | undefined {
    if (this.#txHead === this.#txTail) return undefined;
    const tx = this.#tx[this.#txHead]!;
    this.#tx[this.#txHead++] = undefined; // let the frame go
    // Drained: start again at slot 0. The array keeps its length, so no allocation or resize per frame.
    if (this.#txHead === this.#txTail) this.#txHead = this.#txTail = 0;
    return tx;
  }

  checkBounds(): void {
    assert(this.queued <= TX_QUEUE_MAX, `${this.name}: ${this.queued} frames queued, limit ${TX_QUEUE_MAX}`);
  }

  /** Frames queued and not yet polled. */
  get queued(): number {
    return this.#txTail - this.#txHead;
  }

  // ---- drops ----

  /** Count a dropped frame (no allocation: the keys are made once, drops.ts). */
  drop<L extends DropLayer>(layer: L, reason: DropReason<L>): void {
    this.#drops.count(layer, reason);
  }

  /** A counted drop that is also traced: one by one while few, else in a summary (drop-trace.ts). */
  emitDrop<L extends DropLayer>(layer: L, reason: DropReason<L>, detail: string): void {
    this.drop(layer, reason);
    if (this.sampleDrop(layer, reason)) this.trace?.emit({ kind: 'drop', t: this.now, node: this.name, layer, reason, detail } as TraceEventInput);
  }

  /** Whether to trace this drop one by one (false: a summary will count it). No trace, no work. */
  sampleDrop<L extends DropLayer>(layer: L, reason: DropReason<L>): boolean {
    if (this.trace === undefined) return false;
    const now = this.now;
    this.dropSummaries(now, false);
    if (this.#dropTrace.take(now, layer, reason)) return true;
    if (this.timers.get('drops') === undefined) this.timers.set('drops', this.#dropTrace.due! as Instant);
    return false;
  }

  /** Emit the summaries of an interval that has ended by `now` (all pending ones: `force`). */
  dropSummaries(now: Instant, force: boolean): void {
    const out = this.#dropTrace.close(now, force);
    for (const d of out) {
      this.trace?.emit({ kind: 'drop', t: now, node: this.name, layer: d.layer, reason: d.reason, detail: `${d.count} more since ${d.since} µs, not traced one by one`, count: d.count, since: d.since } as TraceEventInput);
    }
    if (this.#dropTrace.due === undefined) this.timers.clear('drops');
  }
}
