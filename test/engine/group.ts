/**
 * Several SG node engines on one failover group, stepped in virtual time (quinn `Pair` style):
 * every group datagram a node sends reaches the other live nodes DELAY_US later. Each node runs
 * on its own clock (`base`: its local time is the group's minus base), so a node restarted the way
 * a process manager restarts a daemon, with its clock starting again at 0, can be modelled. The
 * tap keeps every group datagram sent, for replaying later; `inject` delivers bytes as an
 * attacker on the segment would. Each node's invariants are checked after every frame and timeout.
 */

import type { SgNodeConfig } from '../../src/engine/config.ts';
import { checkNodeInvariants } from '../../src/engine/invariants.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { millis, seconds, type Instant } from '../../src/time.ts';
import { MemoryTrace } from '../../src/trace.ts';
import { ip, mac, multicastMac, readIpv4 } from '../../src/wire/addr.ts';
import { config, PUB, udpFrame, udpOffset } from './rig.ts';

export const GROUP = ip('224.1.1.1');
export const GROUP_PORT = 5891;
export const KEY = new TextEncoder().encode('0123456789abcdef');
export const DELAY_US = 50;

/** A failover config for node `id` at `price`: 100 ms heartbeats, stateful sync. */
export function member(id: number, price: number): SgNodeConfig {
  return config({
    name: `sg${id}`,
    seed: id,
    failover: {
      group: GROUP, port: GROUP_PORT, node: id, price,
      heartbeatInterval: millis(100), masterTimeout: millis(300), bidTimeout: millis(100), holdDown: seconds(1), stallBound: millis(500),
      key: { id: 1, secret: KEY }, privateVip: ip('192.168.1.250'),
      sync: { flushDelay: millis(2), retransmit: millis(200), logMax: 1024 },
    },
  });
}

export interface Tapped {
  readonly at: number;
  readonly from: number;
  /** UDP destination port: GROUP_PORT (bidd and the handshake) or GROUP_PORT + 1 (sync). */
  readonly port: number;
  readonly frame: Uint8Array;
}

interface Member {
  readonly cfg: SgNodeConfig;
  node: SgNode | undefined;
  base: number;
  trace: MemoryTrace;
}

const ATTACKER_MAC = mac('02:00:00:00:0a:0a');

export class GroupRig {
  now = 0;
  readonly members: Member[];
  readonly tap: Tapped[] = [];
  readonly #queue: { at: number; to: number; frame: Uint8Array }[] = [];
  #head = 0;

  constructor(cfgs: readonly SgNodeConfig[]) {
    this.members = cfgs.map((cfg) => ({ cfg, node: undefined, base: 0, trace: new MemoryTrace() }));
  }

  node(i: number): SgNode {
    const n = this.members[i]!.node;
    if (n === undefined) throw new Error(`member ${i} is down`);
    return n;
  }

  trace(i: number): MemoryTrace {
    return this.members[i]!.trace;
  }

  /** Start member `i` now as a fresh process; `clockFromZero`: its clock starts at 0 (no shared t0). */
  start(i: number, opts: { clockFromZero?: boolean; incarnation?: () => number } = {}): SgNode {
    const m = this.members[i]!;
    m.base = opts.clockFromZero ? this.now : 0;
    m.trace = new MemoryTrace();
    m.node = new SgNode(m.cfg, { trace: m.trace, now: (this.now - m.base) as Instant, ...(opts.incarnation ? { incarnation: opts.incarnation } : {}) });
    this.#collect(i);
    return m.node;
  }

  crash(i: number): void {
    this.members[i]!.node = undefined;
  }

  /** Deliver `payload` to member `to` (every live member if undefined) as a datagram to the group at `at`. */
  inject(at: number, port: number, payload: Uint8Array, to?: number): void {
    const frame = udpFrame({ srcMac: ATTACKER_MAC, dstMac: multicastMac(GROUP), src: ip('140.116.72.66'), dst: GROUP, sport: port, dport: port, ttl: 1, payload });
    this.members.forEach((_, j) => {
      if (to === undefined || to === j) this.#push({ at, to: j, frame });
    });
  }

  /** The UDP payload of a tapped datagram. */
  static payload(t: Tapped): Uint8Array {
    const l4 = udpOffset(t.frame);
    return t.frame.subarray(l4 + 8);
  }

  /** Run until `until` (µs of group time), delivering datagrams and firing timers in order. */
  run(until: number): void {
    for (;;) {
      let t = this.#queue[this.#head]?.at ?? Infinity;
      for (const m of this.members) {
        const d = m.node?.pollTimeout();
        if (d !== undefined) t = Math.min(t, d + m.base);
      }
      if (t > until) break;
      this.now = Math.max(this.now, t);
      while (this.#head < this.#queue.length && this.#queue[this.#head]!.at <= this.now) {
        const q = this.#queue[this.#head++]!;
        const m = this.members[q.to]!;
        if (m.node === undefined) continue;
        m.node.handleFrame((this.now - m.base) as Instant, PUB, q.frame.slice());
        checkNodeInvariants(m.node);
        this.#collect(q.to);
      }
      this.members.forEach((m, i) => {
        const d = m.node?.pollTimeout();
        if (m.node !== undefined && d !== undefined && d + m.base <= this.now) {
          m.node.handleTimeout((this.now - m.base) as Instant);
          checkNodeInvariants(m.node);
          this.#collect(i);
        }
      });
    }
    this.now = Math.max(this.now, until);
  }

  #push(q: { at: number; to: number; frame: Uint8Array }): void {
    // Keep the queue sorted by time (stable): most pushes land at the end.
    let k = this.#queue.length;
    while (k > this.#head && this.#queue[k - 1]!.at > q.at) k--;
    this.#queue.splice(k, 0, q);
  }

  #collect(i: number): void {
    const n = this.members[i]!.node!;
    for (let tx = n.pollTransmit(); tx !== undefined; tx = n.pollTransmit()) {
      const f = tx.frame;
      if (tx.iface !== PUB || f.length < 34 || f[23] !== 17 || readIpv4(f, 30) !== GROUP) continue;
      const l4 = udpOffset(f);
      this.tap.push({ at: this.now, from: i, port: (f[l4 + 2]! << 8) | f[l4 + 3]!, frame: f.slice() });
      this.members.forEach((m, j) => {
        if (j !== i && m.node !== undefined) this.#push({ at: this.now + DELAY_US, to: j, frame: f.slice() });
      });
    }
  }
}
