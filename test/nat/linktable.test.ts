import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LinkTable } from '../../src/nat/linktable.ts';
import type { LinkId, LinkInfo, LinkState, NatProto } from '../../src/nat/types.ts';
import { instant, micros, seconds, type Duration, type Instant } from '../../src/time.ts';
import { ip, type Ipv4Addr } from '../../src/wire/addr.ts';

const TCP: NatProto = 6;
const UDP: NatProto = 17;
const ICMP: NatProto = 1;
const at = instant;

// Slide 29's example: client 140.116.72.118:1029 telnets to the VIP 140.116.72.114:23, and the
// SG maps the link to 192.168.1.123.
const CLIENT = ip('140.116.72.118');
const VIP = ip('140.116.72.114');
const REAL = ip('192.168.1.123');
const REAL2 = ip('192.168.1.2');

function slide29(t: LinkTable, now = at(1_000)): LinkId {
  const id = t.create(TCP, CLIENT, 1029, VIP, 23, REAL, 23, 0, 2, now);
  expect(id).toBeDefined();
  return id!;
}

describe('LinkTable basics', () => {
  it('creates a link in state new and finds it from both sides', () => {
    const t = new LinkTable({ linksMax: 16 });
    const id = slide29(t);
    expect(t.size).toBe(1);
    expect(t.lookupClient(TCP, CLIENT, 1029, VIP, 23)).toBe(id);
    expect(t.lookupServer(TCP, REAL, 23, CLIENT, 1029)).toBe(id);
    expect(t.info(id)).toEqual<LinkInfo>({
      id,
      proto: TCP,
      clientAddr: CLIENT,
      clientPort: 1029,
      vip: VIP,
      vport: 23,
      serverAddr: REAL,
      serverPort: 23,
      state: 'new',
      created: at(1_000),
      lastSeen: at(1_000),
      group: 0,
      server: 2,
      packetsIn: 0,
      packetsOut: 0,
      finClient: false,
      finServer: false,
    });
    t.checkInvariants();
  });

  it('misses on any field that differs', () => {
    const t = new LinkTable({ linksMax: 16 });
    slide29(t);
    expect(t.lookupClient(UDP, CLIENT, 1029, VIP, 23)).toBe(-1);
    expect(t.lookupClient(TCP, ip('140.116.72.119'), 1029, VIP, 23)).toBe(-1);
    expect(t.lookupClient(TCP, CLIENT, 1030, VIP, 23)).toBe(-1);
    expect(t.lookupClient(TCP, CLIENT, 1029, ip('140.116.72.115'), 23)).toBe(-1);
    expect(t.lookupClient(TCP, CLIENT, 1029, VIP, 80)).toBe(-1);
    expect(t.lookupServer(ICMP, REAL, 23, CLIENT, 1029)).toBe(-1);
    expect(t.lookupServer(TCP, REAL2, 23, CLIENT, 1029)).toBe(-1);
    expect(t.lookupServer(TCP, REAL, 24, CLIENT, 1029)).toBe(-1);
    expect(t.lookupServer(TCP, REAL, 23, VIP, 1029)).toBe(-1);
    expect(t.lookupServer(TCP, REAL, 23, CLIENT, 1028)).toBe(-1);
  });

  it('keeps addresses and ports at the top of their ranges', () => {
    const t = new LinkTable({ linksMax: 4 });
    const top = ip('255.255.255.254');
    const id = t.create(UDP, top, 65535, ip('255.255.255.255'), 65535, ip('128.0.0.1'), 65535, 0xffff, 0xffff, at(0))!;
    expect(t.lookupClient(UDP, top, 65535, ip('255.255.255.255'), 65535)).toBe(id);
    expect(t.lookupServer(UDP, ip('128.0.0.1'), 65535, top, 65535)).toBe(id);
    expect([t.clientAddr(id), t.vip(id), t.serverAddr(id)]).toEqual([top, ip('255.255.255.255'), ip('128.0.0.1')]);
    expect([t.clientPort(id), t.vport(id), t.serverPort(id), t.group(id), t.server(id)]).toEqual([65535, 65535, 65535, 0xffff, 0xffff]);
  });

  it('ICMP echo uses the identifier as both ports', () => {
    const t = new LinkTable({ linksMax: 4 });
    const id = t.create(ICMP, CLIENT, 0x1234, VIP, 0x1234, REAL, 0x1234, 0, 0, at(0))!;
    expect(t.lookupClient(ICMP, CLIENT, 0x1234, VIP, 0x1234)).toBe(id);
    expect(t.lookupServer(ICMP, REAL, 0x1234, CLIENT, 0x1234)).toBe(id);
    expect(t.lookupClient(TCP, CLIENT, 0x1234, VIP, 0x1234)).toBe(-1);
  });

  it('touch counts packets each way and moves lastSeen; state and FIN flags are kept', () => {
    const t = new LinkTable({ linksMax: 4 });
    const id = slide29(t);
    t.touch(id, at(2_000), 'in');
    t.touch(id, at(2_500), 'in');
    t.touch(id, at(3_000), 'out');
    expect([t.packetsIn(id), t.packetsOut(id), t.lastSeen(id), t.created(id)]).toEqual([2, 1, 3_000, 1_000]);
    t.setState(id, 'active');
    expect(t.state(id)).toBe('active');
    expect(t.isActive(id)).toBe(true);
    t.markFin(id, true);
    expect([t.finClient(id), t.finServer(id)]).toEqual([true, false]);
    t.markFin(id, false);
    t.setState(id, 'closing');
    expect([t.finClient(id), t.finServer(id), t.state(id)]).toEqual([true, true, 'closing']);
    // The key fields survive the flag updates.
    expect(t.lookupServer(TCP, REAL, 23, CLIENT, 1029)).toBe(id);
    expect(t.serverPort(id)).toBe(23);
    expect(() => t.touch(id, at(2_999), 'in')).toThrow(/backwards/);
  });

  it('remove forgets both keys and the id is reused', () => {
    const t = new LinkTable({ linksMax: 4 });
    const a = slide29(t);
    const b = t.create(TCP, CLIENT, 1030, VIP, 23, REAL2, 23, 0, 1, at(1_000))!;
    t.remove(a);
    expect(t.size).toBe(1);
    expect(t.isLive(a)).toBe(false);
    expect(t.lookupClient(TCP, CLIENT, 1029, VIP, 23)).toBe(-1);
    expect(t.lookupServer(TCP, REAL, 23, CLIENT, 1029)).toBe(-1);
    expect(t.lookupClient(TCP, CLIENT, 1030, VIP, 23)).toBe(b);
    const c = t.create(UDP, CLIENT, 53, VIP, 53, REAL, 53, 1, 0, at(2_000))!;
    expect(c).toBe(a); // the freed id comes back
    expect(t.info(c)).toMatchObject({ proto: UDP, clientPort: 53, state: 'new', packetsIn: 0, finClient: false, group: 1 });
    expect(t.ids()).toEqual([a, b]);
    t.checkInvariants();
  });

  it('asserts on our own bugs: dead or wrong ids, duplicate client keys, bad fields', () => {
    const t = new LinkTable({ linksMax: 4 });
    const id = slide29(t);
    expect(() => slide29(t)).toThrow(/client key already/);
    expect(() => t.create(TCP, CLIENT, 70_000, VIP, 23, REAL, 23, 0, 0, at(0))).toThrow(/port/);
    expect(() => t.create(99 as NatProto, CLIENT, 1, VIP, 23, REAL, 23, 0, 0, at(0))).toThrow(/proto/);
    expect(() => t.create(TCP, -1 as Ipv4Addr, 1, VIP, 23, REAL, 23, 0, 0, at(0))).toThrow(/address/);
    expect(() => t.create(TCP, CLIENT, 1, VIP, 23, REAL, 23, -1, 0, at(0))).toThrow(/group/);
    t.remove(id);
    expect(() => t.state(id)).toThrow(/not live/);
    expect(() => t.remove(id)).toThrow(/not live/);
    expect(() => t.touch(7 as LinkId, at(0), 'in')).toThrow(/not live/);
    expect(() => t.serverAddr(-1 as LinkId)).toThrow(/not live/);
    expect(() => t.info(1.5 as LinkId)).toThrow(/not live/);
    const u = t.create(TCP, CLIENT, 1, VIP, 23, REAL, 23, 0, 0, at(0))!;
    const v = t.create(TCP, CLIENT, 2, VIP, 23, REAL, 23, 0, 0, at(0))!;
    expect(() => t.info(((u + v) / 2) as LinkId)).toThrow(/not live/);
    expect(t.isLive((u + v) / 2)).toBe(false);
    t.remove(u);
    t.remove(v);
    expect(t.size).toBe(0);
    t.checkInvariants();
  });

  it('checks its options', () => {
    expect(() => new LinkTable({ linksMax: 0 })).toThrow(/linksMax/);
    expect(() => new LinkTable({ linksMax: 2 ** 40 })).toThrow(/linksMax/);
    expect(() => new LinkTable({ linksMax: 8, initialCapacity: 9 })).toThrow(/initialCapacity/);
    expect(new LinkTable({ linksMax: 8 }).capacity).toBe(8);
    expect(new LinkTable({ linksMax: 100_000 }).capacity).toBe(1024);
  });
});

describe('remap (slide 29: the target died before the link became active)', () => {
  it('moves a new link: the old server key is gone, the new one is found', () => {
    const t = new LinkTable({ linksMax: 4 });
    const id = slide29(t);
    expect(t.remap(id, REAL2, 2323, 1, at(5_000))).toBe(true);
    expect(t.lookupServer(TCP, REAL, 23, CLIENT, 1029)).toBe(-1);
    expect(t.lookupServer(TCP, REAL2, 2323, CLIENT, 1029)).toBe(id);
    expect(t.lookupClient(TCP, CLIENT, 1029, VIP, 23)).toBe(id);
    expect(t.info(id)).toMatchObject({ serverAddr: REAL2, serverPort: 2323, server: 1, group: 0, state: 'new', lastSeen: 5_000, created: 1_000 });
    t.checkInvariants();
  });

  it('refuses a link that is active or closing', () => {
    const t = new LinkTable({ linksMax: 4 });
    const id = slide29(t);
    t.setState(id, 'active');
    expect(() => t.remap(id, REAL2, 23, 1, at(5_000))).toThrow(/only a new link/);
    t.setState(id, 'closing');
    expect(() => t.remap(id, REAL2, 23, 1, at(5_000))).toThrow(/only a new link/);
    expect(t.lookupServer(TCP, REAL, 23, CLIENT, 1029)).toBe(id);
    t.checkInvariants();
  });

  it('refuses a server key another link owns, changing nothing', () => {
    const t = new LinkTable({ linksMax: 4 });
    const a = slide29(t);
    // Same client port to another VIP port, mapped to REAL2:23.
    const b = t.create(TCP, CLIENT, 1029, VIP, 2323, REAL2, 23, 0, 1, at(1_000))!;
    expect(t.remap(a, REAL2, 23, 1, at(2_000))).toBe(false);
    expect(t.info(a)).toMatchObject({ serverAddr: REAL, server: 2, lastSeen: 1_000 });
    expect(t.lookupServer(TCP, REAL2, 23, CLIENT, 1029)).toBe(b);
    expect(t.remap(a, REAL, 23, 2, at(2_000))).toBe(true); // to itself: allowed
    t.checkInvariants();
  });
});

describe('bounds', () => {
  it('a full table returns undefined and is left intact', () => {
    const t = new LinkTable({ linksMax: 3, initialCapacity: 1 });
    const ids = [1, 2, 3].map((p) => t.create(UDP, CLIENT, p, VIP, 53, REAL, 53, 0, 0, at(p))!);
    expect(t.full).toBe(true);
    expect(t.create(UDP, CLIENT, 4, VIP, 53, REAL, 53, 0, 0, at(9))).toBeUndefined();
    expect(t.size).toBe(3);
    expect(t.capacity).toBe(3);
    expect(ids.map((_, k) => t.lookupClient(UDP, CLIENT, k + 1, VIP, 53))).toEqual(ids);
    expect(t.lookupClient(UDP, CLIENT, 4, VIP, 53)).toBe(-1);
    t.checkInvariants();
    t.remove(ids[1]!);
    expect(t.full).toBe(false);
    expect(t.create(UDP, CLIENT, 4, VIP, 53, REAL, 53, 0, 0, at(9))).toBe(ids[1]);
  });

  it('a second link for a server key is refused (its replies could not be told apart)', () => {
    const t = new LinkTable({ linksMax: 4 });
    slide29(t);
    expect(t.create(TCP, CLIENT, 1029, VIP, 2323, REAL, 23, 0, 2, at(1_000))).toBeUndefined();
    expect(t.full).toBe(false);
    expect(t.size).toBe(1);
    t.checkInvariants();
  });

  it('growth through rehash preserves every entry, up to linksMax and no further', () => {
    const n = 5_000;
    const t = new LinkTable({ linksMax: n, initialCapacity: 1 });
    const capacities = new Set<number>();
    for (let i = 0; i < n; i++) {
      const id = t.create(TCP, (0x0a00_0000 + (i >>> 3)) as Ipv4Addr, 1024 + (i & 7), VIP, 80, REAL, 8000 + (i & 7), i % 3, i % 5, at(i));
      expect(id).toBe(i);
      capacities.add(t.capacity);
    }
    expect([...capacities]).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 5000]);
    t.checkInvariants();
    for (let i = 0; i < n; i++) {
      const c = (0x0a00_0000 + (i >>> 3)) as Ipv4Addr;
      expect(t.lookupClient(TCP, c, 1024 + (i & 7), VIP, 80)).toBe(i);
      expect(t.lookupServer(TCP, REAL, 8000 + (i & 7), c, 1024 + (i & 7))).toBe(i);
      expect([t.group(i as LinkId), t.server(i as LinkId), t.created(i as LinkId)]).toEqual([i % 3, i % 5, i]);
    }
    expect(t.create(TCP, CLIENT, 1, VIP, 80, REAL, 80, 0, 0, at(n))).toBeUndefined();
    expect(t.bytesPerLink()).toBeLessThanOrEqual(128);
    expect(t.allocatedBytes()).toBe(t.bytesPerLink() * n);
  });
});

describe('expire (incremental idle sweep)', () => {
  const idle = (proto: NatProto, state: LinkState): Duration =>
    state === 'closing' ? seconds(10) : state === 'new' ? seconds(30) : proto === TCP ? seconds(900) : seconds(300);

  it('removes exactly the links idle for at least their timeout', () => {
    const t = new LinkTable({ linksMax: 16 });
    const mk = (port: number, proto: NatProto, state: LinkState, last: number): LinkId => {
      const id = t.create(proto, CLIENT, port, VIP, 80, REAL, 80 + port, 0, 0, at(0))!;
      t.touch(id, at(last * 1e6), 'in');
      t.setState(id, state);
      return id;
    };
    const now = at(1_000 * 1e6);
    const gone = [
      mk(1, TCP, 'new', 970), // idle 30 s: exactly the new timeout
      mk(2, TCP, 'closing', 900),
      mk(3, UDP, 'active', 700),
      mk(4, TCP, 'active', 100),
    ];
    const kept = [mk(5, TCP, 'new', 971), mk(6, TCP, 'closing', 991), mk(7, UDP, 'active', 701), mk(8, TCP, 'active', 101), mk(9, ICMP, 'active', 999)];
    const removed: LinkInfo[] = [];
    expect(t.expire(now, idle, 1_000, (info) => removed.push(info))).toBe(4);
    expect(removed.map((r) => r.id)).toEqual(gone);
    expect(removed[2]).toMatchObject({ proto: UDP, clientPort: 3, state: 'active', lastSeen: 700e6 });
    expect(t.ids()).toEqual(kept);
    for (const r of removed) expect(t.lookupServer(r.proto, r.serverAddr, r.serverPort, r.clientAddr, r.clientPort)).toBe(-1);
    t.checkInvariants();
  });

  it('visits at most budget records per call and covers the table over several calls', () => {
    const t = new LinkTable({ linksMax: 64 });
    for (let p = 0; p < 40; p++) t.setState(t.create(UDP, CLIENT, 1000 + p, VIP, 53, REAL, 1000 + p, 0, 0, at(0))!, 'active');
    for (let p = 0; p < 40; p += 4) t.touch(t.lookupClient(UDP, CLIENT, 1000 + p, VIP, 53) as LinkId, at(200e6), 'in');
    const now = at(400e6); // idle 400 s > 300 s, except every 4th (idle 200 s)
    const perCall: number[] = [];
    const seen: number[] = [];
    for (let call = 0; call < 6; call++) perCall.push(t.expire(now, idle, 7, (info) => seen.push(info.clientPort - 1000)));
    // 40 records, 7 per call: calls 1-5 visit 0-34, call 6 visits 35-39 and wraps to 0 and 1
    // (already handled). Every 4th link was seen recently and stays.
    expect(perCall).toEqual([5, 5, 5, 6, 5, 4]);
    expect(seen).toEqual([...Array(40).keys()].filter((p) => p % 4 !== 0));
    expect(t.size).toBe(10);
    // A budget larger than the table is one pass, not more.
    let calls = 0;
    expect(t.expire(at(700e6), () => micros(0), 1_000, () => calls++)).toBe(10);
    expect(calls).toBe(10);
    expect(t.expire(at(700e6), idle, 1_000)).toBe(0);
    t.checkInvariants();
  });

  it('asks idleFor once per protocol and state per call', () => {
    const t = new LinkTable({ linksMax: 1_000 });
    for (let p = 0; p < 500; p++) t.create(TCP, CLIENT, p, VIP, 80, REAL, p, 0, 0, at(0));
    let asked = 0;
    t.expire(at(1), (proto, state) => (asked++, idle(proto, state)), 1_000);
    expect(asked).toBe(9);
    expect(() => t.expire(at(1), idle, 0)).toThrow(/budget/);
  });

  it('forEach visits live links in id order and tolerates removing the current one', () => {
    const t = new LinkTable({ linksMax: 8 });
    for (let p = 0; p < 6; p++) t.create(TCP, CLIENT, p, VIP, 80, REAL, p, 0, 0, at(0));
    t.remove(2 as LinkId);
    const seen: number[] = [];
    t.forEach((id) => {
      seen.push(id);
      if (id % 2 === 1) t.remove(id);
    });
    expect(seen).toEqual([0, 1, 3, 4, 5]);
    expect(t.ids()).toEqual([0, 4]);
    t.checkInvariants();
  });
});

// ---- model test ----

interface ModelLink {
  proto: NatProto;
  ca: number;
  cp: number;
  vip: number;
  vport: number;
  sa: number;
  sp: number;
  group: number;
  server: number;
  state: LinkState;
  created: number;
  lastSeen: number;
  pin: number;
  pout: number;
  finC: boolean;
  finS: boolean;
}

const ckey = (p: number, ca: number, cp: number, vip: number, vport: number): string => `${p}/${ca}:${cp}>${vip}:${vport}`;
const skey = (p: number, sa: number, sp: number, ca: number, cp: number): string => `${p}/${sa}:${sp}<${ca}:${cp}`;

// Few distinct values, so keys collide often and buckets fill up into long probe runs.
const protoArb = fc.constantFrom<NatProto>(TCP, UDP, ICMP);
const addrArb = fc.constantFrom(0x0a00_0001, 0x0a00_0002, 0xc0a8_0101, 0xffff_fffe);
const portArb = fc.constantFrom(0, 23, 80, 1029, 65535);
const clientKeyArb = fc.record({ proto: protoArb, ca: addrArb, cp: portArb, vip: fc.constantFrom(0x8c74_4872, 0x8c74_4873), vport: fc.constantFrom(23, 80) });
const serverArb = fc.record({ sa: addrArb, sp: portArb, server: fc.nat(3), group: fc.nat(2) });
const stateArb = fc.constantFrom<LinkState>('new', 'active', 'closing');
const pick = fc.nat(1 << 20); // an index into the live links (mod their count)

interface ClientKeyV {
  proto: NatProto;
  ca: number;
  cp: number;
  vip: number;
  vport: number;
}
type Op =
  | { kind: 'create'; key: ClientKeyV; srv: { sa: number; sp: number; server: number; group: number } }
  | { kind: 'lookup'; key: ClientKeyV; srv: { sa: number; sp: number } }
  | { kind: 'remove'; pick: number }
  | { kind: 'remap'; pick: number; srv: { sa: number; sp: number; server: number } }
  | { kind: 'touch'; pick: number; dir: 'in' | 'out' }
  | { kind: 'state'; pick: number; state: LinkState }
  | { kind: 'fin'; pick: number; fromClient: boolean }
  | { kind: 'expire'; budget: number }
  | { kind: 'sweep' }
  | { kind: 'tick'; us: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('create' as const), key: clientKeyArb, srv: serverArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('lookup' as const), key: clientKeyArb, srv: serverArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remap' as const), pick, srv: serverArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('touch' as const), pick, dir: fc.constantFrom<'in' | 'out'>('in', 'out') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('state' as const), pick, state: stateArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fin' as const), pick, fromClient: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), budget: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), us: fc.integer({ min: 0, max: 40 }) }) },
);

// Timeouts in µs, small so that ticks make links expire.
const IDLE: Record<LinkState, number> = { new: 30, active: 90, closing: 10 };
const idleModel = (proto: NatProto, state: LinkState): Duration => micros(IDLE[state] + (proto === UDP ? 5 : 0));

function runModel(ops: readonly Op[], linksMax: number, initialCapacity: number, hashSeed: number): void {
  const t = new LinkTable({ linksMax, initialCapacity, hashSeed });
  const model = new Map<LinkId, ModelLink>();
  let now = 0;
  const liveIds = (): LinkId[] => [...model.keys()].sort((a, b) => a - b);
  const chosen = (p: number): LinkId | undefined => {
    const ids = liveIds();
    return ids.length === 0 ? undefined : ids[p % ids.length];
  };
  const findC = (p: number, ca: number, cp: number, vip: number, vport: number): LinkId | -1 => {
    for (const [id, l] of model) if (ckey(l.proto, l.ca, l.cp, l.vip, l.vport) === ckey(p, ca, cp, vip, vport)) return id;
    return -1;
  };
  const findS = (p: number, sa: number, sp: number, ca: number, cp: number): LinkId | -1 => {
    for (const [id, l] of model) if (skey(l.proto, l.sa, l.sp, l.ca, l.cp) === skey(p, sa, sp, ca, cp)) return id;
    return -1;
  };
  const idleNow = (l: ModelLink): boolean => now - l.lastSeen >= idleModel(l.proto, l.state);
  const expired = (info: LinkInfo): void => {
    const l = model.get(info.id);
    expect(l, `expired link ${info.id} is in the model`).toBeDefined();
    expect(idleNow(l!), `expired link ${info.id} was idle`).toBe(true);
    expect(info).toEqual({
      id: info.id, proto: l!.proto, clientAddr: l!.ca, clientPort: l!.cp, vip: l!.vip, vport: l!.vport, serverAddr: l!.sa, serverPort: l!.sp,
      state: l!.state, created: l!.created, lastSeen: l!.lastSeen, group: l!.group, server: l!.server, packetsIn: l!.pin, packetsOut: l!.pout,
      finClient: l!.finC, finServer: l!.finS,
    });
    model.delete(info.id);
  };

  for (const op of ops) {
    switch (op.kind) {
      case 'create': {
        const { proto, ca, cp, vip, vport } = op.key;
        const { sa, sp, server, group } = op.srv;
        const args = [proto, ca as Ipv4Addr, cp, vip as Ipv4Addr, vport, sa as Ipv4Addr, sp, group, server, now as Instant] as const;
        if (findC(proto, ca, cp, vip, vport) !== -1) {
          expect(() => t.create(...args)).toThrow(/client key already/);
          break;
        }
        const id = t.create(...args);
        if (model.size >= linksMax || findS(proto, sa, sp, ca, cp) !== -1) {
          expect(id).toBeUndefined();
          break;
        }
        expect(id).toBeDefined();
        expect(model.has(id!)).toBe(false);
        expect(id).toBeLessThan(linksMax);
        model.set(id!, { proto, ca, cp, vip, vport, sa, sp, group, server, state: 'new', created: now, lastSeen: now, pin: 0, pout: 0, finC: false, finS: false });
        break;
      }
      case 'lookup': {
        const { proto, ca, cp, vip, vport } = op.key;
        expect(t.lookupClient(proto, ca as Ipv4Addr, cp, vip as Ipv4Addr, vport)).toBe(findC(proto, ca, cp, vip, vport));
        expect(t.lookupServer(proto, op.srv.sa as Ipv4Addr, op.srv.sp, ca as Ipv4Addr, cp)).toBe(findS(proto, op.srv.sa, op.srv.sp, ca, cp));
        break;
      }
      case 'remove': {
        const id = chosen(op.pick);
        if (id === undefined) break;
        t.remove(id);
        model.delete(id);
        break;
      }
      case 'remap': {
        const id = chosen(op.pick);
        if (id === undefined) break;
        const l = model.get(id)!;
        const { sa, sp, server } = op.srv;
        if (l.state !== 'new') {
          expect(() => t.remap(id, sa as Ipv4Addr, sp, server, now as Instant)).toThrow(/only a new link/);
          break;
        }
        const other = findS(l.proto, sa, sp, l.ca, l.cp);
        const ok = t.remap(id, sa as Ipv4Addr, sp, server, now as Instant);
        expect(ok).toBe(other === -1 || other === id);
        if (ok) Object.assign(l, { sa, sp, server, lastSeen: now });
        break;
      }
      case 'touch': {
        const id = chosen(op.pick);
        if (id === undefined) break;
        t.touch(id, now as Instant, op.dir);
        const l = model.get(id)!;
        l.lastSeen = now;
        if (op.dir === 'in') l.pin++;
        else l.pout++;
        break;
      }
      case 'state': {
        const id = chosen(op.pick);
        if (id === undefined) break;
        t.setState(id, op.state);
        model.get(id)!.state = op.state;
        break;
      }
      case 'fin': {
        const id = chosen(op.pick);
        if (id === undefined) break;
        t.markFin(id, op.fromClient);
        if (op.fromClient) model.get(id)!.finC = true;
        else model.get(id)!.finS = true;
        break;
      }
      case 'expire':
        t.expire(now as Instant, idleModel, op.budget, expired);
        break;
      case 'sweep': {
        // One call with a budget covering every record removes exactly the idle links.
        const idleIds = liveIds().filter((id) => idleNow(model.get(id)!));
        const removed: LinkId[] = [];
        t.expire(now as Instant, idleModel, linksMax, (info) => {
          removed.push(info.id);
          expired(info);
        });
        expect(removed.sort((a, b) => a - b)).toEqual(idleIds);
        break;
      }
      case 'tick':
        now += op.us;
        break;
    }
    expect(t.size).toBe(model.size);
  }
  t.checkInvariants();
  expect(t.ids()).toEqual(liveIds());
  for (const [id, l] of model) {
    expect(t.lookupClient(l.proto, l.ca as Ipv4Addr, l.cp, l.vip as Ipv4Addr, l.vport)).toBe(id);
    expect(t.lookupServer(l.proto, l.sa as Ipv4Addr, l.sp, l.ca as Ipv4Addr, l.cp)).toBe(id);
    expect(t.info(id)).toMatchObject({ state: l.state, packetsIn: l.pin, packetsOut: l.pout, lastSeen: l.lastSeen, server: l.server });
  }
}

describe('LinkTable against a Map model', () => {
  it('agrees over random operation sequences with colliding keys', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 50, maxLength: 400 }),
        fc.integer({ min: 1, max: 48 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer(),
        (ops, linksMax, initial, seed) => runModel(ops, linksMax, Math.min(initial, linksMax), seed),
      ),
      { numRuns: 300 },
    );
  });

  it('keeps its invariants after every operation (small table, heavy probing)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 150 }), fc.integer(), (ops, seed) => {
        // Check the whole structure after each step, so a broken backward shift is caught where it happens.
        for (let k = 1; k <= ops.length; k += 10) runModel(ops.slice(0, k), 12, 1, seed);
      }),
      { numRuns: 60 },
    );
  });
});
