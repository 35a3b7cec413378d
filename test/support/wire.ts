/**
 * A minimal wire for host-stack tests: devices on a hub (every frame reaches every other device
 * after a fixed delay), a sniffing device, and decoding helpers. Tests of sim/host/* use it
 * instead of real links so they test one thing at a time.
 */
import type { Duration, Instant } from '../../src/time.ts';
import { mac, type MacAddr } from '../../src/wire/addr.ts';
import { decodeFrame, type DecodedFrame } from '../../src/wire/frame.ts';
import type { IgmpMessage } from '../../src/wire/igmp.ts';
import type { Attachment, Device, World } from '../../sim/world.ts';

export interface Sent {
  readonly t: Instant;
  /** `node/iface` of the sender. */
  readonly from: string;
  /** The sender's node. */
  readonly node: string;
  readonly frame: Uint8Array;
}

/** Connect devices to one medium: every frame reaches every other device after `delay`. */
export function hub(world: World, devices: readonly Device[], delay: Duration, log?: Sent[]): void {
  for (const d of devices) {
    const att: Attachment = {
      up: true,
      send(frame: Uint8Array): boolean {
        log?.push({ t: world.now, from: `${d.node}/${d.name}`, node: d.node, frame });
        for (const peer of devices) {
          if (peer !== d) world.at((world.now + delay) as Instant, () => peer.deliver(frame));
        }
        return true;
      },
    };
    d.attachment = att;
  }
}

/** A point-to-point link: a hub of two. */
export function link(world: World, a: Device, b: Device, delay: Duration, log?: Sent[]): void {
  hub(world, [a, b], delay, log);
}

/** A device that records what reaches it (a sniffer or a stub peer) and can send raw frames. */
export class Sink implements Device {
  readonly node: string;
  readonly name = 'eth0' as Device['name'];
  readonly mtu = 1500;
  attachment: Attachment | undefined = undefined;
  readonly got: { t: Instant; frame: Uint8Array }[] = [];
  constructor(
    readonly world: World,
    name: string,
    readonly mac: MacAddr = macN(0xee),
  ) {
    this.node = name;
  }
  deliver(frame: Uint8Array): void {
    this.got.push({ t: this.world.now, frame });
  }
  send(frame: Uint8Array): void {
    this.attachment?.send(frame);
  }
}

export function macN(n: number): MacAddr {
  return mac(`02:00:00:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`);
}

export function decode(frame: Uint8Array): DecodedFrame {
  const d = decodeFrame(frame);
  if (!d.ok) throw new Error(`undecodable frame: ${d.error.layer} ${d.error.reason}`);
  return d.value;
}

export function igmpOf(frame: Uint8Array): IgmpMessage | undefined {
  const d = decode(frame);
  return d.net.kind === 'ipv4' && d.net.l4.kind === 'igmp' ? d.net.l4.igmp : undefined;
}

export function run(world: World, until: number): void {
  world.kernel.run({ until: until as Instant });
}
