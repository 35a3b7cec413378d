/**
 * Datagrams for the node itself: pings to its addresses and VIPs are answered (slide 4), and the
 * feedback protocol's datagrams go to SGctrld (slides 27, 41), whose signed result goes back from
 * the address and port they came to. Everything else for the node is dropped and counted.
 */

import type { Ctld } from '../ctl/ctld.ts';
import type { TraceEventInput } from '../trace.ts';
import { MAC_BROADCAST, readU16, writeIpv4, writeU16, type Ipv4Addr } from '../wire/addr.ts';
import { internetChecksum, updateChecksum16 } from '../wire/checksum.ts';
import { encodeFrame, ipv4Header } from '../wire/frame.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import { ETH, type Iface, type NodeCore } from './core.ts';
import type { Egress } from './egress.ts';

export class Local {
  readonly #core: NodeCore;
  readonly #egress: Egress;
  /**
   * Wall-clock µs for the feedback protocol's timestamps (real mode: the driver's clock, since
   * `sg cmd` stamps with wall time); undefined: the node's own time (the simulator).
   */
  readonly #wallClockUs: (() => number) | undefined;

  constructor(core: NodeCore, egress: Egress, wallClockUs: (() => number) | undefined) {
    this.#core = core;
    this.#egress = egress;
    this.#wallClockUs = wallClockUs;
  }

  /** Answer a ping; anything else is dropped and counted. */
  ping(ifc: Iface, f: Uint8Array, ihl: number, end: number, proto: number, src: Ipv4Addr, dst: Ipv4Addr): void {
    const core = this.#core;
    const l4 = ETH + ihl;
    if (proto !== IP_PROTO.icmp || end - l4 < 8 || f[l4] !== 8) return core.drop('local', 'unsupported');
    if (internetChecksum(f, l4, end - l4) !== 0) return core.drop('icmp', 'bad-checksum');
    const reply = f.slice(0, end);
    writeIpv4(reply, ETH + 12, dst);
    writeIpv4(reply, ETH + 16, src);
    reply[ETH + 8] = 64;
    writeU16(reply, ETH + 10, 0);
    writeU16(reply, ETH + 10, internetChecksum(reply, ETH, ihl));
    reply[l4] = 0;
    writeU16(reply, l4 + 2, updateChecksum16(readU16(reply, l4 + 2), 0x0800, 0x0000));
    this.#egress.reply(ifc, src, reply, end);
  }

  /**
   * A feedback-protocol datagram: SGctrld decides (unauthenticated or unparsable datagrams get
   * no reply: see src/ctl/ctld.ts).
   */
  control(ctld: Ctld, ifc: Iface, f: Uint8Array, ihl: number, end: number, src: Ipv4Addr, dst: Ipv4Addr): void {
    const core = this.#core;
    const l4 = ETH + ihl;
    const sport = readU16(f, l4);
    const dport = readU16(f, l4 + 2);
    const ulen = readU16(f, l4 + 4);
    if (ulen < 8 || l4 + ulen > end) return core.drop('udp', 'bad-length');
    const now = core.now;
    const out = ctld.handleBytes(now, { addr: src, port: sport }, f.slice(l4 + 8, l4 + ulen), this.#wallClockUs?.() ?? now);
    // Every refusal is sampled like a drop (a flood of junk must not fill the trace); a command
    // that went through ('ok') is traced one by one.
    const tr = out.trace;
    const traced = tr.kind === 'drop' ? core.sampleDrop(tr.layer, tr.reason) : out.status === 'ok' || core.sampleDrop('ctl', out.status);
    if (traced) core.emit({ ...tr, t: now, node: core.name } as TraceEventInput);
    if (out.replyBytes === undefined) return;
    const reply = encodeFrame({
      eth: { dst: MAC_BROADCAST, src: ifc.cfg.mac },
      net: { kind: 'ipv4', ip: ipv4Header({ src: dst, dst: src, protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: dport, dstPort: sport, payload: out.replyBytes } } },
    });
    this.#egress.reply(ifc, src, reply, reply.length);
  }
}
