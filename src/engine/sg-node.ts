/**
 * An SG node: the virtual server's data plane (slides 4, 12, 14, 29) as a sans-IO `Endpoint`.
 *
 * The node owns its public address and the VIPs on its public interface, and its private address
 * (the real servers' default gateway) on its private interface. It answers ARP for them, replies
 * to pings to them, and NATs TCP, UDP and ICMP echo for each group, LVS-NAT style:
 *
 *   client -> VIP:vport      becomes  client -> server:port    (inbound, public -> private)
 *   server:port -> client    becomes  VIP:vport -> client      (outbound, private -> public)
 *
 * The client address is kept, so the servers must route replies through the node. ICMP errors
 * about a link are translated in both directions, quoted header included. Checksums are updated
 * incrementally (RFC 1624); L4 checksums are not verified on the way through (a corrupt segment
 * stays corrupt and the end host drops it, as with IPVS). Fragments are not handled (no
 * reassembly): they are dropped and counted.
 *
 * Links follow slide 29: created by the client's first packet (a SYN for TCP), chosen by the
 * group's balancer, active at the first reply (a RST is not a reply, slide 37), remapped while
 * still new if their server is Dead, never moved once active, closed after FIN/RST or idle
 * timeouts. The table is bounded; a full table drops the new link with a counter and a trace.
 */

import { affinityTables } from '../balance/affinity.ts';
import { GroupBalancer } from '../balance/balancer.ts';
import type { GroupConfig, ServerState } from '../balance/types.ts';
import { LinkTable } from '../nat/linktable.ts';
import type { LinkId, NatProto } from '../nat/types.ts';
import type { Endpoint, IfaceName, TxFrame } from '../port.ts';
import type { Duration, Instant } from '../time.ts';
import { TimerTable } from '../timers.ts';
import type { TraceSink } from '../trace.ts';
import { formatIpv4, MAC_BROADCAST, readIpv4, readMac, readU16, readU32, writeIpv4, writeMac, writeU16, type Ipv4Addr, type MacAddr } from '../wire/addr.ts';
import { ARP_LEN, ARP_OP, encodeArp, parseArp } from '../wire/arp.ts';
import { internetChecksum, updateChecksum16, updateChecksum32, updateUdpChecksum16, updateUdpChecksum32 } from '../wire/checksum.ts';
import { ETHERTYPE } from '../wire/ethernet.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import { assertNever, type Parsed } from '../wire/result.ts';
import { TCP_FLAG } from '../wire/tcp.ts';
import { ArpTable } from './arp.ts';
import { Ctld } from '../ctl/ctld.ts';
import { SgNodeTarget } from './ctl-target.ts';
import { HealthMonitor } from '../health/monitor.ts';
import { Bidd } from '../failover/bidd.ts';
import { encodeBidd, parseBidd, verifyBidd, type BiddMessage } from '../wire/bidd.ts';
import { FreshGate, FreshSender, NonceSource } from '../failover/fresh.ts';
import { encodeFresh, isFresh, parseFresh, verifyFresh, type FreshMessage, type FreshStream } from '../wire/fresh.ts';
import { StateSync, type SyncTarget } from '../failover/sync.ts';
import { encodeSync, parseSync, verifySync, type SyncMessage, type SyncRecord } from '../wire/sync.ts';
import { multicastMac } from '../wire/addr.ts';
import type { ProbeOutcome, ProbeRequest } from '../health/types.ts';
import { encodeFrame, ipv4Header } from '../wire/frame.ts';
import { IGMP_ALL_ROUTERS, IGMP_ALL_SYSTEMS, parseIgmp, type IgmpMessage } from '../wire/igmp.ts';
import { IgmpHost } from './igmp-host.ts';
import { Rng } from '../rng.ts';
import { nodeStreams } from './streams.ts';
import { DropSampler } from './drop-trace.ts';
import type { ScriptCall, SgIfaceConfig, SgNodeConfig } from './config.ts';

const ETH = 14;
const TIMERS = ['garp', 'arp', 'sweep', 'health', 'bidd', 'sync', 'igmp', 'drops'] as const;
type TimerName = (typeof TIMERS)[number];

/**
 * Snapshot datagrams sent every 10 ms: 1,600 datagrams/s, about 18 Mbit/s
 * and 77k links/s, so a full transfer of 1M links takes ~13 s without crowding out heartbeats.
 */
export const SYNC_SNAPSHOT_BURST = 16;

/** How often the link table's idle sweep runs, and how many entries it visits per run. */
export const SWEEP_INTERVAL_US = 100_000;
export const SWEEP_BUDGET = 20_000;
/** Local ports the node's port-test probes come from, and probes tracked at once. */
const PROBE_PORT_BASE = 61000;
const PROBE_PORTS = 4000;
export const PROBES_PENDING_MAX = 16_384;
const PROBE_PAYLOAD = new TextEncoder().encode('sg-probe');
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
  readonly drops: Map<string, number>;
}

interface Iface {
  readonly cfg: SgIfaceConfig;
  readonly mask: number;
  /** 0 public, 1 private: the ARP table's per-interface slot. */
  readonly slot: number;
}

export class SgNode implements Endpoint {
  readonly cfg: SgNodeConfig;
  readonly links: LinkTable;
  readonly balancers: readonly GroupBalancer[];
  readonly counters: SgCounters = {
    framesIn: 0, framesOut: 0, natIn: 0, natOut: 0, linksCreated: 0, linksRemapped: 0, linksExpired: 0, tableFull: 0, mcastRelayed: 0, drops: new Map(),
  };
  readonly #trace: TraceSink | undefined;
  /**
   * Wall-clock µs for the feedback protocol's timestamps (real mode: the driver's clock, since
   * `sg cmd` stamps with wall time); undefined: the node's own time (the simulator).
   */
  readonly #wallClockUs: (() => number) | undefined;
  /** Where failover scripts go (real mode runs them; undefined: only traced). */
  readonly #onScript: ((call: ScriptCall) => void) | undefined;
  /** SGctrld, when the config has a control port; `ctlTarget` also holds read-only flags and heartbeats. */
  readonly ctld: Ctld | undefined;
  /** The failover election (undefined: the node always serves). */
  readonly bidd: Bidd | undefined;
  /** Stateful failover (undefined: off, or no failover). */
  readonly sync: StateSync | undefined;
  /** Our incarnation and sequences on the group, and our answers to challenges (`src/failover/fresh.ts`). */
  readonly #freshOut: FreshSender;
  /** Per stream, what we believe of each peer's incarnation and sequence. */
  readonly #biddGate: FreshGate<BiddMessage>;
  readonly #syncGate: FreshGate<SyncMessage>;
  /** Multicast MACs accepted on the public interface: all-systems, the failover group (slide 8) and the joined write groups. */
  readonly #pubMacs = new Set<number>();
  /** IGMPv2 membership on the public interface: the failover group always, the write groups while serving. */
  readonly igmp: IgmpHost;
  readonly #igmpTimers: { at: number; fn: () => void; live: boolean }[] = [];
  /** The multicast write addresses (slide 21). */
  readonly #mcast: ReadonlySet<number>;
  #mcastJoined = false;
  /** Health monitor per group (undefined: no health checks for that group). */
  readonly monitors: readonly (HealthMonitor | undefined)[];
  /** Port tests in flight: key `${proto}/${server addr}/${server port}/${local port}` -> [group, probe id]. */
  readonly #probes = new Map<string, [number, number]>();
  #probePort = 0;
  readonly ctlTarget: SgNodeTarget | undefined;
  readonly #pub: Iface;
  readonly #priv: Iface;
  readonly #arp = new ArpTable();
  /** Which drops are traced one by one and which only in summaries (src/engine/drop-trace.ts). */
  readonly #dropTrace = new DropSampler();
  readonly #timers = new TimerTable<TimerName>(TIMERS);
  #tx: TxFrame[] = [];
  #txHead = 0;
  #now = 0;
  #garpLeft: number;
  /** vip -> port -> group index ('all' groups under key -1). */
  readonly #groupsByVip = new Map<number, Map<number, number>>();
  readonly #vips: Set<number>;
  /** Per group: does its policy need per-packet counts (only 'packets' does; others skip the cost). */
  readonly #countPackets: readonly boolean[];
  /** Server address -> list of [group, server] (a server may serve several groups). */
  readonly #serverIndex = new Map<number, [number, number][]>();

  /**
   * `incarnation` draws this process's incarnation on the group (a non-zero random u32; real mode
   * passes a cryptographic source, the simulator a generator split per boot); by default it comes
   * from the config's seed. `hashSeed` overrides the link table's hash seed (real mode passes a
   * random one); every other random stream is a named split of the config's seed (`streams.ts`).
   */
  constructor(cfg: SgNodeConfig, opts: { trace?: TraceSink; now?: Instant; onScript?: (call: ScriptCall) => void; wallClockUs?: () => number; incarnation?: () => number; hashSeed?: number } = {}) {
    const streams = nodeStreams(cfg);
    this.cfg = cfg;
    this.#trace = opts.trace;
    this.#wallClockUs = opts.wallClockUs;
    this.#onScript = opts.onScript;
    this.#now = opts.now ?? 0;
    const mask = (len: number) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
    this.#pub = { cfg: cfg.public, mask: mask(cfg.public.prefixLen), slot: 0 };
    this.#priv = { cfg: cfg.private, mask: mask(cfg.private.prefixLen), slot: 1 };
    this.links = new LinkTable({ linksMax: cfg.linksMax, hashSeed: opts.hashSeed ?? streams.hashSeed });
    const affinity = affinityTables(cfg.groups); // keep-same-server scopes share a table
    this.balancers = cfg.groups.map((g, gi) => new GroupBalancer(g, { affinity: affinity[gi]! }));
    this.#countPackets = cfg.groups.map((g) => g.policy === 'packets');
    cfg.groups.forEach((g, gi) => {
      let ports = this.#groupsByVip.get(g.vip);
      if (ports === undefined) this.#groupsByVip.set(g.vip, (ports = new Map()));
      ports.set(g.port === 'all' ? -1 : g.port, gi);
      g.servers.forEach((s, si) => {
        const l = this.#serverIndex.get(s.addr) ?? [];
        l.push([gi, si]);
        this.#serverIndex.set(s.addr, l);
      });
    });
    this.#vips = new Set(cfg.groups.map((g) => g.vip));
    if (cfg.ctl !== undefined) {
      this.ctlTarget = new SgNodeTarget(this);
      this.ctld = new Ctld({ keys: cfg.ctl.keys, target: this.ctlTarget });
    } else {
      this.ctlTarget = undefined;
      this.ctld = undefined;
    }
    this.monitors = cfg.groups.map((g, gi) => {
      const h = cfg.health?.[gi];
      return h === undefined ? undefined : new HealthMonitor(h, g.servers.length, { now: this.#now as Instant, seed: streams.health[gi]! });
    });
    this.#garpLeft = cfg.garpCount;
    const fo = cfg.failover;
    this.#mcast = new Set(cfg.multicast ?? []);
    this.igmp = this.#makeIgmp(streams.igmp);
    this.#freshOut = new FreshSender(opts.incarnation ?? (() => streams.incarnation.u32()));
    const nonces = new NonceSource(() => this.#freshOut.incarnation);
    this.#biddGate = new FreshGate('bidd', nonces);
    this.#syncGate = new FreshGate('sync', nonces);
    this.#pubMacs.add(multicastMac(IGMP_ALL_SYSTEMS));
    if (fo !== undefined) {
      // Join the failover group so that IGMP-snooping switches deliver it to every node.
      this.#pubMacs.add(multicastMac(fo.group));
      this.igmp.join(this.#pub.cfg.name, fo.group);
    }
    this.sync =
      fo?.sync !== undefined
        ? new StateSync(
            { node: fo.node, flushDelay: fo.sync.flushDelay, retransmit: fo.sync.retransmit, peerTimeout: fo.masterTimeout, logMax: fo.sync.logMax, snapshotBurst: SYNC_SNAPSHOT_BURST, snapshotInterval: 10_000 as Duration, announce: fo.heartbeatInterval },
            this.#syncTarget(),
          )
        : undefined;
    if (fo !== undefined) {
      this.bidd = new Bidd({ node: fo.node, price: fo.price, group: fo.group, heartbeatInterval: fo.heartbeatInterval, masterTimeout: fo.masterTimeout, bidTimeout: fo.bidTimeout, holdDown: fo.holdDown, stallBound: fo.stallBound }, this.#now as Instant);
      this.#garpLeft = 0; // the addresses are announced on taking over
      this.#biddRun(this.#now as Instant);
    } else this.bidd = undefined;
    if (this.active) this.#mcastJoin(true);
    if (this.#garpLeft > 0) this.#timers.set('garp', this.#now as Instant);
    this.#timers.set('sweep', (this.#now + SWEEP_INTERVAL_US) as Instant);
  }

  // ---- Endpoint ----

  handleFrame(now: Instant, iface: IfaceName, f: Uint8Array): void {
    const b = this.bidd;
    if (b !== undefined) {
      // Frozen past the stall bound (the bidd timer long overdue)? Demote before handling anything.
      const due = this.#timers.get('bidd');
      if (due !== undefined && now - due > b.cfg.stallBound && b.checkStall(now)) {
        this.#now = now;
        this.#biddRun(now);
      }
    }
    this.#frame(now, iface, f);
    if (this.#healthDirty) this.#healthRun(now);
  }

  /** Set when a monitor was told something this frame (snoop, probe answer): changes to apply. */
  #healthDirty = false;

  #frame(now: Instant, iface: IfaceName, f: Uint8Array): void {
    this.#now = now;
    this.counters.framesIn++;
    const ifc = iface === this.#pub.cfg.name ? this.#pub : iface === this.#priv.cfg.name ? this.#priv : undefined;
    if (ifc === undefined) return this.#drop('ethernet', 'unknown-iface');
    if (f.length < ETH) return this.#drop('ethernet', 'truncated');
    const dst = readMac(f, 0);
    if (dst !== ifc.cfg.mac && dst !== MAC_BROADCAST && !(ifc === this.#pub && this.#pubMacs.has(dst))) return; // not for us: filtered, as a NIC does
    const et = readU16(f, 12);
    if (et === ETHERTYPE.ipv4) return this.#ipv4(ifc, f);
    if (et === ETHERTYPE.arp) return this.#arpIn(ifc, f);
    this.#drop('ethernet', 'unsupported');
  }

  handleTimeout(now: Instant): void {
    this.#now = now;
    for (const t of this.#timers.expired(now)) {
      switch (t) {
        case 'garp':
          this.#sendGarps();
          if (--this.#garpLeft > 0) this.#timers.set('garp', (now + this.cfg.garpInterval) as Instant);
          break;
        case 'arp': {
          const { retry, failed } = this.#arp.poll(now);
          for (const r of retry) this.#arpRequest(r.iface === this.#pub.cfg.name ? this.#pub : this.#priv, r.ip);
          for (const f of failed) {
            for (let i = 1; i < f.frames; i++) this.#drop('arp', 'unresolved');
            this.#emitDrop('arp', 'unresolved', formatIpv4(f.ip));
          }
          break;
        }
        case 'sweep':
          this.#sweep(now);
          this.#timers.set('sweep', (now + SWEEP_INTERVAL_US) as Instant);
          break;
        case 'health':
          for (const m of this.monitors) m?.handleTimeout(now);
          break;
        case 'bidd':
          this.bidd?.handleTimeout(now);
          this.#biddRun(now);
          break;
        case 'sync':
          this.sync?.handleTimeout(now);
          this.#syncRun(now);
          break;
        case 'igmp':
          this.#igmpRun(now);
          break;
        case 'drops':
          this.#dropSummaries(now, false);
          break;
      }
    }
    this.#healthRun(now);
    this.#armArp();
  }

  pollTransmit(): TxFrame | undefined {
    const tx = this.#tx[this.#txHead];
    if (tx === undefined) return undefined;
    this.#tx[this.#txHead++] = undefined as unknown as TxFrame; // let the frame go
    if (this.#txHead === this.#tx.length) {
      this.#tx.length = 0; // reuse the array: no allocation per frame on the fast path
      this.#txHead = 0;
    }
    return tx;
  }

  pollTimeout(): Instant | undefined {
    return this.#timers.next()?.at;
  }

  // ---- admin calls (the control plane and scenarios use these) ----

  /** `now`: the caller's time when it is ahead of the last frame's (an admin call between frames). */
  setServerState(group: number, server: number, state: ServerState, now?: Instant): void {
    if (now !== undefined && now > this.#now) this.#now = now;
    const b = this.balancers[group];
    if (b === undefined || server < 0 || server >= this.cfg.groups[group]!.servers.length) return;
    const from = b.state(server);
    if (from === state) return;
    const mon = this.monitors[group];
    if (mon !== undefined) {
      // The monitor decides states from now on: an admin call is its latest event.
      mon.admin(server, state, this.#now as Instant);
      this.#healthRun(this.#now as Instant);
      return;
    }
    b.setState(server, state, this.#now as Instant);
    this.syncServer(group, server);
    const g = this.cfg.groups[group]!;
    this.#trace?.emit({ kind: 'state', t: this.#now as Instant, node: this.cfg.name, entity: `${g.name}/${g.servers[server]!.name}`, machine: 'server', from, to: state, reason: 'admin' });
  }

  /**
   * Master: stream server `server` of `group` as it is now (state, and whether an admin holds
   * it) to the slaves. Called on every state change and by SGctrld when a hold changes.
   */
  syncServer(group: number, server: number): void {
    const b = this.balancers[group];
    if (this.sync?.isMaster !== true || b === undefined) return;
    this.sync.record(this.#now as Instant, { op: 'server', group, server, state: b.state(server), held: this.ctlTarget?.held(group, server) ?? false });
    this.#syncArm();
  }

  /** A heartbeat from a server (feedback protocol, slide 41). */
  heartbeat(group: number, server: number, now?: Instant): void {
    if (now !== undefined && now > this.#now) this.#now = now;
    const mon = this.monitors[group];
    if (mon === undefined) return;
    mon.heartbeat(server, this.#now as Instant);
    this.#healthRun(this.#now as Instant);
  }

  reportCounter(group: number, server: number, value: number): void {
    this.balancers[group]?.counter(server, value, this.#now as Instant);
  }

  // ---- IPv4 ----

  #ipv4(ifc: Iface, f: Uint8Array): void {
    if (f.length < ETH + 20) return this.#drop('ipv4', 'truncated');
    const vihl = f[ETH]!;
    if (vihl >>> 4 !== 4) return this.#drop('ipv4', 'bad-version');
    const ihl = (vihl & 15) * 4;
    const total = readU16(f, ETH + 2);
    if (ihl < 20 || total < ihl) return this.#drop('ipv4', 'bad-header-length');
    if (f.length < ETH + total) return this.#drop('ipv4', 'truncated');
    if (internetChecksum(f, ETH, ihl) !== 0) return this.#drop('ipv4', 'bad-checksum');
    const src = readIpv4(f, ETH + 12) as Ipv4Addr;
    const dst = readIpv4(f, ETH + 16) as Ipv4Addr;
    const proto = f[ETH + 9]!;
    const fragmented = (readU16(f, ETH + 6) & 0x3fff) !== 0;
    const end = ETH + total;
    const fo = this.cfg.failover;
    if (fo !== undefined && ifc === this.#pub && dst === fo.group && proto === IP_PROTO.udp && !fragmented && end - (ETH + ihl) >= 8 && readU16(f, ETH + ihl + 2) === fo.port) {
      return this.#biddIn(f, ihl, end);
    }
    if (ifc === this.#pub && proto === IP_PROTO.igmp && !fragmented && (dst >>> 28) === 0xe) return this.#igmpIn(f, ihl, end);
    if (ifc === this.#pub && this.#mcast.has(dst)) return this.#mcastRelay(f, end, proto);
    if (this.sync !== undefined && ifc === this.#pub && dst === fo!.group && proto === IP_PROTO.udp && !fragmented && end - (ETH + ihl) >= 8 && readU16(f, ETH + ihl + 2) === fo!.port + 1) {
      return this.#syncIn(f, ihl, end);
    }
    if (!this.active && (this.#vips.has(dst) || (ifc === this.#priv && this.#serverIndex.has(src) && dst !== this.#priv.cfg.addr))) {
      return this.#drop('nat', 'standby'); // only the master serves the VIPs
    }
    if (ifc === this.#pub && this.#vips.has(dst)) {
      if (fragmented) return this.#drop('nat', 'fragment');
      if (this.#inbound(f, ihl, end, proto, src, dst)) return;
    } else if (ifc === this.#priv && this.#serverIndex.has(src) && dst !== this.#priv.cfg.addr) {
      if (fragmented) return this.#drop('nat', 'fragment');
      if (this.#outbound(f, ihl, end, proto, src, dst)) return;
      return this.#drop('nat', 'no-link');
    }
    if (ifc === this.#priv && dst === this.#priv.cfg.addr && this.#probes.size > 0 && !fragmented && this.#probeReply(f, ihl, end, proto, src)) return;
    if (dst === ifc.cfg.addr && proto === IP_PROTO.udp && this.ctld !== undefined && !fragmented && end - (ETH + ihl) >= 8 && readU16(f, ETH + ihl + 2) === this.cfg.ctl!.port) {
      return this.#control(ifc, f, ihl, end, src, dst);
    }
    if (dst === ifc.cfg.addr || (ifc === this.#pub && this.#vips.has(dst))) return this.#local(ifc, f, ihl, end, proto, src, dst);
    this.#drop('ipv4', 'not-for-us');
  }

  /** Ports of a TCP/UDP segment or the id of an ICMP echo, at l4; -1 when absent. */
  #ports(f: Uint8Array, l4: number, end: number, proto: number): { sport: number; dport: number } | undefined {
    if (proto === IP_PROTO.tcp) {
      if (end - l4 < 20) return undefined;
      return { sport: readU16(f, l4), dport: readU16(f, l4 + 2) };
    }
    if (proto === IP_PROTO.udp) {
      if (end - l4 < 8) return undefined;
      return { sport: readU16(f, l4), dport: readU16(f, l4 + 2) };
    }
    return undefined;
  }

  #groupFor(vip: number, vport: number): number {
    const ports = this.#groupsByVip.get(vip);
    if (ports === undefined) return -1;
    return ports.get(vport) ?? ports.get(-1) ?? -1;
  }

  /** Client -> VIP. Returns false when the packet is not NAT traffic (e.g. a ping to the VIP with no group for it). */
  #inbound(f: Uint8Array, ihl: number, end: number, proto: number, client: Ipv4Addr, vip: Ipv4Addr): boolean {
    const l4 = ETH + ihl;
    let sport: number;
    let vport: number;
    if (proto === IP_PROTO.icmp) {
      if (end - l4 < 8) return this.#drop('icmp', 'truncated'), true;
      const type = f[l4]!;
      if (type === 3 || type === 11) return this.#icmpErrorFromClient(f, l4, end, client, vip);
      if (type !== 8) return false;
      sport = readU16(f, l4 + 4);
      vport = sport;
      if (this.#groupFor(vip, 0) < 0) return false; // no ICMP group: the node answers itself
    } else {
      const p = this.#ports(f, l4, end, proto);
      if (p === undefined) return proto === IP_PROTO.tcp || proto === IP_PROTO.udp ? (this.#drop('nat', 'truncated'), true) : false;
      sport = p.sport;
      vport = p.dport;
    }
    const gi = proto === IP_PROTO.icmp ? this.#groupFor(vip, 0) : this.#groupFor(vip, vport);
    if (gi < 0) return this.#drop('nat', 'no-group'), true;
    const group = this.cfg.groups[gi]!;
    const bal = this.balancers[gi]!;
    const nproto = proto as NatProto;
    const now = this.#now as Instant;
    let found = this.links.lookupClient(nproto, client, sport, vip, vport);
    let id: LinkId;
    const tcpFlags = proto === IP_PROTO.tcp ? f[l4 + 13]! : 0;
    if (found !== -1 && proto === IP_PROTO.tcp && (tcpFlags & (TCP_FLAG.syn | TCP_FLAG.ack | TCP_FLAG.rst)) === TCP_FLAG.syn && this.links.state(found) === 'closing') {
      // A new connection reusing the client port of a closing link (as IPVS does): the old link
      // ends now and the SYN is balanced afresh, so it cannot stay pinned to a dead server.
      this.balancers[this.links.group(found)]?.linkClosed(this.links.server(found), now, client);
      this.#syncGone(found);
      this.links.remove(found);
      this.counters.linksExpired++;
      found = -1;
    }
    if (found === -1) {
      if (proto === IP_PROTO.tcp && (tcpFlags & (TCP_FLAG.syn | TCP_FLAG.ack | TCP_FLAG.rst)) !== TCP_FLAG.syn) {
        this.#drop('nat', 'no-link'); // a segment of a link we do not know (expired, or another node's)
        return true;
      }
      const mon = this.monitors[gi];
      if (mon !== undefined) {
        // Slow start and panic mode come from the health monitor.
        if (mon.cfg.slowStart > 0) for (let k = 0; k < group.servers.length; k++) bal.setRamp(k, mon.rampFactor(k, now));
        if (mon.cfg.panicThreshold !== undefined) bal.setPanic(mon.panic());
      }
      const server = bal.pick(now, { addr: client, port: sport });
      if (server === undefined) return this.#drop('nat', 'no-server'), true;
      const s = group.servers[server]!;
      const created = this.links.create(nproto, client, sport, vip, vport, s.addr, s.port ?? vport, gi, server, now);
      if (created === undefined) {
        // Full, or the server side 5-tuple is already taken (one client port reaching two VIPs
        // or ports that map to the same server port): either way this packet cannot get a link.
        const reason = this.links.full ? 'table-full' : 'server-key-taken';
        if (reason === 'table-full') this.counters.tableFull++;
        this.#drop('nat', reason);
        this.#trace?.emit({ kind: 'decision', t: now, node: this.cfg.name, what: 'link-drop', detail: { reason, group: group.name, client: formatIpv4(client), sport } });
        return true;
      }
      id = created;
      this.counters.linksCreated++;
      this.#syncLink(id);
      bal.linkOpened(server, now, client);
      if (this.#trace) {
        const why = bal.explainLast();
        this.#trace.emit({ kind: 'decision', t: now, node: this.cfg.name, what: 'link-new', detail: { group: group.name, server: s.name, client: formatIpv4(client), sport, proto, reason: String(why['reason'] ?? 'policy') } });
      }
    } else if (this.links.state((id = found)) === 'new') {
      const server = this.links.server(id);
      if (bal.state(server) === 'dead') this.#remap(id, gi, server, client, sport, now);
    }
    const serverAddr = this.links.serverAddr(id);
    const serverPort = this.links.serverPort(id);
    const mon = this.monitors[gi];
    if (mon !== undefined) {
      mon.toServer(this.links.server(id), proto === IP_PROTO.icmp ? 0 : serverPort, now);
      this.#healthDirty = true;
    }
    // Rewrite destination address (and port) with incremental checksums.
    writeIpv4(f, ETH + 16, serverAddr);
    writeU16(f, ETH + 10, updateChecksum32(readU16(f, ETH + 10), vip, serverAddr));
    if (proto === IP_PROTO.tcp) {
      let c = updateChecksum32(readU16(f, l4 + 16), vip, serverAddr);
      if (serverPort !== vport) {
        writeU16(f, l4 + 2, serverPort);
        c = updateChecksum16(c, vport, serverPort);
      }
      writeU16(f, l4 + 16, c);
      if (tcpFlags & TCP_FLAG.rst) this.#setLinkState(id, 'closing');
      else if (tcpFlags & TCP_FLAG.fin) this.#fin(id, true);
    } else if (proto === IP_PROTO.udp) {
      let c = updateUdpChecksum32(readU16(f, l4 + 6), vip, serverAddr);
      if (serverPort !== vport) {
        writeU16(f, l4 + 2, serverPort);
        c = updateUdpChecksum16(c, vport, serverPort);
      }
      writeU16(f, l4 + 6, c);
    }
    if (!this.#decrementTtl(f)) return true;
    this.links.touch(id, now, 'in');
    if (this.#countPackets[gi]) this.balancers[gi]!.packets(this.links.server(id), 1, now);
    this.counters.natIn++;
    this.#route(this.#priv, serverAddr, f, end);
    return true;
  }

  /** Server -> client. False when no link matches. */
  #outbound(f: Uint8Array, ihl: number, end: number, proto: number, server: Ipv4Addr, client: Ipv4Addr): boolean {
    const l4 = ETH + ihl;
    let sport: number;
    let cport: number;
    if (proto === IP_PROTO.icmp) {
      if (end - l4 < 8) return false;
      const type = f[l4]!;
      if (type === 3 || type === 11) return this.#icmpErrorFromServer(f, l4, end, server, client);
      if (type !== 0) return false;
      sport = readU16(f, l4 + 4);
      cport = sport;
    } else {
      const p = this.#ports(f, l4, end, proto);
      if (p === undefined) return false;
      sport = p.sport;
      cport = p.dport;
    }
    const found = this.links.lookupServer(proto as NatProto, server, sport, client, cport);
    if (found === -1) return false;
    const id: LinkId = found;
    const now = this.#now as Instant;
    const vip = this.links.vip(id);
    const vport = this.links.vport(id);
    const tcpFlags = proto === IP_PROTO.tcp ? f[l4 + 13]! : 0;
    if (this.links.state(id) === 'new') {
      // Slide 37: a RST is not a response (connection refused); it closes the link instead.
      if (tcpFlags & TCP_FLAG.rst) this.#setLinkState(id, 'closing');
      else this.#setLinkState(id, 'active');
    }
    const mon = this.monitors[this.links.group(id)];
    if (mon !== undefined) {
      mon.fromServer(this.links.server(id), proto === IP_PROTO.icmp ? 0 : sport, now, (tcpFlags & TCP_FLAG.rst) !== 0);
      this.#healthDirty = true;
    }
    writeIpv4(f, ETH + 12, vip);
    writeU16(f, ETH + 10, updateChecksum32(readU16(f, ETH + 10), server, vip));
    if (proto === IP_PROTO.tcp) {
      let c = updateChecksum32(readU16(f, l4 + 16), server, vip);
      if (sport !== vport) {
        writeU16(f, l4, vport);
        c = updateChecksum16(c, sport, vport);
      }
      writeU16(f, l4 + 16, c);
      if (tcpFlags & TCP_FLAG.rst) this.#setLinkState(id, 'closing');
      else if (tcpFlags & TCP_FLAG.fin) this.#fin(id, false);
    } else if (proto === IP_PROTO.udp) {
      let c = updateUdpChecksum32(readU16(f, l4 + 6), server, vip);
      if (sport !== vport) {
        writeU16(f, l4, vport);
        c = updateUdpChecksum16(c, sport, vport);
      }
      writeU16(f, l4 + 6, c);
    }
    if (!this.#decrementTtl(f)) return true;
    this.links.touch(id, now, 'out');
    const gi = this.links.group(id);
    if (this.#countPackets[gi]) this.balancers[gi]!.packets(this.links.server(id), 1, now);
    this.counters.natOut++;
    this.#route(this.#pub, this.#nextHopPublic(client), f, end);
    return true;
  }

  #fin(id: LinkId, fromClient: boolean): void {
    this.links.markFin(id, fromClient);
    if (this.links.finClient(id) && this.links.finServer(id)) this.#setLinkState(id, 'closing');
  }

  #setLinkState(id: LinkId, state: 'new' | 'active' | 'closing'): void {
    if (this.links.state(id) === state) return;
    this.links.setState(id, state);
    this.#syncLink(id);
  }

  #remap(id: LinkId, gi: number, old: number, client: Ipv4Addr, sport: number, now: Instant): void {
    const bal = this.balancers[gi]!;
    const next = bal.pick(now, { addr: client, port: sport }, old);
    if (next === undefined || next === old) return;
    const g = this.cfg.groups[gi]!;
    const s = g.servers[next]!;
    if (!this.links.remap(id, s.addr, s.port ?? this.links.vport(id), next, now)) return; // server key taken: keep the link
    bal.linkClosed(old, now, client);
    bal.linkOpened(next, now, client);
    this.counters.linksRemapped++;
    this.#syncLink(id);
    this.#trace?.emit({ kind: 'decision', t: now, node: this.cfg.name, what: 'link-remap', detail: { group: g.name, from: g.servers[old]!.name, to: s.name, client: formatIpv4(client), sport } });
  }

  /**
   * An ICMP error from a client about a reply we sent (quoted: VIP:vport -> client:cport):
   * translate the quoted header and the outer destination to the server, and pass it on.
   */
  #icmpErrorFromClient(f: Uint8Array, l4: number, end: number, client: Ipv4Addr, vip: Ipv4Addr): boolean {
    const q = l4 + 8;
    if (end - q < 28 || f[q]! >>> 4 !== 4) return this.#drop('icmp', 'bad-quote'), true;
    const qihl = (f[q]! & 15) * 4;
    const qproto = f[q + 9]!;
    if (end - q < qihl + 4 || (qproto !== IP_PROTO.tcp && qproto !== IP_PROTO.udp)) return this.#drop('icmp', 'bad-quote'), true;
    const qsrc = readIpv4(f, q + 12);
    // The quoted datagram is our reply VIP -> client. The error may come from the client or from
    // any router on the way (fragmentation needed: path MTU discovery), so the link is found by
    // the quoted client address, not by the error's source.
    const qclient = readIpv4(f, q + 16) as Ipv4Addr;
    if (qsrc !== vip) return this.#drop('icmp', 'bad-quote'), true;
    void client;
    const vport = readU16(f, q + qihl);
    const cport = readU16(f, q + qihl + 2);
    const id = this.links.lookupClient(qproto as NatProto, qclient, cport, vip, vport);
    if (id === -1) return this.#drop('nat', 'no-link'), true;
    const serverAddr = this.links.serverAddr(id);
    const serverPort = this.links.serverPort(id);
    writeIpv4(f, q + 12, serverAddr);
    writeU16(f, q + qihl, serverPort);
    writeU16(f, q + 10, updateChecksum32(readU16(f, q + 10), vip, serverAddr));
    this.#finishIcmpError(f, l4, end, vip, serverAddr, 16);
    if (!this.#decrementTtl(f)) return true;
    this.#route(this.#priv, serverAddr, f, end);
    return true;
  }

  /** An ICMP error from a server about a client's packet (quoted: client -> server:port). */
  #icmpErrorFromServer(f: Uint8Array, l4: number, end: number, server: Ipv4Addr, client: Ipv4Addr): boolean {
    const q = l4 + 8;
    if (end - q < 28 || f[q]! >>> 4 !== 4) return false;
    const qihl = (f[q]! & 15) * 4;
    const qproto = f[q + 9]!;
    if (end - q < qihl + 4 || (qproto !== IP_PROTO.tcp && qproto !== IP_PROTO.udp)) return false;
    if (readIpv4(f, q + 12) !== client || readIpv4(f, q + 16) !== server) return false;
    const cport = readU16(f, q + qihl);
    const sport = readU16(f, q + qihl + 2);
    const id = this.links.lookupServer(qproto as NatProto, server, sport, client, cport);
    if (id === -1) return false;
    const vip = this.links.vip(id);
    writeIpv4(f, q + 16, vip);
    writeU16(f, q + qihl + 2, this.links.vport(id));
    writeU16(f, q + 10, updateChecksum32(readU16(f, q + 10), server, vip));
    this.#finishIcmpError(f, l4, end, server, vip, 12);
    if (!this.#decrementTtl(f)) return true;
    this.#route(this.#pub, this.#nextHopPublic(client), f, end);
    return true;
  }

  /** Rewrite the outer address at `addrOff` (12 src / 16 dst) and recompute the ICMP checksum. */
  #finishIcmpError(f: Uint8Array, l4: number, end: number, from: Ipv4Addr, to: Ipv4Addr, addrOff: 12 | 16): void {
    writeIpv4(f, ETH + addrOff, to);
    writeU16(f, ETH + 10, updateChecksum32(readU16(f, ETH + 10), from, to));
    writeU16(f, l4 + 2, 0);
    writeU16(f, l4 + 2, internetChecksum(f, l4, end - l4));
  }

  /** A datagram for the node itself: answer pings; everything else is dropped and counted. */
  #local(ifc: Iface, f: Uint8Array, ihl: number, end: number, proto: number, src: Ipv4Addr, dst: Ipv4Addr): void {
    const l4 = ETH + ihl;
    if (proto !== IP_PROTO.icmp || end - l4 < 8 || f[l4] !== 8) return this.#drop('local', 'unsupported');
    if (internetChecksum(f, l4, end - l4) !== 0) return this.#drop('icmp', 'bad-checksum');
    const reply = f.slice(0, end);
    writeIpv4(reply, ETH + 12, dst);
    writeIpv4(reply, ETH + 16, src);
    reply[ETH + 8] = 64;
    writeU16(reply, ETH + 10, 0);
    writeU16(reply, ETH + 10, internetChecksum(reply, ETH, ihl));
    reply[l4] = 0;
    writeU16(reply, l4 + 2, updateChecksum16(readU16(reply, l4 + 2), 0x0800, 0x0000));
    const hop = ifc === this.#pub ? this.#nextHopPublic(src) : src;
    this.#route(ifc, hop, reply, end);
  }

  /**
   * A feedback-protocol datagram to one of the node's addresses: SGctrld decides, and a signed
   * result goes back from the address and port it came to (unauthenticated or unparsable
   * datagrams get no reply: see src/ctl/ctld.ts).
   */
  #control(ifc: Iface, f: Uint8Array, ihl: number, end: number, src: Ipv4Addr, dst: Ipv4Addr): void {
    const l4 = ETH + ihl;
    const sport = readU16(f, l4);
    const dport = readU16(f, l4 + 2);
    const ulen = readU16(f, l4 + 4);
    if (ulen < 8 || l4 + ulen > end) return this.#drop('udp', 'bad-length');
    const now = this.#now as Instant;
    const out = this.ctld!.handleBytes(now, { addr: src, port: sport }, f.slice(l4 + 8, l4 + ulen), this.#wallClockUs?.() ?? now);
    // Every refusal is sampled like a drop (a flood of junk must not fill the trace); a command
    // that went through ('ok') is traced one by one.
    const tr = out.trace;
    const traced = tr.kind === 'drop' ? this.#sampleDrop(tr.layer, tr.reason) : out.status === 'ok' || this.#sampleDrop('ctl', out.status);
    if (traced) this.#trace?.emit({ ...tr, t: now, node: this.cfg.name } as Parameters<TraceSink['emit']>[0]);
    if (out.replyBytes === undefined) return;
    const reply = encodeFrame({
      eth: { dst: MAC_BROADCAST, src: ifc.cfg.mac },
      net: { kind: 'ipv4', ip: ipv4Header({ src: dst, dst: src, protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: dport, dstPort: sport, payload: out.replyBytes } } },
    });
    const hop = ifc === this.#pub ? this.#nextHopPublic(src) : src;
    this.#route(ifc, hop, reply, reply.length);
  }

  /** Send due probes, apply state changes, re-arm the health timer. */
  #healthRun(now: Instant): void {
    this.#healthDirty = false;
    let next: number | undefined;
    this.monitors.forEach((m, gi) => {
      if (m === undefined) return;
      for (let p = m.pollProbe(now); p !== undefined; p = m.pollProbe(now)) this.#sendProbe(gi, p);
      for (let c = m.pollChange(); c !== undefined; c = m.pollChange()) {
        const g = this.cfg.groups[gi]!;
        this.balancers[gi]!.setState(c.server, c.to, now);
        this.syncServer(gi, c.server);
        this.#trace?.emit({
          kind: 'state', t: now, node: this.cfg.name, entity: `${g.name}/${g.servers[c.server]!.name}`, machine: 'server',
          from: c.from, to: c.to, reason: `${c.event.detector}: ${c.event.detail}`,
        });
      }
      const t = m.pollTimeout();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    });
    if (next === undefined) this.#timers.clear('health');
    else this.#timers.set('health', Math.max(next, now) as Instant);
  }

  #sendProbe(gi: number, p: ProbeRequest): void {
    const g = this.cfg.groups[gi]!;
    const s = g.servers[p.server]!;
    const priv = this.#priv;
    this.#probePort = (this.#probePort + 1) % PROBE_PORTS;
    const lport = PROBE_PORT_BASE + this.#probePort;
    let frame: Uint8Array;
    const ip = ipv4Header({ src: priv.cfg.addr, dst: s.addr, protocol: p.kind === 'icmp' ? IP_PROTO.icmp : p.kind === 'udp' ? IP_PROTO.udp : IP_PROTO.tcp, identification: p.id & 0xffff });
    const eth = { dst: MAC_BROADCAST, src: priv.cfg.mac };
    if (p.kind === 'icmp') {
      frame = encodeFrame({ eth, net: { kind: 'ipv4', ip, l4: { kind: 'icmp', icmp: { kind: 'echo-request', id: lport, seq: p.id & 0xffff, data: PROBE_PAYLOAD } } } });
      this.#probes.set(`1/${s.addr}/0/${lport}`, [gi, p.id]);
    } else if (p.kind === 'udp') {
      frame = encodeFrame({ eth, net: { kind: 'ipv4', ip, l4: { kind: 'udp', udp: { srcPort: lport, dstPort: p.port, payload: PROBE_PAYLOAD } } } });
      this.#probes.set(`17/${s.addr}/${p.port}/${lport}`, [gi, p.id]);
    } else {
      frame = encodeFrame({ eth, net: { kind: 'ipv4', ip, l4: { kind: 'tcp', tcp: { srcPort: lport, dstPort: p.port, seq: p.id >>> 0, ack: 0, flags: TCP_FLAG.syn, window: 1024, urgentPointer: 0, options: [], payload: new Uint8Array(0) } } } });
      this.#probes.set(`6/${s.addr}/${p.port}/${lport}`, [gi, p.id]);
    }
    if (this.#probes.size > PROBES_PENDING_MAX) {
      const oldest = this.#probes.keys().next();
      if (!oldest.done) this.#probes.delete(oldest.value);
    }
    this.#route(priv, s.addr, frame, frame.length);
  }

  /** An answer to one of our probes (addressed to the private address); false when it is not one. */
  #probeReply(f: Uint8Array, ihl: number, end: number, proto: number, src: Ipv4Addr): boolean {
    const l4 = ETH + ihl;
    let key: string;
    let outcome: ProbeOutcome;
    if (proto === IP_PROTO.tcp && end - l4 >= 20) {
      const flags = f[l4 + 13]!;
      key = `6/${src}/${readU16(f, l4)}/${readU16(f, l4 + 2)}`;
      if (!this.#probes.has(key)) return false;
      if ((flags & (TCP_FLAG.syn | TCP_FLAG.ack)) === (TCP_FLAG.syn | TCP_FLAG.ack)) {
        outcome = 'alive';
        // Tear the half-open connection down at once (slide 38: connect ok, then close).
        const rst = encodeFrame({
          eth: { dst: MAC_BROADCAST, src: this.#priv.cfg.mac },
          net: { kind: 'ipv4', ip: ipv4Header({ src: this.#priv.cfg.addr, dst: src, protocol: IP_PROTO.tcp }), l4: { kind: 'tcp', tcp: { srcPort: readU16(f, l4 + 2), dstPort: readU16(f, l4), seq: readU32(f, l4 + 8), ack: 0, flags: TCP_FLAG.rst, window: 0, urgentPointer: 0, options: [], payload: new Uint8Array(0) } } },
        });
        this.#route(this.#priv, src, rst, rst.length);
      } else if (flags & TCP_FLAG.rst) outcome = 'refused';
      else return false;
    } else if (proto === IP_PROTO.udp && end - l4 >= 8) {
      key = `17/${src}/${readU16(f, l4)}/${readU16(f, l4 + 2)}`;
      if (!this.#probes.has(key)) return false;
      outcome = 'alive';
    } else if (proto === IP_PROTO.icmp && end - l4 >= 8) {
      const type = f[l4]!;
      if (type === 0) {
        key = `1/${src}/0/${readU16(f, l4 + 4)}`;
        if (!this.#probes.has(key)) return false;
        outcome = 'alive';
      } else if (type === 3 && end - l4 >= 8 + 28) {
        // Port unreachable quoting our UDP probe.
        const q = l4 + 8;
        const qihl = (f[q]! & 15) * 4;
        if (f[q + 9] !== IP_PROTO.udp || end - q < qihl + 4) return false;
        key = `17/${src}/${readU16(f, q + qihl + 2)}/${readU16(f, q + qihl)}`;
        if (!this.#probes.has(key)) return false;
        outcome = 'unreachable';
      } else return false;
    } else return false;
    const [gi, id] = this.#probes.get(key)!;
    this.#probes.delete(key);
    this.monitors[gi]?.probeResult(id, outcome, this.#now as Instant);
    this.#healthDirty = true;
    return true;
  }

  #decrementTtl(f: Uint8Array): boolean {
    const ttl = f[ETH + 8]!;
    if (ttl <= 1) {
      this.#drop('ipv4', 'ttl-expired');
      return false;
    }
    const old = readU16(f, ETH + 8);
    f[ETH + 8] = ttl - 1;
    writeU16(f, ETH + 10, updateChecksum16(readU16(f, ETH + 10), old, old - 0x100));
    return true;
  }

  #nextHopPublic(dst: Ipv4Addr): Ipv4Addr {
    const p = this.#pub;
    if (((dst ^ p.cfg.addr) & p.mask) >>> 0 === 0 || this.cfg.gateway === undefined) return dst;
    return this.cfg.gateway;
  }

  /** Send `f` (an Ethernet frame, IP from offset 14) out of `ifc` toward next hop `hop`. */
  #route(ifc: Iface, hop: Ipv4Addr, f: Uint8Array, end: number): void {
    const frame = end === f.length ? f : f.subarray(0, end);
    writeMac(frame, 6, ifc.cfg.mac);
    const mac = this.#arp.lookup(ifc.slot, hop, this.#now as Instant);
    if (mac !== undefined) {
      writeMac(frame, 0, mac);
      this.#push(ifc.cfg.name, frame);
      return;
    }
    // The frame waits in the ARP queue: copy it out of the receive buffer the driver may reuse.
    const r = this.#arp.enqueue(ifc.slot, hop, ifc.cfg.name, frame.slice(), this.#now as Instant);
    if (r === 'request') this.#arpRequest(ifc, hop);
    else if (r === 'full') this.#drop('arp', 'queue-full');
    this.#armArp();
  }

  #push(iface: IfaceName, frame: Uint8Array): void {
    if (this.#tx.length - this.#txHead >= TX_QUEUE_MAX) return this.#drop('tx', 'queue-full');
    this.#tx.push({ iface, frame });
    this.counters.framesOut++;
  }

  // ---- ARP ----

  /** Whether this node serves the VIPs now: always without failover, else only while master. */
  get active(): boolean {
    return this.bidd === undefined || this.bidd.state === 'master';
  }

  #owns(ifc: Iface, ip: number): boolean {
    if (ip === ifc.cfg.addr) return true;
    if (!this.active) return false;
    return (ifc === this.#pub && this.#vips.has(ip)) || (ifc === this.#priv && ip === this.cfg.failover?.privateVip);
  }

  // ---- failover ----

  /**
   * The gate every failover datagram passes (bidd and sync alike): the UDP payload, parsed;
   * authenticated with the group key; not our own looped-back copy; and fresh (`src/failover/fresh.ts`):
   * in a believed incarnation newer than anything that peer sent before (replays and reordered
   * copies are dropped), in another one held until the peer answers our challenge. Bad input is a
   * counted drop.
   */
  #groupMessage<F extends { readonly message: { readonly keyId: number; readonly node: number; readonly inc: number; readonly seq: number } }>(
    layer: 'bidd' | 'sync',
    f: Uint8Array,
    ihl: number,
    end: number,
    parse: (b: Uint8Array) => Parsed<F>,
    verify: (frame: F, secret: Uint8Array) => boolean,
    gate: FreshGate<F['message']>,
  ): F['message'] | undefined {
    const fo = this.cfg.failover!;
    const l4 = ETH + ihl;
    const ulen = readU16(f, l4 + 4);
    if (ulen < 8 || l4 + ulen > end) return void this.#drop(layer, 'bad-length');
    const payload = f.subarray(l4 + 8, l4 + ulen);
    if (layer === 'bidd' && isFresh(payload)) return void this.#freshIn(payload);
    const p = parse(payload);
    if (!p.ok) return void this.#drop(layer, p.error.reason);
    const m = p.value.message;
    if (m.keyId !== fo.key.id || !verify(p.value, fo.key.secret)) return void this.#emitDrop(layer, 'unauthenticated', `node ${m.node}`);
    if (m.node === fo.node) return undefined; // our own, looped back
    const a = gate.admit(this.#now as Instant, m.node, m.inc, m.seq, m);
    switch (a.kind) {
      case 'accept':
        return m;
      case 'replay':
        return void this.#emitDrop(layer, 'replay', `node ${m.node} incarnation ${m.inc} seq ${m.seq}`);
      case 'unverified':
        if (a.challenge !== undefined) this.#sendFresh({ kind: 'challenge', stream: layer, peer: m.node, nonceHi: a.challenge.hi, nonceLo: a.challenge.lo, inc: this.#freshOut.incarnation, seq: 0 });
        return void this.#emitDrop(layer, 'unverified', `node ${m.node} incarnation ${m.inc} seq ${m.seq}`);
      case 'full':
        return void this.#emitDrop(layer, 'peers-full', `node ${m.node}`);
      default:
        return assertNever(a, 'admission');
    }
  }

  /** A challenge or response of the freshness handshake, on the bidd port. */
  #freshIn(payload: Uint8Array): void {
    const fo = this.cfg.failover!;
    const p = parseFresh(payload);
    if (!p.ok) return this.#drop('fresh', p.error.reason);
    const m = p.value.message;
    if (m.keyId !== fo.key.id || !verifyFresh(p.value, fo.key.secret)) return this.#emitDrop('fresh', 'unauthenticated', `node ${m.node}`);
    if (m.node === fo.node || m.peer !== fo.node) return; // our own, or for another node
    if (m.group !== fo.group) return this.#drop('fresh', 'other-group');
    const now = this.#now as Instant;
    if (m.kind === 'challenge') {
      if (!this.#freshOut.mayAnswer(now, m.stream, m.node)) return this.#drop('fresh', 'rate-limited');
      this.#sendFresh({ kind: 'response', stream: m.stream, peer: m.node, nonceHi: m.nonceHi, nonceLo: m.nonceLo, inc: this.#freshOut.incarnation, seq: this.#freshOut.last(m.stream) });
      return;
    }
    const nonce = { hi: m.nonceHi, lo: m.nonceLo };
    if (m.stream === 'bidd') {
      const a = this.#biddGate.answer(m.node, nonce, m.inc, m.seq);
      if (a.kind === 'unexpected') return this.#drop('fresh', 'unexpected');
      this.#tracePeer(now, m.node, 'bidd', a.inc, a.seq, a.previous);
      if (a.released !== undefined) this.#biddApply(a.released);
    } else {
      const a = this.#syncGate.answer(m.node, nonce, m.inc, m.seq);
      if (a.kind === 'unexpected') return this.#drop('fresh', 'unexpected');
      this.#tracePeer(now, m.node, 'sync', a.inc, a.seq, a.previous);
      if (a.released !== undefined) this.#syncApply(a.released);
    }
  }

  #tracePeer(now: Instant, peer: number, stream: FreshStream, inc: number, seq: number, previous: number | undefined): void {
    this.#trace?.emit({ kind: 'decision', t: now, node: this.cfg.name, what: 'peer-incarnation', detail: { peer, stream, incarnation: inc, seq, ...(previous !== undefined ? { previous } : {}) } });
  }

  #sendFresh(m: Omit<FreshMessage, 'group' | 'node' | 'keyId'>): void {
    const fo = this.cfg.failover!;
    this.#sendToGroup(fo.port, encodeFresh({ ...m, group: fo.group, node: fo.node, keyId: fo.key.id }, fo.key.secret));
  }

  #biddIn(f: Uint8Array, ihl: number, end: number): void {
    const m = this.#groupMessage('bidd', f, ihl, end, parseBidd, verifyBidd, this.#biddGate);
    if (m !== undefined) this.#biddApply(m);
  }

  #biddApply(m: BiddMessage): void {
    const now = this.#now as Instant;
    this.bidd!.handleMessage(now, { kind: m.kind, node: m.node, price: m.price, epoch: m.epoch, group: m.group });
    this.#biddRun(now);
  }

  /** Carry out what the election asks for, and re-arm its timer. */
  #biddRun(now: Instant): void {
    const b = this.bidd;
    const fo = this.cfg.failover;
    if (b === undefined || fo === undefined) return;
    for (let a = b.pollAction(); a !== undefined; a = b.pollAction()) {
      switch (a.kind) {
        case 'send': {
          this.#sendToGroup(fo.port, encodeBidd({ ...a.msg, links: a.msg.kind === 'heartbeat' ? this.links.size : 0, keyId: fo.key.id, ...this.#freshOut.next('bidd') }, fo.key.secret));
          break;
        }
        case 'take-vip':
          this.#mcastJoin(fo.igmpRefresh ?? true);
          if (this.sync !== undefined) {
            // Adopt the synced links: their idle clocks start now, and our stream starts.
            this.links.forEach((id) => this.links.refresh(id, now));
            this.sync.becomeMaster(now, b.epoch);
            this.#syncRun(now);
          }
          this.#garpLeft = this.cfg.garpCount;
          if (this.#garpLeft > 0) this.#timers.set('garp', now);
          this.#trace?.emit({ kind: 'state', t: now, node: this.cfg.name, entity: this.cfg.name, machine: 'bidd', from: 'bid', to: 'master', reason: `epoch ${b.epoch}` });
          break;
        case 'release-vip':
          this.#mcastLeave();
          if (this.sync !== undefined) {
            this.sync.becomeSlave(now);
            this.#syncRun(now);
          }
          this.#garpLeft = 0;
          this.#timers.clear('garp');
          this.#trace?.emit({ kind: 'state', t: now, node: this.cfg.name, entity: this.cfg.name, machine: 'bidd', from: 'master', to: b.state, reason: `epoch ${b.epoch}` });
          break;
        case 'script': {
          if (a.which === 'continue') {
            // Two masters met (a partition healed) and we stay: re-announce the addresses, since
            // the ARP caches may point at the one that stepped down.
            this.#garpLeft = this.cfg.garpCount;
            if (this.#garpLeft > 0) this.#timers.set('garp', now);
          }
          // The simulator traces the call (a modelled action); real mode runs the command.
          const sc = fo.scripts;
          const command = sc?.[a.which];
          const env: Record<string, string> = {
            SG_SCRIPT: a.which, SG_STATE: b.state, SG_NODE: String(fo.node), SG_NAME: this.cfg.name, SG_GROUP: formatIpv4(fo.group), SG_EPOCH: String(b.epoch),
            SG_VIPS: [...this.#vips].map((v) => formatIpv4(v as Ipv4Addr)).join(' '), SG_PRIVATE_VIP: fo.privateVip !== undefined ? formatIpv4(fo.privateVip) : '',
          };
          this.#trace?.emit({ kind: 'decision', t: now, node: this.cfg.name, what: 'script', detail: { which: a.which, state: b.state, epoch: b.epoch, ...(command !== undefined ? { command } : {}) } });
          this.#onScript?.({ which: a.which, command, timeout: sc?.timeout ?? (10_000_000 as Duration), env });
          break;
        }
      }
    }
    const t = b.pollTimeout();
    if (t === undefined) this.#timers.clear('bidd');
    else this.#timers.set('bidd', Math.max(t, now) as Instant);
  }

  /** SIGHUP/SIGINT (slide 9): a graceful step-down that tells the others at once; the node then stays out. */
  resign(now: Instant): void {
    this.#now = Math.max(this.#now, now);
    if (this.bidd === undefined) return;
    this.bidd.resign(this.#now as Instant);
    this.#biddRun(this.#now as Instant);
  }

  /** An interface's carrier went down or came back: a watched resource (keepalived's track_interface). */
  handleLinkState(now: Instant, iface: IfaceName, up: boolean): void {
    this.#now = Math.max(this.#now, now);
    const b = this.bidd;
    if (b === undefined || (iface !== this.#pub.cfg.name && iface !== this.#priv.cfg.name)) return;
    this.#trace?.emit({ kind: 'decision', t: this.#now as Instant, node: this.cfg.name, what: up ? 'carrier-up' : 'carrier-down', detail: { iface, state: b.state } });
    if (up) b.processRecovered(this.#now as Instant, `link:${iface}`);
    else b.processFailed(this.#now as Instant, `link:${iface}`);
    this.#biddRun(this.#now as Instant);
  }

  /** The watched service process (slide 6) died (`up` false) or runs again (`up` true). */
  watchedProcess(now: Instant, up: boolean): void {
    this.#now = Math.max(this.#now, now);
    const b = this.bidd;
    if (b === undefined) return;
    this.#trace?.emit({ kind: 'decision', t: this.#now as Instant, node: this.cfg.name, what: up ? 'watched-up' : 'watched-down', detail: { state: b.state } });
    if (up) b.processRecovered(this.#now as Instant);
    else b.processFailed(this.#now as Instant);
    this.#biddRun(this.#now as Instant);
  }

  // ---- multicast (slides 8, 21-22) ----

  #makeIgmp(rng: Rng): IgmpHost {
    const name = this.cfg.name;
    return new IgmpHost({
      now: () => this.#now as Instant,
      timer: (d, fn) => {
        const t = { at: this.#now + d, fn, live: true };
        this.#igmpTimers.push(t);
        const cur = this.#timers.get('igmp');
        if (cur === undefined || t.at < cur) this.#timers.set('igmp', t.at as Instant);
        return () => {
          t.live = false;
        };
      },
      rng,
      sendReport: (_iface, group) => this.#sendIgmp(group, { kind: 'v2-report', group }),
      sendLeave: (_iface, group) => this.#sendIgmp(IGMP_ALL_ROUTERS, { kind: 'leave', group }),
      onTransition: (iface, group, from, to, event) =>
        this.#trace?.emit({ kind: 'state', t: this.#now as Instant, node: name, entity: `${name}/${iface}/${formatIpv4(group)}`, machine: 'igmp-host', from, to, reason: event }),
      onTimer: (iface, group, delay, max, trigger) =>
        this.#trace?.emit({ kind: 'decision', t: this.#now as Instant, node: name, what: 'igmp-report-timer', detail: { iface, group: formatIpv4(group), delayUs: delay, maxUs: max, trigger } }),
    });
  }

  #igmpRun(now: Instant): void {
    // Fire due timers in deadline order (ties: the order they were set), then re-arm.
    const due = this.#igmpTimers.filter((t) => t.live && t.at <= now).sort((a, b) => a.at - b.at);
    for (const t of due) {
      if (!t.live) continue;
      t.live = false;
      t.fn();
    }
    let next: number | undefined;
    let w = 0;
    for (const t of this.#igmpTimers) {
      if (!t.live) continue;
      this.#igmpTimers[w++] = t;
      if (next === undefined || t.at < next) next = t.at;
    }
    this.#igmpTimers.length = w;
    if (next === undefined) this.#timers.clear('igmp');
    else this.#timers.set('igmp', Math.max(next, now) as Instant);
  }

  #sendIgmp(dst: Ipv4Addr, msg: IgmpMessage): void {
    const header = ipv4Header({ src: this.#pub.cfg.addr, dst, protocol: IP_PROTO.igmp, ttl: 1, dscp: 0x30, options: [{ kind: 'router-alert', value: 0 }] });
    this.#push(this.#pub.cfg.name, encodeFrame({ eth: { dst: multicastMac(dst), src: this.#pub.cfg.mac }, net: { kind: 'ipv4', ip: header, l4: { kind: 'igmp', igmp: msg } } }));
  }

  #igmpIn(f: Uint8Array, ihl: number, end: number): void {
    const p = parseIgmp(f.subarray(ETH + ihl, end));
    if (!p.ok) return this.#drop('igmp', p.error.reason);
    const m = p.value;
    const iface = this.#pub.cfg.name;
    if (m.kind === 'query' || m.kind === 'v3-query') {
      // v1 queries (code 0) are answered as if they said 10 s (RFC 2236 4); v3 queries as v2 (we are a v2 host).
      const ds = m.kind === 'query' ? m.maxRespCode || 100 : m.maxRespCode < 128 ? m.maxRespCode : ((m.maxRespCode & 0x0f) | 0x10) << (((m.maxRespCode >>> 4) & 7) + 3);
      this.igmp.query(iface, m.group, (ds * 100_000) as Duration);
    } else if (m.kind === 'v2-report' || m.kind === 'v1-report') this.igmp.reportHeard(iface, m.group);
    if (this.#igmpTimers.length > 0) this.#igmpRun(this.#now as Instant);
  }

  /** Start serving the write groups: join them; `announce` reports at once (the slide-22 fix) instead of waiting for a query. */
  #mcastJoin(announce: boolean): void {
    if (this.#mcastJoined || this.#mcast.size === 0) return;
    this.#mcastJoined = true;
    for (const g of this.#mcast) {
      this.#pubMacs.add(multicastMac(g as Ipv4Addr));
      this.igmp.join(this.#pub.cfg.name, g as Ipv4Addr, announce);
    }
  }

  #mcastLeave(): void {
    if (!this.#mcastJoined) return;
    this.#mcastJoined = false;
    const fo = this.cfg.failover;
    for (const g of this.#mcast) {
      if (fo === undefined || multicastMac(g as Ipv4Addr) !== multicastMac(fo.group)) this.#pubMacs.delete(multicastMac(g as Ipv4Addr));
      this.igmp.leave(this.#pub.cfg.name, g as Ipv4Addr);
    }
  }

  /** A datagram to a write group (slide 21): the serving node passes it on to the servers' segment. */
  #mcastRelay(f: Uint8Array, end: number, proto: number): void {
    if (!this.#mcastJoined) return this.#drop('mcast', 'standby');
    if (proto !== IP_PROTO.udp) return this.#drop('mcast', 'not-udp');
    if (!this.#decrementTtl(f)) return;
    const out = f.slice(0, end); // the frame may carry padding past the datagram
    writeMac(out, 6, this.#priv.cfg.mac);
    this.counters.mcastRelayed++;
    this.#push(this.#priv.cfg.name, out);
  }

  // ---- stateful failover (slides 10-11) ----

  #syncLink(id: LinkId): void {
    const sync = this.sync;
    if (sync === undefined || !sync.isMaster) return;
    sync.record(this.#now as Instant, this.#linkRecord(id));
    this.#syncArm();
  }

  #linkRecord(id: LinkId): SyncRecord {
    const l = this.links;
    return {
      op: 'link', proto: l.proto(id), state: l.state(id), group: l.group(id), server: l.server(id),
      clientAddr: l.clientAddr(id), clientPort: l.clientPort(id), vip: l.vip(id), vport: l.vport(id), serverAddr: l.serverAddr(id), serverPort: l.serverPort(id),
    };
  }

  /** One UDP datagram to the failover group from our public address (TTL 1: it stays on the segment). */
  #sendToGroup(port: number, payload: Uint8Array): void {
    const fo = this.cfg.failover!;
    const frame = encodeFrame({
      eth: { dst: multicastMac(fo.group), src: this.#pub.cfg.mac },
      net: { kind: 'ipv4', ip: ipv4Header({ src: this.#pub.cfg.addr, dst: fo.group, protocol: IP_PROTO.udp, ttl: 1 }), l4: { kind: 'udp', udp: { srcPort: port, dstPort: port, payload } } },
    });
    this.#push(this.#pub.cfg.name, frame);
  }

  #syncGone(id: LinkId): void {
    const sync = this.sync;
    if (sync === undefined || !sync.isMaster) return;
    const l = this.links;
    sync.record(this.#now as Instant, { op: 'link-gone', proto: l.proto(id), clientAddr: l.clientAddr(id), clientPort: l.clientPort(id), vip: l.vip(id), vport: l.vport(id) });
    this.#syncArm();
  }

  /** After logging a record: make sure the node wakes for the sync's flush. */
  #syncArm(): void {
    const t = this.sync!.pollTimeout();
    if (t === undefined) return;
    const cur = this.#timers.get('sync');
    if (cur === undefined || t < cur) this.#timers.set('sync', Math.max(t, this.#now) as Instant);
  }

  /** How a slave applies the master's records to its own table and balancers. */
  #syncTarget(): SyncTarget {
    const removeLink = (id: LinkId, now: Instant) => {
      this.balancers[this.links.group(id)]?.linkClosed(this.links.server(id), now, this.links.clientAddr(id));
      this.links.remove(id);
    };
    return {
      apply: (r, now) => {
        if (r.op === 'server') {
          if (r.group < this.cfg.groups.length && r.server < this.cfg.groups[r.group]!.servers.length) {
            this.setServerState(r.group, r.server, r.state, now);
            this.ctlTarget?.setHeld(r.group, r.server, r.held);
          } else this.#drop('sync', 'unknown-server');
          return;
        }
        const found = this.links.lookupClient(r.proto, r.clientAddr as Ipv4Addr, r.clientPort, r.vip as Ipv4Addr, r.vport);
        if (r.op === 'link-gone') {
          if (found !== -1) removeLink(found, now);
          return;
        }
        const g = this.cfg.groups[r.group];
        if (g === undefined || r.server >= g.servers.length) return this.#drop('sync', 'unknown-server');
        if (found !== -1) {
          if (this.links.serverAddr(found) === r.serverAddr && this.links.serverPort(found) === r.serverPort && this.links.server(found) === r.server && this.links.group(found) === r.group) {
            this.links.setState(found, r.state);
            return;
          }
          removeLink(found, now); // remapped by the master: take the new target
        }
        const id = this.links.create(r.proto, r.clientAddr as Ipv4Addr, r.clientPort, r.vip as Ipv4Addr, r.vport, r.serverAddr as Ipv4Addr, r.serverPort, r.group, r.server, now);
        if (id === undefined) return this.#drop('sync', this.links.full ? 'table-full' : 'server-key-taken');
        this.links.setState(id, r.state);
        this.balancers[r.group]!.linkOpened(r.server, now, r.clientAddr as Ipv4Addr);
      },
      reset: (now) => {
        for (const id of this.links.ids()) removeLink(id, now);
      },
      snapshot: () => {
        const out: SyncRecord[] = [];
        this.links.forEach((id) => out.push(this.#linkRecord(id)));
        this.balancers.forEach((b, gi) => {
          for (let si = 0; si < this.cfg.groups[gi]!.servers.length; si++) out.push({ op: 'server', group: gi, server: si, state: b.state(si), held: this.ctlTarget?.held(gi, si) ?? false });
        });
        return out;
      },
    };
  }

  #syncIn(f: Uint8Array, ihl: number, end: number): void {
    const m = this.#groupMessage('sync', f, ihl, end, parseSync, verifySync, this.#syncGate);
    if (m !== undefined) this.#syncApply(m);
  }

  #syncApply(m: SyncMessage): void {
    if (m.group !== this.cfg.failover!.group) return this.#drop('sync', 'other-group');
    const now = this.#now as Instant;
    this.sync!.handleMessage(now, m.node, m.epoch, m.leader, m);
    this.#syncRun(now);
  }

  /** Send what the sync asks for, tell the election whether we may bid at full price, re-arm. */
  #syncRun(now: Instant): void {
    const sync = this.sync;
    const fo = this.cfg.failover;
    if (sync === undefined || fo === undefined) return;
    for (let o = sync.pollSend(); o !== undefined; o = sync.pollSend()) {
      this.#sendToGroup(fo.port + 1, encodeSync({ ...o.body, group: fo.group, node: fo.node, epoch: o.epoch, leader: o.leader, keyId: fo.key.id, ...this.#freshOut.next('sync') }, fo.key.secret));
    }
    const b = this.bidd;
    if (b !== undefined && b.price !== (sync.ready ? fo.price : 0)) {
      b.setEligible(sync.ready);
      // sync-wait: bidding at price 0 until the master's state is copied; sync-ready: copied.
      this.#trace?.emit({ kind: 'decision', t: now, node: this.cfg.name, what: sync.ready ? 'sync-ready' : 'sync-wait', detail: { position: sync.position, links: this.links.size } });
    }
    const t = sync.pollTimeout();
    if (t === undefined) this.#timers.clear('sync');
    else this.#timers.set('sync', Math.max(t, now) as Instant);
  }

  #arpIn(ifc: Iface, f: Uint8Array): void {
    const p = parseArp(f.subarray(ETH));
    if (!p.ok) return this.#drop('arp', p.error.reason);
    const a = p.value;
    const now = this.#now as Instant;
    const forUs = this.#owns(ifc, a.targetIp);
    if (a.senderIp !== 0) {
      const waiting = this.#arp.learn(ifc.slot, a.senderIp, a.senderMac, now, forUs);
      for (const w of waiting) {
        writeMac(w, 0, a.senderMac);
        this.#push(ifc.cfg.name, w);
      }
    }
    if (a.op === ARP_OP.request && forUs && a.senderIp !== a.targetIp) {
      this.#sendArp(ifc, a.senderMac, { op: ARP_OP.reply, senderMac: ifc.cfg.mac, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp });
    }
  }

  #arpRequest(ifc: Iface, ip: Ipv4Addr): void {
    this.#sendArp(ifc, MAC_BROADCAST, { op: ARP_OP.request, senderMac: ifc.cfg.mac, senderIp: ifc.cfg.addr, targetMac: 0 as MacAddr, targetIp: ip });
  }

  #sendArp(ifc: Iface, dst: MacAddr, arp: Parameters<typeof encodeArp>[0]): void {
    const frame = new Uint8Array(ETH + ARP_LEN);
    writeMac(frame, 0, dst);
    writeMac(frame, 6, ifc.cfg.mac);
    writeU16(frame, 12, ETHERTYPE.arp);
    frame.set(encodeArp(arp), ETH);
    this.#push(ifc.cfg.name, frame);
  }

  /** Announce the node's addresses and VIPs (slide 7: ARP moves the address to this node). */
  #sendGarps(): void {
    const announce = (ifc: Iface, ip: number) =>
      this.#sendArp(ifc, MAC_BROADCAST, { op: ARP_OP.request, senderMac: ifc.cfg.mac, senderIp: ip as Ipv4Addr, targetMac: 0 as MacAddr, targetIp: ip as Ipv4Addr });
    announce(this.#pub, this.#pub.cfg.addr);
    for (const v of this.#vips) announce(this.#pub, v);
    announce(this.#priv, this.#priv.cfg.addr);
    const pv = this.cfg.failover?.privateVip;
    if (pv !== undefined) announce(this.#priv, pv);
  }

  #armArp(): void {
    const t = this.#arp.nextDeadline();
    if (t === undefined) this.#timers.clear('arp');
    else this.#timers.set('arp', t as Instant);
  }

  // ---- housekeeping ----

  #sweep(now: Instant): void {
    // A slave keeps the master's links until the master says they are gone (it sees none of
    // their packets); the links' idle clocks restart when it takes over.
    if (this.sync !== undefined && !this.active) return;
    const idle = this.cfg.idle;
    this.links.expire(
      now,
      (proto, state) =>
        (state === 'closing' ? idle.tcpClosing : state === 'new' ? idle.unanswered : proto === IP_PROTO.tcp ? idle.tcp : proto === IP_PROTO.udp ? idle.udp : idle.icmp) as Duration,
      SWEEP_BUDGET,
      (info) => {
        this.counters.linksExpired++;
        this.balancers[info.group]?.linkClosed(info.server, now, info.clientAddr);
        if (this.sync?.isMaster) {
          this.sync.record(now, { op: 'link-gone', proto: info.proto, clientAddr: info.clientAddr, clientPort: info.clientPort, vip: info.vip, vport: info.vport });
          this.#syncArm();
        }
      },
    );
  }

  #drop(layer: string, reason: string): void {
    const k = `${layer}/${reason}`;
    this.counters.drops.set(k, (this.counters.drops.get(k) ?? 0) + 1);
  }

  /** A counted drop that is also traced: one by one while few, else in a summary (drop-trace.ts). */
  #emitDrop(layer: string, reason: string, detail: string): void {
    this.#drop(layer, reason);
    if (this.#sampleDrop(layer, reason)) this.#trace?.emit({ kind: 'drop', t: this.#now as Instant, node: this.cfg.name, layer, reason, detail });
  }

  /** Whether to trace this drop one by one (false: a summary will count it). No trace, no work. */
  #sampleDrop(layer: string, reason: string): boolean {
    if (this.#trace === undefined) return false;
    const now = this.#now;
    this.#dropSummaries(now as Instant, false);
    if (this.#dropTrace.take(now, layer, reason)) return true;
    if (this.#timers.get('drops') === undefined) this.#timers.set('drops', this.#dropTrace.due! as Instant);
    return false;
  }

  /** Emit the summaries of an interval that has ended by `now` (all pending ones: `force`). */
  #dropSummaries(now: Instant, force: boolean): void {
    const out = this.#dropTrace.close(now, force);
    for (const d of out) {
      this.#trace?.emit({ kind: 'drop', t: now, node: this.cfg.name, layer: d.layer, reason: d.reason, detail: `${d.count} more since ${d.since} µs, not traced one by one`, count: d.count, since: d.since });
    }
    if (this.#dropTrace.due === undefined) this.#timers.clear('drops');
  }

  /**
   * Emit the drop summaries still pending (call at the end of a run or before stopping, at the
   * node's current time or later), so every drop the trace counts is in it.
   */
  finishTrace(now: Instant): void {
    if (now > this.#now) this.#now = now;
    this.#dropSummaries(this.#now as Instant, true);
  }

  /** Group index by name (for admin calls), or -1. */
  groupIndex(name: string): number {
    return this.cfg.groups.findIndex((g: GroupConfig) => g.name === name);
  }
}
