/**
 * The read/write models in the engine (src/engine/rw.ts), frame by frame: a write's fan-out, the
 * vote on the replies, the turn-off, the preferred server of ReadOne, ReadFirst's race, read-only
 * refusals, retransmissions, and bad input as counted drops.
 */
import { describe, expect, it } from 'vitest';
import type { GroupConfig } from '../../src/balance/types.ts';
import type { HealthConfig } from '../../src/health/types.ts';
import { WRITE_TIMEOUT_DEFAULT_US, type GroupModel } from '../../src/rw/models.ts';
import { ip, multicastMac, type Ipv4Addr } from '../../src/wire/addr.ts';
import { encodeRpc, parseRpc, RPC_OP, RPC_STATUS } from '../../src/wire/rpc.ts';
import { sgWriteStatus } from '../../src/wire/sgopt.ts';
import { CLIENT, CLIENT_MAC, config, group, ipv4Of, PRIV, PUB, Rig, server, SERVER_MACS, SERVERS, SG_PRIV_MAC, SG_PUB_MAC, udpFrame, VIP } from './rig.ts';

const PORT = 2049;
const WG = ip('239.1.1.1');

function model(kind: 'read-one-write-all' | 'read-first-write-all', fanout: 'multicast' | 'unicast' = 'unicast', over: Partial<{ writesPendingMax: number; repliesHeldMax: number }> = {}): GroupModel {
  return {
    kind,
    writeAll: {
      analyzer: { kind: 'builtin', name: 'rpc' },
      fanout: fanout === 'multicast' ? { kind: 'multicast', group: WG } : { kind: 'unicast' },
      writesPendingMax: over.writesPendingMax ?? 64,
      writeTimeout: WRITE_TIMEOUT_DEFAULT_US as never,
      repliesHeldMax: over.repliesHeldMax ?? 256,
    },
  };
}

const HEALTH: HealthConfig = { keyports: [PORT], udpKeyports: [PORT], mcast: { M: 1 }, rise: 1, slowStart: 0 as never };

function rig(m: GroupModel, health?: HealthConfig, over: Partial<GroupConfig> = {}): Rig {
  const g = group('store', VIP, PORT, [server(0), server(1), server(2)], { model: m, ...over });
  return new Rig(config({ groups: [g], ...(health !== undefined ? { health: [health] } : {}) }));
}

function request(xid: number, op: number, key: number, value = 0, sport = 40000): Uint8Array {
  return udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport, dport: PORT, payload: encodeRpc({ kind: 'request', xid, op, key, value }) });
}

/** Server `i`'s reply to the client, with the write-status option when `opt` is given. */
function reply(i: number, xid: number, status: number, value: number, opt?: { status: number; retval: number }, cport = 40000): Uint8Array {
  return udpFrame({
    srcMac: SERVER_MACS[i]!, dstMac: SG_PRIV_MAC, src: SERVERS[i]!, dst: CLIENT, sport: PORT, dport: cport,
    payload: encodeRpc({ kind: 'reply', xid, status, value }),
    ...(opt !== undefined ? { ipOptions: [sgWriteStatus(opt.status, opt.retval)] } : {}),
  });
}

const dsts = (out: { frame: Uint8Array }[]): string[] => out.map((t) => ipv4Of(t.frame).ip.dst).map((a) => String(a as Ipv4Addr));
const decisions = (r: Rig, what: string) => r.trace.events.filter((e) => e.kind === 'decision' && e.what === what) as { detail: Record<string, unknown> }[];
const drop = (r: Rig, key: string) => r.node.counters.drops.get(key) ?? 0;

describe('WriteAll (slides 15-17)', () => {
  it('sends a write to every member by unicast, answers the client with the majority, and counts the outvoted member', () => {
    const r = rig(model('read-one-write-all'), HEALTH);
    const out = r.rx(PUB, request(7, RPC_OP.write, 3, 42));
    expect(out.map((t) => t.iface)).toEqual([PRIV, PRIV, PRIV]);
    expect(dsts(out)).toEqual(SERVERS.map(String));
    for (const t of out) {
      const d = ipv4Of(t.frame); // checksums verified
      expect(d.l4.kind === 'udp' && d.l4.udp.dstPort).toBe(PORT);
    }
    expect(r.rx(PRIV, reply(0, 7, RPC_STATUS.ok, 42, { status: 0, retval: 42 }))).toEqual([]); // 1 of 3: no majority yet
    const ans = r.rx(PRIV, reply(2, 7, RPC_STATUS.ok, 42, { status: 0, retval: 42 }));
    expect(ans).toHaveLength(1);
    const a = ipv4Of(ans[0]!.frame);
    expect(ans[0]!.iface).toBe(PUB);
    expect(a.ip.src).toBe(VIP);
    expect(a.ip.options).toEqual([]); // the write-status option is the servers' word to the node, not to clients
    expect(a.l4.kind === 'udp' && a.l4.udp.srcPort).toBe(PORT);
    const body = a.l4.kind === 'udp' ? parseRpc(a.l4.udp.payload, 'reply') : undefined;
    expect(body?.ok && body.value).toMatchObject({ xid: 7, status: 0, value: 42 });
    expect(r.rx(PRIV, reply(1, 7, RPC_STATUS.ok, 43, { status: 0, retval: 43 }))).toEqual([]); // diverged: outvoted
    expect(decisions(r, 'write-mismatch').map((d) => d.detail)).toEqual([{ group: 'store', server: 'rs2', client: '140.116.72.118', id: '7', why: 'value' }]);
    expect(decisions(r, 'write-answer').map((d) => d.detail)).toEqual([{ group: 'store', client: '140.116.72.118', id: '7', copies: 2, members: 3, status: 'ok' }]);
    // M = 1: one mismatch is not more than M; a second makes it Pending (slide 34).
    expect(r.node.balancers[0]!.state(1)).toBe('alive');
    expect(r.node.rw.behind(0, 1)).toBe(true);
  });

  it('multicast fan-out: one datagram to the write group on the private segment', () => {
    const r = rig(model('read-one-write-all', 'multicast'));
    const out = r.rx(PUB, request(1, RPC_OP.write, 1, 5));
    expect(out).toHaveLength(1);
    const d = ipv4Of(out[0]!.frame);
    expect(out[0]!.iface).toBe(PRIV);
    expect(d.ip.dst).toBe(WG);
    expect(d.eth.dst).toBe(multicastMac(WG));
    expect(d.eth.src).toBe(SG_PRIV_MAC);
  });

  it('turns off a member that replies failure at once (the option decides), and it stays off through good health results', () => {
    const r = rig(model('read-one-write-all'), HEALTH);
    r.rx(PUB, request(9, RPC_OP.write, 1, 5));
    // The option says failure though the payload says ok: the option wins.
    r.rx(PRIV, reply(1, 9, RPC_STATUS.ok, 5, { status: 1, retval: -1 }));
    expect(r.node.balancers[0]!.state(1)).toBe('dead');
    expect(decisions(r, 'write-turn-off').map((d) => d.detail)).toEqual([{ group: 'store', server: 'rs2', client: '140.116.72.118', id: '9' }]);
    r.rx(PRIV, reply(0, 9, RPC_STATUS.ok, 5));
    r.rx(PRIV, reply(2, 9, RPC_STATUS.ok, 5));
    // The next write goes to the two left.
    expect(dsts(r.rx(PUB, request(10, RPC_OP.write, 1, 6)))).toEqual([String(SERVERS[0]), String(SERVERS[2])]);
  });

  it('a write nobody acknowledged leaves no member behind (it is maybe applied)', () => {
    const r = rig(model('read-one-write-all'), HEALTH);
    r.rx(PUB, request(3, RPC_OP.write, 1, 5));
    r.advance(r.now + WRITE_TIMEOUT_DEFAULT_US + 1); // every member silent
    expect(decisions(r, 'write-mismatch')).toHaveLength(3);
    expect(decisions(r, 'write-answer')[0]!.detail['status']).toBe('none');
    expect([0, 1, 2].map((k) => r.node.rw.behind(0, k))).toEqual([false, false, false]);
  });

  it('without the option the payload decides; a member that never replies times out as a mismatch', () => {
    const r = rig(model('read-one-write-all'), HEALTH);
    r.rx(PUB, request(3, RPC_OP.write, 1, 5));
    r.rx(PRIV, reply(0, 3, RPC_STATUS.ok, 5));
    expect(r.rx(PRIV, reply(1, 3, RPC_STATUS.ok, 5))).toHaveLength(1); // 2 of 3: answered
    r.advance(r.now + WRITE_TIMEOUT_DEFAULT_US + 1);
    expect(decisions(r, 'write-mismatch').map((d) => d.detail['why'])).toEqual(['timeout']);
    expect(r.node.rw.behind(0, 2)).toBe(true);
    expect(r.node.rw.pending.replies).toBe(0);
  });

  it('a retransmission is not written twice; once answered, the answer is sent again', () => {
    const r = rig(model('read-one-write-all'));
    r.rx(PUB, request(5, RPC_OP.write, 1, 5));
    expect(r.rx(PUB, request(5, RPC_OP.write, 1, 5))).toEqual([]);
    expect(drop(r, 'rw/retransmit')).toBe(1);
    r.rx(PRIV, reply(0, 5, RPC_STATUS.ok, 5));
    r.rx(PRIV, reply(1, 5, RPC_STATUS.ok, 5));
    r.rx(PRIV, reply(2, 5, RPC_STATUS.ok, 5));
    const again = r.rx(PUB, request(5, RPC_OP.write, 1, 5));
    expect(again.map((t) => t.iface)).toEqual([PUB]);
    expect(ipv4Of(again[0]!.frame).ip.src).toBe(VIP);
    // The same id from another client port is another client's write.
    expect(r.rx(PUB, request(5, RPC_OP.write, 1, 5, 40001))).toHaveLength(3);
  });

  it('with only failures the client gets a failure reply', () => {
    const r = rig(model('read-one-write-all'));
    r.rx(PUB, request(4, RPC_OP.write, 1, 5));
    r.rx(PRIV, reply(0, 4, RPC_STATUS.error, 0));
    r.rx(PRIV, reply(1, 4, RPC_STATUS.error, 0));
    const out = r.rx(PRIV, reply(2, 4, RPC_STATUS.error, 0));
    expect(out).toHaveLength(1);
    expect(decisions(r, 'write-answer')[0]!.detail['status']).toBe('failure');
  });
});

describe('ReadOne (slide 15)', () => {
  it('a read goes to one server by policy with no write in progress', () => {
    const r = rig(model('read-one-write-all'));
    const seen = [1, 2, 3].map((x) => dsts(r.rx(PUB, request(x, RPC_OP.read, 1)))[0]);
    expect(seen).toEqual(SERVERS.map(String)); // round robin
    const back = r.rx(PRIV, reply(1, 2, RPC_STATUS.ok, 0));
    expect(back).toHaveLength(1);
    expect(ipv4Of(back[0]!.frame).ip.src).toBe(VIP);
  });

  it('while a write is in progress, reads go to the first member that has replied to it', () => {
    const r = rig(model('read-one-write-all'));
    r.rx(PUB, request(100, RPC_OP.write, 1, 5));
    // No member has replied: the first in config order.
    expect(dsts(r.rx(PUB, request(1, RPC_OP.read, 1)))).toEqual([String(SERVERS[0])]);
    r.rx(PRIV, reply(2, 100, RPC_STATUS.ok, 5));
    r.rx(PRIV, reply(1, 100, RPC_STATUS.ok, 5)); // answered (2 of 3); rs1 still owes its reply
    for (const x of [2, 3, 4]) expect(dsts(r.rx(PUB, request(x, RPC_OP.read, 1)))).toEqual([String(SERVERS[1])]);
    r.rx(PRIV, reply(0, 100, RPC_STATUS.ok, 5)); // the write is over: the policy again
    expect(new Set([5, 6, 7].map((x) => dsts(r.rx(PUB, request(x, RPC_OP.read, 1)))[0])).size).toBe(3);
  });

  it('when every member owes a write, a read goes to one that owes no acknowledged write', () => {
    const r = rig(model('read-one-write-all'));
    r.rx(PUB, request(200, RPC_OP.write, 1, 5)); // A
    r.rx(PRIV, reply(1, 200, RPC_STATUS.ok, 5));
    expect(r.rx(PRIV, reply(2, 200, RPC_STATUS.ok, 5))).toHaveLength(1); // A acknowledged; rs1 still owes it
    r.rx(PUB, request(201, RPC_OP.write, 2, 6)); // B: nobody has replied, so every member owes a write
    // rs1 is first in order but owes A, which its client has seen: the read goes to rs2.
    expect(dsts(r.rx(PUB, request(1, RPC_OP.read, 1)))).toEqual([String(SERVERS[1])]);
  });

  it('a server behind (it missed a write) gets no reads until it says it is whole (state alive)', () => {
    const r = rig(model('read-one-write-all'));
    r.rx(PUB, request(100, RPC_OP.write, 1, 5));
    r.rx(PRIV, reply(0, 100, RPC_STATUS.ok, 5));
    r.rx(PRIV, reply(1, 100, RPC_STATUS.ok, 5));
    r.advance(r.now + WRITE_TIMEOUT_DEFAULT_US + 1); // rs3 silent
    const seen = new Set([1, 2, 3, 4, 5, 6].map((x) => dsts(r.rx(PUB, request(x, RPC_OP.read, 1)))[0]));
    expect(seen).toEqual(new Set([String(SERVERS[0]), String(SERVERS[1])]));
    r.node.setServerState(0, 2, 'alive', r.now); // its recovery (slide 45) ends with its own state alive
    expect(r.node.rw.behind(0, 2)).toBe(false);
  });

  it('a server out of service while a write goes by is behind, even once its health is Alive again', () => {
    const r = rig(model('read-one-write-all'), HEALTH);
    const mon = r.node.monitors[0]!;
    r.node.setServerState(0, 2, 'dead', r.now);
    expect(r.node.balancers[0]!.state(2)).toBe('dead');
    expect(r.rx(PUB, request(100, RPC_OP.write, 1, 5))).toHaveLength(2);
    expect(r.node.rw.behind(0, 2)).toBe(false); // not yet: nobody has seen the write acknowledged
    r.rx(PRIV, reply(0, 100, RPC_STATUS.ok, 5));
    r.rx(PRIV, reply(1, 100, RPC_STATUS.ok, 5)); // acknowledged: rs3 missed it
    expect(r.node.rw.behind(0, 2)).toBe(true);
    mon.admin(2, 'alive', r.now); // the monitor says it is back (as a port test would): its data may still lack the write
    r.node.heartbeat(0, 2, r.now); // (any call that applies the monitor's changes)
    expect(r.node.balancers[0]!.state(2)).toBe('alive');
    expect(r.node.rw.behind(0, 2)).toBe(true);
    expect(r.rx(PUB, request(101, RPC_OP.write, 1, 6))).toHaveLength(3); // writes reach it again
  });
});

describe('ReadFirst (slides 18-20)', () => {
  it('a read goes to every member; the first reply wins and the later ones are dropped and counted', () => {
    const r = rig(model('read-first-write-all'));
    expect(r.rx(PUB, request(1, RPC_OP.read, 1))).toHaveLength(3);
    expect(r.rx(PRIV, reply(2, 1, RPC_STATUS.ok, 9))).toHaveLength(1);
    expect(r.rx(PRIV, reply(0, 1, RPC_STATUS.ok, 9))).toEqual([]);
    expect(drop(r, 'rw/late-reply')).toBe(1);
  });
});

describe('read-only mode (slide 45)', () => {
  it('refuses writes with the analyzer\'s failure reply and lets reads through', () => {
    const withCtl = new Rig(config({ groups: [group('store', VIP, PORT, [server(0), server(1), server(2)], { model: model('read-one-write-all') })], ctl: { port: 1999, keys: [] } }));
    withCtl.node.ctlTarget!.write({ cls: 'group', property: 'read-only', group: 0, server: 0, value: true }, withCtl.now, 'admin');
    const out = withCtl.rx(PUB, request(8, RPC_OP.write, 1, 5));
    expect(out.map((t) => t.iface)).toEqual([PUB]);
    const d = ipv4Of(out[0]!.frame);
    expect(d.ip.src).toBe(VIP);
    const body = d.l4.kind === 'udp' ? parseRpc(d.l4.udp.payload, 'reply') : undefined;
    expect(body?.ok && body.value).toMatchObject({ xid: 8, status: RPC_STATUS.error });
    expect(decisions(withCtl, 'write-refused')[0]!.detail).toMatchObject({ reason: 'read-only', replied: true });
    expect(withCtl.rx(PUB, request(9, RPC_OP.read, 1)).map((t) => t.iface)).toEqual([PRIV]);
  });
});

describe('bad input', () => {
  it('a request or reply the analyzer refuses is a counted drop; a reply to nothing is counted', () => {
    const r = rig(model('read-one-write-all'));
    const short = udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport: 40000, dport: PORT, payload: new Uint8Array(3) });
    expect(r.rx(PUB, short)).toEqual([]);
    expect(drop(r, 'rw/truncated')).toBe(1);
    expect(r.rx(PUB, request(1, 9, 1))).toEqual([]);
    expect(drop(r, 'rw/unknown-operation')).toBe(1);
    expect(r.rx(PRIV, reply(0, 77, RPC_STATUS.ok, 1))).toEqual([]);
    expect(drop(r, 'rw/unknown-reply')).toBe(1);
  });

  it('bounds: a write beyond writes-pending is refused and counted', () => {
    const r = rig(model('read-one-write-all', 'unicast', { writesPendingMax: 2 }));
    r.rx(PUB, request(1, RPC_OP.write, 1, 1));
    r.rx(PUB, request(2, RPC_OP.write, 1, 2));
    expect(r.rx(PUB, request(3, RPC_OP.write, 1, 3))).toEqual([]);
    expect(drop(r, 'rw/writes-full')).toBe(1);
    r.advance(r.now + 2 * WRITE_TIMEOUT_DEFAULT_US + 2); // votes end and their kept answers (none) go
    expect(r.rx(PUB, request(3, RPC_OP.write, 1, 3))).toHaveLength(3);
  });
});
