/**
 * Trust across restarts, as bytes between SG node engines (src/failover/fresh.ts): a node
 * restarted with its clock from zero (a daemon restarted by its process manager, no shared t0) is
 * believed again at once and syncs and takes over; a recording of a master's heartbeats, however
 * old, replayed to a freshly restarted node does not keep it from taking over; with the master
 * alive, replays are refused as replays; forged, unasked-for and flooded handshake messages are
 * counted drops.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seconds } from '../../src/time.ts';
import { parseBidd } from '../../src/wire/bidd.ts';
import { multicastMac, ip, mac } from '../../src/wire/addr.ts';
import { encodeFresh, parseFresh } from '../../src/wire/fresh.ts';
import { CLIENT, CLIENT_MAC, PUB, Rig, SG_PUB_MAC, tcpFrame, udpFrame, udpOffset, VIP } from './rig.ts';
import { GROUP, GROUP_PORT, GroupRig, KEY, member, type Tapped } from './group.ts';

const SYN = 0x02;
const s = (x: number) => seconds(x) as number;

/** Open `n` TCP connections through member `i` (it must be master). */
function openLinks(g: GroupRig, i: number, n: number): void {
  const node = g.node(i);
  for (let k = 0; k < n; k++) {
    node.handleFrame((g.now - g.members[i]!.base) as never, PUB, tcpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport: 41_000 + k, dport: 80, flags: SYN }));
  }
  g.run(g.now + 1); // let the node's own output go out
}

function drops(g: GroupRig, i: number, key: string): number {
  return g.node(i).counters.drops.get(key) ?? 0;
}

/** Member `from`'s heartbeats in the tap. */
function heartbeatsOf(g: GroupRig, from: number): Tapped[] {
  return g.tap.filter((t) => {
    if (t.from !== from || t.port !== GROUP_PORT) return false;
    const p = parseBidd(GroupRig.payload(t));
    return p.ok && p.value.message.kind === 'heartbeat';
  });
}

function masters(g: GroupRig): string[] {
  return g.members.flatMap((m) => (m.node?.bidd?.state === 'master' ? [m.cfg.name] : []));
}

describe('a restarted node is believed again', () => {
  it('restarted with its clock from zero, it syncs, is not taken for a replay, and takes over with the links', () => {
    const g = new GroupRig([member(1, 200), member(2, 100)]);
    g.start(0);
    g.start(1);
    g.run(s(2));
    expect(masters(g)).toEqual(['sg1']);
    openLinks(g, 0, 3);
    g.run(s(3));
    expect(g.node(1).links.size).toBe(3);
    // sg2 dies and its process manager starts it again: a new process, its clock from zero.
    g.crash(1);
    g.run(s(3.5));
    g.start(1, { clockFromZero: true, incarnation: () => 0x0b0b0b0b });
    g.run(s(5));
    const sg2 = g.node(1);
    expect(sg2.sync!.ready).toBe(true);
    expect(sg2.links.size).toBe(3);
    // sg1 heard sg2's new incarnation through one challenge and dropped nothing of it as a replay.
    expect(drops(g, 0, 'sync/replay') + drops(g, 0, 'bidd/replay')).toBe(0);
    expect(g.trace(0).events.filter((e) => e.kind === 'decision' && e.what === 'peer-incarnation' && (e.detail as { incarnation: number }).incarnation === 0x0b0b0b0b)).not.toHaveLength(0);
    // The master dies: sg2 takes over with every link.
    g.crash(0);
    g.run(s(6));
    expect(masters(g)).toEqual(['sg2']);
    expect(g.node(1).links.size).toBe(3);
  });

  it('the master restarted as a new process is followed again, and its old heartbeats replayed later change nothing', () => {
    const g = new GroupRig([member(1, 200), member(2, 100)]);
    g.start(0);
    g.start(1);
    g.run(s(2));
    const old = heartbeatsOf(g, 0);
    g.crash(0);
    g.run(s(2.2));
    g.start(0, { clockFromZero: true, incarnation: () => 0x0a0a0a0a });
    g.run(s(5));
    expect(masters(g)).toEqual(['sg1']);
    expect(g.node(1).bidd!.state).toBe('slave');
    // Replay the old incarnation's heartbeats: each is unverified; sg1 answers for its new one.
    old.forEach((t, k) => g.inject(s(5) + k * 10_000, GROUP_PORT, GroupRig.payload(t), 1));
    g.run(s(8));
    expect(drops(g, 1, 'bidd/unverified')).toBeGreaterThanOrEqual(old.length);
    expect(masters(g)).toEqual(['sg1']);
    const adopted = g.trace(1).events.flatMap((e) => (e.kind === 'decision' && e.what === 'peer-incarnation' && e.t >= s(2.2) ? [e.detail as { peer: number; incarnation: number }] : []));
    expect(adopted.filter((d) => d.peer === 1).length).toBeGreaterThan(0);
    expect(adopted.every((d) => d.peer !== 1 || d.incarnation === 0x0a0a0a0a)).toBe(true);
  });
});

describe('replays to a freshly started node', () => {
  it('a day-old recording of the master, replayed after the master died and the node restarted, does not keep it from taking over', () => {
    const g = new GroupRig([member(1, 200), member(2, 100)]);
    g.start(0);
    g.start(1);
    g.run(s(41));
    const recording = heartbeatsOf(g, 0).slice(-400);
    expect(recording).toHaveLength(400);
    // "A day later": the master is gone, sg2 restarts, and the attacker plays the recording at its pace.
    g.crash(0);
    g.crash(1);
    g.run(s(41) + 86_400_000_000);
    const t0 = g.now;
    g.start(1, { clockFromZero: true, incarnation: () => 0x0c0c0c0c });
    recording.forEach((t, k) => g.inject(t0 + k * 100_000, GROUP_PORT, GroupRig.payload(t), 1));
    let firstMaster: number | undefined;
    let demoted = false;
    for (let t = t0; t <= t0 + s(41); t += 10_000) {
      g.run(t);
      const st = g.node(1).bidd!.state;
      if (st === 'master' && firstMaster === undefined) firstMaster = t - t0;
      if (firstMaster !== undefined && st !== 'master') demoted = true;
    }
    // It takes over as if nobody were there (initial listen + bid timeout) and stays master.
    expect(firstMaster).toBeDefined();
    console.log(`a day-old 400-heartbeat recording replayed: the restarted node is master after ${(firstMaster! / 1000).toFixed(0)} ms`);
    expect(firstMaster!).toBeLessThanOrEqual(s(1));
    expect(demoted).toBe(false);
    expect(drops(g, 1, 'bidd/unverified')).toBe(400);
    // Its challenges are bounded: at most one per replayed heartbeat.
    const challenges = g.tap.filter((t) => t.from === 1 && t.at >= t0 && t.port === GROUP_PORT && parseFresh(GroupRig.payload(t)).ok);
    expect(challenges.length).toBeLessThanOrEqual(400);
  });

  it('with the master alive, its replayed heartbeats are refused as replays once it has answered', () => {
    const g = new GroupRig([member(1, 200), member(2, 100)]);
    g.start(0);
    g.start(1);
    g.run(s(10));
    const recording = heartbeatsOf(g, 0).slice(0, 50);
    g.crash(1);
    g.run(s(10.5));
    g.start(1, { clockFromZero: true, incarnation: () => 0x0d0d0d0d });
    recording.forEach((t, k) => g.inject(s(10.5) + k * 1_000, GROUP_PORT, GroupRig.payload(t), 1));
    g.run(s(13));
    // The first replayed one drew a challenge; sg1 named a later sequence; the rest are replays.
    expect(drops(g, 1, 'bidd/replay')).toBeGreaterThanOrEqual(45);
    expect(g.node(1).bidd!.state).toBe('slave');
    expect(g.node(1).sync!.ready).toBe(true);
    expect(masters(g)).toEqual(['sg1']);
  });
});

describe('the handshake under bad input', () => {
  const OTHER_MAC = mac('02:00:00:00:01:09');
  const onGroup = (payload: Uint8Array) =>
    udpFrame({ srcMac: OTHER_MAC, dstMac: multicastMac(GROUP), src: ip('140.116.72.212'), dst: GROUP, sport: GROUP_PORT, dport: GROUP_PORT, ttl: 1, payload });
  const response = (over: Partial<Parameters<typeof encodeFresh>[0]> = {}, key = KEY) =>
    onGroup(encodeFresh({ kind: 'response', stream: 'bidd', group: GROUP, node: 2, peer: 1, nonceHi: 1, nonceLo: 1, inc: 7, seq: 9, keyId: 1, ...over }, key));
  const challenge = (over: Partial<Parameters<typeof encodeFresh>[0]> = {}) =>
    onGroup(encodeFresh({ kind: 'challenge', stream: 'sync', group: GROUP, node: 2, peer: 1, nonceHi: 5, nonceLo: 5, inc: 7, seq: 0, keyId: 1, ...over }, KEY));

  it('forged, unasked-for and misaddressed responses change nothing; a challenge flood gets one answer per interval', () => {
    const r = new Rig(member(1, 100));
    r.rx(PUB, response({}, new TextEncoder().encode('forged-forged-forged')));
    expect(r.drop('fresh/unauthenticated')).toBe(1);
    r.rx(PUB, response());
    expect(r.drop('fresh/unexpected')).toBe(1);
    r.rx(PUB, response({ peer: 3 })); // for another node: ignored, not counted
    expect(r.drop('fresh/unexpected')).toBe(1);
    r.rx(PUB, response({ group: 0xe0020202 }));
    expect(r.drop('fresh/other-group')).toBe(1);
    let answers = 0;
    for (let k = 0; k < 1000; k++) {
      for (const tx of r.rx(PUB, challenge({ nonceLo: k }))) {
        const l4 = udpOffset(tx.frame);
        const p = parseFresh(tx.frame.subarray(l4 + 8));
        if (p.ok && p.value.message.kind === 'response') answers++;
      }
    }
    expect(answers).toBe(1);
    expect(r.drop('fresh/rate-limited')).toBe(999);
    r.advance(r.now + 20_000);
    expect(r.rx(PUB, challenge({ nonceLo: 5000 })).length).toBe(1);
    expect(r.node.bidd!.state).toBe('initial');
  });

  it('arbitrary bytes behind the handshake magic never throw and never make the node a slave', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 120 }), { maxLength: 20 }), (msgs) => {
        const r = new Rig(member(1, 100));
        for (const m of msgs) {
          const b = new Uint8Array(m.length + 2);
          b.set([0x53, 0x46]);
          b.set(m, 2);
          r.rx(PUB, onGroup(b));
        }
        expect(r.node.bidd!.state).toBe('initial');
        r.advance(r.now + 100_000);
      }),
      { numRuns: 200 },
    );
  });
});
