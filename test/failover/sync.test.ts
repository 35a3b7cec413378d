/**
 * StateSync (src/failover/sync.ts) between a master and slaves over an in-memory multicast bus
 * that loses messages at random: whatever the loss and whenever a slave joins, once the bus is
 * lossless again every slave's copy converges to the master's state, and the ready flag is only
 * set on a consistent copy.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StateSync, type SyncSend, type SyncTarget } from '../../src/failover/sync.ts';
import type { Duration, Instant } from '../../src/time.ts';
import type { SyncRecord } from '../../src/wire/sync.ts';

const CFG = { flushDelay: 10_000 as Duration, retransmit: 200_000 as Duration, peerTimeout: 3_000_000 as Duration, logMax: 96, snapshotBurst: 4, snapshotInterval: 10_000 as Duration, announce: 100_000 as Duration };

/** A node's state: links by client key, server states by group/server. */
class Table implements SyncTarget {
  readonly links = new Map<string, SyncRecord>();
  readonly servers = new Map<string, string>();
  resets = 0;
  apply(r: SyncRecord): void {
    if (r.op === 'server') this.servers.set(`${r.group}/${r.server}`, r.state);
    else if (r.op === 'link-gone') this.links.delete(`${r.proto}/${r.clientAddr}/${r.clientPort}`);
    else this.links.set(`${r.proto}/${r.clientAddr}/${r.clientPort}`, r);
  }
  reset(): void {
    this.links.clear();
    this.servers.clear();
    this.resets++;
  }
  snapshot(): SyncRecord[] {
    return [...this.links.values(), ...[...this.servers].map(([k, state]) => ({ op: 'server' as const, group: Number(k.split('/')[0]), server: Number(k.split('/')[1]), state: state as 'alive', held: false }))];
  }
}

interface Node {
  readonly id: number;
  readonly table: Table;
  readonly sync: StateSync;
}

function node(id: number): Node {
  const table = new Table();
  return { id, table, sync: new StateSync({ ...CFG, node: id }, table) };
}

/** Deliver every pending send to every other node (dropping when `lose()` says so), and fire due timers, until `until`. */
function run(nodes: Node[], from: number, until: number, lose: () => boolean): number {
  let now = from;
  while (now <= until) {
    let moved = true;
    while (moved) {
      moved = false;
      for (const n of nodes) {
        for (let s: SyncSend | undefined = n.sync.pollSend(); s !== undefined; s = n.sync.pollSend()) {
          moved = true;
          for (const m of nodes) if (m !== n && !lose()) m.sync.handleMessage(now as Instant, n.id, s.epoch, s.leader, s.body);
        }
      }
    }
    const next = Math.min(...nodes.map((n) => n.sync.pollTimeout() ?? Infinity));
    if (next > until) break;
    now = Math.max(now, next);
    for (const n of nodes) if ((n.sync.pollTimeout() ?? Infinity) <= now) n.sync.handleTimeout(now as Instant);
  }
  return until;
}

const link = (port: number, server: number, state: 'new' | 'active' | 'closing'): SyncRecord => ({
  op: 'link', proto: 6, state, group: 0, server, clientAddr: 0x0a000001, clientPort: port, vip: 0x0a0000fe, vport: 80, serverAddr: 0xc0a80100 + server, serverPort: 80,
});

describe('StateSync', () => {
  it('a slave that joins late gets a snapshot, then the stream, and is ready only after', () => {
    const m = node(1);
    const s = node(2);
    m.sync.becomeMaster(0 as Instant, 5);
    for (let p = 1; p <= 200; p++) {
      m.table.apply(link(p, p % 3, 'active'));
      m.sync.record(0 as Instant, link(p, p % 3, 'active'));
    }
    run([m], 0, 50_000, () => false); // nobody listening yet; the log (96) overflows
    expect(s.sync.ready).toBe(true); // never heard a master: nothing to get
    let t = run([m, s], 50_000, 105_000, () => false); // the announce at 100 ms: request, snapshot parts 1-4 of 5
    expect(s.sync.ready).toBe(false);
    t = run([m, s], t, 2_000_000, () => false);
    expect(s.sync.ready).toBe(true);
    expect(s.table.links).toEqual(m.table.links);
    expect(m.sync.stats.snapshotsSent).toBeGreaterThanOrEqual(1);
  });

  it('converges under random loss: records, link-gone, server states, and a late joiner', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 400 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 399 }),
        (ops, loss, seed, joinAt) => {
          let x = seed | 1;
          const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
          const m = node(1);
          const a = node(2);
          const b = node(3);
          m.sync.becomeMaster(0 as Instant, 1);
          let t = 0;
          const live = [m, a];
          ops.forEach(([port, what], i) => {
            if (i === joinAt) live.push(b);
            const r: SyncRecord =
              what === 0 ? { op: 'link-gone', proto: 6, clientAddr: 0x0a000001, clientPort: port, vip: 0x0a0000fe, vport: 80 } : what === 3 ? { op: 'server', group: 0, server: port % 4, state: port % 2 ? 'dead' : 'alive', held: port % 3 === 0 } : link(port, what, what === 1 ? 'new' : 'active');
            m.table.apply(r);
            m.sync.record(t as Instant, r);
            t = run(live, t, t + 40_000, () => rnd() < loss);
          });
          if (!live.includes(b)) live.push(b);
          run(live, t, t + 20_000_000, () => false);
          for (const s of [a, b]) {
            expect(s.sync.ready).toBe(true);
            expect(s.table.links).toEqual(m.table.links);
            expect(s.table.servers).toEqual(m.table.servers);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a master that steps down sends what it logged but had not flushed yet (a planned hand-over loses no link)', () => {
    const m = node(1);
    const s = node(2);
    m.sync.becomeMaster(0 as Instant, 1);
    let t = run([m, s], 0, 500_000, () => false);
    expect(s.sync.ready).toBe(true);
    // A link opened 1 ms before the master steps down, inside the 10 ms batch window.
    m.table.apply(link(7000, 1, 'new'));
    m.sync.record(t as Instant, link(7000, 1, 'new'));
    m.sync.becomeSlave((t + 1_000) as Instant);
    t = run([m, s], t + 1_000, t + 1_000, () => false);
    expect(s.table.links.get('6/167772161/7000')).toMatchObject({ clientPort: 7000, server: 1 });
  });

  it('a lost update is recovered from the log (gap request and retransmission), not by a snapshot', () => {
    const m = node(1);
    const s = node(2);
    m.sync.becomeMaster(0 as Instant, 1);
    let t = run([m, s], 0, 1_000_000, () => false);
    expect(s.sync.ready).toBe(true);
    const snapshots = m.sync.stats.snapshotsSent;
    for (let p = 1; p <= 3; p++) {
      m.table.apply(link(p, 0, 'new'));
      m.sync.record(t as Instant, link(p, 0, 'new'));
      let n = 0;
      t = run([m, s], t, t + 20_000, () => p === 2 && n++ === 0); // the datagram carrying record 2 is lost
    }
    t = run([m, s], t, t + 1_000_000, () => false);
    expect(s.table.links).toEqual(m.table.links);
    expect(s.sync.stats.gaps).toBeGreaterThanOrEqual(1);
    expect(m.sync.stats.snapshotsSent).toBe(snapshots);
  });

  it('a slave follows a new master: the new stream replaces its state', () => {
    const m1 = node(1);
    const m2 = node(2);
    m1.sync.becomeMaster(0 as Instant, 1);
    m1.table.apply(link(1, 0, 'active'));
    m1.sync.record(0 as Instant, link(1, 0, 'active'));
    let t = run([m1, m2], 0, 1_000_000, () => false);
    expect(m2.table.links.size).toBe(1);
    // m1 dies; m2 takes over with its copy and adds a link; m1 comes back empty as a slave.
    m2.sync.becomeMaster(t as Instant, 2);
    m2.table.apply(link(2, 1, 'new'));
    m2.sync.record(t as Instant, link(2, 1, 'new'));
    const back = node(1);
    t = run([m2, back], t, t + 2_000_000, () => false);
    expect(back.sync.ready).toBe(true);
    expect(back.table.links).toEqual(m2.table.links);
    expect(back.table.links.size).toBe(2);
  });
});
