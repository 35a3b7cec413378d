/**
 * Drop tracing under a flood (src/engine/drop-trace.ts): an SG node flooded with junk control
 * datagrams or forged bidd messages writes trace bytes in proportion to the flood's duration, not
 * to its number of datagrams, and every drop is still in the trace exactly once (traced one by
 * one, or counted in a summary).
 */
import { describe, expect, it } from 'vitest';
import { CtlSession } from '../../src/ctl/client.ts';
import type { CtlKey } from '../../src/ctl/types.ts';
import { DROP_SAMPLES_PER_INTERVAL, DROP_SUMMARY_INTERVAL_US, DropSampler } from '../../src/engine/drop-trace.ts';
import type { SgNodeConfig } from '../../src/engine/config.ts';
import { Evaluator } from '../../src/scenario/expect.ts';
import { formatTraceRecord, type TraceEvent } from '../../src/trace.ts';
import { millis, seconds, type Instant } from '../../src/time.ts';
import { ip, mac, multicastMac } from '../../src/wire/addr.ts';
import { encodeBidd } from '../../src/wire/bidd.ts';
import { CLIENT_MAC, config, PUB, Rig, SG_PUB, SG_PUB_MAC, udpFrame } from './rig.ts';

const CTL_PORT = 5890;
const ADMIN: CtlKey = { id: 1, secret: new Uint8Array(16).fill(0xa1), role: { kind: 'admin' } };
const FORGED: CtlKey = { id: 1, secret: new Uint8Array(16).fill(0xee), role: { kind: 'admin' } };

/** The drops an event stands for: one, or a summary's count. */
const weight = (e: TraceEvent) => (e.kind === 'drop' && e.count !== undefined ? e.count : 1);
const bytesOf = (events: readonly TraceEvent[]) => events.reduce((n, e) => n + formatTraceRecord(e).length + 1, 0);

describe('DropSampler', () => {
  it('traces the first few of each reason per interval, counts the rest, and summarises them when the interval ends', () => {
    const s = new DropSampler();
    const took = Array.from({ length: 10 }, (_, i) => s.take(100 + i, 'bidd', 'unauthenticated'));
    expect(took).toEqual([...Array<boolean>(DROP_SAMPLES_PER_INTERVAL).fill(true), ...Array<boolean>(10 - DROP_SAMPLES_PER_INTERVAL).fill(false)]);
    expect(s.take(200, 'ctl', 'replay')).toBe(true); // another reason: its own samples
    expect(s.due).toBe(100 + DROP_SUMMARY_INTERVAL_US);
    expect(s.close(100 + DROP_SUMMARY_INTERVAL_US - 1)).toEqual([]); // not over yet
    expect(s.close(100 + DROP_SUMMARY_INTERVAL_US)).toEqual([{ layer: 'bidd', reason: 'unauthenticated', count: 10 - DROP_SAMPLES_PER_INTERVAL, since: 100 }]);
    expect(s.due).toBeUndefined();
    // A new interval opens at the next drop, with fresh samples.
    expect(s.take(5_000_000, 'bidd', 'unauthenticated')).toBe(true);
    expect(s.close(5_000_001, true)).toEqual([]); // nothing counted only: no summary
  });

  it('a forced close hands back what is pending', () => {
    const s = new DropSampler();
    for (let i = 0; i < 50; i++) s.take(i, 'feedback', 'bad-magic');
    expect(s.close(60, true)).toEqual([{ layer: 'feedback', reason: 'bad-magic', count: 50 - DROP_SAMPLES_PER_INTERVAL, since: 0 }]);
  });
});

describe('an SG node under a flood of junk datagrams', () => {
  const N = 100_000;

  it(`${N} junk control datagrams over 1 s: a few dozen trace events, and the summaries add up to ${N}`, () => {
    const rig = new Rig(config({ ctl: { port: CTL_PORT, keys: [ADMIN] } }));
    const forged = new CtlSession(FORGED).command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'state', data: 'alive' }, rig.now).bytes;
    const junk = new TextEncoder().encode('set server web/rs1 state alive');
    const frame = (src: number, payload: Uint8Array) => udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: src as typeof SG_PUB, dst: SG_PUB, sport: 40_000, dport: CTL_PORT, payload });
    const frames = [...Array.from({ length: 1_000 }, (_, a) => [frame(ip('10.1.0.0') + a, junk), frame(ip('10.1.0.0') + a, forged)]), [frame(ip('140.116.72.66'), forged)]];
    const start = rig.now;
    for (let i = 0; i < N; i++) {
      rig.now = (start + i * 10) as Instant; // 100k datagrams/s
      // A third unparsable, a third forged commands, from 1,000 addresses; a third from one address (over its rate limit).
      const kind = i % 3;
      rig.rx(PUB, kind === 2 ? frames[1_000]![0]! : frames[i % 1_000]![kind]!);
    }
    rig.advance(rig.now + 2 * DROP_SUMMARY_INTERVAL_US); // the last summary falls due
    const ctl = rig.trace.events.filter((e) => (e.kind === 'drop' && (e.layer === 'ctl' || e.layer === 'feedback')) || (e.kind === 'decision' && e.what === 'ctl'));
    expect(ctl.reduce((n, e) => n + weight(e), 0)).toBe(N);
    expect(ctl.length).toBeLessThanOrEqual(40);
    expect(bytesOf(rig.trace.events)).toBeLessThan(12_000);
    const c = rig.node.ctld!.counters.status;
    expect(c.unauthenticated + c['bad-message'] + c['rate-limited']).toBe(N);
    // The summaries say what they stand for.
    const summaries = ctl.filter((e) => e.kind === 'drop' && e.count !== undefined);
    expect(summaries.length).toBeGreaterThan(0);
    for (const s of summaries) expect(s).toMatchObject({ kind: 'drop', node: 'sg1', since: expect.any(Number), detail: expect.stringMatching(/more since \d+ µs, not traced one by one/) });
  });

  it(`${N} forged bidd heartbeats: counted one by one, traced as a few samples and summaries`, () => {
    const GROUP = ip('224.1.1.1');
    const OTHER = ip('140.116.72.212');
    const cfg: SgNodeConfig = config({
      failover: {
        group: GROUP, port: 5891, node: 1, price: 100,
        heartbeatInterval: millis(100), masterTimeout: millis(300), bidTimeout: millis(100), holdDown: seconds(10), stallBound: millis(500),
        key: { id: 1, secret: new TextEncoder().encode('0123456789abcdef') }, privateVip: ip('192.168.1.250'),
      },
    });
    const rig = new Rig(cfg);
    const wrong = new TextEncoder().encode('wrong-key-wrong-key');
    const payload = encodeBidd({ kind: 'heartbeat', group: GROUP, node: 2, price: 200, epoch: 3, links: 0, keyId: 1, inc: 1, seq: 7 }, wrong);
    const forged = udpFrame({ srcMac: mac('02:00:00:00:01:09'), dstMac: multicastMac(GROUP), src: OTHER, dst: GROUP, sport: 5891, dport: 5891, ttl: 1, payload });
    const start = rig.now;
    for (let i = 0; i < N; i++) {
      rig.advance(start + i * 20); // 50k datagrams/s for 2 s, the node's own timers running
      rig.rx(PUB, forged);
    }
    rig.node.finishTrace(rig.now); // the end of a run: what is pending is summarised
    expect(rig.drops()['bidd/unauthenticated']).toBe(N);
    const drops = rig.trace.ofKind('drop').filter((e) => e.layer === 'bidd' && e.reason === 'unauthenticated');
    expect(drops.reduce((n, e) => n + weight(e), 0)).toBe(N);
    // 2 s of flood: 3 intervals at most, each a few samples and one summary.
    expect(drops.length).toBeLessThanOrEqual(3 * (DROP_SAMPLES_PER_INTERVAL + 1));
    expect(rig.node.bidd!.state).not.toBe('slave');
  });

  it('a few drops are traced one by one as before, with no summary', () => {
    const rig = new Rig(config({ ctl: { port: CTL_PORT, keys: [ADMIN] } }));
    for (let i = 0; i < DROP_SAMPLES_PER_INTERVAL; i++) {
      rig.rx(PUB, udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: ip('10.1.0.1'), dst: SG_PUB, sport: 40_000, dport: CTL_PORT, payload: new Uint8Array([1, 2, 3]) }));
    }
    rig.advance(10 * DROP_SUMMARY_INTERVAL_US);
    rig.node.finishTrace(rig.now);
    const drops = rig.trace.ofKind('drop');
    expect(drops).toHaveLength(DROP_SAMPLES_PER_INTERVAL);
    expect(drops.every((d) => d.count === undefined && d.layer === 'feedback')).toBe(true);
  });
});

describe('count: expectations over summaries', () => {
  it('weigh a drop summary by its count, so a count of drops means the same under a flood', () => {
    const model = { kind: 'count', match: { kind: 'drop', layer: 'bidd' }, from: 0, to: 10_000_000, min: 10, max: 10 } as const;
    const ev = new Evaluator([{ model, path: 'expect[0]', line: 1, text: 'count bidd drops' }]);
    const t = 5 as Instant;
    ev.observe({ kind: 'drop', id: 1, t, layer: 'bidd', reason: 'replay', detail: 'node 2 seq 7' });
    ev.observe({ kind: 'drop', id: 2, t, layer: 'bidd', reason: 'unauthenticated', detail: 'node 2' });
    ev.observe({ kind: 'drop', id: 3, t, layer: 'bidd', reason: 'unauthenticated', count: 8, since: 0 });
    ev.observe({ kind: 'drop', id: 4, t, layer: 'ctl', reason: 'unauthenticated', count: 50, since: 0 });
    expect(ev.finish(10_000_000 as Instant)[0]).toMatchObject({ pass: true, measured: expect.stringContaining('10 ×') });
  });
});
