import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPcapng } from '../../src/capture/pcapng-read.ts';
import { ifaceName, type IfaceName } from '../../src/port.ts';
import { micros, millis, type Duration, type Instant } from '../../src/time.ts';
import { JsonlTrace, MemoryTrace, type FrameEvent } from '../../src/trace.ts';
import { ip, mac, readU16, type MacAddr } from '../../src/wire/addr.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import {
  Link,
  LINK_LATENCY_DEFAULT,
  LINK_QUEUE_FRAMES_DEFAULT,
  type LinkProps,
} from '../../sim/net/link.ts';
import { World, type Attachment, type Device, type WorldOptions } from '../../sim/world.ts';

// ---------------------------------------------------------------------------------------------
// A tiny NIC that records what arrives.

interface Arrival {
  readonly t: number;
  readonly frame: Uint8Array;
  readonly cause: number | undefined;
}

class TestNic implements Device {
  readonly name: IfaceName = ifaceName('eth0');
  readonly mtu = 1500;
  attachment: Attachment | undefined = undefined;
  readonly got: Arrival[] = [];
  onDeliver: ((frame: Uint8Array) => void) | undefined = undefined;

  constructor(
    private readonly world: World,
    readonly node: string,
    readonly mac: MacAddr,
  ) {}

  deliver(frame: Uint8Array): void {
    this.got.push({ t: this.world.now, frame, cause: this.world.cause });
    this.onDeliver?.(frame);
  }

  send(frame: Uint8Array): boolean {
    return this.attachment!.send(frame);
  }
}

const MAC_A = mac('02:00:00:00:00:0a');
const MAC_B = mac('02:00:00:00:00:0b');

/** A UDP frame of exactly `len` bytes (>= 42), with a sequence number in the first payload bytes. */
function frameOf(len: number, seq = 0, src = MAC_A, dst = MAC_B): Uint8Array {
  const payload = new Uint8Array(len - 42);
  if (payload.length >= 2) {
    payload[0] = seq >>> 8;
    payload[1] = seq & 255;
  }
  return encodeFrame({
    eth: { dst, src },
    net: {
      kind: 'ipv4',
      ip: ipv4Header({ src: ip('10.0.0.1'), dst: ip('10.0.0.2'), protocol: IP_PROTO.udp }),
      l4: { kind: 'udp', udp: { srcPort: 1000, dstPort: 2000, payload } },
    },
  });
}

function seqOf(frame: Uint8Array): number {
  return readU16(frame, 42);
}

function pair(props: LinkProps = {}, opts: WorldOptions = {}): { world: World; a: TestNic; b: TestNic; link: Link } {
  const world = new World(opts);
  const a = new TestNic(world, 'ha', MAC_A);
  const b = new TestNic(world, 'hb', MAC_B);
  const link = new Link(world, 'ab', a, b, props);
  return { world, a, b, link };
}

function at(world: World, t: number, fn: () => void): void {
  world.kernel.at(t as Instant, fn);
}

// ---------------------------------------------------------------------------------------------

describe('Link timing', () => {
  it('serialisation + latency are exact: 1500 bytes at 100 Mbit/s is 120 µs', () => {
    const { world, a, b } = pair({ bandwidthBps: 100e6, latency: micros(50) });
    expect(a.send(frameOf(1500, 1))).toBe(true);
    expect(a.send(frameOf(1500, 2))).toBe(true);
    world.kernel.run();
    expect(b.got.map((g) => g.t)).toEqual([170, 290]);
  });

  it('keeps sub-µs remainders: 1000 minimum frames at 1 Gbit/s take exactly 512 µs', () => {
    const { world, a, b } = pair({ bandwidthBps: 1e9, latency: micros(10) });
    for (let i = 0; i < 1000; i++) a.send(frameOf(64, i));
    world.kernel.run();
    expect(b.got).toHaveLength(1000);
    // Frame i ends at 0.512 (i + 1) µs; it arrives at the next whole µs plus the latency.
    b.got.forEach((g, i) => expect(g.t).toBe(Math.ceil((512 * (i + 1)) / 1000) + 10));
    expect(b.got.at(-1)!.t).toBe(522);
  });

  it('pads runts to the 60-byte minimum on the wire', () => {
    const { world, a, b } = pair({ bandwidthBps: 100e6, latency: micros(0) });
    a.send(frameOf(42));
    world.kernel.run();
    expect(b.got[0]!.t).toBe(5); // 480 bits at 100 bits/µs = 4.8 µs
    expect(b.got[0]!.frame).toHaveLength(42);
  });

  it('an idle transmitter starts at once; infinite bandwidth adds only latency', () => {
    const { world, a, b } = pair({ latency: millis(2) });
    at(world, 1_000, () => a.send(frameOf(1500, 1)));
    at(world, 1_000, () => a.send(frameOf(1500, 2)));
    world.kernel.run();
    expect(b.got.map((g) => g.t)).toEqual([3_000, 3_000]);
    expect(b.got.map((g) => seqOf(g.frame))).toEqual([1, 2]);
  });

  it('defaults: 1 µs latency, 1000-frame queue', () => {
    const { world, a, b } = pair();
    a.send(frameOf(100));
    world.kernel.run();
    expect(b.got[0]!.t).toBe(LINK_LATENCY_DEFAULT);
    expect(LINK_QUEUE_FRAMES_DEFAULT).toBe(1000);
  });

  it('directions are independent (full duplex)', () => {
    const { world, a, b, link } = pair({ bandwidthBps: 100e6, latency: micros(5) });
    a.send(frameOf(1500, 1));
    b.send(frameOf(1500, 2, MAC_B, MAC_A));
    world.kernel.run();
    expect(a.got.map((g) => g.t)).toEqual([125]);
    expect(b.got.map((g) => g.t)).toEqual([125]);
    expect(link.stats('ab').delivered).toBe(1);
    expect(link.stats('ba').delivered).toBe(1);
  });

  it('matches an exact reference model for any sizes and send times (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 44, max: 1514 })), { minLength: 1, maxLength: 40 }),
        fc.constantFrom(10e6, 100e6, 1e9, 3_000_001),
        fc.integer({ min: 0, max: 100 }),
        (sends, bps, latency) => {
          const { world, a, b } = pair({ bandwidthBps: bps, latency: micros(latency), queueLimitFrames: 1000 });
          const sorted = [...sends].sort((x, y) => x[0] - y[0]);
          sorted.forEach(([t, len], i) => at(world, t, () => a.send(frameOf(len, i))));
          world.kernel.run();
          // Reference: exact rational end times in units of 1 / bps µs (BigInt).
          const B = BigInt(bps);
          let busy = 0n; // end of the last transmission, in µs * bps
          const expected = sorted.map(([t, len]) => {
            const start = BigInt(t) * B > busy ? BigInt(t) * B : busy;
            busy = start + BigInt(Math.max(len, 60) * 8) * 1_000_000n;
            const endCeil = (busy + B - 1n) / B;
            return Number(endCeil) + latency;
          });
          expect(b.got.map((g) => g.t)).toEqual(expected);
          expect(b.got.map((g) => seqOf(g.frame))).toEqual(sorted.map((_, i) => i));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('Link queue', () => {
  it('drops the tail when the frame limit is reached', () => {
    const { world, a, b, link } = pair({ bandwidthBps: 1e6, queueLimitFrames: 3 });
    const accepted = Array.from({ length: 10 }, (_, i) => a.send(frameOf(100, i)));
    // One on the wire, three waiting, six dropped.
    expect(accepted).toEqual([true, true, true, true, false, false, false, false, false, false]);
    expect(link.queued('ab')).toBe(3);
    expect(link.inFlight('ab')).toBe(1);
    world.kernel.run();
    expect(b.got.map((g) => seqOf(g.frame))).toEqual([0, 1, 2, 3]);
    const s = link.stats('ab');
    expect(s.offered).toBe(10);
    expect(s.sent).toBe(4);
    expect(s.delivered).toBe(4);
    expect(s.dropped).toEqual({ loss: 0, 'queue-full': 6, 'link-down': 0, partition: 0 });
    expect(s.bytesSent).toBe(400);
    expect(s.bytesDelivered).toBe(400);
  });

  it('drops the tail when the byte limit is reached', () => {
    const { world, a, b, link } = pair({ bandwidthBps: 1e6, queueLimitBytes: 3000 });
    const accepted = Array.from({ length: 5 }, (_, i) => a.send(frameOf(1500, i)));
    expect(accepted).toEqual([true, true, true, false, false]);
    world.kernel.run();
    expect(b.got).toHaveLength(3);
    expect(link.stats('ab').dropped['queue-full']).toBe(2);
  });

  it('the queue drains and accepts again', () => {
    const { world, a, b } = pair({ bandwidthBps: 100e6, queueLimitFrames: 1, latency: micros(0) });
    expect([a.send(frameOf(1500)), a.send(frameOf(1500)), a.send(frameOf(1500))]).toEqual([true, true, false]);
    at(world, 240, () => expect(a.send(frameOf(1500))).toBe(true));
    world.kernel.run();
    expect(b.got.map((g) => g.t)).toEqual([120, 240, 360]);
  });
});

describe('Link loss and jitter', () => {
  function lossRun(seed: number, p: number, n: number): boolean[] {
    const { world, a, b, link } = pair({ loss: p }, { seed });
    for (let i = 0; i < n; i++) a.send(frameOf(64, i));
    world.kernel.run();
    const got = new Set(b.got.map((g) => seqOf(g.frame)));
    expect(link.stats('ab').dropped.loss + link.stats('ab').delivered).toBe(n);
    return Array.from({ length: n }, (_, i) => got.has(i));
  }

  it('loses about p of the frames, the same ones for the same seed', () => {
    const n = 10_000;
    const run1 = lossRun(7, 0.1, n);
    const lost = run1.filter((x) => !x).length;
    // Binomial(10000, 0.1): sd 30; 4 sd either side.
    expect(lost).toBeGreaterThan(1000 - 120);
    expect(lost).toBeLessThan(1000 + 120);
    expect(lossRun(7, 0.1, n)).toEqual(run1);
    expect(lossRun(8, 0.1, n)).not.toEqual(run1);
  });

  it('loss 0 and 1 are exact', () => {
    expect(lossRun(1, 0, 100).every((x) => x)).toBe(true);
    expect(lossRun(1, 1, 100).some((x) => x)).toBe(false);
  });

  it('a lost frame still takes its time on the wire', () => {
    const { world, a, b, link } = pair({ bandwidthBps: 100e6, latency: micros(0), loss: 1 });
    a.send(frameOf(1500, 1));
    at(world, 1, () => link.setLoss(0));
    at(world, 1, () => a.send(frameOf(1500, 2)));
    world.kernel.run();
    expect(b.got.map((g) => [g.t, seqOf(g.frame)])).toEqual([[240, 2]]);
  });

  for (const dist of ['uniform', 'normal'] as const) {
    it(`${dist} jitter without reorder keeps the order and varies the delay`, () => {
      const { world, a, b } = pair({ latency: micros(500), jitter: micros(200), jitterDistribution: dist }, { seed: 3 });
      for (let i = 0; i < 500; i++) at(world, i * 10, () => a.send(frameOf(64, i)));
      world.kernel.run();
      expect(b.got.map((g) => seqOf(g.frame))).toEqual(Array.from({ length: 500 }, (_, i) => i));
      const delays = b.got.map((g, i) => g.t - i * 10);
      for (let i = 1; i < b.got.length; i++) expect(b.got[i]!.t).toBeGreaterThanOrEqual(b.got[i - 1]!.t);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(dist === 'uniform' ? 300 : 0);
      expect(new Set(delays).size).toBeGreaterThan(50);
    });
  }

  it('uniform jitter stays within latency ± jitter and reorders when allowed', () => {
    const { world, a, b } = pair({ latency: micros(500), jitter: micros(200), reorder: true }, { seed: 3 });
    for (let i = 0; i < 500; i++) at(world, i * 10, () => a.send(frameOf(64, i)));
    world.kernel.run();
    expect(b.got).toHaveLength(500);
    const sent = (f: Uint8Array): number => seqOf(f) * 10;
    for (const g of b.got) {
      expect(g.t - sent(g.frame)).toBeGreaterThanOrEqual(300);
      expect(g.t - sent(g.frame)).toBeLessThanOrEqual(700);
    }
    const order = b.got.map((g) => seqOf(g.frame));
    expect(order).not.toEqual([...order].sort((x, y) => x - y));
  });
});

describe('Link carrier and faults', () => {
  it('link down drops queued and in-flight frames, refuses sends, and comes back', () => {
    const { world, a, b, link } = pair({ bandwidthBps: 100e6, latency: millis(1) });
    for (let i = 0; i < 5; i++) a.send(frameOf(1500, i));
    b.send(frameOf(1500, 9, MAC_B, MAC_A));
    at(world, 250, () => {
      // Frames 0 and 1 are on the wire (sent by 240 µs), 2 is being sent, 3 and 4 wait.
      expect(link.inFlight('ab')).toBe(3);
      expect(link.queued('ab')).toBe(2);
      link.setUp(false);
      expect(link.up).toBe(false);
      expect(a.attachment!.up).toBe(false);
      expect(a.send(frameOf(1500, 5))).toBe(false);
    });
    at(world, 5_000, () => {
      link.setUp(true);
      expect(a.send(frameOf(1500, 6))).toBe(true);
    });
    world.kernel.run();
    expect(b.got.map((g) => [g.t, seqOf(g.frame)])).toEqual([[5_000 + 120 + 1_000, 6]]);
    expect(a.got).toHaveLength(0);
    expect(link.stats('ab').dropped['link-down']).toBe(6);
    expect(link.stats('ba').dropped['link-down']).toBe(1);
    expect(link.stats('ab').sent).toBe(4);
    expect(link.inFlight('ab') + link.queued('ab')).toBe(0);
  });

  it('a link created down refuses everything', () => {
    const { world, a, b, link } = pair({ up: false });
    expect(a.send(frameOf(64))).toBe(false);
    world.kernel.run();
    expect(b.got).toHaveLength(0);
    expect(link.stats('ab').dropped['link-down']).toBe(1);
  });

  it('a loss burst applies for its window only', () => {
    const { world, a, b, link } = pair({ latency: micros(0) });
    at(world, 100, () => link.lossBurst(1, micros(50)));
    for (let t = 5; t < 300; t += 10) at(world, t, () => a.send(frameOf(64, t)));
    world.kernel.run();
    const lost = Array.from({ length: 30 }, (_, i) => 5 + i * 10).filter((t) => !b.got.some((g) => seqOf(g.frame) === t));
    expect(lost).toEqual([105, 115, 125, 135, 145]);
    expect(link.stats('ab').dropped.loss).toBe(5);
  });

  it('a delay spike adds latency for its window, without reordering', () => {
    const { world, a, b, link } = pair({ latency: micros(10) });
    at(world, 100, () => link.delaySpike(micros(1_000), micros(50)));
    for (const t of [0, 120, 400, 1_200]) at(world, t, () => a.send(frameOf(64, t)));
    world.kernel.run();
    // 120 is in the spike; 400 is not, but may not overtake it.
    expect(b.got.map((g) => [seqOf(g.frame), g.t])).toEqual([[0, 10], [120, 1_130], [400, 1_130], [1_200, 1_210]]);
  });

  it('setLatency and setBandwidth apply to frames that start afterwards, per direction', () => {
    const { world, a, b, link } = pair({ latency: micros(10) });
    link.setLatency(micros(100), 'ab');
    link.setBandwidth(100e6, 'ab');
    a.send(frameOf(1500));
    b.send(frameOf(1500, 0, MAC_B, MAC_A));
    world.kernel.run();
    expect(b.got[0]!.t).toBe(220);
    expect(a.got[0]!.t).toBe(10);
  });

  it('rejects bad configuration', () => {
    expect(() => pair({ loss: 1.5 })).toThrow(/probability/);
    expect(() => pair({ bandwidthBps: 0 })).toThrow(/bandwidthBps/);
    expect(() => pair({ latency: -1 as Duration })).toThrow(/latency/);
    const world = new World();
    const a = new TestNic(world, 'x', MAC_A);
    const b = new TestNic(world, 'y', MAC_B);
    new Link(world, 'l1', a, b);
    const c = new TestNic(world, 'z', MAC_B);
    expect(() => new Link(world, 'l2', a, c)).toThrow(/already attached/);
    const d = new TestNic(world, 'w', MAC_B);
    expect(() => new Link(world, 'l1', c, d)).toThrow(/duplicate name/);
  });
});

describe('Link trace and capture', () => {
  it('traces tx / rx / drop with causes, and runs the receiver with cause = rx id', () => {
    const trace = new MemoryTrace();
    const { world, a, b } = pair({ bandwidthBps: 100e6, latency: micros(5), queueLimitFrames: 0 }, { trace });
    world.cause = 42; // as if a delivery were being handled
    a.send(frameOf(100, 1));
    a.send(frameOf(100, 2)); // the transmitter is busy and the queue holds nothing
    world.cause = undefined;
    world.kernel.run();
    const frames = trace.ofKind('frame');
    expect(frames.map((f) => [f.dir, f.t, f.node, f.cause, f.reason])).toEqual([
      ['tx', 0, 'ha', 42, undefined],
      ['drop', 0, 'ha', 42, 'queue-full'],
      ['rx', 13, 'hb', frames[0]!.id, undefined],
    ]);
    expect(frames[0]!.summary).toMatch(/^UDP 10\.0\.0\.1:1000 > 10\.0\.0\.2:2000/);
    expect(b.got[0]!.cause).toBe(frames[2]!.id);
    expect(world.cause).toBeUndefined();
  });

  it('writes one pcapng packet per frame at transmission start, commented with its tx event', () => {
    const trace = new MemoryTrace();
    const chunks: Uint8Array[] = [];
    const { world, a, b, link } = pair(
      { bandwidthBps: 10e6, latency: micros(100), loss: 0.3 },
      { trace, pcap: (c) => chunks.push(c.slice()), seed: 11 },
    );
    for (let i = 0; i < 20; i++) a.send(frameOf(200 + i, i));
    at(world, 50, () => b.send(frameOf(300, 99, MAC_B, MAC_A)));
    world.kernel.run();

    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    const cap = readPcapng(bytes);
    expect(cap.ok).toBe(true);
    if (!cap.ok) return;
    expect(cap.value.interfaces.map((i) => i.name)).toEqual([link.name]);
    const tx = trace.ofKind('frame').filter((f: FrameEvent) => f.dir === 'tx');
    expect(cap.value.packets).toHaveLength(21);
    expect(tx).toHaveLength(21);
    cap.value.packets.forEach((p, i) => {
      const ev = tx[i]!;
      expect(p.comment).toBe(`event ${ev.id}`);
      expect(p.timestampUs).toBe(ev.t);
      expect(p.data.length).toBe(ev.len);
    });
    // Transmission starts: frame i of a's burst starts when frames 0..i-1 are done (10 bits/µs).
    let start = 0;
    const aStarts = cap.value.packets.filter((p) => p.flags === 0b10).map((p) => p.timestampUs);
    expect(aStarts).toHaveLength(20);
    aStarts.forEach((t, i) => {
      expect(t).toBe(Math.ceil(start));
      start += ((200 + i) * 8) / 10;
    });
    expect(cap.value.packets.filter((p) => p.flags === 0b01).map((p) => p.timestampUs)).toEqual([50]);
    // Every frame is either delivered or lost, and both are traced against its tx event.
    const rxOrDrop = trace.ofKind('frame').filter((f) => f.dir !== 'tx');
    expect(rxOrDrop.map((f) => f.cause).sort((x, y) => x! - y!)).toEqual(tx.map((f) => f.id));
    expect(rxOrDrop.some((f) => f.reason === 'loss')).toBe(true);
    expect(b.got.length + a.got.length).toBe(rxOrDrop.filter((f) => f.dir === 'rx').length);
  });

  it('the same seed gives byte-identical trace and capture', () => {
    function run(): string {
      const lines: string[] = [];
      const pcap: number[] = [];
      const { world, a, b } = pair(
        { bandwidthBps: 10e6, latency: micros(100), jitter: micros(30), loss: 0.2 },
        { trace: new JsonlTrace((l) => lines.push(l)), pcap: (c) => pcap.push(...c), seed: 'det' },
      );
      for (let i = 0; i < 50; i++) at(world, i * 7, () => (i % 2 === 0 ? a : b).send(frameOf(80 + i, i)));
      world.kernel.run();
      return `${lines.join('\n')}\n${pcap.join(',')}`;
    }
    expect(run()).toBe(run());
  });
});
