import { describe, expect, it } from 'vitest';
import { EngineNode } from '../../sim/engine-node.ts';
import { World, type Attachment, type Device } from '../../sim/world.ts';
import { ifaceName, type Endpoint, type IfaceName, type TxFrame } from '../../src/port.ts';
import { millis, type Instant } from '../../src/time.ts';
import { mac } from '../../src/wire/addr.ts';
import { MemoryTrace } from '../../src/trace.ts';

/** Echoes every frame back after handling, and ticks every 100 ms (records the local times). */
class EchoTicker implements Endpoint {
  readonly frames: { now: Instant; iface: IfaceName; frame: Uint8Array }[] = [];
  readonly ticks: Instant[] = [];
  #out: TxFrame[] = [];
  #next: Instant | undefined;
  constructor(readonly periodUs = 100_000) {}
  handleFrame(now: Instant, iface: IfaceName, frame: Uint8Array): void {
    this.#next ??= (now + this.periodUs) as Instant;
    this.frames.push({ now, iface, frame });
    this.#out.push({ iface, frame });
  }
  handleTimeout(now: Instant): void {
    this.ticks.push(now);
    this.#next = ((this.#next ?? now) + this.periodUs) as Instant;
  }
  pollTransmit(): TxFrame | undefined {
    return this.#out.shift();
  }
  pollTimeout(): Instant | undefined {
    return this.#next;
  }
}

/** A wire end that records what the node sent and lets the test deliver frames. */
class Wire implements Attachment {
  readonly sent: { at: number; frame: Uint8Array }[] = [];
  up = true;
  constructor(readonly world: World) {}
  send(frame: Uint8Array): boolean {
    this.sent.push({ at: this.world.now, frame });
    return this.up;
  }
}

function setup() {
  const trace = new MemoryTrace();
  const world = new World({ seed: 1, trace });
  const ep = new EchoTicker();
  const node = new EngineNode(world, 'sg1', [{ name: ifaceName('eth0'), mac: mac('02:00:00:00:00:01'), mtu: 1500 }], ep);
  const wire = new Wire(world);
  const dev: Device = node.device('eth0');
  dev.attachment = wire;
  return { world, ep, node, wire, dev, trace };
}

describe('EngineNode', () => {
  it('drives the endpoint on each frame and echoes through the device at the same instant', () => {
    const { world, ep, wire, dev } = setup();
    world.at(1000 as Instant, () => dev.deliver(new Uint8Array([1, 2, 3])));
    world.kernel.run({ until: 5000 as Instant });
    expect(ep.frames.map((f) => f.now)).toEqual([1000]);
    expect(wire.sent.map((s) => s.at)).toEqual([1000]);
  });

  it('wakes the endpoint at its deadlines', () => {
    const { world, ep, dev } = setup();
    world.at(0 as Instant, () => dev.deliver(new Uint8Array([0])));
    world.kernel.run({ until: 350_000 as Instant });
    expect(ep.ticks).toEqual([100_000, 200_000, 300_000]);
  });

  it('a fast clock fires local deadlines earlier in world time', () => {
    const { world, ep, node, dev } = setup();
    node.setClockRate(2);
    world.at(0 as Instant, () => dev.deliver(new Uint8Array([0])));
    world.kernel.run({ until: 160_000 as Instant });
    // Local deadlines 100 ms, 200 ms, 300 ms fall at world 50, 100, 150 ms.
    expect(ep.ticks).toEqual([100_000, 200_000, 300_000]);
  });

  it('a stall holds frames and timers; on resume both are handled late, at a clock that kept running', () => {
    const { world, ep, node, dev } = setup();
    world.at(0 as Instant, () => dev.deliver(new Uint8Array([0])));
    world.at(150_000 as Instant, () => node.stall());
    world.at(200_000 as Instant, () => dev.deliver(new Uint8Array([9])));
    world.at(int(millis(450)), () => node.resume());
    world.kernel.run({ until: 460_000 as Instant });
    expect(ep.frames.map((f) => f.now)).toEqual([0, 450_000]);
    // The ticks due at 200, 300 and 400 ms all fire at 450 ms (this ticker catches up).
    expect(ep.ticks).toEqual([100_000, 450_000, 450_000, 450_000]);
  });

  it('a crashed node drops frames (counted, traced) and a restart starts a fresh endpoint', () => {
    const { world, node, dev, trace } = setup();
    world.at(10 as Instant, () => node.crash());
    world.at(20 as Instant, () => dev.deliver(new Uint8Array([1])));
    const fresh = new EchoTicker();
    world.at(30 as Instant, () => node.restart(fresh));
    world.at(40 as Instant, () => dev.deliver(new Uint8Array([2])));
    world.kernel.run({ until: 50 as Instant });
    expect(node.counters.rxDropped).toBe(1);
    expect(fresh.frames.map((f) => f.frame[0])).toEqual([2]);
    expect(trace.ofKind('fault').map((f) => f.what)).toEqual(['crash', 'restart']);
    expect(trace.ofKind('frame').filter((f) => f.dir === 'drop').map((f) => f.reason)).toEqual(['node-down']);
  });

  for (const rate of [0.1, 2]) {
    it(`a restart at clock rate ${rate} builds the fresh endpoint at the node's local time, and its timers run on that clock`, () => {
      const { world, node, dev } = setup();
      node.setClockRate(rate);
      world.at(1_000_000 as Instant, () => node.crash());
      const built: { at: Instant; ep: EchoTicker }[] = [];
      world.at(2_000_000 as Instant, () =>
        node.restart((now) => {
          const ep = new EchoTicker();
          built.push({ at: now, ep });
          return ep;
        }),
      );
      world.at(2_000_000 as Instant, () => dev.deliver(new Uint8Array([7])));
      world.kernel.run({ until: (2_000_000 + 350_000 / rate) as Instant });
      // Local time at world 2 s is 2 s x rate (the clock ran on through the crash), not 2 s.
      expect(built.map((b) => b.at)).toEqual([2_000_000 * rate]);
      const fresh = built[0]!.ep;
      expect(fresh.frames.map((f) => f.now)).toEqual([2_000_000 * rate]);
      // Ticks every 100 ms of local time from there: 3 within 350 ms of local time.
      expect(fresh.ticks).toEqual([1, 2, 3].map((k) => 2_000_000 * rate + k * 100_000));
    });
  }

  it('a crash ends a stall: the restarted endpoint runs at once, and the stall\'s end is dropped', () => {
    const { world, node, dev, trace } = setup();
    world.at(100 as Instant, () => node.stall(millis(500)));
    world.at(200 as Instant, () => node.crash());
    const fresh = new EchoTicker();
    world.at(300 as Instant, () => node.restart(fresh));
    world.at(400 as Instant, () => dev.deliver(new Uint8Array([5])));
    world.kernel.run({ until: 700_000 as Instant });
    expect(node.stalled).toBe(false);
    expect(fresh.frames.map((f) => f.now)).toEqual([400]);
    expect(trace.ofKind('fault').map((f) => f.what)).toEqual(['stall', 'crash', 'restart']);
  });

  it('a stall given a length ends by itself; a second one while frozen extends it to the later end', () => {
    const { world, ep, node, dev, trace } = setup();
    world.at(100_000 as Instant, () => node.stall(millis(100)));
    world.at(150_000 as Instant, () => node.stall(millis(200)));
    world.at(160_000 as Instant, () => dev.deliver(new Uint8Array([1])));
    world.at(180_000 as Instant, () => node.stall(millis(10)));
    world.kernel.run({ until: 400_000 as Instant });
    expect(trace.ofKind('fault').map((f) => [f.what, f.t])).toEqual([['stall', 100_000], ['resume', 350_000]]);
    expect(ep.frames.map((f) => f.now)).toEqual([350_000]);
  });
});

function int(d: number): Instant {
  return d as Instant;
}
