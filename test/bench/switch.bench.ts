/**
 * Switch benchmarks: frames delivered per second (wall clock) through one learning switch with
 * 100 hosts, each on its own link (2 µs latency; 100 Mbit/s or infinitely fast). MAC tables are
 * learned before timing starts; tracing and capture are off. The load is closed-loop: every host
 * starts with one frame in flight and sends a new unicast frame to a random other host each time
 * a frame arrives, so the kernel's queue stays small and steady. One item is one frame delivered
 * to its destination host (two link traversals and one forwarding decision).
 */
import { ifaceName, type IfaceName } from '../../src/port.ts';
import type { Rng } from '../../src/rng.ts';
import { micros } from '../../src/time.ts';
import { ip, MAC_BROADCAST, type MacAddr } from '../../src/wire/addr.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { Link } from '../../sim/net/link.ts';
import { Switch } from '../../sim/net/switch.ts';
import { World, type Attachment, type Device } from '../../sim/world.ts';
import type { Bench } from './harness.ts';

const HOSTS = 100;
/** UDP payload bytes: frames of 64 bytes on the wire. */
const PAYLOAD = 22;

class Bed {
  readonly world = new World({ seed: 'switch-bench' });
  readonly rng: Rng = this.world.rngFor('bench');
  readonly hosts: BenchHost[] = [];
  /** frames[src * HOSTS + dst] */
  readonly frames: Uint8Array[] = [];
  delivered = 0;
  target = 0;
  running = false;

  constructor(bandwidthBps: number | undefined) {
    const sw = new Switch(this.world, 'sw0');
    for (let i = 0; i < HOSTS; i++) {
      const h = new BenchHost(this, i, (0x020000000100 + i) as MacAddr);
      new Link(this.world, `h${i}`, h, sw.addPort(), { latency: micros(2), bandwidthBps });
      this.hosts.push(h);
    }
    for (let s = 0; s < HOSTS; s++) {
      for (let d = 0; d < HOSTS; d++) {
        this.frames.push(
          encodeFrame({
            eth: { dst: this.hosts[d]!.mac, src: this.hosts[s]!.mac },
            net: {
              kind: 'ipv4',
              ip: ipv4Header({ src: ip(`10.0.${s >> 8}.${s & 255}`), dst: ip(`10.0.${d >> 8}.${d & 255}`), protocol: IP_PROTO.udp }),
              l4: { kind: 'udp', udp: { srcPort: 5000, dstPort: 5000, payload: new Uint8Array(PAYLOAD) } },
            },
          }),
        );
      }
    }
    // Learn every address, then start one frame per host.
    for (const h of this.hosts) {
      const hello = this.frames[h.index * HOSTS]!.slice();
      hello.fill(0xff, 0, 6);
      h.attachment!.send(hello);
    }
    this.world.kernel.run();
    for (const h of this.hosts) if (sw.lookup(h.mac) === undefined) throw new Error('bench: MAC table not learned');
    for (const h of this.hosts) h.sendRandom();
  }

  run(n: number): number {
    this.target = this.delivered + n;
    this.running = true;
    this.world.kernel.run();
    this.running = false;
    return this.delivered;
  }
}

class BenchHost implements Device {
  readonly node: string;
  readonly name: IfaceName = ifaceName('eth0');
  readonly mtu = 1500;
  attachment: Attachment | undefined = undefined;

  constructor(
    private readonly bed: Bed,
    readonly index: number,
    readonly mac: MacAddr,
  ) {
    this.node = `h${index}`;
  }

  deliver(frame: Uint8Array): void {
    const bed = this.bed;
    if (!bed.running || frame[0] === (MAC_BROADCAST & 0xff)) return; // the learning hellos
    // A flooded or misdelivered frame would make the number meaningless.
    if (frame[5] !== this.index) throw new Error(`bench: ${this.node} got a frame for another host`);
    if (++bed.delivered >= bed.target) bed.world.kernel.stop();
    this.sendRandom();
  }

  sendRandom(): void {
    let d = this.bed.rng.int(0, HOSTS - 2);
    if (d >= this.index) d++;
    this.attachment!.send(this.bed.frames[this.index * HOSTS + d]!);
  }
}

function bench(name: string, bandwidthBps: number | undefined): Bench {
  let bed: Bed | undefined;
  return {
    name,
    unit: 'frames',
    goalPerSec: 1e6,
    run(n: number): number {
      bed ??= new Bed(bandwidthBps);
      return bed.run(n);
    },
  };
}

export const switchBenches: Bench[] = [
  bench('switch: 100 hosts, 100 Mbit/s links, random unicast', 100e6),
  bench('switch: 100 hosts, infinite-bandwidth links, random unicast', undefined),
];
