/**
 * Real-mode forwarding rate: UDP frames through `sg daemon` (NAT to the one real
 * server) against a bare AF_PACKET forwarder on the same veth path, three namespaces in a line:
 *
 *   gen (eth0) --veth-- (eth0) mid (eth1) --veth-- (eth0) sink
 *
 * `gen` blasts 64-byte UDP frames over 1,000 flows from a raw socket as fast as it can for
 * DURATION; `sink` counts what arrives on a raw socket. `mid` is either the SG daemon (VIP
 * 10.30.1.10:9 -> 10.30.2.2:9, round robin over one server) or `bare`: a loop that receives a
 * batch on eth0, rewrites the Ethernet addresses and sends it out of eth1, with the same batched
 * recvmmsg/sendmmsg as the daemon. Needs root.
 *
 *   node --import tsx test/bench/real-forward.ts [seconds]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SECONDS = Number(process.argv[2] ?? 5);
const P = `sgf${randomBytes(2).toString('hex')}`;
const NS = { gen: `${P}-gen`, mid: `${P}-mid`, sink: `${P}-sink` };
const ROOT = new URL('../..', import.meta.url).pathname;
const TSX = ['--import', 'tsx'];

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}
function mac(ns: string, dev: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/address`], { encoding: 'utf8' }).trim();
}

function setup(): void {
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
  }
  ip('-n', NS.gen, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.mid);
  ip('-n', NS.mid, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.sink);
  for (const [ns, dev] of [[NS.gen, 'eth0'], [NS.mid, 'eth0'], [NS.mid, 'eth1'], [NS.sink, 'eth0']] as const) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off'], { stdio: 'ignore' });
  }
  ip('-n', NS.gen, 'addr', 'add', '10.30.1.100/24', 'dev', 'eth0');
  ip('-n', NS.sink, 'addr', 'add', '10.30.2.2/24', 'dev', 'eth0');
}

function teardown(procs: ChildProcess[]): void {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const ns of Object.values(NS)) {
    try {
      for (const pid of ip('netns', 'pids', ns).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
    try {
      ip('netns', 'del', ns);
    } catch {
      // gone
    }
  }
}

/** A Node program (run with tsx) inside a namespace; its stdout collected. */
function node(ns: string, code: string): { proc: ChildProcess; out: Promise<string> } {
  const file = join(mkdtempSync(join(tmpdir(), 'sg-fwd-')), 'p.ts');
  writeFileSync(file, code);
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...TSX, file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  return { proc, out: new Promise((res) => proc.on('exit', () => res(out))) };
}

const afpacket = `${ROOT}src/real/afpacket.ts`;

function sinkCode(seconds: number): string {
  return `import { RawSocket, pollReadable } from '${afpacket}';
import { createSocket } from 'node:dgram';
const drain = createSocket('udp4'); drain.bind(9); drain.on('message', () => {});
const s = new RawSocket('eth0');
let n = 0, first = 0, last = 0;
const end = Date.now() + ${seconds * 1000} + 3000;
while (Date.now() < end) {
  if (pollReadable([s], 5).length) s.receive((f) => { if (f.length >= 42 && f[23] === 17 && f[36] === 0 && f[37] === 9) { n++; const t = performance.now(); if (!first) first = t; last = t; } });
}
console.log(JSON.stringify({ n, seconds: (last - first) / 1000 }));
process.exit(0);
`;
}

function genCode(dstMac: string, dstIp: string, seconds: number): string {
  return `import { RawSocket } from '${afpacket}';
import { encodeFrame, ipv4Header } from '${ROOT}src/wire/frame.ts';
import { ip, mac } from '${ROOT}src/wire/addr.ts';
const s = new RawSocket('eth0', { promiscuous: false });
const src = mac(require('node:fs').readFileSync('/sys/class/net/eth0/address', 'utf8').trim());
const frames = Array.from({ length: 1000 }, (_, i) => encodeFrame({ eth: { dst: mac('${dstMac}'), src }, net: { kind: 'ipv4', ip: ipv4Header({ src: ip('10.30.1.100'), dst: ip('${dstIp}'), protocol: 17, ttl: 64 }), l4: { kind: 'udp', udp: { srcPort: 20000 + i, dstPort: 9, payload: new Uint8Array(18) } } } }));
const end = performance.now() + ${seconds * 1000};
let k = 0;
while (performance.now() < end) { for (let i = 0; i < 64; i++) s.send(frames[k++ % 1000]); s.flush(); }
console.log(JSON.stringify({ sent: s.stats.txFrames, dropped: s.stats.txDropped }));
process.exit(0);
`;
}

function bareCode(sinkMac: string): string {
  return `import { RawSocket, pollReadable } from '${afpacket}';
import { mac, writeMac } from '${ROOT}src/wire/addr.ts';
const a = new RawSocket('eth0'); const b = new RawSocket('eth1');
const dst = mac('${sinkMac}'); const src = mac(require('node:fs').readFileSync('/sys/class/net/eth1/address', 'utf8').trim());
for (;;) {
  if (pollReadable([a], 5).length) while (a.receive((f) => { const c = f.slice(); writeMac(c, 0, dst); writeMac(c, 6, src); b.send(c); }) > 0) b.flush();
}
`;
}

function clusterFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sg-fwd-')), 'cluster.yaml');
  writeFileSync(file, `name: fwd
duration: 1s
topology:
  segments:
    public: { subnet: 10.30.1.0/24 }
    pool: { subnet: 10.30.2.0/24 }
  hosts:
    rs1: { ifaces: [{ segment: pool, ip: 10.30.2.2 }] }
    gen: { ifaces: [{ segment: public, ip: 10.30.1.100 }] }
cluster:
  nodes:
    sg1: { public: { segment: public, ip: 10.30.1.1 }, private: { segment: pool, ip: 10.30.2.1 } }
  groups:
    - { name: discard, vip: 10.30.1.10, port: 9, policy: round-robin, servers: [{ host: rs1 }] }
`);
  return file;
}

async function measure(mode: 'sg' | 'bare'): Promise<{ rate: number; sent: number; got: number }> {
  setup();
  const procs: ChildProcess[] = [];
  try {
    let midProc: ChildProcess;
    if (mode === 'sg') {
      midProc = spawn('ip', ['netns', 'exec', NS.mid, process.execPath, `${ROOT}bin/sg.mjs`, 'daemon', '--config', clusterFile(), '--node', 'sg1'], { stdio: ['ignore', 'ignore', 'inherit'] });
    } else midProc = node(NS.mid, bareCode(mac(NS.sink, 'eth0'))).proc;
    procs.push(midProc);
    await new Promise((r) => setTimeout(r, 3000));
    if (mode === 'sg') {
      // Let the SG node learn the server's MAC (its ARP) before the blast.
      execFileSync('ip', ['netns', 'exec', NS.gen, 'ping', '-c', '1', '-W', '1', '10.30.1.10'], { stdio: 'ignore' });
    }
    const sink = node(NS.sink, sinkCode(SECONDS));
    procs.push(sink.proc);
    await new Promise((r) => setTimeout(r, 1500));
    const dstMac = mac(NS.mid, 'eth0');
    const gen = node(NS.gen, genCode(dstMac, mode === 'sg' ? '10.30.1.10' : '10.30.2.2', SECONDS));
    procs.push(gen.proc);
    const g = JSON.parse(await gen.out) as { sent: number };
    const s = JSON.parse(await sink.out) as { n: number; seconds: number };
    return { rate: s.n / Math.max(1e-9, s.seconds), sent: g.sent, got: s.n };
  } finally {
    teardown(procs);
  }
}

const bare = await measure('bare');
const sg = await measure('sg');
console.log(`bare AF_PACKET forwarder: ${Math.round(bare.rate)} frames/s delivered (${bare.got} of ${bare.sent} sent)`);
console.log(`sg daemon (NAT):          ${Math.round(sg.rate)} frames/s delivered (${sg.got} of ${sg.sent} sent)`);
console.log(`sg / bare: ${((sg.rate / bare.rate) * 100).toFixed(1)}% (goal >= 80%)`);
