import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.ts';
import { addDuration, instant, ManualClock, millis, type Instant } from '../src/time.ts';
import { TimerTable } from '../src/timers.ts';
import {
  drive,
  ifaceName,
  LossPort,
  MemoryPort,
  TapPort,
  type Endpoint,
  type IfaceInfo,
  type IfaceName,
  type TapEvent,
  type TxFrame,
} from '../src/port.ts';
import { mac } from '../src/wire/addr.ts';

const ETH0 = ifaceName('eth0');
const ETH1 = ifaceName('eth1');
const IFACES: readonly IfaceInfo[] = [
  { name: ETH0, mac: mac('02:00:00:00:00:01'), mtu: 1500 },
  { name: ETH1, mac: mac('02:00:00:00:00:02'), mtu: 1500 },
];

/**
 * Echoes every frame back out of the interface it came in on, and 1 ms after the first frame
 * sends a one-byte "tick" on eth1 (to exercise the timer half of the loop).
 */
class EchoEndpoint implements Endpoint {
  readonly #out: TxFrame[] = [];
  readonly #timers = new TimerTable(['tick'] as const);
  readonly seenAt: Instant[] = [];
  ticks = 0;

  handleFrame(now: Instant, iface: IfaceName, frame: Uint8Array): void {
    this.seenAt.push(now);
    this.#out.push({ iface, frame });
    if (this.ticks === 0 && !this.#timers.isArmed('tick')) this.#timers.set('tick', addDuration(now, millis(1)));
  }

  handleTimeout(now: Instant): void {
    for (const name of this.#timers.expired(now)) {
      if (name === 'tick') {
        this.ticks++;
        this.#out.push({ iface: ETH1, frame: Uint8Array.of(0x7e) });
      }
    }
  }

  pollTransmit(): TxFrame | undefined {
    return this.#out.shift();
  }

  pollTimeout(): Instant | undefined {
    return this.#timers.next()?.at;
  }
}

const frame = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

describe('drive', () => {
  it('feeds frames, fires timers and drains transmits', () => {
    const clock = new ManualClock();
    const port = new MemoryPort(IFACES);
    const echo = new EchoEndpoint();

    expect(drive(echo, port, clock.now())).toBeUndefined(); // nothing to do, nothing armed

    clock.advanceTo(instant(100));
    port.inject({ iface: ETH0, frame: frame(1, 2, 3), at: clock.now() });
    port.inject({ iface: ETH1, frame: frame(4), at: clock.now() });
    const deadline = drive(echo, port, clock.now());
    expect(deadline).toBe(1_100);
    expect(port.takeSent()).toEqual([
      { iface: ETH0, frame: frame(1, 2, 3), at: 100 },
      { iface: ETH1, frame: frame(4), at: 100 },
    ]);

    // Too early: the timer does not fire.
    clock.advanceTo(instant(1_099));
    expect(drive(echo, port, clock.now())).toBe(1_100);
    expect(port.sent).toHaveLength(0);

    clock.advanceTo(deadline as Instant);
    expect(drive(echo, port, clock.now())).toBeUndefined();
    expect(echo.ticks).toBe(1);
    expect(port.takeSent()).toEqual([{ iface: ETH1, frame: frame(0x7e), at: 1_100 }]);
  });

  it('returns now when the rx budget runs out, and the rest is fed on the next call', () => {
    const port = new MemoryPort(IFACES);
    const echo = new EchoEndpoint();
    for (let i = 0; i < 5; i++) port.inject({ iface: ETH0, frame: frame(i), at: instant(0) });
    expect(drive(echo, port, instant(10), { rxFrames: 3 })).toBe(10);
    expect(port.pending).toBe(2);
    expect(drive(echo, port, instant(10), { rxFrames: 3 })).toBe(1_010);
    expect(port.sent.map((s) => s.frame[0])).toEqual([0, 1, 2, 3, 4]);
    expect(echo.seenAt).toEqual([10, 10, 10, 10, 10]); // fed at the driver's now
  });
});

describe('MemoryPort', () => {
  it('bounds its queues and counts drops', () => {
    const port = new MemoryPort(IFACES, { rxQueueMax: 2, sentMax: 1 });
    expect(port.inject({ iface: ETH0, frame: frame(1), at: instant(0) })).toBe(true);
    expect(port.inject({ iface: ETH0, frame: frame(2), at: instant(0) })).toBe(true);
    expect(port.inject({ iface: ETH0, frame: frame(3), at: instant(0) })).toBe(false);
    expect(port.rxDropped).toBe(1);
    expect(port.recv()?.frame).toEqual(frame(1));
    expect(port.recv()?.frame).toEqual(frame(2));
    expect(port.recv()).toBeUndefined();
    expect(port.send({ iface: ETH0, frame: frame(9), cause: 42 }, instant(5))).toBe(true);
    expect(port.send({ iface: ETH0, frame: frame(9) }, instant(5))).toBe(false);
    expect(port.txDropped).toBe(1);
    expect(port.sent).toEqual([{ iface: ETH0, frame: frame(9), cause: 42, at: 5 }]);
  });

  it('rejects an interface it does not have (our bug)', () => {
    const port = new MemoryPort(IFACES);
    expect(() => port.send({ iface: ifaceName('eth9'), frame: frame(1) }, instant(0))).toThrow(/no interface eth9/);
  });
});

describe('TapPort', () => {
  it('reports every frame in and out, with the verdict', () => {
    const inner = new MemoryPort(IFACES, { sentMax: 1 });
    const seen: TapEvent[] = [];
    const tap = new TapPort(inner, (ev) => seen.push(ev));
    expect(tap.ifaces).toBe(IFACES);
    inner.inject({ iface: ETH0, frame: frame(1), at: instant(3) });
    drive(new EchoEndpoint(), tap, instant(3));
    tap.send({ iface: ETH1, frame: frame(2) }, instant(4)); // inner is full: dropped
    expect(seen).toEqual([
      { dir: 'rx', rx: { iface: ETH0, frame: frame(1), at: 3 } },
      { dir: 'tx', tx: { iface: ETH0, frame: frame(1) }, at: 3, accepted: true },
      { dir: 'tx', tx: { iface: ETH1, frame: frame(2) }, at: 4, accepted: false },
    ]);
  });
});

describe('LossPort', () => {
  const N = 1_000;

  function run(p: number, seed: number): { port: LossPort; inner: MemoryPort; received: number } {
    const inner = new MemoryPort(IFACES);
    const port = new LossPort(inner, Rng.fromSeed(seed).split('loss:eth0'), p);
    for (let i = 0; i < N; i++) inner.inject({ iface: ETH0, frame: frame(i & 255), at: instant(i) });
    let received = 0;
    while (port.recv() !== undefined) received++;
    for (let i = 0; i < N; i++) expect(port.send({ iface: ETH0, frame: frame(i & 255) }, instant(i))).toBe(true);
    return { port, inner, received };
  }

  it('p = 0 drops nothing', () => {
    const { port, inner, received } = run(0, 1);
    expect(received).toBe(N);
    expect(inner.sent).toHaveLength(N);
    expect(port.dropped).toBe(0);
  });

  it('p = 1 drops everything, in both directions', () => {
    const { port, inner, received } = run(1, 1);
    expect(received).toBe(0);
    expect(inner.sent).toHaveLength(0);
    expect(port.droppedRx).toBe(N);
    expect(port.droppedTx).toBe(N);
  });

  it('p = 0.5 drops about half, identically for the same seed', () => {
    const a = run(0.5, 42);
    const b = run(0.5, 42);
    const c = run(0.5, 43);
    expect(a.port.droppedRx).toBe(b.port.droppedRx);
    expect(a.port.droppedTx).toBe(b.port.droppedTx);
    expect(a.inner.sent.map((s) => s.at)).toEqual(b.inner.sent.map((s) => s.at));
    expect(a.inner.sent.map((s) => s.at)).not.toEqual(c.inner.sent.map((s) => s.at));
    expect(Math.abs(a.port.droppedRx - N / 2)).toBeLessThan(N / 10);
    expect(Math.abs(a.port.droppedTx - N / 2)).toBeLessThan(N / 10);
    expect(a.received + a.port.droppedRx).toBe(N);
  });

  it('per-direction rates, setLoss and the drop callback', () => {
    const inner = new MemoryPort(IFACES);
    const drops: string[] = [];
    const port = new LossPort(inner, Rng.fromSeed(1), { rx: 0, tx: 1 }, {
      onDrop: (dir, iface, f, at) => drops.push(`${dir} ${iface} ${f.length} @${at}`),
    });
    inner.inject({ iface: ETH0, frame: frame(1), at: instant(1) });
    expect(port.recv()).toBeDefined();
    port.send({ iface: ETH1, frame: frame(1, 2) }, instant(2));
    port.setLoss(0);
    port.send({ iface: ETH1, frame: frame(1, 2) }, instant(3));
    expect(drops).toEqual(['tx eth1 2 @2']);
    expect(inner.sent).toHaveLength(1);
    expect(() => port.setLoss(2)).toThrow(/probability/);
  });
});
