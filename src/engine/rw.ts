/**
 * The read/write models on the NAT path (slides 13-20, 43, 45): a group whose model is
 * read-one-write-all or read-first-write-all is a UDP request/reply service, and its datagrams
 * are handled here by request, not by the link table.
 *
 *   client -> VIP:vport   the analyzer reads the request: a write goes to every member (one
 *                         multicast datagram to the write group, or a unicast copy each) and
 *                         is voted on (src/rw/vote.ts); a read goes to one server (ReadOne) or
 *                         to every member (ReadFirst, src/rw/first.ts).
 *   server -> client      the analyzer reads the reply's id; the reply joins its write's vote
 *                         or its read's race, and only the vote's answer or the race's first
 *                         reply reaches the client, from VIP:vport.
 *
 * Rules, each what a client of the group can count on:
 * - A request is keyed by (client address, client port, the analyzer's id): ids are unique per
 *   client socket only. A retransmitted write still being collected is not sent again; one
 *   answered lately gets the same answer again (the vote keeps it one write timeout more).
 * - Members are the servers in service (Alive). A write fails a member that replies failure:
 *   it is turned off at once (the health monitor's write detector at Dead, which only an admin
 *   or the server's own state request clears, slide 43). A member outside the answer's group or
 *   silent until the timeout is a write mismatch (slide 34's M and 2M).
 * - Such a member missed a write the others made, if that write was acknowledged to its client
 *   (a write nobody acknowledged is maybe applied, and behind no one), and so did a server out
 *   of service (not Alive) when an acknowledged write went by: it is *behind*. It still gets writes and its mismatches are
 *   counted, but no reads until it says it is whole again: its own `state alive` through the
 *   feedback protocol after its state transfer (slide 45), or an admin's. Health detectors
 *   bringing it back to Alive do not end it (slide 43: "there is no way for SG to know if the
 *   recovery process on a mcast server is complete").
 * - ReadOne's preferred server (slide 15: "if other write is processing, change to read
 *   preferred"): while a write of the group is in progress, every read goes to the first member,
 *   in the config's order, that is not behind and has replied to every write in progress; else
 *   to the first that has replied to every write already acknowledged to its client. When every
 *   member owes such a write (rare: a slow one beside others behind), the read is dropped and
 *   counted (`no-reader`) and the client's retransmission tries again. So a read that starts
 *   after a write was acknowledged is sent to a server whose reply was part of it. With no write in
 *   progress the group's policy picks.
 * - Read-only (slide 45, the cluster's or the group's ctl property `read-only`): writes are
 *   refused with the analyzer's refusal when it has one (`Analyzer.refuse`), else dropped and
 *   counted; reads go on.
 * - The write-status IP option (src/wire/sgopt.ts) decides a reply's status when present (the
 *   service set it on purpose), else the analyzer's reading; it is taken off the reply the
 *   client gets (it is the servers' word to the node, not to clients).
 * Every bound is the group's: writes pending (and, as many again, reads pending), replies held,
 * the write timeout (also a read's). Anything refused is a counted drop of layer `rw`.
 *
 * Of all this only which servers are behind is streamed to the slaves (with the servers'
 * states, failover.ts): after a takeover the new master knows no write in progress, and a
 * client's retransmission (same id) is a new write to every member (see the README).
 */

import type { Analyzer, RequestFacts, ReplyFacts } from '../rw/analyzer.ts';
import { ReadRaces } from '../rw/first.ts';
import type { WriteAllConfig } from '../rw/models.ts';
import { WriteVotes, type MemberReply } from '../rw/vote.ts';
import type { Instant } from '../time.ts';
import type { DropReason } from '../trace.ts';
import { formatIpv4, multicastMac, readU16, readU32, writeMac, writeU16, type Ipv4Addr } from '../wire/addr.ts';
import { internetChecksum } from '../wire/checksum.ts';
import { encodeFrame, ipv4Header } from '../wire/frame.ts';
import { IP_PROTO, Ipv4View } from '../wire/ipv4.ts';
import { SG_WRITE_STATUS_LEN, SG_WRITE_STATUS_TYPE } from '../wire/sgopt.ts';
import { UdpView } from '../wire/udp.ts';
import { MAC_BROADCAST } from '../wire/addr.ts';
import { assert } from '../assert.ts';
import { ETH, type Group, type NodeCore } from './core.ts';
import type { Egress } from './egress.ts';

/** No member may serve a read now without it going back in time (each owes an acknowledged write). */
const NO_READER: number[] = [];
const NO_SERVERS: readonly number[] = [];

/** A member's reply as the vote keeps it: a copy of its frame, to send on if it is the answer. */
interface HeldReply {
  readonly frame: Uint8Array;
  readonly ihl: number;
  readonly server: number;
}

interface RwGroup {
  readonly g: Group;
  readonly first: boolean;
  readonly cfg: WriteAllConfig;
  readonly analyzer: Analyzer;
  readonly votes: WriteVotes<HeldReply>;
  readonly reads: ReadRaces;
  /** Per server: writes sent to it that it has not answered yet (nor timed out). */
  readonly owed: Int32Array;
  /** Per server: of those, the writes already answered to their client (acknowledged). */
  readonly owedAcked: Int32Array;
  /** Per server: 1 while it is behind (it missed a write, or was out of service when one came). */
  readonly behind: Uint8Array;
  /** Per server: its service port. */
  readonly ports: readonly number[];
  /** Write keys in progress -> how many members they went to, and those not heard yet (for `owed`). */
  readonly sentTo: Map<string, { readonly members: number; readonly left: Set<number>; acked: boolean; readonly skipped: readonly number[] }>;
}

/** What the node does for this part (sg-node.ts wires it). */
export interface RwEnv {
  /** Whether group `gi` is read-only now (ctl's cluster or group flag). */
  readOnly(gi: number): boolean;
  /** Turn a member off at once: it replied failure to a write. */
  turnOff(gi: number, server: number): void;
  /** A write mismatch of a member (value or timeout). */
  mismatch(gi: number, server: number): void;
  /** A server fell behind or caught up: the master streams it to the slaves (failover.ts). */
  behindChanged(gi: number, server: number): void;
}

export class Rw {
  readonly #core: NodeCore;
  readonly #egress: Egress;
  readonly #env: RwEnv;
  /** By group index (undefined: a read-any group). */
  readonly #groups: (RwGroup | undefined)[];
  /** server address * 65536 + port -> [group index, server index] of the rw groups. */
  readonly #byServer = new Map<number, readonly [number, number]>();
  readonly #req: RequestFacts = { id: 0 };
  readonly #rep: ReplyFacts = { id: 0, valueOff: 0, valueLen: 0 };
  readonly #ip = new Ipv4View(new Uint8Array(0), 0);
  readonly #udp = new UdpView(new Uint8Array(0), 0);

  /** `analyzers[gi]`: the analyzer of each rw group (initialised by the caller). */
  constructor(core: NodeCore, egress: Egress, env: RwEnv, analyzers: readonly (Analyzer | undefined)[]) {
    this.#core = core;
    this.#egress = egress;
    this.#env = env;
    this.#groups = core.groups.map((g) => {
      const m = g.cfg.model;
      if (m === undefined || m.kind === 'read-any') return undefined;
      const analyzer = analyzers[g.index];
      assert(analyzer !== undefined, `group ${g.cfg.name}: model ${m.kind} needs its analyzer`);
      const w = m.writeAll;
      const n = g.cfg.servers.length;
      const ports = g.cfg.servers.map((s) => s.port ?? (g.cfg.port as number));
      g.cfg.servers.forEach((s, k) => {
        const key = s.addr * 65536 + ports[k]!;
        if (!this.#byServer.has(key)) this.#byServer.set(key, [g.index, k]);
      });
      return {
        g,
        first: m.kind === 'read-first-write-all',
        cfg: w,
        analyzer,
        votes: new WriteVotes<HeldReply>({ writesPending: w.writesPendingMax, writeTimeout: w.writeTimeout, repliesHeld: w.repliesHeldMax }),
        reads: new ReadRaces({ readsPending: w.writesPendingMax, readTimeout: w.writeTimeout }),
        owed: new Int32Array(n),
        owedAcked: new Int32Array(n),
        behind: new Uint8Array(n),
        ports,
        sentTo: new Map(),
      };
    });
  }

  /** Whether group `gi` is a read/write group (its UDP datagrams come here). */
  owns(gi: number): boolean {
    return this.#groups[gi] !== undefined;
  }

  /** Whether server `k` of the group is behind (missed a write) and gets no reads. */
  behind(gi: number, k: number): boolean {
    const rg = this.#groups[gi];
    return rg !== undefined && this.#isBehind(rg, k);
  }

  /** Writes and reads held now, over all groups (for the invariant checks and the tests). */
  get pending(): { readonly writes: number; readonly reads: number; readonly replies: number } {
    let writes = 0;
    let reads = 0;
    let replies = 0;
    for (const rg of this.#groups) {
      if (rg === undefined) continue;
      writes += rg.votes.size;
      reads += rg.reads.size;
      replies += rg.votes.held;
    }
    return { writes, reads, replies };
  }

  checkBounds(): void {
    for (const rg of this.#groups) {
      if (rg === undefined) continue;
      assert(rg.votes.size <= rg.cfg.writesPendingMax, `${rg.g.cfg.name}: ${rg.votes.size} writes held, limit ${rg.cfg.writesPendingMax}`);
      assert(rg.reads.size <= rg.cfg.writesPendingMax, `${rg.g.cfg.name}: ${rg.reads.size} reads held, limit ${rg.cfg.writesPendingMax}`);
      assert(rg.votes.held <= rg.cfg.repliesHeldMax, `${rg.g.cfg.name}: ${rg.votes.held} replies held, limit ${rg.cfg.repliesHeldMax}`);
      for (let k = 0; k < rg.owed.length; k++) {
        assert(rg.owed[k]! >= 0, `${rg.g.cfg.name}: server ${k} owes ${rg.owed[k]} writes`);
        assert(rg.owedAcked[k]! >= 0 && rg.owedAcked[k]! <= rg.owed[k]!, `${rg.g.cfg.name}: server ${k} owes ${rg.owedAcked[k]} acknowledged writes of ${rg.owed[k]}`);
      }
    }
  }

  // ---- requests ----

  /** A client's UDP datagram to an rw group's VIP:vport (`l4`: the UDP header's offset). */
  inbound(gi: number, f: Uint8Array, l4: number, end: number, client: Ipv4Addr, sport: number, vip: Ipv4Addr, vport: number): void {
    const core = this.#core;
    const rg = this.#groups[gi]!;
    const payload = udpPayload(f, l4, end);
    if (payload === undefined) return core.drop('udp', 'bad-length');
    const a = rg.analyzer;
    if (!a.isMine(vport)) return this.#drop(rg, 'not-mine');
    const req = this.#req;
    const v = a.checkRequest(payload, vport, req);
    if (v !== 'read' && v !== 'write') return this.#drop(rg, v);
    const key = `${client}.${sport}.${String(req.id)}`;
    const now = core.now;
    if (v === 'write') return this.#write(rg, f, l4, end, payload, key, client, sport, vip, vport, now);
    const members = rg.first ? this.#readFirst(rg) : this.#readOne(rg, client, sport, now);
    if (members === NO_READER) return this.#drop(rg, 'no-reader');
    if (members.length === 0) return this.#drop(rg, 'no-member');
    if (rg.reads.begin(now, key, members) === 'full') return this.#drop(rg, 'reads-full');
    // A ReadFirst read is not snooped: a member not responsible for it stays silent on purpose (slide 20).
    this.#fanOut(rg, f, l4, end, vip, vport, members, rg.first, !rg.first);
    this.#armBy((now + rg.cfg.writeTimeout) as Instant);
  }

  #write(rg: RwGroup, f: Uint8Array, l4: number, end: number, payload: Uint8Array, key: string, client: Ipv4Addr, sport: number, vip: Ipv4Addr, vport: number, now: Instant): void {
    const core = this.#core;
    const g = rg.g;
    if (this.#env.readOnly(g.index)) return this.#refuse(rg, payload, key, client, sport, vip, vport);
    const members = this.#members(rg, false);
    if (members.length === 0) return this.#drop(rg, 'no-member');
    const b = rg.votes.begin(now, key, members);
    // The servers out of service as this write goes by: behind if it is acknowledged.
    const skipped = b.kind === 'started' && members.length < rg.owed.length ? this.#outOfService(rg) : NO_SERVERS;
    switch (b.kind) {
      case 'full':
        return this.#drop(rg, 'writes-full');
      case 'collecting':
        return this.#drop(rg, 'retransmit');
      case 'answered':
        return this.#answer(rg, b.reply, client);
      case 'started':
        break;
    }
    rg.sentTo.set(key, { members: members.length, left: new Set(members), acked: false, skipped });
    for (const k of members) rg.owed[k]!++;
    core.emit({ kind: 'decision', t: now, node: core.name, what: 'write-begin', detail: { group: g.cfg.name, client: formatIpv4(client), id: idOf(key), members: members.length } });
    this.#fanOut(rg, f, l4, end, vip, vport, members, true, true);
    this.#armBy((now + rg.cfg.writeTimeout) as Instant);
  }

  /**
   * The servers a write (or a ReadFirst read) goes to: the Alive ones in config order, as the
   * group property `members` lists them (a drained server, weight 0, still gets every write, or
   * it would fall behind); reads skip those behind.
   */
  #members(rg: RwGroup, forRead: boolean): number[] {
    const bal = rg.g.balancer;
    const out: number[] = [];
    for (let k = 0; k < rg.owed.length; k++) if (bal.state(k) === 'alive' && !(forRead && rg.behind[k] === 1)) out.push(k);
    return out;
  }

  #outOfService(rg: RwGroup): number[] {
    const bal = rg.g.balancer;
    const out: number[] = [];
    for (let k = 0; k < rg.owed.length; k++) if (bal.state(k) !== 'alive') out.push(k);
    return out;
  }

  /** Server `k` of group `gi` says its data is whole again (its own or an admin's `state alive`). */
  caughtUp(gi: number, k: number): void {
    this.setBehind(gi, k, false);
  }

  /** Set whether server `k` of group `gi` is behind (a slave applies its master's word with this). */
  setBehind(gi: number, k: number, behind: boolean): void {
    const rg = this.#groups[gi];
    if (rg === undefined || k < 0 || k >= rg.behind.length) return;
    const v = behind ? 1 : 0;
    if (rg.behind[k] === v) return;
    rg.behind[k] = v;
    this.#env.behindChanged(gi, k);
  }

  /**
   * ReadFirst's members for a read: every member not behind; while writes are in progress, only
   * those that have replied to every write already acknowledged (else the ones owing fewest), so
   * the earliest reply cannot come from a server that has not yet applied what a client saw.
   */
  #readFirst(rg: RwGroup): number[] {
    const all = this.#members(rg, true);
    if (rg.sentTo.size === 0 || all.length === 0) return all;
    const safe = all.filter((k) => rg.owedAcked[k] === 0);
    return safe.length > 0 ? safe : NO_READER;
  }

  /** ReadOne's one server: the preferred one while a write is in progress, else the policy's pick. */
  #readOne(rg: RwGroup, client: Ipv4Addr, sport: number, now: Instant): number[] {
    const bal = rg.g.balancer;
    if (rg.sentTo.size > 0) {
      // First choice: a member that has replied to every write in progress; else one that has
      // replied to every write already acknowledged (a client may have seen those).
      let fallback = -1;
      let candidates = 0;
      for (let k = 0; k < rg.owed.length; k++) {
        if (bal.state(k) !== 'alive' || bal.weight(k) <= 0 || this.#isBehind(rg, k)) continue;
        candidates++;
        if (rg.owed[k] === 0) return [k];
        if (fallback < 0 && rg.owedAcked[k] === 0) fallback = k;
      }
      if (fallback >= 0) return [fallback];
      // Every member in step owes a write a client has seen acknowledged: a read now could go
      // back in time. It waits for the client's retransmission (`no-reader`).
      if (candidates > 0) return NO_READER;
    }
    const mon = rg.g.monitor;
    if (mon !== undefined && mon.cfg.slowStart > 0) for (let k = 0; k < rg.owed.length; k++) bal.setRamp(k, mon.rampFactor(k, now));
    const k = bal.pick(now, { addr: client, port: sport });
    if (k === undefined) return [];
    if (this.#isBehind(rg, k)) {
      // The policy picked a server that missed a write: the first one in step instead.
      const m = this.#members(rg, true);
      return m.length === 0 ? [] : [m[0]!];
    }
    return [k];
  }

  #isBehind(rg: RwGroup, k: number): boolean {
    return rg.behind[k] === 1;
  }

  /** Send the client's datagram to `members`: one multicast datagram (`multi` and the group has one), else a copy each. */
  #fanOut(rg: RwGroup, f: Uint8Array, l4: number, end: number, vip: Ipv4Addr, vport: number, members: readonly number[], multi: boolean, snoop: boolean): void {
    const core = this.#core;
    const g = rg.g;
    const mon = g.monitor;
    const fan = rg.cfg.fanout;
    if (mon !== undefined && snoop) {
      for (const k of members) mon.toServer(k, rg.ports[k]!, core.now);
      core.healthDirty = true;
    }
    if (multi && fan.kind === 'multicast' && members.length > 1) {
      const out = f.slice(0, end);
      if (!this.#toServer(out, l4, vip, fan.group, vport, rg.ports[members[0]!]!)) return;
      writeMac(out, 0, multicastMac(fan.group));
      writeMac(out, 6, core.priv.cfg.mac);
      core.counters.natIn++;
      core.push(core.priv.cfg.name, out);
      return;
    }
    for (let i = 0; i < members.length; i++) {
      const k = members[i]!;
      const s = g.cfg.servers[k]!;
      // The last copy may be the received frame itself; the others are copies.
      const out = i === members.length - 1 ? f : f.slice(0, end);
      if (!this.#toServer(out, l4, vip, s.addr, vport, rg.ports[k]!)) return;
      core.counters.natIn++;
      this.#egress.route(core.priv, s.addr, out, end);
    }
  }

  /** Rewrite a client's datagram to `dst:dport` (checksums incremental, TTL down); false when its TTL ran out. */
  #toServer(buf: Uint8Array, l4: number, vip: Ipv4Addr, dst: Ipv4Addr, vport: number, dport: number): boolean {
    const ip = this.#ip.at(buf, ETH);
    ip.setDst(dst);
    const u = this.#udp.at(buf, l4);
    u.pseudoAddressChanged(vip, dst);
    if (dport !== vport) u.setDstPort(dport);
    if (ip.ttl <= 1) return this.#core.drop('ipv4', 'ttl-expired'), false;
    ip.decrementTtl();
    return true;
  }

  /** A write while the group is read-only (slide 45): the analyzer's refusal, or a counted drop. */
  #refuse(rg: RwGroup, payload: Uint8Array, key: string, client: Ipv4Addr, sport: number, vip: Ipv4Addr, vport: number): void {
    const core = this.#core;
    const body = rg.analyzer.refuse?.(payload, vport);
    core.emit({ kind: 'decision', t: core.now, node: core.name, what: 'write-refused', detail: { group: rg.g.cfg.name, client: formatIpv4(client), id: idOf(key), reason: 'read-only', replied: body !== undefined } });
    if (body === undefined) return this.#drop(rg, 'read-only');
    const frame = encodeFrame({
      eth: { dst: MAC_BROADCAST, src: core.pub.cfg.mac },
      net: { kind: 'ipv4', ip: ipv4Header({ src: vip, dst: client, protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: vport, dstPort: sport, payload: body } } },
    });
    core.counters.natOut++;
    this.#egress.route(core.pub, this.#egress.nextHopPublic(client), frame, frame.length);
  }

  // ---- replies ----

  /**
   * A server's UDP datagram to a client that no link matched: an rw group's reply, if it is
   * from one of their servers' service ports. False when it is not (the caller counts no-link).
   */
  outbound(f: Uint8Array, ihl: number, end: number, server: Ipv4Addr, client: Ipv4Addr): boolean {
    const core = this.#core;
    const l4 = ETH + ihl;
    if (end - l4 < 8) return false;
    const sport = readU16(f, l4);
    const owner = this.#byServer.get(server * 65536 + sport);
    if (owner === undefined) return false;
    const [gi, k] = owner;
    const rg = this.#groups[gi]!;
    const payload = udpPayload(f, l4, end);
    if (payload === undefined) return core.drop('udp', 'bad-length'), true;
    const now = core.now;
    const mon = rg.g.monitor;
    if (mon !== undefined) {
      mon.fromServer(k, sport, now, false);
      core.healthDirty = true;
    }
    const a = rg.analyzer;
    if (!a.isMine(sport)) return this.#drop(rg, 'not-mine'), true;
    const rep = this.#rep;
    const v = a.checkReply(payload, sport, rep);
    if (v !== 'ok' && v !== 'failure' && v !== 'unstated') return this.#drop(rg, v), true;
    const cport = readU16(f, l4 + 2);
    const key = `${client}.${cport}.${String(rep.id)}`;
    if (rg.sentTo.has(key)) {
      const opt = writeStatusAt(f, ihl);
      const ok = opt >= 0 ? readU16(f, opt + 2) === 0 : v !== 'failure';
      let value = hex(payload, rep.valueOff, rep.valueLen);
      if (opt >= 0) value += `|${readU32(f, opt + 4) | 0}`;
      const held: HeldReply = { frame: f.slice(0, end), ihl, server: k };
      const r: MemberReply<HeldReply> = { member: k, ok, value, reply: held };
      const res = rg.votes.reply(now, key, r);
      if (res === 'full') return this.#drop(rg, 'replies-full'), true;
      if (res === 'unexpected') return this.#drop(rg, 'late-reply'), true;
      this.#actions(rg, client);
      this.#heard(rg, key, k);
      return true;
    }
    switch (rg.reads.reply(now, key, k)) {
      case 'first':
        this.#toClient(f, ihl, end, server, sport, rg, client);
        return true;
      case 'late':
        return this.#drop(rg, 'late-reply'), true;
      case 'unknown':
        // A write's answered and kept, or nothing asked: nothing to forward.
        return this.#drop(rg, rg.votes.size > 0 ? 'late-reply' : 'unknown-reply'), true;
    }
  }

  /** Carry out what the group's vote decided. `client` names the client for the trace when known. */
  #actions(rg: RwGroup, client?: Ipv4Addr): void {
    const core = this.#core;
    const g = rg.g;
    for (let a = rg.votes.pollAction(); a !== undefined; a = rg.votes.pollAction()) {
      const who = client !== undefined ? formatIpv4(client) : clientOf(a.key);
      switch (a.kind) {
        case 'answer': {
          const sent = rg.sentTo.get(a.key);
          const members = sent?.members ?? 0;
          if (sent !== undefined && !sent.acked && a.copies > 0) {
            // Acknowledged: a client may now read it. Who has not applied it owes it; who was out of service missed it.
            sent.acked = true;
            for (const k of sent.left) rg.owedAcked[k]!++;
            for (const k of sent.skipped) this.#fallBehind(rg, k);
          }
          const status = a.copies > 0 ? 'ok' : 'failure';
          core.emit({ kind: 'decision', t: core.now, node: core.name, what: 'write-answer', detail: { group: g.cfg.name, client: who, id: idOf(a.key), copies: a.copies, members, status } });
          this.#answer(rg, a.reply, addrOf(a.key));
          break;
        }
        case 'unanswered': {
          const members = rg.sentTo.get(a.key)?.members ?? 0;
          core.emit({ kind: 'decision', t: core.now, node: core.name, what: 'write-answer', detail: { group: g.cfg.name, client: who, id: idOf(a.key), copies: 0, members, status: 'none' } });
          this.#drop(rg, 'unanswered');
          break;
        }
        case 'turn-off':
          core.emit({ kind: 'decision', t: core.now, node: core.name, what: 'write-turn-off', detail: { group: g.cfg.name, server: g.cfg.servers[a.member]!.name, client: who, id: idOf(a.key) } });
          this.#fallBehind(rg, a.member);
          this.#env.turnOff(g.index, a.member);
          break;
        case 'mismatch': {
          // A member silent on a write nobody acknowledged is not behind anyone a client saw
          // (the write is maybe applied); one silent on an acknowledged write, or outvoted, is.
          const acked = a.why === 'value' || rg.sentTo.get(a.key)?.acked === true;
          if (a.why === 'timeout') this.#heard(rg, a.key, a.member);
          core.emit({ kind: 'decision', t: core.now, node: core.name, what: 'write-mismatch', detail: { group: g.cfg.name, server: g.cfg.servers[a.member]!.name, client: who, id: idOf(a.key), why: a.why } });
          if (acked) this.#fallBehind(rg, a.member);
          this.#env.mismatch(g.index, a.member);
          break;
        }
      }
    }
  }

  /** Member `k` replied to write `key`, or timed out: it owes it no more; a write all have is no longer in progress. */
  #heard(rg: RwGroup, key: string, k: number): void {
    const w = rg.sentTo.get(key);
    if (w === undefined || !w.left.delete(k)) return;
    rg.owed[k]!--;
    if (w.acked) rg.owedAcked[k]!--;
    if (w.left.size === 0) rg.sentTo.delete(key);
  }

  /** A counted drop of layer rw, traced (sampled: one by one while few, else in summaries) with its group. */
  #drop(rg: RwGroup, reason: DropReason<'rw'>): void {
    this.#core.emitDrop('rw', reason, rg.g.cfg.name);
  }

  #fallBehind(rg: RwGroup, k: number): void {
    this.setBehind(rg.g.index, k, true);
  }

  /** Send a held reply (a copy: it may be sent again) to the client. */
  #answer(rg: RwGroup, r: HeldReply, client: Ipv4Addr): void {
    const f = r.frame.slice();
    const l4 = ETH + r.ihl;
    const server = rg.g.cfg.servers[r.server]!.addr;
    this.#toClient(f, r.ihl, f.length, server, readU16(f, l4), rg, client);
  }

  /** Rewrite a server's reply as from VIP:vport (without the write-status option) and send it to the client. */
  #toClient(f0: Uint8Array, ihl0: number, end0: number, server: Ipv4Addr, sport: number, rg: RwGroup, client: Ipv4Addr): void {
    const core = this.#core;
    let f = f0;
    let ihl = ihl0;
    let end = end0;
    const opt = writeStatusAt(f, ihl);
    if (opt >= 0) {
      f = stripOption(f, ihl, end, opt);
      ihl -= SG_WRITE_STATUS_LEN;
      end -= SG_WRITE_STATUS_LEN;
    }
    const g = rg.g.cfg;
    const vip = g.vip;
    const vport = g.port as number;
    const ip = this.#ip.at(f, ETH);
    ip.setSrc(vip);
    const u = this.#udp.at(f, ETH + ihl);
    u.pseudoAddressChanged(server, vip);
    if (sport !== vport) u.setSrcPort(vport);
    if (ip.ttl <= 1) return core.drop('ipv4', 'ttl-expired');
    ip.decrementTtl();
    core.counters.natOut++;
    this.#egress.route(core.pub, this.#egress.nextHopPublic(client), f, end);
  }

  // ---- time ----

  /**
   * A vote or race began that ends by `at`: wake by then. O(1) per request; a reply changes no
   * deadline to an earlier one, so it needs none; the timer's run recomputes the exact next one.
   */
  #armBy(at: Instant): void {
    const timers = this.#core.timers;
    const cur = timers.get('rw');
    if (cur === undefined || at < cur) timers.set('rw', at);
  }

  /** The exact next deadline of every group's votes and races. */
  #arm(now: Instant): void {
    let next: number | undefined;
    for (const rg of this.#groups) {
      if (rg === undefined) continue;
      const a = rg.votes.pollTimeout();
      const b = rg.reads.pollTimeout();
      if (a !== undefined && (next === undefined || a < next)) next = a;
      if (b !== undefined && (next === undefined || b < next)) next = b;
    }
    if (next === undefined) this.#core.timers.clear('rw');
    else this.#core.timers.set('rw', Math.max(next, now) as Instant);
  }

  /** The rw timer: close the votes and races due. */
  timeout(now: Instant): void {
    for (const rg of this.#groups) {
      if (rg === undefined) continue;
      rg.votes.handleTimeout(now);
      rg.reads.handleTimeout(now);
      this.#actions(rg);
    }
    this.#arm(now);
  }
}

/** The UDP payload (by the UDP length), or undefined when the length field is impossible. */
function udpPayload(f: Uint8Array, l4: number, end: number): Uint8Array | undefined {
  const ulen = readU16(f, l4 + 4);
  if (ulen < 8 || l4 + ulen > end) return undefined;
  return f.subarray(l4 + 8, l4 + ulen);
}

/** The offset of the write-status option in the IPv4 header, or -1. */
export function writeStatusAt(f: Uint8Array, ihl: number): number {
  let i = ETH + 20;
  const hend = ETH + ihl;
  while (i < hend) {
    const t = f[i]!;
    if (t === 0) break; // end of options
    if (t === 1) {
      i++;
      continue;
    }
    if (i + 1 >= hend) break;
    const len = f[i + 1]!;
    if (len < 2 || i + len > hend) break;
    if (t === SG_WRITE_STATUS_TYPE && len === SG_WRITE_STATUS_LEN) return i;
    i += len;
  }
  return -1;
}

/** A copy of the frame without the 8-byte option at `opt` (header length, total length, checksum fixed). */
function stripOption(f: Uint8Array, ihl: number, end: number, opt: number): Uint8Array {
  const out = new Uint8Array(end - SG_WRITE_STATUS_LEN);
  out.set(f.subarray(0, opt), 0);
  out.set(f.subarray(opt + SG_WRITE_STATUS_LEN, end), opt);
  const nihl = ihl - SG_WRITE_STATUS_LEN;
  out[ETH] = 0x40 | (nihl >> 2);
  writeU16(out, ETH + 2, readU16(f, ETH + 2) - SG_WRITE_STATUS_LEN);
  writeU16(out, ETH + 10, 0);
  writeU16(out, ETH + 10, internetChecksum(out, ETH, nihl));
  return out;
}

function hex(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
}

/** A request key's parts: `${client}.${port}.${id}`. */
function idOf(key: string): string {
  const a = key.indexOf('.');
  return key.slice(key.indexOf('.', a + 1) + 1);
}
function addrOf(key: string): Ipv4Addr {
  return Number(key.slice(0, key.indexOf('.'))) as Ipv4Addr;
}
function clientOf(key: string): string {
  return formatIpv4(addrOf(key));
}
