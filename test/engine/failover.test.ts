/**
 * The SG node's failover inputs as bytes (bidd and sync datagrams on the group): a forged,
 * replayed or malformed message is a counted drop that changes nothing; a valid stream from a
 * higher master makes the node its slave, and the snapshot it asks for fills its link table.
 * Arbitrary payloads on both ports never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SgNodeConfig } from '../../src/engine/config.ts';
import { seconds, millis } from '../../src/time.ts';
import { ip, mac, multicastMac } from '../../src/wire/addr.ts';
import { encodeBidd } from '../../src/wire/bidd.ts';
import { encodeFresh, parseFresh, type FreshMessage } from '../../src/wire/fresh.ts';
import { encodeSync, parseSync, type SyncBody, type SyncMessage, type SyncRecord } from '../../src/wire/sync.ts';
import { CLIENT, config, PUB, Rig, SERVERS, udpFrame, VIP, udpOffset } from './rig.ts';

const GROUP = ip('224.1.1.1');
const KEY = new TextEncoder().encode('0123456789abcdef');
const OTHER = ip('140.116.72.212');
const OTHER_MAC = mac('02:00:00:00:01:09');

function failoverConfig(): SgNodeConfig {
  return config({
    failover: {
      group: GROUP, port: 5891, node: 1, price: 100,
      heartbeatInterval: millis(100), masterTimeout: millis(300), bidTimeout: millis(100), holdDown: seconds(10), stallBound: millis(500),
      key: { id: 1, secret: KEY }, privateVip: ip('192.168.1.250'),
      sync: { flushDelay: millis(2), retransmit: millis(200), logMax: 1024 },
    },
  });
}

const onGroup = (port: number, payload: Uint8Array) =>
  udpFrame({ srcMac: OTHER_MAC, dstMac: multicastMac(GROUP), src: OTHER, dst: GROUP, sport: port, dport: port, ttl: 1, payload });

/** Node 2's incarnation and its sequences (one counter for both streams: the gate needs only a rise). */
const INC = 0x2222;
let seq = 1_000;
const heartbeat = (secret = KEY, s = ++seq) => onGroup(5891, encodeBidd({ kind: 'heartbeat', group: GROUP, node: 2, price: 200, epoch: 3, links: 0, keyId: 1, inc: INC, seq: s }, secret));
const sync = (body: SyncBody, secret = KEY, s = ++seq) => onGroup(5892, encodeSync({ ...body, group: GROUP, node: 2, epoch: 3, leader: 2, keyId: 1, inc: INC, seq: s }, secret));

/** The node's freshness challenges among `out`, parsed. */
function challenges(frames: readonly { frame: Uint8Array }[]): FreshMessage[] {
  return frames.flatMap(({ frame }) => {
    const l4 = udpOffset(frame);
    if (frame[23] !== 17) return [];
    const p = parseFresh(frame.subarray(l4 + 8));
    return p.ok && p.value.message.kind === 'challenge' ? [p.value.message] : [];
  });
}

/** Node 2 answers the node's challenges in `out`: its incarnation, and `last` as its latest sequence. */
function answer(r: Rig, out: readonly { frame: Uint8Array }[], last = seq) {
  const cs = challenges(out);
  expect(cs.length).toBeGreaterThan(0);
  return cs.flatMap((c) => r.rx(PUB, onGroup(5891, encodeFresh({ kind: 'response', stream: c.stream, group: GROUP, node: 2, peer: 1, nonceHi: c.nonceHi, nonceLo: c.nonceLo, inc: INC, seq: last, keyId: 1 }, KEY))));
}
const link = (port: number): SyncRecord => ({ op: 'link', proto: 6, state: 'active', group: 0, server: 1, clientAddr: CLIENT, clientPort: port, vip: VIP, vport: 80, serverAddr: SERVERS[1]!, serverPort: 80 });

/** The node's sync datagrams among `out`, parsed. */
function syncOut(frames: { frame: Uint8Array }[]): SyncMessage[] {
  return frames.flatMap(({ frame }) => {
    const l4 = udpOffset(frame);
    if (frame[23] !== 17 || ((frame[l4 + 2]! << 8) | frame[l4 + 3]!) !== 5892) return [];
    const p = parseSync(frame.subarray(l4 + 8));
    return p.ok ? [p.value.message] : [];
  });
}

describe('SG node failover input', () => {
  it('forged and replayed bidd messages are counted drops; a valid one makes the node a slave', () => {
    const r = new Rig(failoverConfig());
    r.rx(PUB, heartbeat(new TextEncoder().encode('wrong-key-wrong-key')));
    expect(r.drop('bidd/unauthenticated')).toBe(1);
    expect(r.node.bidd!.state).toBe('initial');
    const hb = heartbeat();
    // A new incarnation: held, challenged, and acted on once node 2 names it as its latest.
    answer(r, r.rx(PUB, hb));
    expect(r.drop('bidd/unverified')).toBe(1);
    expect(r.node.bidd!.state).toBe('slave');
    r.rx(PUB, hb);
    expect(r.drop('bidd/replay')).toBe(1);
    const cut = hb.slice(0, hb.length - 5);
    r.rx(PUB, cut);
    expect(r.drops()).toMatchObject({ 'bidd/unauthenticated': 1, 'bidd/replay': 1 });
    expect(Object.values(r.drops()).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
  });

  it('a slave asks for the state and applies an authentic snapshot; forged and replayed ones change nothing', () => {
    const r = new Rig(failoverConfig());
    answer(r, r.rx(PUB, heartbeat()));
    // The master's stream announces itself: the node is not ready and asks for everything.
    const asked = syncOut(answer(r, r.rx(PUB, sync({ kind: 'updates', first: 8, records: [] }))));
    expect(asked).toMatchObject([{ kind: 'request', full: true, leader: 2 }]);
    expect(r.node.sync!.ready).toBe(false);
    expect(r.node.bidd!.price).toBe(0);
    // A forged snapshot is refused before it is looked at.
    r.rx(PUB, sync({ kind: 'snapshot', base: 7, part: 0, parts: 1, records: [link(4000), link(4001)] }, new TextEncoder().encode('forged-forged-forged')));
    expect(r.drop('sync/unauthenticated')).toBe(1);
    expect(r.node.links.size).toBe(0);
    const snap = sync({ kind: 'snapshot', base: 7, part: 0, parts: 1, records: [link(5000)] });
    r.rx(PUB, snap);
    expect(r.node.links.size).toBe(1);
    expect(r.link(6, CLIENT, 5000, VIP, 80)?.serverAddr).toBe(SERVERS[1]);
    expect(r.node.sync!.ready).toBe(true);
    expect(r.node.bidd!.price).toBe(100);
    // Replaying it (or anything older) is dropped.
    r.rx(PUB, snap);
    expect(r.drop('sync/replay')).toBe(1);
    // The next record arrives in order and is applied; a gap makes the node ask.
    r.rx(PUB, sync({ kind: 'updates', first: 8, records: [link(5001)] }));
    expect(r.node.links.size).toBe(2);
    const gap = syncOut(r.rx(PUB, sync({ kind: 'updates', first: 20, records: [link(5002)] })));
    expect(gap).toMatchObject([{ kind: 'request', have: 8, full: false }]);
    expect(r.node.links.size).toBe(2);
    // Malformed payloads are counted by reason.
    r.rx(PUB, onGroup(5892, new Uint8Array([0x53, 0x59, 1])));
    expect(r.drop('sync/truncated')).toBe(1);
    const acks = syncOut(r.advance(r.now + 10_000));
    expect(acks).toMatchObject([{ kind: 'ack', acked: 8, leader: 2 }]);
  });

  it('arbitrary payloads on the bidd and sync ports never throw and never change the link table', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 1500 })), { maxLength: 20 }), (msgs) => {
        const r = new Rig(failoverConfig());
        for (const [bidd, payload] of msgs) r.rx(PUB, onGroup(bidd ? 5891 : 5892, payload));
        expect(r.node.links.size).toBe(0);
        r.advance(r.now + 1_000_000);
      }),
      { numRuns: 200 },
    );
  });
});
