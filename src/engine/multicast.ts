/**
 * Multicast (slides 8, 21-22): IGMPv2 membership on the public interface (the failover group
 * always, the write groups while serving, announced at once on taking over: slide 22's fix for
 * the snooping switch's delay), the multicast MACs the public interface accepts, and the relay
 * of write datagrams to the servers' segment.
 */

import type { Duration, Instant } from '../time.ts';
import { formatIpv4, multicastMac, writeMac, type Ipv4Addr } from '../wire/addr.ts';
import { encodeFrame, ipv4Header } from '../wire/frame.ts';
import { IGMP_ALL_ROUTERS, IGMP_ALL_SYSTEMS, parseIgmp, type IgmpMessage } from '../wire/igmp.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import type { Rng } from '../rng.ts';
import { ETH, type NodeCore } from './core.ts';
import type { Egress } from './egress.ts';
import { IgmpHost } from './igmp-host.ts';

export class Multicast {
  readonly #core: NodeCore;
  readonly #egress: Egress;
  /** Multicast MACs accepted on the public interface: all-systems, the failover group (slide 8) and the joined write groups. */
  readonly pubMacs = new Set<number>();
  readonly igmp: IgmpHost;
  readonly #timers: { at: number; fn: () => void; live: boolean }[] = [];
  /** The multicast write addresses (slide 21). */
  readonly groups: ReadonlySet<number>;
  #joined = false;

  constructor(core: NodeCore, egress: Egress, rng: Rng) {
    this.#core = core;
    this.#egress = egress;
    this.groups = new Set(core.cfg.multicast ?? []);
    this.igmp = this.#makeIgmp(rng);
    this.pubMacs.add(multicastMac(IGMP_ALL_SYSTEMS));
    const fo = core.cfg.failover;
    if (fo !== undefined) {
      // Join the failover group so that IGMP-snooping switches deliver it to every node.
      this.pubMacs.add(multicastMac(fo.group));
      this.igmp.join(core.pub.cfg.name, fo.group);
    }
  }

  #makeIgmp(rng: Rng): IgmpHost {
    const core = this.#core;
    const name = core.name;
    return new IgmpHost({
      now: () => core.now,
      timer: (d, fn) => {
        const t = { at: core.now + d, fn, live: true };
        this.#timers.push(t);
        const cur = core.timers.get('igmp');
        if (cur === undefined || t.at < cur) core.timers.set('igmp', t.at as Instant);
        return () => {
          t.live = false;
        };
      },
      rng,
      sendReport: (_iface, group) => this.#send(group, { kind: 'v2-report', group }),
      sendLeave: (_iface, group) => this.#send(IGMP_ALL_ROUTERS, { kind: 'leave', group }),
      onTransition: (iface, group, from, to, event) =>
        core.emit({ kind: 'state', t: core.now, node: name, entity: `${name}/${iface}/${formatIpv4(group)}`, machine: 'igmp-host', from, to, reason: event }),
      onTimer: (iface, group, delay, max, trigger) =>
        core.emit({ kind: 'decision', t: core.now, node: name, what: 'igmp-report-timer', detail: { iface, group: formatIpv4(group), delayUs: delay, maxUs: max, trigger } }),
    });
  }

  /** The igmp timer: fire due report timers in deadline order (ties: the order they were set), then re-arm. */
  run(now: Instant): void {
    const due = this.#timers.filter((t) => t.live && t.at <= now).sort((a, b) => a.at - b.at);
    for (const t of due) {
      if (!t.live) continue;
      t.live = false;
      t.fn();
    }
    let next: number | undefined;
    let w = 0;
    for (const t of this.#timers) {
      if (!t.live) continue;
      this.#timers[w++] = t;
      if (next === undefined || t.at < next) next = t.at;
    }
    this.#timers.length = w;
    const timers = this.#core.timers;
    if (next === undefined) timers.clear('igmp');
    else timers.set('igmp', Math.max(next, now) as Instant);
  }

  #send(dst: Ipv4Addr, msg: IgmpMessage): void {
    const pub = this.#core.pub.cfg;
    const header = ipv4Header({ src: pub.addr, dst, protocol: IP_PROTO.igmp, ttl: 1, dscp: 0x30, options: [{ kind: 'router-alert', value: 0 }] });
    this.#core.push(pub.name, encodeFrame({ eth: { dst: multicastMac(dst), src: pub.mac }, net: { kind: 'ipv4', ip: header, l4: { kind: 'igmp', igmp: msg } } }));
  }

  /** An IGMP message on the public interface: queries start report timers, others' reports cancel ours. */
  igmpIn(f: Uint8Array, ihl: number, end: number): void {
    const core = this.#core;
    const p = parseIgmp(f.subarray(ETH + ihl, end));
    if (!p.ok) return core.drop('igmp', p.error.reason);
    const m = p.value;
    const iface = core.pub.cfg.name;
    if (m.kind === 'query' || m.kind === 'v3-query') {
      // v1 queries (code 0) are answered as if they said 10 s (RFC 2236 4); v3 queries as v2 (we are a v2 host).
      const ds = m.kind === 'query' ? m.maxRespCode || 100 : m.maxRespCode < 128 ? m.maxRespCode : ((m.maxRespCode & 0x0f) | 0x10) << (((m.maxRespCode >>> 4) & 7) + 3);
      this.igmp.query(iface, m.group, (ds * 100_000) as Duration);
    } else if (m.kind === 'v2-report' || m.kind === 'v1-report') this.igmp.reportHeard(iface, m.group);
    if (this.#timers.length > 0) this.run(core.now);
  }

  /** Start serving the write groups: join them; `announce` reports at once (the slide-22 fix) instead of waiting for a query. */
  join(announce: boolean): void {
    if (this.#joined || this.groups.size === 0) return;
    this.#joined = true;
    for (const g of this.groups) {
      this.pubMacs.add(multicastMac(g as Ipv4Addr));
      this.igmp.join(this.#core.pub.cfg.name, g as Ipv4Addr, announce);
    }
  }

  leave(): void {
    if (!this.#joined) return;
    this.#joined = false;
    const fo = this.#core.cfg.failover;
    for (const g of this.groups) {
      if (fo === undefined || multicastMac(g as Ipv4Addr) !== multicastMac(fo.group)) this.pubMacs.delete(multicastMac(g as Ipv4Addr));
      this.igmp.leave(this.#core.pub.cfg.name, g as Ipv4Addr);
    }
  }

  /** A datagram to a write group (slide 21): the serving node passes it on to the servers' segment. */
  relay(f: Uint8Array, end: number, proto: number): void {
    const core = this.#core;
    if (!this.#joined) return core.drop('mcast', 'standby');
    if (proto !== IP_PROTO.udp) return core.drop('mcast', 'not-udp');
    if (!this.#egress.decrementTtl(f)) return;
    const out = f.slice(0, end); // the frame may carry padding past the datagram
    writeMac(out, 6, core.priv.cfg.mac);
    core.counters.mcastRelayed++;
    core.push(core.priv.cfg.name, out);
  }
}
