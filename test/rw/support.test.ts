/**
 * The service support routines (src/rw/support.ts) and the RPC store (src/rw/rpc-server.ts):
 * on a scripted socket (what each call does to the socket, and a send that completes later, as a
 * real one does), on the simulator's UDP socket (the option rides on the replies while it is set
 * and not after it is cleared), and end to end in the simulator, where the option is decoded from
 * the captured frames.
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../src/assert.ts';
import { readPcapng } from '../../src/capture/pcapng-read.ts';
import { ip, type Ipv4Addr } from '../../src/wire/addr.ts';
import { decodeFrame } from '../../src/wire/frame.ts';
import type { Ipv4Option } from '../../src/wire/ipv4.ts';
import { encodeRpc, parseRpc, RPC_OP, RPC_STATUS } from '../../src/wire/rpc.ts';
import { MCAST_FAILURE, MCAST_SUCCESS, McastSupport, type McastPeer, type McastSocket } from '../../src/rw/support.ts';
import { DRC_ENTRIES, RpcServer } from '../../src/rw/rpc-server.ts';
import { Network } from '../../sim/network.ts';
import { simMcastSocket } from '../../sim/mcast-socket.ts';
import { addDuration, millis, seconds } from '../../src/time.ts';

/** A socket that records each call; sends complete when `complete()` is called (or at once with `sync`). */
class ScriptedSocket implements McastSocket {
  readonly calls: string[] = [];
  /** The options on the socket now. */
  options: readonly Ipv4Option[] = [];
  /** Each sent datagram with the options it left with. */
  readonly sent: { payload: string; to: McastPeer; options: readonly Ipv4Option[] }[] = [];
  readonly #pending: ((e: string | undefined) => void)[] = [];
  failSet = false;
  failClear = false;
  constructor(readonly sync: boolean) {}
  joinGroup(group: Ipv4Addr): string | undefined {
    this.calls.push(`join ${group >>> 0}`);
    return undefined;
  }
  setMulticastTtl(ttl: number): string | undefined {
    this.calls.push(`ttl ${ttl}`);
    return undefined;
  }
  setIpOptions(options: readonly Ipv4Option[]): string | undefined {
    this.calls.push(options.length === 0 ? 'clear' : `set ${JSON.stringify(options)}`);
    if (options.length > 0 && this.failSet) return 'EINVAL';
    if (options.length === 0 && this.failClear) return 'EINVAL';
    this.options = options;
    return undefined;
  }
  send(payload: Uint8Array, to: McastPeer, sent: (error: string | undefined) => void): void {
    this.calls.push(`send ${new TextDecoder().decode(payload)}`);
    if (this.sync) {
      this.sent.push({ payload: new TextDecoder().decode(payload), to, options: this.options });
      sent(undefined);
    } else {
      this.#pending.push((e) => {
        this.sent.push({ payload: new TextDecoder().decode(payload), to, options: this.options });
        sent(e);
      });
    }
  }
  /** The oldest send in flight leaves now (with the options on the socket now). */
  complete(error?: string): void {
    this.#pending.shift()!(error);
  }
  get inFlight(): number {
    return this.#pending.length;
  }
}

const te = (s: string) => new TextEncoder().encode(s);
const to: McastPeer = { addr: ip('10.0.0.9'), port: 40000 };
const opt = (status: number, retval: number): Ipv4Option => ({ kind: 'sg-write-status', status, retval });

describe('McastSupport: the four routines', () => {
  it('joinGroup joins, then sets the TTL when given; a non-multicast group is our bug', () => {
    const s = new ScriptedSocket(true);
    const m = new McastSupport(s);
    expect(m.joinGroup(ip('239.1.2.3'), 4)).toBeUndefined();
    expect(m.joinGroup(ip('239.1.2.4'))).toBeUndefined();
    expect(s.calls).toEqual([`join ${ip('239.1.2.3') >>> 0}`, 'ttl 4', `join ${ip('239.1.2.4') >>> 0}`]);
    expect(() => m.joinGroup(ip('10.0.0.1'))).toThrow(AssertionError);
  });

  it('prepare then setOption puts the option on the socket and consumes the prepared status; clearOption takes it off', () => {
    const s = new ScriptedSocket(true);
    const m = new McastSupport(s);
    m.prepare(MCAST_SUCCESS, -7);
    expect(m.prepared).toEqual({ kind: 'sg-write-status', status: 0, retval: -7 });
    expect(m.setOption()).toBeUndefined();
    expect(m.prepared).toBeUndefined();
    expect(m.optionSet).toBe(true);
    expect(s.options).toEqual([opt(0, -7)]);
    expect(m.clearOption()).toBeUndefined();
    expect(m.optionSet).toBe(false);
    expect(s.options).toEqual([]);
    // Nothing prepared: a bug in the service, not a reply without status.
    expect(() => m.setOption()).toThrow(AssertionError);
    expect(() => m.prepare(0x10000, 0)).toThrow(AssertionError);
    expect(() => m.prepare(0, 2 ** 31)).toThrow(AssertionError);
  });

  it('reply: a write reply leaves with its option, a read reply without; the socket is clear after each', () => {
    const s = new ScriptedSocket(true);
    const m = new McastSupport(s);
    expect(m.reply(te('w1'), to, { status: MCAST_SUCCESS, retval: 42 })).toBe('sent');
    expect(m.reply(te('r1'), to)).toBe('sent');
    expect(m.reply(te('w2'), to, { status: MCAST_FAILURE, retval: 5 })).toBe('sent');
    expect(s.sent.map((x) => [x.payload, x.options])).toEqual([
      ['w1', [opt(0, 42)]],
      ['r1', []],
      ['w2', [opt(1, 5)]],
    ]);
    expect(s.calls).toEqual([`set ${JSON.stringify([opt(0, 42)])}`, 'send w1', 'clear', 'send r1', `set ${JSON.stringify([opt(1, 5)])}`, 'send w2', 'clear']);
    expect(s.options).toEqual([]);
    expect(m.counters).toEqual({ replies: 3, writeReplies: 2, sendErrors: 0, optionErrors: 0, queueFull: 0 });
  });

  it('with a send that completes later, one reply is in flight at a time: a read never leaves while a write option is set', () => {
    const s = new ScriptedSocket(false);
    const m = new McastSupport(s, 2);
    expect(m.reply(te('w1'), to, { status: MCAST_SUCCESS, retval: 1 })).toBe('sent');
    expect(m.reply(te('r1'), to)).toBe('queued');
    expect(m.reply(te('w2'), to, { status: MCAST_SUCCESS, retval: 2 })).toBe('queued');
    expect(m.reply(te('r2'), to)).toBe('queue-full');
    expect(s.inFlight).toBe(1);
    expect(m.queued).toBe(2);
    s.complete();
    expect(s.inFlight).toBe(1); // r1, after w1's option was cleared
    s.complete();
    s.complete('EHOSTUNREACH');
    expect(s.inFlight).toBe(0);
    expect(s.sent.map((x) => [x.payload, x.options])).toEqual([
      ['w1', [opt(0, 1)]],
      ['r1', []],
      ['w2', [opt(0, 2)]],
    ]);
    expect(s.options).toEqual([]);
    expect(m.counters).toEqual({ replies: 2, writeReplies: 1, sendErrors: 1, optionErrors: 0, queueFull: 1 });
  });

  it('a write reply whose option cannot be set is not sent; a failed clear is retried before the next reply', () => {
    const s = new ScriptedSocket(true);
    const m = new McastSupport(s);
    s.failSet = true;
    m.reply(te('w1'), to, { status: MCAST_SUCCESS, retval: 1 });
    expect(s.sent).toEqual([]);
    s.failSet = false;
    s.failClear = true;
    m.reply(te('w2'), to, { status: MCAST_SUCCESS, retval: 2 });
    // The clear after w2 failed: the option is still on, so r1 is held back, not sent with it.
    m.reply(te('r1'), to);
    s.failClear = false;
    m.reply(te('r2'), to);
    expect(s.sent.map((x) => [x.payload, x.options])).toEqual([
      ['w2', [opt(0, 2)]],
      ['r2', []],
    ]);
    expect(m.counters.optionErrors).toBe(3);
  });
});

describe('RpcServer: the store the simulator and real mode share', () => {
  const req = (xid: number, op: number, key: number, value = 0) => ({ kind: 'request' as const, xid, op, key, value });

  it('reads, writes, unknown ops, fail-writes, diverge and a full store', () => {
    const s = new RpcServer({ keysMax: 2 });
    expect(s.handle(req(1, RPC_OP.read, 7))).toEqual({ reply: { kind: 'reply', xid: 1, status: RPC_STATUS.ok, value: 0 }, writeStatus: undefined });
    expect(s.handle(req(2, RPC_OP.write, 7, 42))).toEqual({ reply: { kind: 'reply', xid: 2, status: RPC_STATUS.ok, value: 42 }, writeStatus: { status: MCAST_SUCCESS, retval: 42 } });
    expect(s.handle(req(3, RPC_OP.read, 7)).reply.value).toBe(42);
    expect(s.handle(req(4, 9, 7))).toEqual({ reply: { kind: 'reply', xid: 4, status: RPC_STATUS.error, value: 42 }, writeStatus: undefined });
    s.handle(req(5, RPC_OP.write, 8, 1));
    expect(s.handle(req(6, RPC_OP.write, 9, 1))).toEqual({ reply: { kind: 'reply', xid: 6, status: RPC_STATUS.error, value: 0 }, writeStatus: { status: MCAST_FAILURE, retval: 0 } });
    expect(s.counters).toEqual({ reads: 2, writes: 3, writeFailures: 1, badOps: 1, duplicates: 0 });

    const f = new RpcServer({ failWrites: true });
    f.store.set(7, 3);
    expect(f.handle(req(1, RPC_OP.write, 7, 42))).toEqual({ reply: { kind: 'reply', xid: 1, status: RPC_STATUS.error, value: 3 }, writeStatus: { status: MCAST_FAILURE, retval: 3 } });
    expect(f.store.get(7)).toBe(3);

    const d = new RpcServer({ diverge: true });
    expect(d.handle(req(1, RPC_OP.write, 7, 0x7fffffff)).writeStatus).toEqual({ status: MCAST_SUCCESS, retval: -0x80000000 });
    expect(d.handle(req(2, RPC_OP.read, 7)).reply.value).toBe(-0x80000000);
  });

  it('answers a repeated write from its duplicate request cache, without applying it again', () => {
    const s = new RpcServer();
    const first = s.handle(req(10, RPC_OP.write, 7, 1), '10.0.0.2:4000');
    s.handle(req(11, RPC_OP.write, 7, 2), '10.0.0.2:4000');
    // The first write again (a late retransmission): same answer, the newer value stays.
    expect(s.handle(req(10, RPC_OP.write, 7, 1), '10.0.0.2:4000')).toEqual(first);
    expect(s.store.get(7)).toBe(2);
    expect(s.counters.duplicates).toBe(1);
    // The same xid from another client is another write; without a client there is no cache.
    s.handle(req(10, RPC_OP.write, 7, 3), '10.0.0.9:4000');
    expect(s.store.get(7)).toBe(3);
    s.handle(req(11, RPC_OP.write, 7, 2));
    expect(s.store.get(7)).toBe(2);
    // It remembers DRC_ENTRIES writes, the oldest forgotten first; clear() forgets all.
    for (let x = 0; x < DRC_ENTRIES; x++) s.handle(req(1000 + x, RPC_OP.write, 8, x), '10.0.0.3:1');
    s.handle(req(10, RPC_OP.write, 7, 1), '10.0.0.2:4000');
    expect(s.store.get(7)).toBe(1);
    s.clear();
    expect(s.store.size).toBe(0);
  });
});

function lan(pcap?: (c: Uint8Array) => void) {
  const net = new Network(pcap ? { seed: 3, pcap } : { seed: 3 });
  const sw = net.switch('lan');
  const link = { latency: millis(0.1), bandwidthBps: 100e6 };
  const server = net.host('server', { ifaces: [{ ip: '10.0.0.1/24', on: sw, link }] });
  const client = net.host('client', { ifaces: [{ ip: '10.0.0.2/24', on: sw, link }] });
  // Resolve ARP both ways first: the ARP queue holds few datagrams, and these tests send bursts.
  const a = server.host.udpBind(9, { onMessage: () => {} });
  const b = client.host.udpBind(9, { onMessage: () => {} });
  a.sendTo(ip('10.0.0.2'), 9, new Uint8Array(1));
  b.sendTo(ip('10.0.0.1'), 9, new Uint8Array(1));
  net.run(millis(10));
  a.close();
  b.close();
  return { net, server, client };
}

describe('the support routines on the simulated UDP socket', () => {
  it('the option rides on every datagram while it is set and on none after it is cleared; a per-send option still wins', () => {
    const { net, server, client } = lan();
    const got: { p: string; opts: readonly Ipv4Option[] }[] = [];
    const cli = client.host.udpBind(0, { onMessage: (p, _from, info) => got.push({ p: new TextDecoder().decode(p), opts: info.ipOptions }) });
    const sock = server.host.udpBind(2049, { onMessage: () => {} });
    const m = new McastSupport(simMcastSocket(sock));
    const peer = { addr: ip('10.0.0.2'), port: cli.port };
    m.prepare(MCAST_SUCCESS, 42);
    expect(m.setOption()).toBeUndefined();
    expect(sock.ipOptions).toEqual([opt(0, 42)]);
    sock.sendTo(peer.addr, peer.port, te('a'));
    sock.sendTo(peer.addr, peer.port, te('b'));
    sock.sendTo(peer.addr, peer.port, te('c'), { ipOptions: [] });
    sock.sendTo(peer.addr, peer.port, te('d'), { ipOptions: [opt(1, 0)] });
    expect(m.clearOption()).toBeUndefined();
    sock.sendTo(peer.addr, peer.port, te('e'));
    net.run(addDuration(net.now, millis(50)));
    expect(got).toEqual([
      { p: 'a', opts: [opt(0, 42)] },
      { p: 'b', opts: [opt(0, 42)] },
      { p: 'c', opts: [] },
      { p: 'd', opts: [opt(1, 0)] },
      { p: 'e', opts: [] },
    ]);
    // Over 40 bytes of options is EINVAL, said, not thrown through the support routines.
    const big: Ipv4Option[] = Array.from({ length: 6 }, () => opt(0, 0));
    expect(simMcastSocket(sock).setIpOptions(big)).toMatch(/EINVAL/);
    expect(sock.ipOptions).toEqual([]);
  });

  it('the RPC service: write replies carry the option decoded from the captured frames (status, stored value), reads and short requests do not', () => {
    const chunks: Uint8Array[] = [];
    const { net, server, client } = lan((c) => chunks.push(c.slice()));
    const rpc = net.rpc(server, { port: 2049 });
    const divergent = net.rpc(server, { port: 2050, diverge: true, name: 'div' });
    const failing = net.rpc(server, { port: 2051, failWrites: true, name: 'fail' });
    const cli = client.host.udpBind(0, { onMessage: () => {} });
    net.run(addDuration(net.now, millis(1))); // the services start
    const send = (port: number, op: number, xid: number, value: number) => cli.sendTo(ip('10.0.0.1'), port, encodeRpc({ kind: 'request', xid, op, key: 7, value }));
    send(2049, RPC_OP.write, 1, 42);
    send(2049, RPC_OP.read, 2, 0);
    send(2050, RPC_OP.write, 3, 42);
    send(2051, RPC_OP.write, 4, 42);
    cli.sendTo(ip('10.0.0.1'), 2049, new Uint8Array(5)); // too short: ignored
    net.run(addDuration(net.now, seconds(1)));
    expect(rpc.store.get(7)).toBe(42);
    expect(divergent.store.get(7)).toBe(43);
    expect(failing.store.has(7)).toBe(false);
    const cap = readPcapng(new Uint8Array(Buffer.concat(chunks)));
    expect(cap.ok).toBe(true);
    if (!cap.ok) return;
    const replies: { xid: number; status: number; value: number; opts: readonly Ipv4Option[] }[] = [];
    const seen = new Set<string>(); // each frame is captured on both ends of the cable
    for (const p of cap.value.packets) {
      const f = decodeFrame(p.data);
      if (!f.ok || f.value.net.kind !== 'ipv4' || f.value.net.l4.kind !== 'udp') continue;
      const { ip: h, l4 } = f.value.net;
      if (h.src !== ip('10.0.0.1')) continue;
      const r = parseRpc(l4.udp.payload, 'reply');
      if (!r.ok || seen.has(`${r.value.xid}`)) continue;
      seen.add(`${r.value.xid}`);
      replies.push({ xid: r.value.xid, status: r.value.status, value: r.value.value, opts: h.options });
    }
    replies.sort((a, b) => a.xid - b.xid);
    expect(replies).toEqual([
      { xid: 1, status: RPC_STATUS.ok, value: 42, opts: [opt(MCAST_SUCCESS, 42)] },
      { xid: 2, status: RPC_STATUS.ok, value: 42, opts: [] },
      { xid: 3, status: RPC_STATUS.ok, value: 43, opts: [opt(MCAST_SUCCESS, 43)] },
      { xid: 4, status: RPC_STATUS.error, value: 0, opts: [opt(MCAST_FAILURE, 0)] },
    ]);
    expect(rpc.counters.requests).toBe(2);
  });
});
