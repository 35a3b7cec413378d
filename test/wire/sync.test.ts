/**
 * The state-sync codec (src/wire/sync.ts): a byte-literal ack, then the codec properties
 * (STYLE.md 8): parse(encode(v)) equals v for every kind, arbitrary bytes never throw, every
 * strict prefix fails, trailing bytes are refused, a flipped bit fails parsing or verification,
 * and a reserved byte that is not zero is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hex } from '../../src/wire/addr.ts';
import { encodeSync, parseSync, SYNC_HEADER_LEN, SYNC_MESSAGE_MAX, SYNC_RECORDS_MAX, syncProblem, verifySync, type SyncMessage, type SyncRecord } from '../../src/wire/sync.ts';

const KEY = new TextEncoder().encode('sync-test-key');
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const proto = fc.constantFrom(6 as const, 17 as const, 1 as const);

const record: fc.Arbitrary<SyncRecord> = fc.oneof(
  fc.record({ op: fc.constant('link' as const), proto, state: fc.constantFrom('new' as const, 'active' as const, 'closing' as const), group: u16, server: u16, clientAddr: u32, clientPort: u16, vip: u32, vport: u16, serverAddr: u32, serverPort: u16 }),
  fc.record({ op: fc.constant('link-gone' as const), proto, clientAddr: u32, clientPort: u16, vip: u32, vport: u16 }),
  fc.record({ op: fc.constant('server' as const), group: u16, server: u16, state: fc.constantFrom('alive' as const, 'pending' as const, 'dead' as const), held: fc.boolean() }),
);
const head = { group: u32, node: u32, epoch: u32, leader: u32, keyId: u16, inc: fc.integer({ min: 1, max: 0xffffffff }), seq: u32 };
const message: fc.Arbitrary<SyncMessage> = fc.oneof(
  fc.record({ ...head, kind: fc.constant('updates' as const), first: u32, records: fc.array(record, { maxLength: SYNC_RECORDS_MAX }) }),
  fc.integer({ min: 1, max: 0xffff }).chain((parts) =>
    fc.record({ ...head, kind: fc.constant('snapshot' as const), base: u32, parts: fc.constant(parts), part: fc.integer({ min: 0, max: parts - 1 }), records: fc.array(record, { maxLength: SYNC_RECORDS_MAX }) }),
  ),
  fc.record({ ...head, kind: fc.constant('ack' as const), acked: u32 }),
  fc.record({ ...head, kind: fc.constant('request' as const), have: u32, full: fc.boolean() }),
);

describe('sync codec', () => {
  it('encodes an ack byte for byte', () => {
    const b = encodeSync({ kind: 'ack', group: 0xe0010101, node: 2, epoch: 7, leader: 1, acked: 300, keyId: 1, inc: 0x5eed0002, seq: 9 }, KEY);
    expect(hex(b.subarray(0, SYNC_HEADER_LEN + 4 + 10))).toBe(
      ['5359', '02', '03', 'e0010101', '00000002', '00000007', '00000001', '0000012c', '0001', '5eed0002', '00000009'].join(''),
    );
    expect(b.length).toBe(SYNC_HEADER_LEN + 4 + 42);
  });

  it('parse(encode(m)) is m, and it verifies', () => {
    fc.assert(
      fc.property(message, (m) => {
        const b = encodeSync(m, KEY);
        expect(b.length).toBeLessThanOrEqual(SYNC_MESSAGE_MAX);
        const p = parseSync(b);
        expect(p.ok).toBe(true);
        if (!p.ok) return;
        expect(p.value.message).toEqual(m);
        expect(verifySync(p.value, KEY)).toBe(true);
        expect(verifySync(p.value, new TextEncoder().encode('other'))).toBe(false);
      }),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1600 }), (b) => void parseSync(b)));
  });

  it('refuses every strict prefix and any trailing byte', () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const b = encodeSync(m, KEY);
        expect(parseSync(b.subarray(0, cut % b.length)).ok).toBe(false);
        const longer = new Uint8Array(b.length + 1);
        longer.set(b);
        expect(parseSync(longer).ok).toBe(false);
      }),
    );
  });

  it('a flipped bit fails parsing or verification', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
        const b = encodeSync(m, KEY);
        b[at % b.length]! ^= 1 << bit;
        const p = parseSync(b);
        expect(p.ok && verifySync(p.value, KEY)).toBe(false);
      }),
    );
  });

  it('refuses a reserved byte that is not zero, and bad enums', () => {
    const r: SyncRecord = { op: 'link', proto: 6, state: 'active', group: 0, server: 1, clientAddr: 1, clientPort: 2, vip: 3, vport: 80, serverAddr: 4, serverPort: 80 };
    const b = encodeSync({ kind: 'updates', group: 1, node: 1, epoch: 1, leader: 1, first: 1, records: [r], keyId: 1, inc: 1, seq: 1 }, KEY);
    const rec = SYNC_HEADER_LEN + 6;
    for (const [off, v] of [[rec + 3, 1], [rec + 27, 1], [rec + 2, 3], [rec + 1, 99], [rec, 9]] as const) {
      const c = b.slice();
      c[off] = v;
      const p = parseSync(c);
      expect(p.ok, `byte ${off - rec} of the record = ${v}`).toBe(false);
    }
    expect(syncProblem({ kind: 'updates', group: 1, node: 1, epoch: 1, leader: 1, first: 1, records: Array(SYNC_RECORDS_MAX + 1).fill(r), keyId: 1, inc: 1, seq: 1 })).toMatch(/records/);
  });

  it('a server record carries its held (bit 0) and behind (bit 1) flags in byte 1; any other flag bit is bad-value', () => {
    const rec: SyncRecord = { op: 'server', group: 0, server: 2, state: 'dead', held: true };
    const b = encodeSync({ kind: 'updates', group: 1, node: 1, epoch: 1, leader: 1, first: 1, records: [rec], keyId: 1, inc: 1, seq: 1 }, KEY);
    const at = SYNC_HEADER_LEN + 6;
    expect(b[at + 1]).toBe(1);
    const p = parseSync(b);
    expect(p.ok && p.value.message.kind === 'updates' && p.value.message.records).toEqual([rec]);
    b[at + 1] = 3;
    const both = parseSync(b);
    expect(both.ok && both.value.message.kind === 'updates' && both.value.message.records).toEqual([{ ...rec, behind: true }]);
    b[at + 1] = 4;
    expect(parseSync(b)).toMatchObject({ ok: false, error: { reason: 'bad-value' } });
  });

  it('a link-gone record carries the key only: any other non-zero byte is bad-value', () => {
    const gone: SyncRecord = { op: 'link-gone', proto: 17, clientAddr: 0x0a000001, clientPort: 4000, vip: 0x0a000002, vport: 53 };
    const b = encodeSync({ kind: 'updates', group: 1, node: 1, epoch: 1, leader: 1, first: 1, records: [gone], keyId: 1, inc: 1, seq: 1 }, KEY);
    const rec = SYNC_HEADER_LEN + 6;
    const parsed = parseSync(b);
    expect(parsed.ok && parsed.value.message.kind === 'updates' && parsed.value.message.records).toEqual([gone]);
    // state (2), group (4-5), server (6-7), server address (20-23) and port (24-25) are unused.
    for (const off of [2, 4, 5, 6, 7, 20, 21, 22, 23, 24, 25]) {
      const c = b.slice();
      c[rec + off] = 1;
      expect(parseSync(c), `byte ${off} of a link-gone record`).toMatchObject({ ok: false, error: { reason: 'bad-value' } });
    }
  });
});
