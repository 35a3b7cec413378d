/**
 * One vocabulary of ARP limits (src/arp-limits.ts) for the SG node's table (src/engine/arp.ts)
 * and a simulated host's (sim/host/arp.ts): each table's defaults are the declared ones, the same
 * limits object bounds both the same way (requests, their interval, the frames a hop holds), and
 * both refuse a limit that is not a positive integer.
 */
import { describe, expect, it } from 'vitest';
import { arpLimits, HOST_ARP_LIMITS, SG_ARP_LIMITS, type ArpLimits } from '../src/arp-limits.ts';
import { ArpTable } from '../src/engine/arp.ts';
import { ifaceName } from '../src/port.ts';
import { seconds, type Duration, type Instant } from '../src/time.ts';
import { ip, type MacAddr } from '../src/wire/addr.ts';
import { ArpCache, type ArpEnv } from '../sim/host/arp.ts';

const ETH0 = ifaceName('eth0');
const HOP = ip('10.0.0.9');
const LIMITS: Partial<ArpLimits> = { requestsMax: 2, retryInterval: seconds(5), pendingPerHopMax: 2 };

/** A host ARP cache on a hand-driven clock, recording what it asks its host to do. */
function hostCache(limits: Partial<ArpLimits>) {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  const log: string[] = [];
  const env: ArpEnv<string> = {
    now: () => now as Instant,
    timer: (d: Duration, fn) => {
      const t = { at: now + d, fn, live: true };
      timers.push(t);
      return () => void (t.live = false);
    },
    sendRequest: () => void log.push(`request at ${now}`),
    transmit: (_i, _m: MacAddr, p) => void log.push(`transmit ${p}`),
    failed: (_i, _t, pkts) => void log.push(`failed ${pkts.join(',')} at ${now}`),
    dropped: (p, reason) => void log.push(`dropped ${p} ${reason}`),
    changed: () => {},
  };
  const cache = new ArpCache(env, limits);
  const runUntil = (t: number): void => {
    for (;;) {
      const next = timers.filter((x) => x.live && x.at <= t).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      next.live = false;
      now = next.at;
      next.fn();
    }
    now = t;
  };
  return { cache, log, runUntil };
}

describe('one vocabulary of ARP limits', () => {
  it('each table starts from its declared limits', () => {
    expect(hostCache({}).cache.config).toEqual(HOST_ARP_LIMITS);
    expect(HOST_ARP_LIMITS).toEqual({ entryTimeout: seconds(60), retryInterval: seconds(1), requestsMax: 3, pendingPerHopMax: 3, entriesMax: 1024 });
    expect(SG_ARP_LIMITS).toEqual({ entryTimeout: seconds(60), retryInterval: seconds(1), requestsMax: 3, pendingPerHopMax: 64, entriesMax: 65_536 });
  });

  it('the same limits bound the SG node table: 2 requests 5 s apart, 2 frames a hop', () => {
    const t = new ArpTable(LIMITS);
    const f = new Uint8Array(1);
    expect([t.enqueue(0, HOP, ETH0, f, 0 as Instant), t.enqueue(0, HOP, ETH0, f, 0 as Instant), t.enqueue(0, HOP, ETH0, f, 0 as Instant)]).toEqual(['request', 'queued', 'full']);
    expect(t.nextDeadline()).toBe(seconds(5));
    expect(t.poll(seconds(5) as number as Instant)).toEqual({ retry: [{ ip: HOP, iface: ETH0 }], failed: [] });
    expect(t.poll(seconds(10) as number as Instant)).toEqual({ retry: [], failed: [{ ip: HOP, frames: 2 }] });
  });

  it('the same limits bound a host cache: 2 requests 5 s apart, 2 packets a hop', () => {
    const h = hostCache(LIMITS);
    for (const p of ['a', 'b', 'c']) h.cache.resolve(ETH0, HOP, p);
    h.runUntil(seconds(20));
    expect(h.log).toEqual(['request at 0', 'dropped a arp-queue-full', `request at ${seconds(5)}`, `failed b,c at ${seconds(10)}`]);
  });

  it('a limit that is not a positive integer is refused, by both tables', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      for (const k of ['entryTimeout', 'retryInterval', 'requestsMax', 'pendingPerHopMax', 'entriesMax'] as const) {
        const o = { [k]: bad } as Partial<ArpLimits>;
        expect(() => arpLimits(SG_ARP_LIMITS, o), `${k} ${bad}`).toThrow(new RegExp(k));
        expect(() => new ArpTable(o)).toThrow(new RegExp(k));
        expect(() => hostCache(o)).toThrow(new RegExp(k));
      }
    }
  });
});
