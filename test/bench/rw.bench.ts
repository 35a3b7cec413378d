/**
 * The cost of the vote on the engine's NAT path: one SgNode handed pre-built
 * Ethernet frames of UDP request/reply exchanges, in the style of nat.bench.ts, one core.
 *
 *   npm run bench -- 'rw NAT'          (steps 4000 and 200 us; `-- rw` adds the simulator figures)
 *   node --import tsx test/bench/rw.bench.ts [STEP_US...]
 *
 * One item is one client request carried through to its answer:
 * - read-any (the peer): a UDP group with 3 servers through the link table; request in, 1 copy
 *   out, reply in, 1 answer out (2 frames in, 2 out);
 * - WriteAll write, 3 servers, unicast: request in, 3 copies out, 3 replies in (each with the
 *   write-status option), 1 answer out (4 in, 4 out);
 * - WriteAll write, 3 servers, multicast: request in, 1 datagram to the write group, 3 replies
 *   in, 1 answer out (4 in, 2 out);
 * - ReadOne read (read-one-write-all, no write in progress): as read-any (2 in, 2 out);
 * - ReadFirst read: request in, 3 copies out, 3 replies in, the first out (4 in, 4 out).
 *
 * Simulated time moves on by STEP_US per request in every variant (the node's timers run when
 * due, `pollTimeout`/`handleTimeout`, inside the timed loop), because a vote is kept for two write
 * timeouts (200 ms each by default: the collection, then the answer kept for retransmissions), so
 * the writes held, which the vote's `pollTimeout` scans on every frame, are about
 * 400 ms / STEP_US. The request keys cycle through KEYS client ports (so a key is never reused
 * while held), which is also the number of read-any links in the table. ARP entries are
 * refreshed every 30 s of simulated time (4 ARP replies, inside the loop); the UDP idle timeout is
 * an hour, so read-any's KEYS links stay in the table at every step. No health monitor, no trace.
 * Figures are CPU time (process.cpuUsage) per request, the variants interleaved round by round.
 */
import type { GroupConfig } from '../../src/balance/types.ts';
import { SG_DEFAULTS } from '../../src/engine/config.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { ifaceName, type IfaceName } from '../../src/port.ts';
import { WRITE_TIMEOUT_DEFAULT_US, WRITES_PENDING_DEFAULT, REPLIES_HELD_DEFAULT, type GroupModel } from '../../src/rw/models.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { ip, mac, type Ipv4Addr, type MacAddr } from '../../src/wire/addr.ts';
import { ARP_OP } from '../../src/wire/arp.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO, type Ipv4Option } from '../../src/wire/ipv4.ts';
import { encodeRpc, RPC_OP, RPC_STATUS } from '../../src/wire/rpc.ts';
import { sgWriteStatus } from '../../src/wire/sgopt.ts';
import { formatRate, type Bench } from './harness.ts';

const PUB = ifaceName('eth0');
const PRIV = ifaceName('eth1');
const SG_PUB_MAC = mac('02:00:00:00:01:01');
const SG_PRIV_MAC = mac('02:00:00:00:01:02');
const SG_PUB = ip('140.116.72.211');
const SG_PRIV = ip('192.168.1.254');
const CLIENT_MAC = mac('02:00:00:00:02:01');
const CLIENT = ip('140.116.72.128');
const SERVER_MACS = [mac('02:00:00:00:03:01'), mac('02:00:00:00:03:02'), mac('02:00:00:00:03:03')];
const SERVERS = [ip('192.168.1.1'), ip('192.168.1.2'), ip('192.168.1.3')];
const VIP = ip('140.116.72.114');
const PORT = 2049;
const WG = ip('239.1.1.1');

/** Client ports the requests cycle through (request keys; read-any links). */
export const KEYS = 8192;
/** The default simulated time between requests: 200 us (5,000 requests/s, about 2,000 writes held). */
export const STEP_US_DEFAULT = 200;
const ARP_REFRESH_US = 30_000_000;
/** UDP link idle timeout, longer than a pass over KEYS at any step used here (read-any's links stay; no churn). */
const UDP_IDLE_US = 3_600_000_000;

type Variant = 'read-any' | 'write-unicast' | 'write-multicast' | 'read-one' | 'read-first';

/** Frames handed to the node (in) and sent by it (out) per request. */
export const FRAMES: Record<Variant, { readonly in: number; readonly out: number }> = {
  'read-any': { in: 2, out: 2 },
  'write-unicast': { in: 4, out: 4 },
  'write-multicast': { in: 4, out: 2 },
  'read-one': { in: 2, out: 2 },
  'read-first': { in: 4, out: 4 },
};

function udp(srcMac: MacAddr, dstMac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, sport: number, dport: number, payload: Uint8Array, options: readonly Ipv4Option[] = []): Uint8Array {
  return encodeFrame({
    eth: { dst: dstMac, src: srcMac },
    net: { kind: 'ipv4', ip: ipv4Header({ src, dst, protocol: IP_PROTO.udp, options }), l4: { kind: 'udp', udp: { srcPort: sport, dstPort: dport, payload } } },
  });
}

function arpReply(senderMac: MacAddr, senderIp: Ipv4Addr, targetMac: MacAddr, targetIp: Ipv4Addr): Uint8Array {
  return encodeFrame({ eth: { dst: targetMac, src: senderMac }, net: { kind: 'arp', arp: { op: ARP_OP.reply, senderMac, senderIp, targetMac, targetIp } } });
}

function model(v: Variant): GroupModel | undefined {
  if (v === 'read-any') return undefined;
  return {
    kind: v === 'read-first' ? 'read-first-write-all' : 'read-one-write-all',
    writeAll: {
      analyzer: { kind: 'builtin', name: 'rpc' },
      fanout: v === 'write-multicast' ? { kind: 'multicast', group: WG } : { kind: 'unicast' },
      writesPendingMax: WRITES_PENDING_DEFAULT,
      writeTimeout: WRITE_TIMEOUT_DEFAULT_US as Duration,
      repliesHeldMax: REPLIES_HELD_DEFAULT,
    },
  };
}

interface Fixture {
  readonly node: SgNode;
  /** Per key: the client's request. */
  readonly requests: Uint8Array[];
  /** Per key: the replies, one per server that gets the request (server index, frame). */
  readonly replies: (readonly (readonly [number, Uint8Array])[])[];
  readonly arp: readonly (readonly [IfaceName, Uint8Array])[];
  now: number;
  nextArp: number;
  /** Requests sent so far, over every run (request keys go round, never reused while held). */
  seq: number;
}

function fixture(v: Variant): Fixture {
  const m = model(v);
  const group: GroupConfig = {
    name: 'store', vip: VIP, port: PORT, policy: 'round-robin', weighted: false, keepSameServer: { mode: 'off' },
    loadWindow: 10_000_000 as Duration, loadFromTotals: false,
    servers: SERVERS.map((addr, i) => ({ name: `rs${i + 1}`, addr, weight: 1 })),
    ...(m !== undefined ? { model: m } : {}),
  };
  const node = new SgNode({
    name: 'sg1',
    public: { name: PUB, mac: SG_PUB_MAC, addr: SG_PUB, prefixLen: 24 },
    private: { name: PRIV, mac: SG_PRIV_MAC, addr: SG_PRIV, prefixLen: 24 },
    groups: [group], linksMax: 1_000_000, idle: { ...SG_DEFAULTS.idle, udp: UDP_IDLE_US as Duration }, garpCount: 0, garpInterval: SG_DEFAULTS.garpInterval,
  });
  const arp: [IfaceName, Uint8Array][] = [[PUB, arpReply(CLIENT_MAC, CLIENT, SG_PUB_MAC, SG_PUB)]];
  SERVERS.forEach((s, i) => arp.push([PRIV, arpReply(SERVER_MACS[i]!, s, SG_PRIV_MAC, SG_PRIV)]));
  for (const [iface, f] of arp) node.handleFrame(1 as Instant, iface, f.slice());
  while (node.pollTransmit() !== undefined);
  const write = v === 'write-unicast' || v === 'write-multicast';
  const requests: Uint8Array[] = [];
  const replies: (readonly (readonly [number, Uint8Array])[])[] = [];
  for (let k = 0; k < KEYS; k++) {
    const sport = 20_000 + k;
    const xid = k + 1;
    requests.push(udp(CLIENT_MAC, SG_PUB_MAC, CLIENT, VIP, sport, PORT, encodeRpc({ kind: 'request', xid, op: write ? RPC_OP.write : RPC_OP.read, key: k & 255, value: write ? k : 0 })));
    const rep = (i: number): readonly [number, Uint8Array] => [
      i,
      udp(SERVER_MACS[i]!, SG_PRIV_MAC, SERVERS[i]!, CLIENT, PORT, sport, encodeRpc({ kind: 'reply', xid, status: RPC_STATUS.ok, value: write ? k : 0 }), write ? [sgWriteStatus(0, k)] : []),
    ];
    replies.push(write || v === 'read-first' ? [rep(0), rep(1), rep(2)] : SERVERS.map((_, i) => rep(i)));
  }
  return { node, requests, replies, arp, now: 2, nextArp: 2 + ARP_REFRESH_US, seq: 0 };
}

/** The server a read-any / ReadOne request went to (the last octet of the copy's destination: 1..3). */
function serverOfCopy(frame: Uint8Array): number {
  return frame[14 + 19]! - 1;
}

export function rwBench(v: Variant, stepUs: number): Bench {
  let fx: Fixture | undefined;
  const buf = new Uint8Array(128);
  const single = v === 'read-any' || v === 'read-one';
  return {
    name: `rw NAT path: ${v}, ${stepUs} us between requests`,
    unit: 'requests',
    run(n) {
      fx ??= fixture(v);
      const { node, requests, replies } = fx;
      let out = 0;
      for (let i = 0; i < n; i++) {
        const now = (fx.now += stepUs) as Instant;
        if (now >= fx.nextArp) {
          for (const [iface, f] of fx.arp) node.handleFrame(now, iface, f.slice());
          fx.nextArp = now + ARP_REFRESH_US;
        }
        const due = node.pollTimeout();
        if (due !== undefined && due <= now) node.handleTimeout(now);
        while (node.pollTransmit() !== undefined);
        const k = fx.seq++ % KEYS;
        const req = requests[k]!;
        buf.set(req);
        node.handleFrame(now, PUB, buf.subarray(0, req.length));
        let sent = 0;
        let to = -1;
        for (let tx = node.pollTransmit(); tx !== undefined; tx = node.pollTransmit()) {
          if (single) to = serverOfCopy(tx.frame);
          sent++;
        }
        const reps = replies[k]!;
        if (single) {
          const r = reps[to]![1];
          buf.set(r);
          node.handleFrame(now, PRIV, buf.subarray(0, r.length));
          for (let tx = node.pollTransmit(); tx !== undefined; tx = node.pollTransmit()) sent++;
        } else {
          for (const [, r] of reps) {
            buf.set(r);
            node.handleFrame(now, PRIV, buf.subarray(0, r.length));
            for (let tx = node.pollTransmit(); tx !== undefined; tx = node.pollTransmit()) sent++;
          }
        }
        if (sent !== FRAMES[v].out) throw new Error(`${v}: request ${i} (key ${k}) sent ${sent} frames, expected ${FRAMES[v].out}; drops ${JSON.stringify([...node.counters.drops])}`);
        out += sent;
      }
      return out;
    },
  };
}

const VARIANTS: readonly Variant[] = ['read-any', 'write-unicast', 'write-multicast', 'read-one', 'read-first'];

/** Rounds per variant; the variants take turns within each round, so load on the machine falls on all alike. */
const ROUNDS = 7;
/** Aimed CPU time of one batch. */
const BATCH_CPU_MS = 250;

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/**
 * Measure every variant at each step, the variants interleaved round by round; print CPU time per
 * request (process.cpuUsage: on a shared machine it moves less than wall time), requests/s and
 * frames in/s of CPU, and the ratio to read-any (median of ROUNDS, min-max in brackets).
 */
export function rwNatFigures(steps: readonly number[] = [4000, STEP_US_DEFAULT]): void {
  console.log(`rw NAT path: one SgNode, pre-built UDP frames, one core; CPU time per request, median of ${ROUNDS} interleaved rounds (min-max)`);
  for (const step of steps) {
    const benches = VARIANTS.map((v) => rwBench(v, step));
    // Warm up and size each variant's batch to about BATCH_CPU_MS of CPU.
    const sizes = benches.map((b) => {
      b.run(1);
      let n = 1000;
      for (;;) {
        const t0 = cpuUs();
        b.run(n);
        const dt = cpuUs() - t0;
        if (dt >= (BATCH_CPU_MS * 1000) / 4) return Math.max(1, Math.round((n * BATCH_CPU_MS * 1000) / dt));
        n *= 4;
      }
    });
    const us: number[][] = benches.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      benches.forEach((b, i) => {
        const t0 = cpuUs();
        b.run(sizes[i]!);
        us[i]!.push((cpuUs() - t0) / sizes[i]!);
      });
    }
    const med = us.map((xs) => stat(xs));
    console.log(`  ${step} us of simulated time between requests (writes held ~ ${Math.round((2 * WRITE_TIMEOUT_DEFAULT_US) / step)})`);
    console.log('| path | frames in/out per request | CPU us per request | requests/s | frames in/s | ratio to read-any, requests/s | ratio to read-any, frames in/s |');
    console.log('|---|---|---|---|---|---|---|');
    const base = med[0]!.median;
    VARIANTS.forEach((v, i) => {
      const s = med[i]!;
      const f = FRAMES[v];
      const ratio = base / s.median;
      console.log(
        `| ${v} | ${f.in}/${f.out} | ${s.median.toFixed(2)} (${s.min.toFixed(2)}-${s.max.toFixed(2)}) | ${formatRate(1e6 / s.median)} | ${formatRate((1e6 * f.in) / s.median)} | ${(ratio * 100).toFixed(1)}% | ${((ratio * f.in * 100) / FRAMES['read-any'].in).toFixed(1)}% |`,
      );
    });
  }
}

function stat(xs: readonly number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const steps = process.argv.slice(2).map(Number);
  rwNatFigures(steps.length > 0 ? steps : [STEP_US_DEFAULT]);
}
