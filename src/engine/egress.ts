/**
 * Egress (slides 4, 7): routing out of the public or private interface, ARP resolution with a
 * bounded queue per unresolved neighbour, answers to ARP for the node's own addresses, and the
 * gratuitous ARPs that move the VIPs to this node.
 */

import type { Instant } from '../time.ts';
import { formatIpv4, MAC_BROADCAST, readU16, writeMac, writeU16, type Ipv4Addr, type MacAddr } from '../wire/addr.ts';
import { ARP_LEN, ARP_OP, encodeArp, parseArp } from '../wire/arp.ts';
import { updateChecksum16 } from '../wire/checksum.ts';
import { ETHERTYPE } from '../wire/ethernet.ts';
import { ArpTable } from './arp.ts';
import { ETH, type Iface, type NodeCore } from './core.ts';

export class Egress {
  readonly #core: NodeCore;
  readonly #arp = new ArpTable();
  readonly #pub: Iface;
  readonly #priv: Iface;
  /** The VIPs on the public interface. */
  readonly vips: ReadonlySet<number>;
  /** Gratuitous ARP rounds still to send. */
  garpLeft: number;

  constructor(core: NodeCore) {
    this.#core = core;
    this.#pub = core.pub;
    this.#priv = core.priv;
    this.vips = new Set(core.cfg.groups.map((g) => g.vip));
    this.garpLeft = core.cfg.garpCount;
  }

  /** Send `f` (an Ethernet frame, IP from offset 14) out of `ifc` toward next hop `hop`. */
  route(ifc: Iface, hop: Ipv4Addr, f: Uint8Array, end: number): void {
    const core = this.#core;
    const frame = end === f.length ? f : f.subarray(0, end);
    writeMac(frame, 6, ifc.cfg.mac);
    const mac = this.#arp.lookup(ifc.slot, hop, core.now);
    if (mac !== undefined) {
      writeMac(frame, 0, mac);
      core.push(ifc.cfg.name, frame);
      return;
    }
    // The frame waits in the ARP queue: copy it out of the receive buffer the driver may reuse.
    const r = this.#arp.enqueue(ifc.slot, hop, ifc.cfg.name, frame.slice(), core.now);
    if (r === 'request') this.#arpRequest(ifc, hop);
    else if (r === 'full') core.drop('arp', 'queue-full');
    this.armArp();
  }

  /** The public next hop toward `dst`: itself on the public segment, else the gateway. */
  nextHopPublic(dst: Ipv4Addr): Ipv4Addr {
    const p = this.#pub;
    const gw = this.#core.cfg.gateway;
    if (((dst ^ p.cfg.addr) & p.mask) >>> 0 === 0 || gw === undefined) return dst;
    return gw;
  }

  /** Route an answer back where `src` came from on `ifc`. */
  reply(ifc: Iface, src: Ipv4Addr, f: Uint8Array, end: number): void {
    this.route(ifc, ifc === this.#pub ? this.nextHopPublic(src) : src, f, end);
  }

  /** Forwarding's TTL step, with the header checksum kept right; false (and a counted drop) when it expired. */
  decrementTtl(f: Uint8Array): boolean {
    const ttl = f[ETH + 8]!;
    if (ttl <= 1) {
      this.#core.drop('ipv4', 'ttl-expired');
      return false;
    }
    const old = readU16(f, ETH + 8);
    f[ETH + 8] = ttl - 1;
    writeU16(f, ETH + 10, updateChecksum16(readU16(f, ETH + 10), old, old - 0x100));
    return true;
  }

  // ---- ARP ----

  /** Whether the node answers for `ip` on `ifc`: its own address always, the VIPs only while serving. */
  owns(ifc: Iface, ip: number): boolean {
    if (ip === ifc.cfg.addr) return true;
    if (!this.#core.active) return false;
    return (ifc === this.#pub && this.vips.has(ip)) || (ifc === this.#priv && ip === this.#core.cfg.failover?.privateVip);
  }

  arpIn(ifc: Iface, f: Uint8Array): void {
    const core = this.#core;
    const p = parseArp(f.subarray(ETH));
    if (!p.ok) return core.drop('arp', p.error.reason);
    const a = p.value;
    const forUs = this.owns(ifc, a.targetIp);
    if (a.senderIp !== 0) {
      const waiting = this.#arp.learn(ifc.slot, a.senderIp, a.senderMac, core.now, forUs);
      for (const w of waiting) {
        writeMac(w, 0, a.senderMac);
        core.push(ifc.cfg.name, w);
      }
    }
    if (a.op === ARP_OP.request && forUs && a.senderIp !== a.targetIp) {
      this.#sendArp(ifc, a.senderMac, { op: ARP_OP.reply, senderMac: ifc.cfg.mac, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp });
    }
  }

  /** The ARP timer: retry unanswered requests, drop what waited for a neighbour that never answered. */
  arpTimeout(now: Instant): void {
    const { retry, failed } = this.#arp.poll(now);
    for (const r of retry) this.#arpRequest(r.iface === this.#pub.cfg.name ? this.#pub : this.#priv, r.ip);
    for (const f of failed) {
      for (let i = 1; i < f.frames; i++) this.#core.drop('arp', 'unresolved');
      this.#core.emitDrop('arp', 'unresolved', formatIpv4(f.ip));
    }
  }

  checkBounds(): void {
    this.#arp.checkBounds();
  }

  armArp(): void {
    const t = this.#arp.nextDeadline();
    if (t === undefined) this.#core.timers.clear('arp');
    else this.#core.timers.set('arp', t as Instant);
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
    this.#core.push(ifc.cfg.name, frame);
  }

  // ---- gratuitous ARP (slide 7) ----

  /** Announce the addresses `garpCount` times from now (on taking over, or when a split heals and we stay). */
  startGarps(now: Instant): void {
    this.garpLeft = this.#core.cfg.garpCount;
    if (this.garpLeft > 0) this.#core.timers.set('garp', now);
  }

  stopGarps(): void {
    this.garpLeft = 0;
    this.#core.timers.clear('garp');
  }

  /** The garp timer: one round of announcements, and the next one armed while rounds are left. */
  garpTimeout(now: Instant): void {
    this.#sendGarps();
    if (--this.garpLeft > 0) this.#core.timers.set('garp', (now + this.#core.cfg.garpInterval) as Instant);
  }

  /** Announce the node's addresses and VIPs (slide 7: ARP moves the address to this node). */
  #sendGarps(): void {
    const announce = (ifc: Iface, ip: number) =>
      this.#sendArp(ifc, MAC_BROADCAST, { op: ARP_OP.request, senderMac: ifc.cfg.mac, senderIp: ip as Ipv4Addr, targetMac: 0 as MacAddr, targetIp: ip as Ipv4Addr });
    announce(this.#pub, this.#pub.cfg.addr);
    for (const v of this.vips) announce(this.#pub, v);
    announce(this.#priv, this.#priv.cfg.addr);
    const pv = this.#core.cfg.failover?.privateVip;
    if (pv !== undefined) announce(this.#priv, pv);
  }
}
