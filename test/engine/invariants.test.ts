/**
 * checkNodeInvariants catches each kind of breach: a balancer count that runs ahead of or behind
 * the link table, a broken link table, a counter that is not a non-negative integer; and the rig
 * the fuzz tests use runs it after every frame, so a breach fails the next frame.
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../src/assert.ts';
import { checkNodeInvariants } from '../../src/engine/invariants.ts';
import { TCP_FLAG } from '../../src/wire/tcp.ts';
import { TX_QUEUE_MAX } from '../../src/engine/sg-node.ts';
import type { Instant } from '../../src/time.ts';
import { CLIENT, CLIENT_MAC, config, echoRequest, G_WEB, ipv4Of, PRIV, PUB, Rig, SERVER_MACS, SERVERS, SG_PRIV_MAC, SG_PUB, SG_PUB_MAC, tcpFrame, udpFrame, VIP } from './rig.ts';

const { syn: SYN, ack: ACK } = TCP_FLAG;

/** A node with two answered web links (round robin: rs1, rs2) and one DNS link. */
function busy(): Rig {
  const rig = new Rig();
  for (const sport of [40_001, 40_002]) {
    const syn = rig.rx1(PUB, tcpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport, dport: 80, flags: SYN }));
    const i = SERVERS.indexOf(ipv4Of(syn.frame).ip.dst as (typeof SERVERS)[number]);
    rig.rx1(PRIV, tcpFrame({ srcMac: SERVER_MACS[i]!, dstMac: SG_PRIV_MAC, src: SERVERS[i]!, dst: CLIENT, sport: 80, dport: sport, flags: SYN | ACK }));
  }
  rig.rx1(PUB, udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport: 5_000, dport: 53 }));
  expect(rig.node.links.size).toBe(3);
  expect([0, 1, 2].map((s) => rig.node.balancers[G_WEB]!.openLinks(s))).toEqual([1, 1, 0]);
  return rig;
}

function breachOf(rig: Rig): string {
  try {
    checkNodeInvariants(rig.node);
  } catch (e) {
    expect(e).toBeInstanceOf(AssertionError);
    return (e as AssertionError).message;
  }
  throw new Error('no breach found');
}

describe('checkNodeInvariants', () => {
  it('passes a node that forwarded, expired and counted links', () => {
    const rig = busy();
    checkNodeInvariants(rig.node);
    rig.advance(rig.now + 10_000_000); // the DNS link (udp 5 s) expires; the TCP ones stay
    expect(rig.node.links.size).toBe(2);
    checkNodeInvariants(rig.node);
  });

  it('a balancer that counts a link the table does not hold', () => {
    const rig = busy();
    rig.node.balancers[G_WEB]!.linkOpened(2, rig.now);
    expect(breachOf(rig)).toBe('node sg1: group web server rs3: the balancer counts 1 open links, the link table holds 0');
  });

  it('a balancer that lost a link the table still holds', () => {
    const rig = busy();
    rig.node.balancers[G_WEB]!.linkClosed(1, rig.now);
    expect(breachOf(rig)).toBe('node sg1: group web server rs2: the balancer counts 0 open links, the link table holds 1');
  });

  it('a link table whose size disagrees with its records', () => {
    const rig = busy();
    (rig.node.links as unknown as { live: number }).live++;
    expect(breachOf(rig)).toBe('node sg1: link table: assertion failed: size 4 but 3 live records');
  });

  it('a counter below zero, a fraction, a drop count that is not a number', () => {
    const rig = busy();
    rig.node.counters.natIn = -1;
    expect(breachOf(rig)).toBe('node sg1: counters.natIn is -1, not a non-negative integer');
    rig.node.counters.natIn = 0;
    (rig.node.counters.drops as Map<string, unknown>).set('nat/no-link', 1.5);
    expect(breachOf(rig)).toBe('node sg1: counters.drops[nat/no-link] is 1.5, not a non-negative integer');
    (rig.node.counters.drops as Map<string, unknown>).set('nat/no-link', '2');
    expect(breachOf(rig)).toBe('node sg1: counters.drops[nat/no-link] is a string, not a count');
  });

  it('the rig checks after every frame: the frame after a breach throws', () => {
    const rig = busy();
    rig.node.balancers[G_WEB]!.linkOpened(0, rig.now);
    const next = tcpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport: 40_001, dport: 80, flags: ACK });
    expect(() => rig.rx(PUB, next)).toThrow(/group web server rs1: the balancer counts 2 open links, the link table holds 1/);
  });
});

describe('engine bounds and time', () => {
  it('a burst nobody polls fills the transmit queue to its bound and no further: drops counted, checkBounds holds', () => {
    const rig = new Rig();
    const ping = echoRequest({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: SG_PUB }, 1, 1);
    const extra = 100;
    for (let i = 0; i < TX_QUEUE_MAX + extra; i++) rig.node.handleFrame(rig.now, PUB, ping.slice());
    expect(rig.drop('tx/queue-full')).toBe(extra);
    rig.node.checkBounds();
    checkNodeInvariants(rig.node);
    expect(rig.drain()).toHaveLength(TX_QUEUE_MAX);
    // Drained: the queue takes frames again.
    expect(rig.rx(PUB, ping)).toHaveLength(1);
  });

  it("a frame or timeout earlier than the node's time is our driver's bug: an AssertionError, state kept", () => {
    const rig = new Rig({ ...config() }, { start: 1_000_000 as Instant });
    const ping = echoRequest({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: SG_PUB }, 1, 1);
    expect(() => rig.node.handleFrame(999_999 as Instant, PUB, ping.slice())).toThrow(AssertionError);
    expect(() => rig.node.handleTimeout(5 as Instant)).toThrow(/time went backwards/);
    expect(rig.rx(PUB, ping)).toHaveLength(1); // the node still answers at its own time
  });
});
