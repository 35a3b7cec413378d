/**
 * The engine wires keep-same-server scopes (slides 31-32): groups naming one scope share the
 * client's affinity, so the RPC client's port-mapper link (UDP 111) pins its RPC link (UDP 2345)
 * though they are two per-port groups.
 */
import { describe, expect, it } from 'vitest';
import type { KeepSameServer } from '../../src/balance/types.ts';
import { seconds } from '../../src/time.ts';
import { CLIENT, CLIENT_MAC, config, GATEWAY_MAC, group, ipv4Of, PRIV, PUB, REMOTE, Rig, server, SERVERS, SG_PUB_MAC, udpFrame, VIP } from './rig.ts';

function rig(keep: KeepSameServer): Rig {
  const servers = [server(0), server(1), server(2)];
  return new Rig(config({ groups: [group('portmap', VIP, 111, servers, { keepSameServer: keep }), group('rpc', VIP, 2345, servers, { keepSameServer: keep })] }));
}

/** Where the node sends a UDP datagram from `src` to VIP:dport (the server's address). */
function sentTo(r: Rig, src: 'client' | 'remote', sport: number, dport: number): number {
  const f = src === 'client' ? udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport, dport }) : udpFrame({ srcMac: GATEWAY_MAC, dstMac: SG_PUB_MAC, src: REMOTE, dst: VIP, sport, dport });
  const out = r.rx1(PUB, f);
  expect(out.iface).toBe(PRIV);
  return ipv4Of(out.frame).ip.dst;
}

describe('engine: keep-same-server scope across per-port groups', () => {
  it("the RPC link goes to the server of the client's port-mapper link", () => {
    const r = rig({ mode: 'client', timeout: seconds(30), scope: 'rpc' });
    expect(sentTo(r, 'remote', 700, 111)).toBe(SERVERS[0]); // an rpcinfo probe: the round robins part
    expect(sentTo(r, 'client', 600, 111)).toBe(SERVERS[1]); // "which port is server ZZ?"
    expect(sentTo(r, 'client', 601, 2345)).toBe(SERVERS[1]); // "request sent to port 2345"
    expect(r.trace.events.flatMap((e) => (e.kind === 'decision' && e.what === 'link-new' ? [`${e.detail?.['group']}:${e.detail?.['server']}:${e.detail?.['reason']}`] : []))).toEqual(['portmap:rs1:policy', 'portmap:rs2:policy', 'rpc:rs2:affinity']);
  });

  it('without a scope the groups are independent (the slide example fails)', () => {
    const r = rig({ mode: 'client', timeout: seconds(30) });
    sentTo(r, 'remote', 700, 111);
    expect(sentTo(r, 'client', 600, 111)).toBe(SERVERS[1]);
    expect(sentTo(r, 'client', 601, 2345)).toBe(SERVERS[0]);
  });
});
