/**
 * A node that puts arbitrary frames on the wire: the attacker of slide 46 (SYN floods from
 * spoofed sources), forged control messages, malformed frames. It answers nothing; frames it
 * receives are counted and handed to an optional callback.
 */

import type { IfaceName } from '../src/port.ts';
import { ifaceName } from '../src/port.ts';
import type { Duration, Instant } from '../src/time.ts';
import type { Ipv4Addr, MacAddr } from '../src/wire/addr.ts';
import { encodeFrame, ipv4Header } from '../src/wire/frame.ts';
import { IP_PROTO } from '../src/wire/ipv4.ts';
import { TCP_FLAG } from '../src/wire/tcp.ts';
import { assert } from '../src/assert.ts';
import type { Attachment, Device, World } from './world.ts';

export class RawNode implements Device {
  readonly world: World;
  readonly node: string;
  readonly name: IfaceName = ifaceName('eth0');
  readonly mac: MacAddr;
  readonly mtu = 1500;
  attachment: Attachment | undefined = undefined;
  sent = 0;
  received = 0;
  onFrame: ((frame: Uint8Array) => void) | undefined;

  constructor(world: World, name: string, mac: MacAddr) {
    world.claimName(name);
    this.world = world;
    this.node = name;
    this.mac = mac;
  }

  deliver(frame: Uint8Array): void {
    this.received++;
    this.onFrame?.(frame);
  }

  /** Put one frame on the wire now; false when the link refused it. */
  send(frame: Uint8Array): boolean {
    this.sent++;
    return this.attachment?.send(frame) ?? false;
  }
}

export interface SynFloodOptions {
  /** Next-hop MAC (the target, or the router toward it). */
  readonly dstMac: MacAddr;
  readonly dst: Ipv4Addr;
  readonly dstPort: number;
  /** Spoofed source addresses are drawn uniformly from [srcFrom, srcTo]. */
  readonly srcFrom: Ipv4Addr;
  readonly srcTo: Ipv4Addr;
  /** SYNs per second. */
  readonly rate: number;
  readonly start: Instant | Duration;
  readonly stop: Instant | Duration;
}

/** Largest flood rate we schedule (one event per SYN). */
export const SYN_FLOOD_RATE_MAX = 1_000_000;

/** Send SYNs from random spoofed sources at a constant rate between start and stop. */
export function synFlood(node: RawNode, o: SynFloodOptions): void {
  assert(o.rate > 0 && o.rate <= SYN_FLOOD_RATE_MAX, `syn flood rate out of range: ${o.rate}`);
  const rng = node.world.rngFor(`synflood:${node.node}`);
  const gap = Math.max(1, Math.round(1_000_000 / o.rate));
  const tick = (): void => {
    if (node.world.now >= o.stop) return;
    const src = rng.int(o.srcFrom, o.srcTo) as Ipv4Addr;
    node.send(
      encodeFrame({
        eth: { dst: o.dstMac, src: node.mac },
        net: {
          kind: 'ipv4',
          ip: ipv4Header({ src, dst: o.dst, protocol: IP_PROTO.tcp, identification: rng.int(0, 0xffff) }),
          l4: {
            kind: 'tcp',
            tcp: { srcPort: rng.int(1024, 65535), dstPort: o.dstPort, seq: rng.u32(), ack: 0, flags: TCP_FLAG.syn, window: 64240, urgentPointer: 0, options: [{ kind: 'mss', value: 1460 }], payload: new Uint8Array(0) },
          },
        },
      }),
    );
    node.world.at((node.world.now + gap) as Instant, tick);
  };
  node.world.at(o.start as Instant, tick);
}
