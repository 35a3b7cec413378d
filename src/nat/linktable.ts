/**
 * The SG link table (slide 29): every flow through the virtual server, found from either side.
 *
 * Designed like IPVS's connection table, but compact and allocation-free on the fast path
 * (72 bytes per link at 1M links, against IPVS's ~128; see the numbers in test/bench):
 *
 * - **Records.** Typed arrays indexed by LinkId. What a packet needs sits in one 32-byte hot
 *   record per link (one ArrayBuffer seen as Float64Array and Int32Array): lastSeen, client
 *   address, VIP, both client-side ports, server address, server port, proto, state, FIN flags,
 *   group and server. Only the cold fields are separate arrays (created; packets in/out). One
 *   array per field would cost a packet about 8 cache misses on a 1M-link table (the lookup
 *   compares 5 fields, touch writes 2, the rewrite reads 2); the hot record costs 1, and halving
 *   it from 64 to 32 bytes cut a random 1M-link lookup from ~150 to ~105 ns. A dead record's
 *   group/server word holds the free list.
 * - **Two hash indexes** (client side: proto, client addr:port, VIP:port; server side: proto,
 *   server addr:port, client addr:port): open addressing with linear probing, power-of-two size
 *   at least twice the record capacity (load factor <= 0.5), tombstone-free deletion by
 *   backward shift (Knuth 6.4 algorithm R). A bucket is one int32: a 6-bit tag from the hash
 *   (rejects 63 of 64 non-matching probes without touching a record) over id + 1. Deletion and
 *   growth recompute a neighbour's home bucket from its record; at load <= 0.5 clusters are
 *   short. Halving the buckets from 8 to 4 bytes took the lookup from ~105 to ~78 ns.
 * - **Hash**: the murmur3 x86_32 block mix over the key's four 32-bit words, finalised with
 *   fmix32; all Math.imul, no strings, no Map, no per-link objects. The seed comes from the
 *   caller (the engine's Rng) so an outsider cannot aim collisions at a known function; murmur3
 *   is not a keyed PRF, so that is a speed bump, not a proof against hash flooding.
 * - **Bounds** (STYLE.md 7): `linksMax` is hard: `create` returns undefined when the table holds
 *   `linksMax` links, and the engine counts and traces the drop. Capacity starts at
 *   `initialCapacity` and doubles (capped at `linksMax`); growing copies the records and rebuilds
 *   both indexes, an O(n) pause (about 90 ms for the step to 1M links), so a data plane that
 *   cannot afford one preallocates (`initialCapacity: linksMax`). `expire` visits at most
 *   `budget` records per call. Group and server indexes are 16-bit (LINK_GROUP_MAX,
 *   LINK_SERVER_MAX).
 *
 * Fields are validated by the engine before they get here (bad input is data, handled upstream);
 * the cheap always-on assertions here catch our own bugs: a dead or out-of-range LinkId, a
 * duplicate key, a field out of its range, a remap of a link that is no longer 'new'.
 *
 * Key uniqueness: both keys are unique in the table. A second link with the same client key is
 * our bug (the engine looks the client key up first), so `create` asserts. A second link with the
 * same server key is input, not a bug: one client port talking to two VIPs (or two ports of a
 * VIP) that map to the same real server port. Its replies could not be told apart, so the table
 * refuses it: `create` returns undefined (tell it from a full table by `full`) and `remap`
 * returns false; an engine that wants to do better asks `lookupServer` first and picks another
 * server.
 */

import type { Duration, Instant } from '../time.ts';
import type { Ipv4Addr } from '../wire/addr.ts';
import { assert } from '../assert.ts';
import { LINK_STATES, type LinkId, type LinkInfo, type LinkState, type NatProto } from './types.ts';

/** The largest `linksMax` accepted: 2^25 links (2.25 GiB). */
export const LINKS_MAX_LIMIT = 1 << 25;
/** Group indexes are 0..LINK_GROUP_MAX, server indexes within a group 0..LINK_SERVER_MAX. */
export const LINK_GROUP_MAX = 0xffff;
export const LINK_SERVER_MAX = 0xffff;
/** `initialCapacity` when none is given (capped at linksMax). */
export const LINKS_INITIAL_CAPACITY_DEFAULT = 1024;

export interface LinkTableOptions {
  /** Hard bound on live links. */
  readonly linksMax: number;
  /** Records allocated up front (default min(1024, linksMax)); the table doubles up to linksMax. */
  readonly initialCapacity?: number;
  /** Hash seed (any 32-bit integer; default 0). The SG node's comes from its generator (src/engine/streams.ts). */
  readonly hashSeed?: number;
}

/** 'in': a packet from the client towards the VIP; 'out': a reply from the server. */
export type LinkDirection = 'in' | 'out';

/** Idle timeout for a link of this protocol in this state. */
export type IdleTimeoutFn = (proto: NatProto, state: LinkState) => Duration;

// Hot record: 32 bytes per link = 4 float64 = 8 int32, everything a packet needs.
const REC_BYTES = 32;
const REC_F64 = 4;
const REC_I32 = 8;
// Float64 slot (index id * REC_F64 + F_*).
const F_LAST_SEEN = 0;
// Int32 slots (index id * REC_I32 + W_*); slots 0 and 1 hold F_LAST_SEEN.
const W_CLIENT_ADDR = 2;
const W_VIP = 3;
/** clientPort << 16 | vport */
const W_CLIENT_PORTS = 4;
const W_SERVER_ADDR = 5;
/** serverPort << 16 | proto << 8 | flags */
const W_META = 6;
/** group << 16 | server while live; the next id on the free list (-1: end) while dead. */
const W_GROUP_SERVER = 7;
const W_NEXT_FREE = 7;

const FLAG_STATE = 0x03;
const FLAG_FIN_CLIENT = 0x04;
const FLAG_FIN_SERVER = 0x08;
const FLAG_LIVE = 0x80;
/** serverPort and proto in W_META, without the flags. */
const META_KEY = ~0xff;

const STATE_NEW = 0;
const STATE_ACTIVE = 1;

const PROTO_INDEX_TCP = 0;
const PROTO_INDEX_UDP = 1;
const PROTO_INDEX_ICMP = 2;
const PROTOS: readonly NatProto[] = [6, 17, 1];

function stateCode(s: LinkState): number {
  switch (s) {
    case 'new':
      return 0;
    case 'active':
      return 1;
    case 'closing':
      return 2;
  }
}

function protoIndex(p: number): number {
  return p === 6 ? PROTO_INDEX_TCP : p === 17 ? PROTO_INDEX_UDP : PROTO_INDEX_ICMP;
}

// murmur3 x86_32: one 32-bit block into the running hash.
function mixBlock(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

// murmur3 fmix32 (with the length, 16 bytes, folded in first).
function finish(h: number): number {
  h ^= 16;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function hashClient(seed: number, proto: number, clientAddr: number, clientPorts: number, vip: number): number {
  return finish(mixBlock(mixBlock(mixBlock(mixBlock(seed, clientAddr), vip), clientPorts), proto));
}

/**
 * The hash of a client-side key, whose low bits pick its home bucket in the client index. Exported
 * for tests that play a client who knows the seed and aims its flows at one bucket.
 */
export function clientKeyHash(seed: number, proto: NatProto, clientAddr: Ipv4Addr, clientPort: number, vip: Ipv4Addr, vport: number): number {
  return hashClient(seed | 0, proto, clientAddr | 0, (clientPort << 16) | vport, vip | 0);
}

function hashServer(seed: number, proto: number, serverAddr: number, ports: number, clientAddr: number): number {
  return finish(mixBlock(mixBlock(mixBlock(mixBlock(seed, serverAddr), clientAddr), ports), proto));
}

/**
 * An always-on assertion with a built message. Call it as `if (!cond) fail(`...`)`: passing a
 * template literal to assert() would build the string on every call, and turning a random
 * 7-digit id into a string costs more than the lookup itself.
 */
function fail(msg: string): never {
  assert(false, msg);
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function isPort(p: number): boolean {
  return (p & 0xffff) === p;
}

function isU32(v: number): boolean {
  return v >>> 0 === v;
}

function isIndex(v: number, max: number): boolean {
  return v >>> 0 === v && v <= max;
}

// An index bucket is one int32: 0 when empty, else the top 6 bits of the key's hash (a tag that
// rejects 63 in 64 non-matching probes without touching a record) over id + 1 in the low 26 bits.
const ID_BITS = 26;
const ID_MASK = (1 << ID_BITS) - 1;
const TAG_MASK = ~ID_MASK;
assert(2 * LINKS_MAX_LIMIT <= 1 << ID_BITS, 'home bucket bits must not reach the tag');
const SIDE_CLIENT = 0;
const SIDE_SERVER = 1;
type Side = typeof SIDE_CLIENT | typeof SIDE_SERVER;

/** Insert id (whose key hashes to h) into an index that has room (load factor <= 0.5). */
function indexInsert(tab: Int32Array, mask: number, h: number, id: number): void {
  let i = h & mask;
  for (let n = 0; n <= mask; n++) {
    if (tab[i] === 0) {
      tab[i] = (h & TAG_MASK) | (id + 1);
      return;
    }
    i = (i + 1) & mask;
  }
  fail('link index has no empty bucket');
}

export class LinkTable {
  /** Hard bound on live links. */
  readonly linksMax: number;
  private readonly seed: number;
  /** Records allocated (ids 0..cap-1 exist). */
  private cap: number;
  /** Hot records, seen as float64 and as int32. */
  private buf: ArrayBuffer;
  private f: Float64Array;
  private w: Int32Array;
  /** Cold fields: created; packets in and out (2 per link). */
  private createdAt: Float64Array;
  private packets: Float64Array;
  /** Buckets - 1 of each index (both have the same size). */
  private mask: number;
  private cix: Int32Array;
  private six: Int32Array;
  private live = 0;
  /** Ids >= hwm have never been used. */
  private hwm = 0;
  private freeHead = -1;
  /** expire's clock hand, in [0, hwm). */
  private hand = 0;
  private readonly timeouts = new Float64Array(3 * LINK_STATES.length);

  constructor(opts: LinkTableOptions) {
    const { linksMax } = opts;
    if (!(Number.isSafeInteger(linksMax) && linksMax >= 1 && linksMax <= LINKS_MAX_LIMIT)) fail(`linksMax must be an integer in 1..${LINKS_MAX_LIMIT}, got ${linksMax}`);
    const initial = opts.initialCapacity ?? Math.min(LINKS_INITIAL_CAPACITY_DEFAULT, linksMax);
    if (!(Number.isSafeInteger(initial) && initial >= 1 && initial <= linksMax)) fail(`initialCapacity must be an integer in 1..linksMax, got ${initial}`);
    const seed = opts.hashSeed ?? 0;
    if (!Number.isSafeInteger(seed)) fail(`hashSeed must be an integer, got ${seed}`);
    this.linksMax = linksMax;
    this.seed = seed | 0;
    this.cap = initial;
    this.buf = new ArrayBuffer(initial * REC_BYTES);
    this.f = new Float64Array(this.buf);
    this.w = new Int32Array(this.buf);
    this.createdAt = new Float64Array(initial);
    this.packets = new Float64Array(2 * initial);
    const buckets = nextPow2(2 * initial);
    this.mask = buckets - 1;
    this.cix = new Int32Array(buckets);
    this.six = new Int32Array(buckets);
  }

  /** Live links. */
  get size(): number {
    return this.live;
  }

  /** Whether the table holds linksMax links (create returns undefined). */
  get full(): boolean {
    return this.live >= this.linksMax;
  }

  /** Records allocated now (grows by doubling up to linksMax). */
  get capacity(): number {
    return this.cap;
  }

  /** The hash seed, as a u32. */
  get hashSeed(): number {
    return this.seed >>> 0;
  }

  /** Buckets in each index (a power of two, at least twice the capacity). */
  get buckets(): number {
    return this.mask + 1;
  }

  /**
   * The longest probe in either index: 1 + the distance from a link's home bucket to its entry,
   * the most a lookup of a live link reads (0 when empty; n when n keys share one home). O(buckets),
   * for tests and diagnostics: flows aimed at one bucket show here.
   */
  probeLengthMax(): number {
    let max = 0;
    for (const side of [SIDE_CLIENT, SIDE_SERVER] as const) {
      const tab = side === SIDE_CLIENT ? this.cix : this.six;
      for (let b = 0; b <= this.mask; b++) {
        const e = tab[b]!;
        if (e !== 0) max = Math.max(max, ((b - this.hashOf(side, (e & ID_MASK) - 1)) & this.mask) + 1);
      }
    }
    return max;
  }

  /** Bytes held by the records and both indexes. */
  allocatedBytes(): number {
    return this.buf.byteLength + this.createdAt.byteLength + this.packets.byteLength + this.cix.byteLength + this.six.byteLength;
  }

  /** allocatedBytes / capacity: the memory cost of one link when the table is full. */
  bytesPerLink(): number {
    return this.allocatedBytes() / this.cap;
  }

  // ---- fast path ----

  /** The link for a packet from a client to a VIP, or -1. */
  lookupClient(proto: NatProto, clientAddr: Ipv4Addr, clientPort: number, vip: Ipv4Addr, vport: number): LinkId | -1 {
    const ca = clientAddr | 0;
    const va = vip | 0;
    const ports = (clientPort << 16) | vport;
    const h = hashClient(this.seed, proto, ca, ports, va);
    const tag = h & TAG_MASK;
    const tab = this.cix;
    const w = this.w;
    const mask = this.mask;
    let i = h & mask;
    for (let n = 0; n <= mask; n++) {
      const e = tab[i]!;
      if (e === 0) return -1;
      if ((e & TAG_MASK) === tag) {
        const id = (e & ID_MASK) - 1;
        const o = id * REC_I32;
        if (w[o + W_CLIENT_ADDR] === ca && w[o + W_CLIENT_PORTS] === ports && w[o + W_VIP] === va && ((w[o + W_META]! >>> 8) & 0xff) === proto) {
          return id as LinkId;
        }
      }
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** The link for a reply from a real server to a client, or -1. */
  lookupServer(proto: NatProto, serverAddr: Ipv4Addr, serverPort: number, clientAddr: Ipv4Addr, clientPort: number): LinkId | -1 {
    const sa = serverAddr | 0;
    const ca = clientAddr | 0;
    const ports = (serverPort << 16) | clientPort;
    const h = hashServer(this.seed, proto, sa, ports, ca);
    const meta = (serverPort << 16) | (proto << 8);
    const tag = h & TAG_MASK;
    const tab = this.six;
    const w = this.w;
    const mask = this.mask;
    let i = h & mask;
    for (let n = 0; n <= mask; n++) {
      const e = tab[i]!;
      if (e === 0) return -1;
      if ((e & TAG_MASK) === tag) {
        const id = (e & ID_MASK) - 1;
        const o = id * REC_I32;
        if (w[o + W_SERVER_ADDR] === sa && w[o + W_CLIENT_ADDR] === ca && (w[o + W_META]! & META_KEY) === meta && w[o + W_CLIENT_PORTS]! >>> 16 === clientPort) {
          return id as LinkId;
        }
      }
      i = (i + 1) & mask;
    }
    return -1;
  }

  /** Count one packet of the link and note when it was seen ('in': from the client; 'out': a reply). */
  touch(id: LinkId, now: Instant, dir: LinkDirection): void {
    this.check(id);
    const o = id * REC_F64 + F_LAST_SEEN;
    if (now < this.f[o]!) fail(`touch: time went backwards for link ${id}`);
    this.f[o] = now;
    this.packets[2 * id + (dir === 'in' ? 0 : 1)]!++;
  }

  /** Restart the link's idle clock at `now` without counting a packet (a new master adopting synced links). */
  refresh(id: LinkId, now: Instant): void {
    this.check(id);
    const o = id * REC_F64 + F_LAST_SEEN;
    if (now > this.f[o]!) this.f[o] = now;
  }

  // ---- life cycle ----

  /**
   * A new link in state 'new' (the client's first packet). Returns undefined, leaving the table
   * unchanged, when the table is `full` or another link owns the server key. Asserts that the
   * client key is not in the table (the engine looked it up first).
   */
  create(
    proto: NatProto,
    clientAddr: Ipv4Addr,
    clientPort: number,
    vip: Ipv4Addr,
    vport: number,
    serverAddr: Ipv4Addr,
    serverPort: number,
    group: number,
    server: number,
    now: Instant,
  ): LinkId | undefined {
    if (proto !== 6 && proto !== 17 && proto !== 1) fail(`create: bad proto ${proto}`);
    assert(isU32(clientAddr) && isU32(vip) && isU32(serverAddr), 'create: address out of range');
    assert(isPort(clientPort) && isPort(vport) && isPort(serverPort), 'create: port out of range');
    if (!isIndex(group, LINK_GROUP_MAX) || !isIndex(server, LINK_SERVER_MAX)) fail(`create: bad group ${group} or server ${server}`);
    assert(this.lookupClient(proto, clientAddr, clientPort, vip, vport) === -1, 'create: client key already in the table');
    if (this.live >= this.linksMax) return undefined;
    if (this.lookupServer(proto, serverAddr, serverPort, clientAddr, clientPort) !== -1) return undefined;
    let id: number;
    if (this.freeHead >= 0) {
      id = this.freeHead;
      this.freeHead = this.w[id * REC_I32 + W_NEXT_FREE]!;
    } else {
      if (this.hwm === this.cap) this.grow();
      id = this.hwm++;
    }
    const o = id * REC_I32;
    const w = this.w;
    w[o + W_CLIENT_ADDR] = clientAddr;
    w[o + W_VIP] = vip;
    w[o + W_CLIENT_PORTS] = (clientPort << 16) | vport;
    w[o + W_SERVER_ADDR] = serverAddr;
    w[o + W_META] = (serverPort << 16) | (proto << 8) | FLAG_LIVE | STATE_NEW;
    w[o + W_GROUP_SERVER] = (group << 16) | server;
    this.f[id * REC_F64 + F_LAST_SEEN] = now;
    this.createdAt[id] = now;
    this.packets[2 * id] = 0;
    this.packets[2 * id + 1] = 0;
    indexInsert(this.cix, this.mask, this.clientHashOf(id), id);
    indexInsert(this.six, this.mask, this.serverHashOf(id), id);
    this.live++;
    return id as LinkId;
  }

  /**
   * Move a link that is still 'new' to another server of its group (slide 29: its target died
   * before answering). Re-indexes the server key and restarts the idle clock, so the new server
   * gets a whole timeout to answer. Returns false, changing nothing, when another link owns the
   * new server key. Asserts the link is 'new'.
   */
  remap(id: LinkId, serverAddr: Ipv4Addr, serverPort: number, server: number, now: Instant): boolean {
    this.check(id);
    const o = id * REC_I32;
    const w = this.w;
    const meta = w[o + W_META]!;
    if ((meta & FLAG_STATE) !== STATE_NEW) fail(`remap: link ${id} is ${this.state(id)}, only a new link may move`);
    assert(isU32(serverAddr) && isPort(serverPort) && isIndex(server, LINK_SERVER_MAX), 'remap: field out of range');
    const proto = ((meta >>> 8) & 0xff) as NatProto;
    const other = this.lookupServer(proto, serverAddr, serverPort, this.clientAddr(id), this.clientPort(id));
    if (other !== -1 && other !== id) return false;
    if (now < this.f[id * REC_F64 + F_LAST_SEEN]!) fail(`remap: time went backwards for link ${id}`);
    this.unindex(SIDE_SERVER, id);
    w[o + W_SERVER_ADDR] = serverAddr;
    w[o + W_META] = (serverPort << 16) | (meta & 0xffff);
    w[o + W_GROUP_SERVER] = (w[o + W_GROUP_SERVER]! & ~0xffff) | server;
    this.f[id * REC_F64 + F_LAST_SEEN] = now;
    indexInsert(this.six, this.mask, this.serverHashOf(id), id);
    return true;
  }

  /** Set the link's state (the engine's state machine decides; the table stores it). */
  setState(id: LinkId, state: LinkState): void {
    this.check(id);
    const o = id * REC_I32 + W_META;
    this.w[o] = (this.w[o]! & ~FLAG_STATE) | stateCode(state);
  }

  /** Note a TCP FIN from the client (fromClient) or from the server. */
  markFin(id: LinkId, fromClient: boolean): void {
    this.check(id);
    this.w[id * REC_I32 + W_META]! |= fromClient ? FLAG_FIN_CLIENT : FLAG_FIN_SERVER;
  }

  /** Remove a live link; its id may be handed out again by the next create. */
  remove(id: LinkId): void {
    this.check(id);
    this.unindex(SIDE_CLIENT, id);
    this.unindex(SIDE_SERVER, id);
    const o = id * REC_I32;
    this.w[o + W_META] = 0;
    this.w[o + W_NEXT_FREE] = this.freeHead;
    this.freeHead = id;
    this.live--;
  }

  /**
   * Incremental idle sweep: visit at most `budget` records (live or not) from where the last call
   * stopped, wrapping around, and remove each live link whose idle time (now - lastSeen) has
   * reached idleFor(proto, state). `onExpired` gets each removed link's info, after removal.
   * Returns the number removed. A call never visits a record twice, so budget >= capacity is one
   * full pass; calling every P with budget B covers the table every ceil(capacity / B) * P.
   * idleFor is asked once per (proto, state) per call.
   */
  expire(now: Instant, idleFor: IdleTimeoutFn, budget: number, onExpired?: (info: LinkInfo) => void): number {
    if (!(Number.isSafeInteger(budget) && budget >= 1)) fail(`expire: budget must be a positive integer, got ${budget}`);
    const t = this.timeouts;
    for (let p = 0; p < PROTOS.length; p++) {
      for (let s = 0; s < LINK_STATES.length; s++) {
        const d = idleFor(PROTOS[p]!, LINK_STATES[s]!);
        if (!(Number.isFinite(d) && d >= 0)) fail(`expire: idle timeout must be a non-negative duration, got ${d}`);
        t[p * LINK_STATES.length + s] = d;
      }
    }
    const visits = Math.min(budget, this.hwm);
    let removed = 0;
    let id = this.hand;
    for (let v = 0; v < visits; v++) {
      // this.w and this.f are read afresh: onExpired may create links, and a create may grow.
      const meta = this.w[id * REC_I32 + W_META]!;
      if ((meta & FLAG_LIVE) !== 0) {
        const timeout = t[protoIndex((meta >>> 8) & 0xff) * LINK_STATES.length + (meta & FLAG_STATE)]!;
        if (now - this.f[id * REC_F64 + F_LAST_SEEN]! >= timeout) {
          const info = onExpired === undefined ? undefined : this.info(id as LinkId);
          this.remove(id as LinkId);
          removed++;
          if (info !== undefined) onExpired!(info);
        }
      }
      id = id + 1 >= this.hwm ? 0 : id + 1;
    }
    this.hand = id;
    return removed;
  }

  /**
   * Call fn for every live link in id order. fn may remove the link it is given; links it creates
   * may or may not be visited.
   */
  forEach(fn: (id: LinkId) => void): void {
    const end = this.hwm;
    for (let id = 0; id < end; id++) {
      if ((this.w[id * REC_I32 + W_META]! & FLAG_LIVE) !== 0) fn(id as LinkId);
    }
  }

  /** Live ids in id order (allocates; for tests and traces). */
  ids(): LinkId[] {
    const out: LinkId[] = [];
    this.forEach((id) => out.push(id));
    return out;
  }

  // ---- fields ----

  /** Whether id names a live link (no assertion). */
  isLive(id: number): boolean {
    return id >>> 0 === id && id < this.hwm && (this.w[id * REC_I32 + W_META]! & FLAG_LIVE) !== 0;
  }

  proto(id: LinkId): NatProto {
    this.check(id);
    return ((this.w[id * REC_I32 + W_META]! >>> 8) & 0xff) as NatProto;
  }
  clientAddr(id: LinkId): Ipv4Addr {
    this.check(id);
    return (this.w[id * REC_I32 + W_CLIENT_ADDR]! >>> 0) as Ipv4Addr;
  }
  clientPort(id: LinkId): number {
    this.check(id);
    return this.w[id * REC_I32 + W_CLIENT_PORTS]! >>> 16;
  }
  vip(id: LinkId): Ipv4Addr {
    this.check(id);
    return (this.w[id * REC_I32 + W_VIP]! >>> 0) as Ipv4Addr;
  }
  vport(id: LinkId): number {
    this.check(id);
    return this.w[id * REC_I32 + W_CLIENT_PORTS]! & 0xffff;
  }
  serverAddr(id: LinkId): Ipv4Addr {
    this.check(id);
    return (this.w[id * REC_I32 + W_SERVER_ADDR]! >>> 0) as Ipv4Addr;
  }
  serverPort(id: LinkId): number {
    this.check(id);
    return this.w[id * REC_I32 + W_META]! >>> 16;
  }
  state(id: LinkId): LinkState {
    this.check(id);
    return LINK_STATES[this.w[id * REC_I32 + W_META]! & FLAG_STATE]!;
  }
  /** Whether the link is 'active' (a reply was seen): never remapped again. */
  isActive(id: LinkId): boolean {
    this.check(id);
    return (this.w[id * REC_I32 + W_META]! & FLAG_STATE) === STATE_ACTIVE;
  }
  group(id: LinkId): number {
    this.check(id);
    return this.w[id * REC_I32 + W_GROUP_SERVER]! >>> 16;
  }
  server(id: LinkId): number {
    this.check(id);
    return this.w[id * REC_I32 + W_GROUP_SERVER]! & 0xffff;
  }
  created(id: LinkId): Instant {
    this.check(id);
    return this.createdAt[id]! as Instant;
  }
  lastSeen(id: LinkId): Instant {
    this.check(id);
    return this.f[id * REC_F64 + F_LAST_SEEN]! as Instant;
  }
  packetsIn(id: LinkId): number {
    this.check(id);
    return this.packets[2 * id]!;
  }
  packetsOut(id: LinkId): number {
    this.check(id);
    return this.packets[2 * id + 1]!;
  }
  finClient(id: LinkId): boolean {
    this.check(id);
    return (this.w[id * REC_I32 + W_META]! & FLAG_FIN_CLIENT) !== 0;
  }
  finServer(id: LinkId): boolean {
    this.check(id);
    return (this.w[id * REC_I32 + W_META]! & FLAG_FIN_SERVER) !== 0;
  }

  /** Every field of a live link as a value (allocates; for traces and tests). */
  info(id: LinkId): LinkInfo {
    return {
      id,
      proto: this.proto(id),
      clientAddr: this.clientAddr(id),
      clientPort: this.clientPort(id),
      vip: this.vip(id),
      vport: this.vport(id),
      serverAddr: this.serverAddr(id),
      serverPort: this.serverPort(id),
      state: this.state(id),
      created: this.created(id),
      lastSeen: this.lastSeen(id),
      group: this.group(id),
      server: this.server(id),
      packetsIn: this.packetsIn(id),
      packetsOut: this.packetsOut(id),
      finClient: this.finClient(id),
      finServer: this.finServer(id),
    };
  }

  /**
   * O(capacity) self-check for tests: every live link is found through both indexes, every index
   * entry names a live link, carries its key's tag and is reachable from its home bucket, and the
   * free list holds exactly the dead ids below the high-water mark. Throws on the first breach.
   */
  checkInvariants(): void {
    let live = 0;
    for (let id = 0; id < this.hwm; id++) {
      if (!this.isLive(id)) continue;
      live++;
      const l = id as LinkId;
      if (this.lookupClient(this.proto(l), this.clientAddr(l), this.clientPort(l), this.vip(l), this.vport(l)) !== id) fail(`link ${id} not found by client key`);
      if (this.lookupServer(this.proto(l), this.serverAddr(l), this.serverPort(l), this.clientAddr(l), this.clientPort(l)) !== id) fail(`link ${id} not found by server key`);
    }
    if (live !== this.live) fail(`size ${this.live} but ${live} live records`);
    for (const side of [SIDE_CLIENT, SIDE_SERVER] as const) {
      const tab = side === SIDE_CLIENT ? this.cix : this.six;
      let entries = 0;
      for (let b = 0; b <= this.mask; b++) {
        const e = tab[b]!;
        if (e === 0) continue;
        entries++;
        const id = (e & ID_MASK) - 1;
        if (!this.isLive(id)) fail(`bucket ${b} names dead link ${id}`);
        const h = this.hashOf(side, id);
        if ((e & TAG_MASK) !== (h & TAG_MASK)) fail(`bucket ${b} holds a stale tag for link ${id}`);
        for (let i = h & this.mask; i !== b; i = (i + 1) & this.mask) {
          if (tab[i] === 0) fail(`link ${id} at bucket ${b} is cut off from its home by an empty bucket`);
        }
      }
      if (entries !== this.live) fail(`an index holds ${entries} entries for ${this.live} links`);
    }
    let free = 0;
    for (let id = this.freeHead; id !== -1; id = this.w[id * REC_I32 + W_NEXT_FREE]!) {
      if (!(id >= 0 && id < this.hwm && !this.isLive(id))) fail(`free list holds bad id ${id}`);
      assert(++free <= this.hwm, 'free list has a cycle');
    }
    if (free !== this.hwm - this.live) fail(`free list holds ${free} ids, expected ${this.hwm - this.live}`);
    assert(this.hwm <= this.cap && this.cap <= this.linksMax && this.hand <= Math.max(0, this.hwm - 1), 'bounds');
    assert(2 * this.cap <= this.mask + 1, 'index load factor above 0.5');
  }

  // ---- internals ----

  /** Always-on: id names a live link. */
  private check(id: LinkId): void {
    if (!(id >>> 0 === id && id < this.hwm && (this.w[id * REC_I32 + W_META]! & FLAG_LIVE) !== 0)) {
      fail(`link ${id} is not live (our bug: a stale or wrong LinkId)`);
    }
  }

  private hashOf(side: Side, id: number): number {
    return side === SIDE_CLIENT ? this.clientHashOf(id) : this.serverHashOf(id);
  }

  /** Remove id's entry from one index and close the gap by backward shift (Knuth 6.4 R). */
  private unindex(side: Side, id: number): void {
    const tab = side === SIDE_CLIENT ? this.cix : this.six;
    const mask = this.mask;
    const want = id + 1;
    let hole = this.hashOf(side, id) & mask;
    let n = 0;
    for (; n <= mask; n++) {
      const e = tab[hole]!;
      if ((e & ID_MASK) === want) break;
      if (e === 0) fail(`link ${id} missing from an index`);
      hole = (hole + 1) & mask;
    }
    if (n > mask) fail(`link ${id} missing from an index`);
    let j = (hole + 1) & mask;
    for (n = 0; n <= mask; n++) {
      const e = tab[j]!;
      if (e === 0) break;
      // The entry at j may fill the hole if the hole lies between its home bucket and j. Its
      // home comes from its record (buckets keep only a tag); clusters are short at load <= 0.5.
      const home = this.hashOf(side, (e & ID_MASK) - 1) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        tab[hole] = e;
        hole = j;
      }
      j = (j + 1) & mask;
    }
    tab[hole] = 0;
  }

  private clientHashOf(id: number): number {
    const o = id * REC_I32;
    const w = this.w;
    return hashClient(this.seed, (w[o + W_META]! >>> 8) & 0xff, w[o + W_CLIENT_ADDR]!, w[o + W_CLIENT_PORTS]!, w[o + W_VIP]!);
  }

  private serverHashOf(id: number): number {
    const o = id * REC_I32;
    const w = this.w;
    const meta = w[o + W_META]!;
    const ports = (meta & 0xffff0000) | (w[o + W_CLIENT_PORTS]! >>> 16);
    return hashServer(this.seed, (meta >>> 8) & 0xff, w[o + W_SERVER_ADDR]!, ports, w[o + W_CLIENT_ADDR]!);
  }

  /** Double the records (capped at linksMax) and rebuild both indexes. */
  private grow(): void {
    assert(this.cap < this.linksMax, 'grow: already at linksMax');
    const cap = Math.min(this.linksMax, this.cap * 2);
    const buf = new ArrayBuffer(cap * REC_BYTES);
    new Uint8Array(buf).set(new Uint8Array(this.buf));
    this.buf = buf;
    this.f = new Float64Array(buf);
    this.w = new Int32Array(buf);
    const createdAt = new Float64Array(cap);
    createdAt.set(this.createdAt);
    this.createdAt = createdAt;
    const packets = new Float64Array(2 * cap);
    packets.set(this.packets);
    this.packets = packets;
    this.cap = cap;
    const buckets = nextPow2(2 * cap);
    if (buckets - 1 === this.mask) return;
    const mask = buckets - 1;
    const old = [this.cix, this.six] as const;
    this.cix = new Int32Array(buckets);
    this.six = new Int32Array(buckets);
    this.mask = mask;
    for (const side of [SIDE_CLIENT, SIDE_SERVER] as const) {
      const from = old[side];
      const to = side === SIDE_CLIENT ? this.cix : this.six;
      for (let b = 0; b < from.length; b++) {
        const e = from[b]!;
        if (e !== 0) {
          const id = (e & ID_MASK) - 1;
          indexInsert(to, mask, this.hashOf(side, id), id);
        }
      }
    }
  }
}
