/**
 * Symmetric failover's wiring (slides 6-11): the bidd election's datagrams and actions, the
 * stateful-failover stream of links and server states to the slaves, and the one gate every
 * failover datagram passes (authenticated with the group key, not our own, fresh: no replays).
 */

import type { ServerState } from '../balance/types.ts';
import { Bidd } from '../failover/bidd.ts';
import { FreshGate, FreshSender, NonceSource } from '../failover/fresh.ts';
import { StateSync, type SyncTarget } from '../failover/sync.ts';
import type { LinkId } from '../nat/types.ts';
import type { Duration, Instant } from '../time.ts';
import { formatIpv4, multicastMac, readU16, type Ipv4Addr } from '../wire/addr.ts';
import { encodeBidd, parseBidd, verifyBidd, type BiddMessage } from '../wire/bidd.ts';
import { encodeFrame, ipv4Header } from '../wire/frame.ts';
import { encodeFresh, isFresh, parseFresh, verifyFresh, type FreshMessage, type FreshStream } from '../wire/fresh.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import { assertNever } from '../assert.ts';
import type { Parsed } from '../wire/result.ts';
import { encodeSync, parseSync, verifySync, type SyncMessage, type SyncRecord } from '../wire/sync.ts';
import type { SgNodeTarget } from './ctl-target.ts';
import { ETH, type LinkGone, type NodeCore } from './core.ts';
import type { Egress } from './egress.ts';
import type { Multicast } from './multicast.ts';
import type { NatPath } from './nat.ts';
import type { ScriptCall } from './config.ts';

/**
 * Snapshot datagrams sent every 10 ms: 1,600 datagrams/s, about 18 Mbit/s
 * and 77k links/s, so a full transfer of 1M links takes ~13 s without crowding out heartbeats.
 */
export const SYNC_SNAPSHOT_BURST = 16;

/** What the failover wiring calls back into the node for. */
export interface FailoverEnv {
  readonly egress: Egress;
  readonly multicast: Multicast;
  readonly nat: NatPath;
  readonly ctlTarget: SgNodeTarget | undefined;
  /** A server state the master streamed (applied as an admin call would be). */
  setServerState(group: number, server: number, state: ServerState, now: Instant): void;
  /** Whether a read/write group's server is behind (src/engine/rw.ts), and setting it from the master's stream. */
  behind(group: number, server: number): boolean;
  setBehind(group: number, server: number, behind: boolean): void;
  /** Where failover scripts go (real mode runs them; undefined: only traced). */
  readonly onScript: ((call: ScriptCall) => void) | undefined;
}

export class Failover {
  readonly #core: NodeCore;
  readonly #env: FailoverEnv;
  /** The failover election (undefined: the node always serves). */
  readonly bidd: Bidd | undefined;
  /** Stateful failover (undefined: off, or no failover). */
  readonly sync: StateSync | undefined;
  /** Our incarnation and sequences on the group, and our answers to challenges (`src/failover/fresh.ts`). */
  readonly #freshOut: FreshSender;
  /** Per stream, what we believe of each peer's incarnation and sequence. */
  readonly #biddGate: FreshGate<BiddMessage>;
  readonly #syncGate: FreshGate<SyncMessage>;

  constructor(core: NodeCore, env: FailoverEnv, incarnation: () => number) {
    this.#core = core;
    this.#env = env;
    this.#freshOut = new FreshSender(incarnation);
    const nonces = new NonceSource(() => this.#freshOut.incarnation);
    this.#biddGate = new FreshGate('bidd', nonces);
    this.#syncGate = new FreshGate('sync', nonces);
    const fo = core.cfg.failover;
    this.sync =
      fo?.sync !== undefined
        ? new StateSync(
            { node: fo.node, flushDelay: fo.sync.flushDelay, retransmit: fo.sync.retransmit, peerTimeout: fo.masterTimeout, logMax: fo.sync.logMax, snapshotBurst: SYNC_SNAPSHOT_BURST, snapshotInterval: 10_000 as Duration, announce: fo.heartbeatInterval },
            this.#syncTarget(),
          )
        : undefined;
    this.bidd =
      fo !== undefined
        ? new Bidd({ node: fo.node, price: fo.price, group: fo.group, heartbeatInterval: fo.heartbeatInterval, masterTimeout: fo.masterTimeout, bidTimeout: fo.bidTimeout, holdDown: fo.holdDown, stallBound: fo.stallBound }, core.now)
        : undefined;
    core.bidd = this.bidd;
    if (this.sync !== undefined) {
      core.linkChanged.push((id) => this.#syncLink(id));
      core.linkClosed.push((gone) => this.#syncGone(gone));
    }
  }

  /** Start the election (after the rest of the node is built: its first actions may send). */
  start(): void {
    if (this.bidd === undefined) return;
    this.#env.egress.garpLeft = 0; // the addresses are announced on taking over
    this.biddRun(this.#core.now);
  }

  // ---- the gate ----

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
    const core = this.#core;
    const fo = core.cfg.failover!;
    const l4 = ETH + ihl;
    const ulen = readU16(f, l4 + 4);
    if (ulen < 8 || l4 + ulen > end) return void core.drop(layer, 'bad-length');
    const payload = f.subarray(l4 + 8, l4 + ulen);
    if (layer === 'bidd' && isFresh(payload)) return void this.#freshIn(payload);
    const p = parse(payload);
    if (!p.ok) return void core.drop(layer, p.error.reason);
    const m = p.value.message;
    if (m.keyId !== fo.key.id || !verify(p.value, fo.key.secret)) return void core.emitDrop(layer, 'unauthenticated', `node ${m.node}`);
    if (m.node === fo.node) return undefined; // our own, looped back
    const a = gate.admit(core.now, m.node, m.inc, m.seq, m);
    switch (a.kind) {
      case 'accept':
        return m;
      case 'replay':
        return void core.emitDrop(layer, 'replay', `node ${m.node} incarnation ${m.inc} seq ${m.seq}`);
      case 'unverified':
        if (a.challenge !== undefined) this.#sendFresh({ kind: 'challenge', stream: layer, peer: m.node, nonceHi: a.challenge.hi, nonceLo: a.challenge.lo, inc: this.#freshOut.incarnation, seq: 0 });
        return void core.emitDrop(layer, 'unverified', `node ${m.node} incarnation ${m.inc} seq ${m.seq}`);
      case 'full':
        return void core.emitDrop(layer, 'peers-full', `node ${m.node}`);
      default:
        return assertNever(a, 'admission');
    }
  }

  /** A challenge or response of the freshness handshake, on the bidd port. */
  #freshIn(payload: Uint8Array): void {
    const core = this.#core;
    const fo = core.cfg.failover!;
    const p = parseFresh(payload);
    if (!p.ok) return core.drop('fresh', p.error.reason);
    const m = p.value.message;
    if (m.keyId !== fo.key.id || !verifyFresh(p.value, fo.key.secret)) return core.emitDrop('fresh', 'unauthenticated', `node ${m.node}`);
    if (m.node === fo.node || m.peer !== fo.node) return; // our own, or for another node
    if (m.group !== fo.group) return core.drop('fresh', 'other-group');
    const now = core.now;
    if (m.kind === 'challenge') {
      if (!this.#freshOut.mayAnswer(now, m.stream, m.node)) return core.drop('fresh', 'rate-limited');
      this.#sendFresh({ kind: 'response', stream: m.stream, peer: m.node, nonceHi: m.nonceHi, nonceLo: m.nonceLo, inc: this.#freshOut.incarnation, seq: this.#freshOut.last(m.stream) });
      return;
    }
    const nonce = { hi: m.nonceHi, lo: m.nonceLo };
    if (m.stream === 'bidd') {
      const a = this.#biddGate.answer(m.node, nonce, m.inc, m.seq);
      if (a.kind === 'unexpected') return core.drop('fresh', 'unexpected');
      this.#tracePeer(now, m.node, 'bidd', a.inc, a.seq, a.previous);
      if (a.released !== undefined) this.#biddApply(a.released);
    } else {
      const a = this.#syncGate.answer(m.node, nonce, m.inc, m.seq);
      if (a.kind === 'unexpected') return core.drop('fresh', 'unexpected');
      this.#tracePeer(now, m.node, 'sync', a.inc, a.seq, a.previous);
      if (a.released !== undefined) this.#syncApply(a.released);
    }
  }

  #tracePeer(now: Instant, peer: number, stream: FreshStream, inc: number, seq: number, previous: number | undefined): void {
    this.#core.emit({ kind: 'decision', t: now, node: this.#core.name, what: 'peer-incarnation', detail: { peer, stream, incarnation: inc, seq, ...(previous !== undefined ? { previous } : {}) } });
  }

  #sendFresh(m: Omit<FreshMessage, 'group' | 'node' | 'keyId'>): void {
    const fo = this.#core.cfg.failover!;
    this.#sendToGroup(fo.port, encodeFresh({ ...m, group: fo.group, node: fo.node, keyId: fo.key.id }, fo.key.secret));
  }

  /** One UDP datagram to the failover group from our public address (TTL 1: it stays on the segment). */
  #sendToGroup(port: number, payload: Uint8Array): void {
    const core = this.#core;
    const fo = core.cfg.failover!;
    const pub = core.pub.cfg;
    const frame = encodeFrame({
      eth: { dst: multicastMac(fo.group), src: pub.mac },
      net: { kind: 'ipv4', ip: ipv4Header({ src: pub.addr, dst: fo.group, protocol: IP_PROTO.udp, ttl: 1 }), l4: { kind: 'udp', udp: { srcPort: port, dstPort: port, payload } } },
    });
    core.push(pub.name, frame);
  }

  // ---- the election (slide 9) ----

  biddIn(f: Uint8Array, ihl: number, end: number): void {
    const m = this.#groupMessage('bidd', f, ihl, end, parseBidd, verifyBidd, this.#biddGate);
    if (m !== undefined) this.#biddApply(m);
  }

  #biddApply(m: BiddMessage): void {
    const now = this.#core.now;
    this.bidd!.handleMessage(now, { kind: m.kind, node: m.node, price: m.price, epoch: m.epoch, group: m.group });
    this.biddRun(now);
  }

  /** Frozen past the stall bound (the bidd timer long overdue)? Demote before handling anything. */
  checkStall(now: Instant): void {
    const b = this.bidd;
    if (b === undefined) return;
    const due = this.#core.timers.get('bidd');
    if (due !== undefined && now - due > b.cfg.stallBound && b.checkStall(now)) this.biddRun(now);
  }

  /** The bidd timer. */
  biddTimeout(now: Instant): void {
    this.bidd?.handleTimeout(now);
    this.biddRun(now);
  }

  /** Carry out what the election asks for, and re-arm its timer. */
  biddRun(now: Instant): void {
    const core = this.#core;
    const env = this.#env;
    const b = this.bidd;
    const fo = core.cfg.failover;
    if (b === undefined || fo === undefined) return;
    for (let a = b.pollAction(); a !== undefined; a = b.pollAction()) {
      switch (a.kind) {
        case 'send': {
          this.#sendToGroup(fo.port, encodeBidd({ ...a.msg, links: a.msg.kind === 'heartbeat' ? core.links.size : 0, keyId: fo.key.id, ...this.#freshOut.next('bidd') }, fo.key.secret));
          break;
        }
        case 'take-vip':
          env.multicast.join(fo.igmpRefresh ?? true);
          if (this.sync !== undefined) {
            // Adopt the synced links: their idle clocks start now, and our stream starts.
            core.links.forEach((id) => core.links.refresh(id, now));
            this.sync.becomeMaster(now, b.epoch);
            this.syncRun(now);
          }
          env.egress.startGarps(now);
          core.emit({ kind: 'state', t: now, node: core.name, entity: core.name, machine: 'bidd', from: 'bid', to: 'master', reason: `epoch ${b.epoch}` });
          break;
        case 'release-vip':
          env.multicast.leave();
          if (this.sync !== undefined) {
            this.sync.becomeSlave(now);
            this.syncRun(now);
          }
          env.egress.stopGarps();
          core.emit({ kind: 'state', t: now, node: core.name, entity: core.name, machine: 'bidd', from: 'master', to: b.state, reason: `epoch ${b.epoch}` });
          break;
        case 'script': {
          // Two masters met (a partition healed) and we stay: re-announce the addresses, since
          // the ARP caches may point at the one that stepped down.
          if (a.which === 'continue') env.egress.startGarps(now);
          // The simulator traces the call (a modelled action); real mode runs the command.
          const sc = fo.scripts;
          const command = sc?.[a.which];
          const envVars: Record<string, string> = {
            SG_SCRIPT: a.which, SG_STATE: b.state, SG_NODE: String(fo.node), SG_NAME: core.name, SG_GROUP: formatIpv4(fo.group), SG_EPOCH: String(b.epoch),
            SG_VIPS: [...env.egress.vips].map((v) => formatIpv4(v as Ipv4Addr)).join(' '), SG_PRIVATE_VIP: fo.privateVip !== undefined ? formatIpv4(fo.privateVip) : '',
          };
          core.emit({ kind: 'decision', t: now, node: core.name, what: 'script', detail: { which: a.which, state: b.state, epoch: b.epoch, ...(command !== undefined ? { command } : {}) } });
          env.onScript?.({ which: a.which, command, timeout: sc?.timeout ?? (10_000_000 as Duration), env: envVars });
          break;
        }
      }
    }
    const t = b.pollTimeout();
    if (t === undefined) core.timers.clear('bidd');
    else core.timers.set('bidd', Math.max(t, now) as Instant);
  }

  /** SIGHUP/SIGINT (slide 9): a graceful step-down that tells the others at once; the node then stays out. */
  resign(now: Instant): void {
    if (this.bidd === undefined) return;
    this.bidd.resign(now);
    this.biddRun(now);
  }

  /** A watched resource failed or recovered (`resource`: an interface; undefined: the watched process). */
  watched(now: Instant, up: boolean, resource?: string): void {
    const b = this.bidd!;
    if (up) b.processRecovered(now, resource);
    else b.processFailed(now, resource);
    this.biddRun(now);
  }

  // ---- stateful failover (slides 10-11) ----

  #syncLink(id: LinkId): void {
    const sync = this.sync!;
    if (!sync.isMaster) return;
    sync.record(this.#core.now, this.#linkRecord(id));
    this.#syncArm();
  }

  #linkRecord(id: LinkId): SyncRecord {
    const l = this.#core.links;
    return {
      op: 'link', proto: l.proto(id), state: l.state(id), group: l.group(id), server: l.server(id),
      clientAddr: l.clientAddr(id), clientPort: l.clientPort(id), vip: l.vip(id), vport: l.vport(id), serverAddr: l.serverAddr(id), serverPort: l.serverPort(id),
    };
  }

  #syncGone(g: LinkGone): void {
    const sync = this.sync!;
    if (!sync.isMaster) return;
    sync.record(this.#core.now, { op: 'link-gone', proto: g.proto, clientAddr: g.clientAddr, clientPort: g.clientPort, vip: g.vip, vport: g.vport });
    this.#syncArm();
  }

  /**
   * Master: stream server `server` of `group` as it is now (state, and whether an admin holds
   * it) to the slaves. Called on every state change and by SGctrld when a hold changes.
   */
  syncServer(group: number, server: number): void {
    const b = this.#core.groups[group]?.balancer;
    if (this.sync?.isMaster !== true || b === undefined) return;
    const behind = this.#env.behind(group, server);
    this.sync.record(this.#core.now, { op: 'server', group, server, state: b.state(server), held: this.#env.ctlTarget?.held(group, server) ?? false, ...(behind ? { behind } : {}) });
    this.#syncArm();
  }

  /** After logging a record: make sure the node wakes for the sync's flush. */
  #syncArm(): void {
    const core = this.#core;
    const t = this.sync!.pollTimeout();
    if (t === undefined) return;
    const cur = core.timers.get('sync');
    if (cur === undefined || t < cur) core.timers.set('sync', Math.max(t, core.now) as Instant);
  }

  /** How a slave applies the master's records to its own table and balancers. */
  #syncTarget(): SyncTarget {
    const core = this.#core;
    const links = core.links;
    return {
      apply: (r, now) => {
        if (r.op === 'server') {
          if (r.group < core.cfg.groups.length && r.server < core.cfg.groups[r.group]!.servers.length) {
            this.#env.setServerState(r.group, r.server, r.state, now);
            this.#env.ctlTarget?.setHeld(r.group, r.server, r.held);
            this.#env.setBehind(r.group, r.server, r.behind === true);
          } else core.drop('sync', 'unknown-server');
          return;
        }
        const found = links.lookupClient(r.proto, r.clientAddr as Ipv4Addr, r.clientPort, r.vip as Ipv4Addr, r.vport);
        if (r.op === 'link-gone') {
          if (found !== -1) this.#env.nat.life(found, 'master-gone');
          return;
        }
        const g = core.cfg.groups[r.group];
        if (g === undefined || r.server >= g.servers.length) return core.drop('sync', 'unknown-server');
        if (found !== -1) {
          if (links.serverAddr(found) === r.serverAddr && links.serverPort(found) === r.serverPort && links.server(found) === r.server && links.group(found) === r.group) {
            links.setState(found, r.state);
            return;
          }
          this.#env.nat.life(found, 'master-gone'); // remapped by the master: take the new target
        }
        const id = links.create(r.proto, r.clientAddr as Ipv4Addr, r.clientPort, r.vip as Ipv4Addr, r.vport, r.serverAddr as Ipv4Addr, r.serverPort, r.group, r.server, now);
        if (id === undefined) return core.drop('sync', links.full ? 'table-full' : 'server-key-taken');
        links.setState(id, r.state);
        core.groups[r.group]!.balancer.linkOpened(r.server, now, r.clientAddr as Ipv4Addr);
      },
      reset: () => {
        for (const id of links.ids()) this.#env.nat.life(id, 'master-gone');
      },
      snapshot: () => {
        const out: SyncRecord[] = [];
        links.forEach((id) => out.push(this.#linkRecord(id)));
        core.groups.forEach((grp, gi) => {
          for (let si = 0; si < grp.cfg.servers.length; si++) out.push({ op: 'server', group: gi, server: si, state: grp.balancer.state(si), held: this.#env.ctlTarget?.held(gi, si) ?? false });
        });
        return out;
      },
    };
  }

  syncIn(f: Uint8Array, ihl: number, end: number): void {
    const m = this.#groupMessage('sync', f, ihl, end, parseSync, verifySync, this.#syncGate);
    if (m !== undefined) this.#syncApply(m);
  }

  #syncApply(m: SyncMessage): void {
    const core = this.#core;
    if (m.group !== core.cfg.failover!.group) return core.drop('sync', 'other-group');
    const now = core.now;
    this.sync!.handleMessage(now, m.node, m.epoch, m.leader, m);
    this.syncRun(now);
  }

  /** The sync timer. */
  syncTimeout(now: Instant): void {
    this.sync?.handleTimeout(now);
    this.syncRun(now);
  }

  /** Send what the sync asks for, tell the election whether we may bid at full price, re-arm. */
  syncRun(now: Instant): void {
    const core = this.#core;
    const sync = this.sync;
    const fo = core.cfg.failover;
    if (sync === undefined || fo === undefined) return;
    for (let o = sync.pollSend(); o !== undefined; o = sync.pollSend()) {
      this.#sendToGroup(fo.port + 1, encodeSync({ ...o.body, group: fo.group, node: fo.node, epoch: o.epoch, leader: o.leader, keyId: fo.key.id, ...this.#freshOut.next('sync') }, fo.key.secret));
    }
    const b = this.bidd;
    if (b !== undefined && b.price !== (sync.ready ? fo.price : 0)) {
      b.setEligible(sync.ready);
      // sync-wait: bidding at price 0 until the master's state is copied; sync-ready: copied.
      core.emit({ kind: 'decision', t: now, node: core.name, what: sync.ready ? 'sync-ready' : 'sync-wait', detail: { position: sync.position, links: core.links.size } });
    }
    const t = sync.pollTimeout();
    if (t === undefined) core.timers.clear('sync');
    else core.timers.set('sync', Math.max(t, now) as Instant);
  }
}

