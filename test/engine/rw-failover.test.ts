/**
 * The read/write models across a takeover: which servers are behind rides the state-sync stream,
 * so the new master sends no reads to a server that missed a write; a write in progress on the
 * old master is completed by the client's retransmission to the new one.
 */
import { describe, expect, it } from 'vitest';
import { WRITE_TIMEOUT_DEFAULT_US, type GroupModel } from '../../src/rw/models.ts';
import { seconds, type Instant } from '../../src/time.ts';
import { encodeRpc, RPC_OP, RPC_STATUS } from '../../src/wire/rpc.ts';
import { GroupRig, member } from './group.ts';
import { ARP_OP } from '../../src/wire/arp.ts';
import { arpFrame, CLIENT, CLIENT_MAC, SG_PRIV, SG_PUB, group, ipv4Of, PRIV, PUB, server, SERVER_MACS, SERVERS, SG_PRIV_MAC, SG_PUB_MAC, udpFrame, VIP } from './rig.ts';

const PORT = 2049;
const s = (x: number) => seconds(x) as number;
const MODEL: GroupModel = {
  kind: 'read-one-write-all',
  writeAll: { analyzer: { kind: 'builtin', name: 'rpc' }, fanout: { kind: 'unicast' }, writesPendingMax: 64, writeTimeout: WRITE_TIMEOUT_DEFAULT_US as never, repliesHeldMax: 256 },
};
const GROUPS = [group('store', VIP, PORT, [server(0), server(1), server(2)], { model: MODEL })];

const request = (xid: number, op: number, value = 0) =>
  udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport: 40000, dport: PORT, payload: encodeRpc({ kind: 'request', xid, op, key: 1, value }) });
const reply = (i: number, xid: number, value: number) =>
  udpFrame({ srcMac: SERVER_MACS[i]!, dstMac: SG_PRIV_MAC, src: SERVERS[i]!, dst: CLIENT, sport: PORT, dport: 40000, payload: encodeRpc({ kind: 'reply', xid, status: RPC_STATUS.ok, value }) });

describe('read/write groups across a takeover', () => {
  it('the new master knows which servers are behind, and completes a retransmitted write', () => {
    const g = new GroupRig([1, 2].map((id) => ({ ...member(id, 300 - id * 100), groups: GROUPS })));
    g.start(0);
    g.start(1);
    g.run(s(2));
    const [sg1, sg2] = [g.node(0), g.node(1)];
    expect(sg1.bidd!.state).toBe('master');
    // Teach both nodes the servers' and the client's MACs (as ARP would).
    const arp = (mac: number, who: number, me: number, meIp: number) => arpFrame(mac as never, me as never, { op: ARP_OP.reply, senderMac: mac as never, senderIp: who as never, targetMac: me as never, targetIp: meIp as never });
    for (const n of [sg1, sg2]) {
      for (const t of [0, 1, 2]) n.handleFrame(g.now as Instant, PRIV, arp(SERVER_MACS[t]!, SERVERS[t]!, SG_PRIV_MAC, SG_PRIV));
      n.handleFrame(g.now as Instant, PUB, arp(CLIENT_MAC, CLIENT, SG_PUB_MAC, SG_PUB));
    }
    sg1.handleFrame(g.now as Instant, PUB, request(1, RPC_OP.write, 5));
    sg1.handleFrame(g.now as Instant, PRIV, reply(0, 1, 5));
    sg1.handleFrame(g.now as Instant, PRIV, reply(1, 1, 5));
    g.run(g.now + WRITE_TIMEOUT_DEFAULT_US + s(0.2)); // rs3 never answers: behind; the sync flushes
    expect(sg1.rw.behind(0, 2)).toBe(true);
    expect(sg2.rw.behind(0, 2)).toBe(true);
    // A write the old master is collecting when it dies:
    sg1.handleFrame(g.now as Instant, PUB, request(2, RPC_OP.write, 6));
    g.crash(0);
    g.run(g.now + s(1));
    expect(sg2.bidd!.state).toBe('master');
    while (sg2.pollTransmit() !== undefined);
    // The client's retransmission reaches the new master: sent to every member again.
    sg2.handleFrame(g.now as Instant, PUB, request(2, RPC_OP.write, 6));
    const out: Uint8Array[] = [];
    for (let tx = sg2.pollTransmit(); tx !== undefined; tx = sg2.pollTransmit()) out.push(tx.frame);
    expect(out.map((f) => ipv4Of(f).ip.dst)).toEqual([...SERVERS]);
    sg2.handleFrame(g.now as Instant, PRIV, reply(0, 2, 6));
    sg2.handleFrame(g.now as Instant, PRIV, reply(1, 2, 6));
    const answer = sg2.pollTransmit();
    expect(answer !== undefined && ipv4Of(answer.frame).ip.src).toBe(VIP);
    // While rs3 still owes that write, reads go to the preferred rs1; after it, by policy, skipping rs3 (behind).
    g.run(g.now + WRITE_TIMEOUT_DEFAULT_US + 1);
    while (sg2.pollTransmit() !== undefined);
    const seen = new Set<number>();
    for (let x = 10; x < 16; x++) {
      sg2.handleFrame(g.now as Instant, PUB, request(x, RPC_OP.read));
      for (let tx = sg2.pollTransmit(); tx !== undefined; tx = sg2.pollTransmit()) seen.add(ipv4Of(tx.frame).ip.dst);
    }
    expect([...seen].sort()).toEqual([SERVERS[0], SERVERS[1]].sort());
  });
});
