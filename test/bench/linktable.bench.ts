/**
 * Link table benchmarks. The NAT path's goal is 2M frames/s on one core, so a lookup
 * must take well under 100 ns even when the table is big: 2^20 links, keys hit at random, so
 * nearly every lookup misses the cache on its index bucket and again on the link's record (the
 * worst case; real traffic comes in bursts per flow and hits warm lines).
 *
 * - lookups: client side (a packet towards the VIP) and server side (a reply), random hits;
 *   the same on a 4096-link table that fits in cache; the fast path (lookup, touch, read the
 *   server's address and port).
 * - churn: create one link and remove the oldest, the table holding 2^19 links.
 * - expire: records visited per second by a sweep that finds nothing idle (its periodic cost).
 * - memory: `linkTableMemory(n)` fills n links and reports bytes per link from the arrays' sizes
 *   and from process.memoryUsage() (heapUsed + arrayBuffers) around the fill; IPVS needs about
 *   128 bytes per connection. Run with `node --expose-gc` for a clean heap figure.
 *
 * The tables (about 150 MB) are built when this module is imported, not inside the timed calls:
 * the harness calibrates its batch size on the first call, and a 1M-link fill there (a quarter
 * of a second) would shrink every batch to a few hundred lookups.
 *
 * Run alone: `node --expose-gc --import tsx test/bench/linktable.bench.ts [name filter]`.
 */
import { pathToFileURL } from 'node:url';
import { LinkTable } from '../../src/nat/linktable.ts';
import type { LinkId } from '../../src/nat/types.ts';
import type { Duration, Instant } from '../../src/time.ts';
import type { Ipv4Addr } from '../../src/wire/addr.ts';
import { formatRate, measure, type Bench } from './harness.ts';

const BIG = 1 << 20;
const SMALL = 1 << 12;
const TCP = 6;
const VIP = 0x8c74_4872 as Ipv4Addr; // 140.116.72.114
const VPORT = 80;
const SERVERS = [0xc0a8_0101, 0xc0a8_0102, 0xc0a8_0103] as const; // 192.168.1.1-3
const T0 = 1_000_000 as Instant;

// Link i's key: 16 ports on each of 2^22 client addresses in 10.0.0.0/8 upward, so any 2^26
// consecutive i are distinct keys.
const clientAddr = (i: number): Ipv4Addr => ((0x0a00_0000 + ((i >>> 4) & 0x3f_ffff)) >>> 0) as Ipv4Addr;
const clientPort = (i: number): number => 20_000 + (i & 15);
const serverOf = (i: number): number => i % 3;
const serverAddr = (i: number): Ipv4Addr => SERVERS[serverOf(i)]! as Ipv4Addr;

function fill(t: LinkTable, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) {
    const id = t.create(TCP, clientAddr(i), clientPort(i), VIP, VPORT, serverAddr(i), VPORT, 0, serverOf(i), T0);
    if (id === undefined) throw new Error(`fill: create ${i} refused`);
  }
}

function filled(n: number): LinkTable {
  const t = new LinkTable({ linksMax: n, initialCapacity: n });
  fill(t, n);
  return t;
}

/** xorshift32: cheap random indexes without touching memory. */
function nextRandom(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x;
}

function clientLookups(t: LinkTable): Bench {
  const mask = t.size - 1;
  let x = 0x9e3779b9;
  return {
    name: `linktable lookupClient, ${t.size} links, random hits`,
    unit: 'lookups',
    goalPerSec: 10e6,
    run(n) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        x = nextRandom(x);
        const i = x & mask;
        acc += t.lookupClient(TCP, clientAddr(i), clientPort(i), VIP, VPORT);
      }
      return acc;
    },
  };
}

function serverLookups(t: LinkTable): Bench {
  const mask = t.size - 1;
  let x = 0x85ebca6b;
  return {
    name: `linktable lookupServer, ${t.size} links, random hits`,
    unit: 'lookups',
    goalPerSec: 10e6,
    run(n) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        x = nextRandom(x);
        const i = x & mask;
        acc += t.lookupServer(TCP, serverAddr(i), VPORT, clientAddr(i), clientPort(i));
      }
      return acc;
    },
  };
}

/** What the NAT path does per client packet: look up, count, read where to send it. */
function fastPath(t: LinkTable): Bench {
  const mask = t.size - 1;
  let x = 0x27d4eb2f;
  let now = T0 as number;
  return {
    name: `linktable lookup+touch+read server, ${t.size} links`,
    unit: 'packets',
    run(n) {
      let acc = 0;
      now += 1;
      for (let k = 0; k < n; k++) {
        x = nextRandom(x);
        const i = x & mask;
        const id = t.lookupClient(TCP, clientAddr(i), clientPort(i), VIP, VPORT);
        if (id === -1) throw new Error('fast path: lookup missed');
        t.touch(id, now as Instant, 'in');
        acc += t.serverAddr(id) + t.serverPort(id);
      }
      return acc;
    },
  };
}

/** Create one link and remove the oldest: the table holds half its linksMax throughout. */
function churn(links: number): Bench {
  const window = links >>> 1;
  const t = new LinkTable({ linksMax: links, initialCapacity: links });
  const ring = new Int32Array(window);
  let next = 0;
  for (; next < window; next++) {
    ring[next] = t.create(TCP, clientAddr(next), clientPort(next), VIP, VPORT, serverAddr(next), VPORT, 0, serverOf(next), T0)!;
  }
  return {
    name: `linktable create+remove churn, ${window} live of ${links}`,
    unit: 'pairs',
    run(n) {
      let acc = 0;
      for (let k = 0; k < n; k++, next++) {
        const slot = next % window;
        t.remove(ring[slot]! as LinkId);
        const i = next & 0x3ff_ffff;
        const id = t.create(TCP, clientAddr(i), clientPort(i), VIP, VPORT, serverAddr(i), VPORT, 0, serverOf(i), T0);
        if (id === undefined) throw new Error('churn: create refused');
        ring[slot] = id;
        acc += id;
      }
      return acc;
    },
  };
}

/** A sweep over a table where nothing is idle: the cost of calling expire periodically. */
function sweep(t: LinkTable): Bench {
  const never = (): Duration => Number.MAX_SAFE_INTEGER as Duration;
  return {
    name: `linktable expire sweep, ${t.size} links, none idle`,
    unit: 'records',
    run(n) {
      let removed = 0;
      // One call visits each record at most once, so a batch larger than the table takes several.
      for (let left = n; left > 0; left -= t.capacity) removed += t.expire(T0, never, Math.min(left, t.capacity));
      return removed;
    },
  };
}

const big = filled(BIG);
const small = filled(SMALL);

export const linkTableBenches: Bench[] = [
  clientLookups(big),
  serverLookups(big),
  fastPath(big),
  clientLookups(small),
  churn(BIG),
  sweep(big),
];

export interface LinkTableMemory {
  readonly links: number;
  /** allocatedBytes() / links: the typed arrays alone. */
  readonly bytesPerLinkArrays: number;
  /** (heapUsed + arrayBuffers) after the fill minus before, over links. */
  readonly bytesPerLinkMeasured: number;
  /** Whether global.gc was available (node --expose-gc); without it the measured figure is noisy. */
  readonly gc: boolean;
}

/** Fill a table with n links (grown from the default capacity, as the engine does) and weigh it. */
export function linkTableMemory(n: number): LinkTableMemory {
  const gc = (globalThis as { gc?: () => void }).gc;
  const used = (): number => {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const t = new LinkTable({ linksMax: n });
  fill(t, n);
  const after = used();
  const res: LinkTableMemory = {
    links: t.size,
    bytesPerLinkArrays: t.allocatedBytes() / n,
    bytesPerLinkMeasured: (after - before) / n,
    gc: gc !== undefined,
  };
  if (t.size !== n) throw new Error('fill lost links');
  return res;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const filter = process.argv.slice(2).find((a) => !a.startsWith('--'));
  for (const b of linkTableBenches.filter((b) => filter === undefined || b.name.includes(filter))) {
    const r = measure(b);
    const goal = r.goalPerSec === undefined ? '' : `  goal ${formatRate(r.goalPerSec)}/s ${r.medianPerSec >= r.goalPerSec ? 'met' : 'NOT met'}`;
    console.log(`${r.name.padEnd(58)} ${formatRate(r.medianPerSec).padStart(8)} ${r.unit}/s  (${formatRate(r.minPerSec)}-${formatRate(r.maxPerSec)}), ${(1e9 / r.medianPerSec).toFixed(1)} ns each${goal}`);
  }
  for (const n of [1_000_000, BIG]) {
    const m = linkTableMemory(n);
    console.log(`linktable memory, ${m.links} links: ${m.bytesPerLinkArrays.toFixed(1)} B/link (arrays), ${m.bytesPerLinkMeasured.toFixed(1)} B/link (heap+arrayBuffers delta${m.gc ? '' : ', no --expose-gc'}); IPVS ~128`);
  }
}
