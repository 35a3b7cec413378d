/**
 * The NAT path (slides 12, 14, 29), LVS-NAT style:
 *
 *   client -> VIP:vport      becomes  client -> server:port    (inbound, public -> private)
 *   server:port -> client    becomes  VIP:vport -> client      (outbound, private -> public)
 *
 * The client address is kept, so the servers must route replies through the node. ICMP errors
 * about a link are translated both ways, quoted header included. Frames are rewritten in place
 * through the wire views, checksums updated incrementally (RFC 1624); L4 checksums are not
 * verified on the way through (a corrupt segment stays corrupt and the end host drops it, as
 * with IPVS).
 *
 * A link's life (new, active, closing, gone) is the table in src/nat/life.ts: this file feeds it
 * the packets' inputs and carries out its actions.
 */

import type { LinkTable } from '../nat/linktable.ts';
import { LINK_LIFE, linkStep, type LinkLifeInput, type LinkLifeStep } from '../nat/life.ts';
import type { LinkId, LinkInfo, NatProto } from '../nat/types.ts';
import type { Instant } from '../time.ts';
import { formatIpv4, readIpv4, readU16, writeU16, type Ipv4Addr } from '../wire/addr.ts';
import { internetChecksum } from '../wire/checksum.ts';
import { IP_PROTO, Ipv4View } from '../wire/ipv4.ts';
import { TCP_FLAG, TcpView } from '../wire/tcp.ts';
import { UdpView } from '../wire/udp.ts';
import { ETH, type Group, type Iface, type LinkGone, type NodeCore } from './core.ts';
import type { Egress } from './egress.ts';
import type { Rw } from './rw.ts';

const SYN_ACK_RST = TCP_FLAG.syn | TCP_FLAG.ack | TCP_FLAG.rst;

export class NatPath {
  readonly #core: NodeCore;
  readonly #links: LinkTable;
  readonly #groups: readonly Group[];
  readonly #egress: Egress;
  readonly #rw: Rw;
  readonly #pub: Iface;
  readonly #priv: Iface;
  /** vip -> port -> group index ('all' groups under key -1). */
  readonly #groupsByVip = new Map<number, Map<number, number>>();
  // One view of each header, re-pointed at every frame.
  readonly #ip = new Ipv4View(new Uint8Array(0), 0);
  readonly #tcp = new TcpView(new Uint8Array(0), 0);
  readonly #udp = new UdpView(new Uint8Array(0), 0);

  constructor(core: NodeCore, egress: Egress, rw: Rw) {
    this.#core = core;
    this.#rw = rw;
    this.#links = core.links;
    this.#groups = core.groups;
    this.#egress = egress;
    this.#pub = core.pub;
    this.#priv = core.priv;
    core.cfg.groups.forEach((g, gi) => {
      let ports = this.#groupsByVip.get(g.vip);
      if (ports === undefined) this.#groupsByVip.set(g.vip, (ports = new Map()));
      ports.set(g.port === 'all' ? -1 : g.port, gi);
    });
  }

  #groupFor(vip: number, vport: number): number {
    const ports = this.#groupsByVip.get(vip);
    if (ports === undefined) return -1;
    return ports.get(vport) ?? ports.get(-1) ?? -1;
  }

  /** Client -> VIP. False when the packet is not NAT traffic (a ping to a VIP with no ICMP group: the node answers it). */
  inbound(f: Uint8Array, ihl: number, end: number, proto: number, client: Ipv4Addr, vip: Ipv4Addr): boolean {
    const core = this.#core;
    const links = this.#links;
    const l4 = ETH + ihl;
    let sport: number;
    let vport: number;
    let gi: number;
    if (proto === IP_PROTO.icmp) {
      if (end - l4 < 8) return core.drop('icmp', 'truncated'), true;
      const type = f[l4]!;
      if (type === 3 || type === 11) return this.#icmpErrorFromClient(f, l4, end, vip);
      if (type !== 8) return false;
      sport = readU16(f, l4 + 4);
      vport = sport;
      gi = this.#groupFor(vip, 0);
      if (gi < 0) return false; // no ICMP group: the node answers itself
    } else if (proto === IP_PROTO.tcp || proto === IP_PROTO.udp) {
      if (end - l4 < (proto === IP_PROTO.tcp ? 20 : 8)) return core.drop('nat', 'truncated'), true;
      sport = readU16(f, l4);
      vport = readU16(f, l4 + 2);
      gi = this.#groupFor(vip, vport);
    } else return false;
    if (gi < 0) return core.drop('nat', 'no-group'), true;
    const group = this.#groups[gi]!;
    // A read/write group's UDP service is handled by request, not by link (rw.ts).
    if (group.cfg.model !== undefined && group.cfg.model.kind !== 'read-any' && proto === IP_PROTO.udp) return this.#rw.inbound(gi, f, l4, end, client, sport, vip, vport), true;
    const bal = group.balancer;
    const nproto = proto as NatProto;
    const now = core.now;
    let id = links.lookupClient(nproto, client, sport, vip, vport);
    const tcpFlags = proto === IP_PROTO.tcp ? f[l4 + 13]! : 0;
    if (id !== -1 && proto === IP_PROTO.tcp && (tcpFlags & SYN_ACK_RST) === TCP_FLAG.syn && links.state(id) === 'closing') {
      // A new connection reusing the client port of a closing link (as IPVS does): the old link
      // ends now and the SYN is balanced afresh, so it cannot stay pinned to a dead server.
      this.life(id, 'reuse');
      id = -1 as LinkId;
    }
    if (id === -1) {
      if (proto === IP_PROTO.tcp && (tcpFlags & SYN_ACK_RST) !== TCP_FLAG.syn) {
        core.drop('nat', 'no-link'); // a segment of a link we do not know (expired, or another node's)
        return true;
      }
      const created = this.#create(group, nproto, client, sport, vip, vport, now);
      if (created === undefined) return true;
      id = created;
    } else if (links.state(id) === 'new' && bal.state(links.server(id)) === 'dead') this.life(id, 'server-dead');
    const serverAddr = links.serverAddr(id);
    const serverPort = links.serverPort(id);
    const mon = group.monitor;
    if (mon !== undefined) {
      mon.toServer(links.server(id), proto === IP_PROTO.icmp ? 0 : serverPort, now);
      core.healthDirty = true;
    }
    // Rewrite destination address (and port) with incremental checksums.
    const ip = this.#ip.at(f, ETH);
    ip.setDst(serverAddr);
    if (proto === IP_PROTO.tcp) {
      const t = this.#tcp.at(f, l4);
      t.pseudoAddressChanged(vip, serverAddr);
      if (serverPort !== vport) t.setDstPort(serverPort);
      if (tcpFlags & TCP_FLAG.rst) this.life(id, 'rst');
      else if (tcpFlags & TCP_FLAG.fin) this.#fin(id, true);
    } else if (proto === IP_PROTO.udp) {
      const u = this.#udp.at(f, l4);
      u.pseudoAddressChanged(vip, serverAddr);
      if (serverPort !== vport) u.setDstPort(serverPort);
    }
    if (!this.#forwardTtl(ip)) return true;
    links.touch(id, now, 'in');
    if (group.countPackets) bal.packets(links.server(id), 1, now);
    core.counters.natIn++;
    this.#egress.route(this.#priv, serverAddr, f, end);
    return true;
  }

  /** The client's first packet: the balancer picks a server and the table gets a 'new' link (undefined: dropped and counted). */
  #create(group: Group, proto: NatProto, client: Ipv4Addr, sport: number, vip: Ipv4Addr, vport: number, now: Instant): LinkId | undefined {
    const core = this.#core;
    const bal = group.balancer;
    const g = group.cfg;
    const mon = group.monitor;
    if (mon !== undefined) {
      // Slow start and panic mode come from the health monitor.
      if (mon.cfg.slowStart > 0) for (let k = 0; k < g.servers.length; k++) bal.setRamp(k, mon.rampFactor(k, now));
      if (mon.cfg.panicThreshold !== undefined) bal.setPanic(mon.panic());
    }
    const server = bal.pick(now, { addr: client, port: sport });
    if (server === undefined) return void core.drop('nat', 'no-server');
    const s = g.servers[server]!;
    const id = this.#links.create(proto, client, sport, vip, vport, s.addr, s.port ?? vport, group.index, server, now);
    if (id === undefined) {
      // Full, or the server side 5-tuple is already taken (one client port reaching two VIPs
      // or ports that map to the same server port): either way this packet cannot get a link.
      const reason = this.#links.full ? 'table-full' : 'server-key-taken';
      if (reason === 'table-full') core.counters.tableFull++;
      core.drop('nat', reason);
      core.emit({ kind: 'decision', t: now, node: core.name, what: 'link-drop', detail: { reason, group: g.name, client: formatIpv4(client), sport } });
      return undefined;
    }
    core.counters.linksCreated++;
    core.changed(id);
    bal.linkOpened(server, now, client);
    if (core.trace !== undefined) {
      const why = bal.explainLast();
      core.emit({ kind: 'decision', t: now, node: core.name, what: 'link-new', detail: { group: g.name, server: s.name, client: formatIpv4(client), sport, proto, reason: String(why['reason'] ?? 'policy') } });
    }
    return id;
  }

  /** Server -> client. False when no link matches. */
  outbound(f: Uint8Array, ihl: number, end: number, proto: number, server: Ipv4Addr, client: Ipv4Addr): boolean {
    const core = this.#core;
    const links = this.#links;
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
    } else if (proto === IP_PROTO.tcp || proto === IP_PROTO.udp) {
      if (end - l4 < (proto === IP_PROTO.tcp ? 20 : 8)) return false;
      sport = readU16(f, l4);
      cport = readU16(f, l4 + 2);
    } else return false;
    const id = links.lookupServer(proto as NatProto, server, sport, client, cport);
    if (id === -1) return false;
    const now = core.now;
    const vip = links.vip(id);
    const vport = links.vport(id);
    const tcpFlags = proto === IP_PROTO.tcp ? f[l4 + 13]! : 0;
    // Slide 37: a RST is not a response (connection refused); it closes the link instead.
    if (links.state(id) === 'new') this.life(id, tcpFlags & TCP_FLAG.rst ? 'rst' : 'reply');
    const group = this.#groups[links.group(id)]!;
    const mon = group.monitor;
    if (mon !== undefined) {
      mon.fromServer(links.server(id), proto === IP_PROTO.icmp ? 0 : sport, now, (tcpFlags & TCP_FLAG.rst) !== 0);
      core.healthDirty = true;
    }
    const ip = this.#ip.at(f, ETH);
    ip.setSrc(vip);
    if (proto === IP_PROTO.tcp) {
      const t = this.#tcp.at(f, l4);
      t.pseudoAddressChanged(server, vip);
      if (sport !== vport) t.setSrcPort(vport);
      if (tcpFlags & TCP_FLAG.rst) this.life(id, 'rst');
      else if (tcpFlags & TCP_FLAG.fin) this.#fin(id, false);
    } else if (proto === IP_PROTO.udp) {
      const u = this.#udp.at(f, l4);
      u.pseudoAddressChanged(server, vip);
      if (sport !== vport) u.setSrcPort(vport);
    }
    if (!this.#forwardTtl(ip)) return true;
    links.touch(id, now, 'out');
    if (group.countPackets) group.balancer.packets(links.server(id), 1, now);
    core.counters.natOut++;
    this.#egress.route(this.#pub, this.#egress.nextHopPublic(client), f, end);
    return true;
  }

  #forwardTtl(ip: Ipv4View): boolean {
    if (ip.ttl <= 1) {
      this.#core.drop('ipv4', 'ttl-expired');
      return false;
    }
    ip.decrementTtl();
    return true;
  }

  #fin(id: LinkId, fromClient: boolean): void {
    const links = this.#links;
    links.markFin(id, fromClient);
    if (links.finClient(id) && links.finServer(id)) this.life(id, 'fin-both');
  }

  // ---- the link's life ----

  /** Feed `input` to the link's life machine (src/nat/life.ts) and carry out the step. */
  life(id: LinkId, input: LinkLifeInput): void {
    const links = this.#links;
    const from = links.state(id);
    const s = linkStep(from, input);
    if (s === undefined) return;
    if (s.to === 'gone') {
      const gone = this.#core.gone(id);
      links.remove(id);
      return this.#ended(s, gone);
    }
    if (s.to !== from) links.setState(id, s.to);
    for (const a of s.actions) {
      if (a === 'sync') this.#core.changed(id);
      else if (a === 'remap') this.#remap(id);
    }
  }

  /** The idle sweep removed this link (the table's expiry): slide 29's idle timeout. */
  expired(info: LinkInfo): void {
    this.#ended(LINK_LIFE[info.state].idle, info);
  }

  #ended(s: LinkLifeStep, gone: LinkGone): void {
    for (const a of s.actions) {
      if (a === 'close') this.#core.closed(gone);
      else if (a === 'count-expired') this.#core.counters.linksExpired++;
    }
  }

  /** A 'new' link whose server is dead moves to another (slide 29); kept when none is better or its server key is taken. */
  #remap(id: LinkId): void {
    const core = this.#core;
    const links = this.#links;
    const now = core.now;
    const gi = links.group(id);
    const old = links.server(id);
    const client = links.clientAddr(id);
    const sport = links.clientPort(id);
    const group = this.#groups[gi]!;
    const bal = group.balancer;
    const next = bal.pick(now, { addr: client, port: sport }, old);
    if (next === undefined || next === old) return;
    const g = group.cfg;
    const s = g.servers[next]!;
    if (!links.remap(id, s.addr, s.port ?? links.vport(id), next, now)) return; // server key taken: keep the link
    bal.linkClosed(old, now, client);
    bal.linkOpened(next, now, client);
    core.counters.linksRemapped++;
    core.changed(id);
    core.emit({ kind: 'decision', t: now, node: core.name, what: 'link-remap', detail: { group: g.name, from: g.servers[old]!.name, to: s.name, client: formatIpv4(client), sport } });
  }

  // ---- ICMP errors ----

  /**
   * An ICMP error from a client about a reply we sent (quoted: VIP:vport -> client:cport):
   * translate the quoted header and the outer destination to the server, and pass it on.
   */
  #icmpErrorFromClient(f: Uint8Array, l4: number, end: number, vip: Ipv4Addr): boolean {
    const core = this.#core;
    const q = l4 + 8;
    if (end - q < 28 || f[q]! >>> 4 !== 4) return core.drop('icmp', 'bad-quote'), true;
    const qihl = (f[q]! & 15) * 4;
    const qproto = f[q + 9]!;
    if (end - q < qihl + 4 || (qproto !== IP_PROTO.tcp && qproto !== IP_PROTO.udp)) return core.drop('icmp', 'bad-quote'), true;
    // The quoted datagram is our reply VIP -> client. The error may come from the client or from
    // any router on the way (fragmentation needed: path MTU discovery), so the link is found by
    // the quoted client address, not by the error's source.
    const qclient = readIpv4(f, q + 16) as Ipv4Addr;
    if (readIpv4(f, q + 12) !== vip) return core.drop('icmp', 'bad-quote'), true;
    const vport = readU16(f, q + qihl);
    const cport = readU16(f, q + qihl + 2);
    const id = this.#links.lookupClient(qproto as NatProto, qclient, cport, vip, vport);
    if (id === -1) return core.drop('nat', 'no-link'), true;
    const serverAddr = this.#links.serverAddr(id);
    const serverPort = this.#links.serverPort(id);
    this.#ip.at(f, q).setSrc(serverAddr); // the quoted reply came from the VIP: now from the server
    writeU16(f, q + qihl, serverPort); // (the quote's L4 checksum is not ours to keep: it may be cut)
    this.#ip.at(f, ETH).setDst(serverAddr);
    this.#icmpChecksum(f, l4, end);
    if (!this.#egress.decrementTtl(f)) return true;
    this.#egress.route(this.#priv, serverAddr, f, end);
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
    const id = this.#links.lookupServer(qproto as NatProto, server, sport, client, cport);
    if (id === -1) return false;
    const vip = this.#links.vip(id);
    this.#ip.at(f, q).setDst(vip); // the quoted datagram went to the VIP, as the client sent it
    writeU16(f, q + qihl + 2, this.#links.vport(id));
    this.#ip.at(f, ETH).setSrc(vip);
    this.#icmpChecksum(f, l4, end);
    if (!this.#egress.decrementTtl(f)) return true;
    this.#egress.route(this.#pub, this.#egress.nextHopPublic(client), f, end);
    return true;
  }

  /** Recompute the ICMP checksum over the rewritten message. */
  #icmpChecksum(f: Uint8Array, l4: number, end: number): void {
    writeU16(f, l4 + 2, 0);
    writeU16(f, l4 + 2, internetChecksum(f, l4, end - l4));
  }
}
