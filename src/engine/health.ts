/**
 * Health detection's wiring (slides 33-38): the probes each group's monitor asks for go out of
 * the private interface (ICMP echo, a UDP datagram, or a TCP SYN torn down with a RST once it is
 * answered), their answers come back to the private address, and the state changes the monitors
 * decide reach the balancers, the slaves and the trace.
 */

import { assert } from '../assert.ts';
import type { ServerState } from '../balance/types.ts';
import type { ProbeOutcome, ProbeRequest } from '../health/types.ts';
import type { Instant } from '../time.ts';
import { MAC_BROADCAST, readU16, readU32, type Ipv4Addr } from '../wire/addr.ts';
import { encodeFrame, ipv4Header } from '../wire/frame.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import { TCP_FLAG } from '../wire/tcp.ts';
import { ETH, type NodeCore } from './core.ts';
import type { Egress } from './egress.ts';

/** Local ports the node's port-test probes come from, and probes tracked at once. */
const PROBE_PORT_BASE = 61000;
const PROBE_PORTS = 4000;
export const PROBES_PENDING_MAX = 16_384;
const PROBE_PAYLOAD = new TextEncoder().encode('sg-probe');

export class Health {
  readonly #core: NodeCore;
  readonly #egress: Egress;
  /** Streams a server's new state to the slaves (failover.ts). */
  readonly #syncServer: (group: number, server: number) => void;
  /** Port tests in flight: key `${proto}/${server addr}/${server port}/${local port}` -> [group, probe id]. */
  readonly #probes = new Map<string, [number, number]>();
  #probePort = 0;

  constructor(core: NodeCore, egress: Egress, syncServer: (group: number, server: number) => void) {
    this.#core = core;
    this.#egress = egress;
    this.#syncServer = syncServer;
  }

  checkBounds(): void {
    assert(this.#probes.size <= PROBES_PENDING_MAX, `${this.#probes.size} probes pending, limit ${PROBES_PENDING_MAX}`);
  }

  /** Probes waiting for an answer. */
  get pending(): number {
    return this.#probes.size;
  }

  /** Send due probes, apply state changes, re-arm the health timer. */
  run(now: Instant): void {
    const core = this.#core;
    core.healthDirty = false;
    let next: number | undefined;
    for (const group of core.groups) {
      const m = group.monitor;
      if (m === undefined) continue;
      for (let p = m.pollProbe(now); p !== undefined; p = m.pollProbe(now)) this.#sendProbe(group.index, p);
      for (let c = m.pollChange(); c !== undefined; c = m.pollChange()) {
        const g = group.cfg;
        group.balancer.setState(c.server, c.to, now);
        this.#syncServer(group.index, c.server);
        core.emit({
          kind: 'state', t: now, node: core.name, entity: `${g.name}/${g.servers[c.server]!.name}`, machine: 'server',
          from: c.from, to: c.to, reason: `${c.event.detector}: ${c.event.detail}`,
        });
      }
      const t = m.pollTimeout();
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    if (next === undefined) core.timers.clear('health');
    else core.timers.set('health', Math.max(next, now) as Instant);
  }

  /** The health timer. */
  timeout(now: Instant): void {
    for (const g of this.#core.groups) g.monitor?.handleTimeout(now);
  }

  /** An admin's state for a server of a monitored group: the monitor's latest event, applied at once. */
  admin(group: number, server: number, state: ServerState): void {
    const core = this.#core;
    core.groups[group]!.monitor!.admin(server, state, core.now);
    this.run(core.now);
  }

  #sendProbe(gi: number, p: ProbeRequest): void {
    const core = this.#core;
    const s = core.groups[gi]!.cfg.servers[p.server]!;
    const priv = core.priv;
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
    this.#egress.route(priv, s.addr, frame, frame.length);
  }

  /**
   * The pending probe this datagram to the private address answers, as its key; undefined when
   * it answers none (a TCP segment must be a SYN-ACK or a RST, an ICMP error must quote our UDP probe).
   */
  match(f: Uint8Array, ihl: number, end: number, proto: number, src: Ipv4Addr): string | undefined {
    const l4 = ETH + ihl;
    let key: string;
    if (proto === IP_PROTO.tcp && end - l4 >= 20) {
      const flags = f[l4 + 13]!;
      if ((flags & (TCP_FLAG.syn | TCP_FLAG.ack)) !== (TCP_FLAG.syn | TCP_FLAG.ack) && !(flags & TCP_FLAG.rst)) return undefined;
      key = `6/${src}/${readU16(f, l4)}/${readU16(f, l4 + 2)}`;
    } else if (proto === IP_PROTO.udp && end - l4 >= 8) {
      key = `17/${src}/${readU16(f, l4)}/${readU16(f, l4 + 2)}`;
    } else if (proto === IP_PROTO.icmp && end - l4 >= 8) {
      const type = f[l4]!;
      if (type === 0) key = `1/${src}/0/${readU16(f, l4 + 4)}`;
      else if (type === 3 && end - l4 >= 8 + 28) {
        // Port unreachable quoting our UDP probe.
        const q = l4 + 8;
        const qihl = (f[q]! & 15) * 4;
        if (f[q + 9] !== IP_PROTO.udp || end - q < qihl + 4) return undefined;
        key = `17/${src}/${readU16(f, q + qihl + 2)}/${readU16(f, q + qihl)}`;
      } else return undefined;
    } else return undefined;
    return this.#probes.has(key) ? key : undefined;
  }

  /** The answer `match` found: its outcome to the monitor (a SYN-ACK is torn down with a RST). */
  answer(key: string, f: Uint8Array, ihl: number, proto: number, src: Ipv4Addr): void {
    const core = this.#core;
    const l4 = ETH + ihl;
    let outcome: ProbeOutcome = 'alive';
    if (proto === IP_PROTO.tcp) {
      const flags = f[l4 + 13]!;
      if ((flags & (TCP_FLAG.syn | TCP_FLAG.ack)) === (TCP_FLAG.syn | TCP_FLAG.ack)) {
        // Tear the half-open connection down at once (slide 38: connect ok, then close).
        const priv = core.priv;
        const rst = encodeFrame({
          eth: { dst: MAC_BROADCAST, src: priv.cfg.mac },
          net: { kind: 'ipv4', ip: ipv4Header({ src: priv.cfg.addr, dst: src, protocol: IP_PROTO.tcp }), l4: { kind: 'tcp', tcp: { srcPort: readU16(f, l4 + 2), dstPort: readU16(f, l4), seq: readU32(f, l4 + 8), ack: 0, flags: TCP_FLAG.rst, window: 0, urgentPointer: 0, options: [], payload: new Uint8Array(0) } } },
        });
        this.#egress.route(priv, src, rst, rst.length);
      } else outcome = 'refused';
    } else if (proto === IP_PROTO.icmp && f[l4] === 3) outcome = 'unreachable';
    const [gi, id] = this.#probes.get(key)!;
    this.#probes.delete(key);
    core.groups[gi]?.monitor?.probeResult(id, outcome, core.now);
    core.healthDirty = true;
  }
}
