/**
 * The real RPC service and client (src/real/rpc.ts, `sg rpc`) without namespaces, on loopback (no
 * root needed): reads and writes answered, --fail-writes and --diverge, a malformed request
 * ignored and counted, the client's retransmission with the same xid, a timeout, `--count`, the
 * descriptor of a dgram socket and IP_OPTIONS set and cleared on it, and the command's usage
 * errors. On the wire in a lab, judged by tshark: rpc-lab.test.ts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { dgramFd, setIpOptionsFd } from '../../src/real/mcast-socket.ts';
import { rpcCall, rpcServe, type RpcServeHandle } from '../../src/real/rpc.ts';
import { ip } from '../../src/wire/addr.ts';
import { encodeRpc, parseRpc, RPC_OP, RPC_STATUS } from '../../src/wire/rpc.ts';
import { sgWriteStatus } from '../../src/wire/sgopt.ts';
import { encodeIpv4Options } from '../../src/wire/ipv4.ts';

const LOOPBACK = ip('127.0.0.1');
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function serve(o: { failWrites?: boolean; diverge?: boolean } = {}): Promise<RpcServeHandle> {
  const errors: Error[] = [];
  const h = rpcServe({ port: 0, name: 't', ...o }, () => {}, (e) => errors.push(e));
  closers.push(h.close);
  await h.ready;
  expect(errors).toEqual([]);
  return h;
}

describe('sg rpc serve on loopback', () => {
  it('answers reads and writes; a write stores the value', async () => {
    const h = await serve();
    const w = await rpcCall({ to: LOOPBACK, port: h.port(), op: 'write', key: 7, value: 42 });
    expect(w).toMatchObject({ kind: 'reply', reply: { status: RPC_STATUS.ok, value: 42 }, tries: 1 });
    const r = await rpcCall({ to: LOOPBACK, port: h.port(), op: 'read', key: 7 });
    expect(r).toMatchObject({ kind: 'reply', reply: { status: RPC_STATUS.ok, value: 42 } });
    const other = await rpcCall({ to: LOOPBACK, port: h.port(), op: 'read', key: 8 });
    expect(other).toMatchObject({ kind: 'reply', reply: { status: RPC_STATUS.ok, value: 0 } });
    expect(h.server).toEqual({ reads: 2, writes: 1, writeFailures: 0, badOps: 0, duplicates: 0 });
    expect(h.support).toMatchObject({ replies: 3, writeReplies: 1, optionErrors: 0 });
  });

  it('--fail-writes answers every write with failure; --diverge stores value + 1', async () => {
    const f = await serve({ failWrites: true });
    expect(await rpcCall({ to: LOOPBACK, port: f.port(), op: 'write', key: 1, value: 5 })).toMatchObject({ kind: 'reply', reply: { status: RPC_STATUS.error, value: 0 } });
    const d = await serve({ diverge: true });
    expect(await rpcCall({ to: LOOPBACK, port: d.port(), op: 'write', key: 1, value: 5 })).toMatchObject({ kind: 'reply', reply: { status: RPC_STATUS.ok, value: 6 } });
  });

  it('a malformed request is ignored and counted; the service keeps answering', async () => {
    const h = await serve();
    const tx = createSocket('udp4');
    closers.push(() => tx.close());
    for (const n of [0, 1, 10]) await new Promise<void>((res, rej) => tx.send(Buffer.alloc(n), h.port(), '127.0.0.1', (e) => (e ? rej(e) : res())));
    // An unknown op is a request: answered with status error.
    const bad = encodeRpc({ kind: 'request', xid: 9, op: 7, key: 1, value: 0 });
    const got = new Promise<Buffer>((res) => tx.once('message', (m) => res(m)));
    tx.send(bad, h.port(), '127.0.0.1');
    const reply = parseRpc(await got, 'reply');
    expect(reply).toEqual({ ok: true, value: { kind: 'reply', xid: 9, status: RPC_STATUS.error, value: 0 } });
    expect(h.counters).toEqual({ requests: 1, malformed: 3 });
    expect(await rpcCall({ to: LOOPBACK, port: h.port(), op: 'read', key: 1 })).toMatchObject({ kind: 'reply' });
  });
});

describe('sg rpc read|write: the client', () => {
  /** A server that drops the first `drop` requests and answers the next with xid and value 1. */
  async function flaky(drop: number): Promise<{ port: number; seen: Buffer[] }> {
    const s: Socket = createSocket('udp4');
    closers.push(() => s.close());
    const seen: Buffer[] = [];
    s.on('message', (m, r) => {
      seen.push(m);
      if (seen.length <= drop) return;
      const p = parseRpc(m, 'request');
      if (!p.ok) return;
      s.send(Buffer.from([0, 0, 0, 0, 0]), r.port, r.address); // too short: ignored by the client
      s.send(encodeRpc({ kind: 'reply', xid: (p.value.xid + 1) >>> 0, status: 0, value: 0 }), r.port, r.address); // another xid: ignored
      s.send(encodeRpc({ kind: 'reply', xid: p.value.xid, status: 0, value: 1 }), r.port, r.address);
    });
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    return { port: s.address().port, seen };
  }

  it('retransmits the same request (same xid) until the reply; ignores replies that are not its own', async () => {
    const f = await flaky(2);
    const r = await rpcCall({ to: LOOPBACK, port: f.port, op: 'write', key: 3, value: 1, xid: 77, retransmitMs: 20, timeoutMs: 10_000 });
    expect(r).toMatchObject({ kind: 'reply', reply: { xid: 77, value: 1 }, tries: 3, ignored: 2 });
    expect(f.seen.length).toBe(3);
    for (const m of f.seen) expect(parseRpc(m, 'request')).toEqual({ ok: true, value: { kind: 'request', xid: 77, op: RPC_OP.write, key: 3, value: 1 } });
  });

  it('times out when nothing answers, and the command says so with exit status 1', async () => {
    const f = await flaky(1_000_000);
    const r = await rpcCall({ to: LOOPBACK, port: f.port, op: 'read', key: 3, retransmitMs: 20, timeoutMs: 150 });
    expect(r).toMatchObject({ kind: 'timeout' });
    if (r.kind === 'timeout') expect(r.tries).toBeGreaterThanOrEqual(2);
    const io = memoryIo();
    expect(await main(['rpc', 'read', '--to', `127.0.0.1:${f.port}`, '--key', '3', '--retransmit-ms', '20', '--timeout-ms', '100'], io)).toBe(1);
    expect(io.stderr).toMatch(/no reply from 127\.0\.0\.1:\d+ in 100 ms/);
  });

  it('prints the reply line; exit status 0 for ok, 1 for a failed write', async () => {
    const ok = await serve();
    const io = memoryIo();
    expect(await main(['rpc', 'write', '--to', `127.0.0.1:${ok.port()}`, '--key', '5', '--value=-3', '--xid', '12'], io)).toBe(0);
    expect(io.stdout).toMatch(/^reply xid=12 status=ok value=-3 from=127\.0\.0\.1:\d+ tries=1 ms=[\d.]+\n$/);
    const failing = await serve({ failWrites: true });
    const io2 = memoryIo();
    expect(await main(['rpc', 'write', '--to', `127.0.0.1:${failing.port()}`, '--key', '5', '--value', '1'], io2)).toBe(1);
    expect(io2.stdout).toContain('status=error');
  });

  it('--count sends that many requests in sequence and prints one summary line', async () => {
    const ok = await serve();
    const io = memoryIo();
    expect(await main(['rpc', 'write', '--to', `127.0.0.1:${ok.port()}`, '--key', '5', '--value', '9', '--count', '20'], io)).toBe(0);
    expect(io.stdout).toMatch(/^count=20 ok=20 error=0 timeout=0 values=9x20 p50=[\d.]+ms p99=[\d.]+ms max=[\d.]+ms rate=[\d.]+\/s\n$/);
    expect(ok.server).toMatchObject({ writes: 20 });
    const io2 = memoryIo();
    expect(await main(['rpc', 'read', '--to', `127.0.0.1:${ok.port()}`, '--key', '5', '--count', '3'], io2)).toBe(0);
    expect(io2.stdout).toMatch(/^count=3 ok=3 error=0 timeout=0 values=9x3 /);
    const failing = await serve({ failWrites: true });
    const io3 = memoryIo();
    expect(await main(['rpc', 'write', '--to', `127.0.0.1:${failing.port()}`, '--key', '5', '--value', '1', '--count', '2'], io3)).toBe(1);
    expect(io3.stdout).toMatch(/^count=2 ok=0 error=2 timeout=0 values=0x2 .* rate=0\.0\/s\n$/);
  });

  it('bad usage is exit status 2 with a reason', async () => {
    const cases: [string[], RegExp][] = [
      [['rpc'], /missing subcommand/],
      [['rpc', 'frob'], /unknown subcommand 'frob'/],
      [['rpc', 'read', '--key', '1'], /--to ADDR:PORT is required/],
      [['rpc', 'read', '--to', '127.0.0.1', '--key', '1'], /--to must be ADDR:PORT/],
      [['rpc', 'read', '--to', '127.0.0.1:1', '--key', '65536'], /--key must be an integer 0\.\.65535/],
      [['rpc', 'write', '--to', '127.0.0.1:1', '--key', '1'], /--value is required/],
      [['rpc', 'write', '--to', '127.0.0.1:1', '--key', '1', '--value', '2147483648'], /--value must be an i32/],
      [['rpc', 'read', '--to', '127.0.0.1:1', '--key', '1', '--value', '3'], /--value is for a write/],
      [['rpc', 'serve', '--group', '10.0.0.1'], /--group must be a multicast/],
      [['rpc', 'serve', '--iface-addr', '10.0.0.1'], /--iface-addr needs --group/],
      [['rpc', 'serve', '--port', '70000'], /--port must be an integer/],
      [['rpc', 'read', '--to', '127.0.0.1:1', '--key', '1', '--count', '0'], /--count must be an integer 1\.\./],
      [['rpc', 'read', '--to', '127.0.0.1:1', '--key', '1', '--count', '2', '--xid', '3'], /--xid is for one request/],
    ];
    for (const [argv, msg] of cases) {
      const io = memoryIo();
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.stderr, argv.join(' ')).toMatch(msg);
    }
  });
});

describe('IP_OPTIONS on a Node dgram socket', () => {
  it("finds the descriptor of a bound socket (Node's 'state symbol' handle), not of an unbound one", async () => {
    const s = createSocket('udp4');
    closers.push(() => s.close());
    expect(dgramFd(s)).toMatchObject({ ok: false });
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    const fd = dgramFd(s);
    expect(fd).toMatchObject({ ok: true });
    if (!fd.ok) return;
    expect(fd.fd).toBeGreaterThan(2);
    expect(setIpOptionsFd(fd.fd, encodeIpv4Options([sgWriteStatus(0, 42)]))).toBeUndefined();
    expect(setIpOptionsFd(fd.fd, new Uint8Array(0))).toBeUndefined();
    // 44 bytes is more than an IPv4 header holds: EINVAL, said, not thrown.
    expect(setIpOptionsFd(fd.fd, new Uint8Array(44))).toMatch(/Invalid argument/);
  });
});
