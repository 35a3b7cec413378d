/**
 * SGctrld under arbitrary input (fast-check): commands of valid structure with random fields,
 * signed with the right key, a forged one, an unknown one or a server key, at random times and
 * skews, never throw, and never change anything they may not: a wrong key changes nothing at
 * all, a server key at most its own server's state, counter and heartbeat. Arbitrary bytes and
 * genuine datagrams with a byte changed never throw and never apply.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CtlSession, readResult } from '../../src/ctl/client.ts';
import { Ctld, type CtlSource } from '../../src/ctl/ctld.ts';
import { SgNodeTarget } from '../../src/engine/ctl-target.ts';
import { propNames, type PropValue } from '../../src/ctl/properties.ts';
import { CTL_CLASS, CTL_OP, CTL_STATUS, type CtlClass, type CtlKey, type CtlOp } from '../../src/ctl/types.ts';
import type { Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import { Rig } from '../engine/rig.ts';

const secret = (b: number) => new Uint8Array(16).fill(b);
const ADMIN: CtlKey = { id: 1, secret: secret(0xa1), role: { kind: 'admin' } };
const RS1: CtlKey = { id: 11, secret: secret(0x11), role: { kind: 'server', group: 'web', server: 'rs1' } };
const FORGED: CtlKey = { id: 1, secret: secret(0xee), role: { kind: 'admin' } };
const UNKNOWN: CtlKey = { id: 99, secret: secret(0x99), role: { kind: 'admin' } };
const KEYS = { admin: ADMIN, rs1: RS1, forged: FORGED, unknown: UNKNOWN } as const;
type KeyName = keyof typeof KEYS;

const SOURCES: readonly CtlSource[] = [
  { addr: ip('140.116.72.10'), port: 40_000 },
  { addr: ip('192.168.1.1'), port: 40_001 },
  { addr: ip('140.116.72.66'), port: 40_002 },
];

/** What a server key may change on its own server (web/rs1). */
// web.members follows the servers' states (derived, not written).
const SELF_FIELDS = new Set(['web/rs1.state', 'web/rs1.counter', 'web/rs1.heartbeat', 'web/rs1.heartbeat-at', 'web.members', 'web.read-only']);

const ALL_PROPERTIES = [...new Set((['cluster', 'group', 'server'] as const).flatMap((c): string[] => [...propNames(c)]))];

function snapshot(rig: Rig, t: SgNodeTarget): Map<string, string> {
  const out = new Map<string, string>();
  const put = (k: string, v: PropValue) => out.set(k, JSON.stringify(v));
  for (const p of propNames('cluster')) put(p, t.read({ cls: 'cluster', property: p, group: -1, server: -1 }));
  rig.node.cfg.groups.forEach((g, gi) => {
    for (const p of propNames('group')) put(`${g.name}.${p}`, t.read({ cls: 'group', property: p, group: gi, server: -1 }));
    g.servers.forEach((s, si) => {
      for (const p of propNames('server')) put(`${g.name}/${s.name}.${p}`, t.read({ cls: 'server', property: p, group: gi, server: si }));
    });
  });
  return out;
}

function changed(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...a.keys()].filter((k) => a.get(k) !== b.get(k));
}

const DATA = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('0', '1', '7', '1000', '1001', '-1', '2.5', '1e3', 'NaN', 'true', 'false', 'alive', 'pending', 'dead', 'counter', 'round-robin', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const anyName = (known: readonly string[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) });

/** Values that parse, per writable property. */
const VALID: Readonly<Record<string, readonly string[]>> = {
  'read-only': ['true', 'false', '1', '0'],
  policy: ['round-robin', 'counter'],
  weighted: ['false', 'true'],
  state: ['alive', 'pending', 'dead'],
  weight: ['0', '1', '7', '1000'],
  counter: ['0', '2.5', '1e3', '17'],
  heartbeat: ['0', '1', '42', '4294967295'],
};

/** A command that makes sense for its class (names and property from the table, mostly valid values). */
const coherent = fc
  .record({
    cls: fc.constantFrom<CtlClass>('cluster', 'group', 'server', 'server'),
    op: fc.constantFrom<CtlOp>('get', 'set', 'set', 'set', 'list', 'add', 'delete'),
    group: fc.constantFrom('web', 'web', 'dns', 'ping'),
    server: fc.constantFrom('rs1', 'rs1', 'rs2', 'rs3'),
  })
  .chain(({ cls, op, group, server }) =>
    fc.constantFrom(...propNames(cls)).chain((property) =>
      fc.record({
        cls: fc.constant(cls),
        op: fc.constant(op),
        group: fc.constant(cls === 'cluster' ? '' : group),
        server: fc.constant(cls === 'server' ? server : ''),
        property: fc.constant(op === 'list' ? '' : property),
        data: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...(VALID[property] ?? [''])) }, { weight: 1, arbitrary: DATA }),
      }),
    ),
  );

/** Any fields at all (still a valid structure). */
const scattered = fc.record({
  cls: fc.constantFrom(...(Object.keys(CTL_CLASS) as CtlClass[])),
  op: fc.constantFrom(...(Object.keys(CTL_OP) as CtlOp[])),
  group: anyName(['web', 'dns', 'ping', '']),
  server: anyName(['rs1', 'rs2', 'rs3', '']),
  property: anyName([...ALL_PROPERTIES, '__proto__', 'constructor', '']),
  data: DATA,
});

const step = fc.record({
  key: fc.constantFrom<KeyName>('admin', 'rs1', 'rs1', 'forged', 'unknown'),
  source: fc.nat({ max: SOURCES.length - 1 }),
  cmd: fc.oneof({ weight: 3, arbitrary: coherent }, { weight: 1, arbitrary: scattered }),
  skew: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -40_000_000, max: 40_000_000 }) }),
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000_000 })),
  replay: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

describe('SGctrld under arbitrary commands', () => {
  it('never throws, and applies nothing a key may not change', () => {
    const seen = { adminApplied: 0, selfApplied: 0, forbidden: 0, unauthenticated: 0, replay: 0, stale: 0, badValue: 0 };
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 25 }), fc.boolean(), (steps, tight) => {
        const rig = new Rig();
        const target = new SgNodeTarget(rig.node);
        const ctld = new Ctld({ keys: [ADMIN, RS1], target, rate: tight ? { perSecond: 2, burst: 3, rejectsPerSecond: 1, rejectBurst: 1 } : {}, replayCacheMax: tight ? 8 : 64 });
        const sessions = new Map<KeyName, CtlSession>();
        let last: { bytes: Uint8Array; key: KeyName } | undefined;
        for (const s of steps) {
          rig.advance(rig.now + s.dt);
          let session = sessions.get(s.key);
          if (session === undefined) sessions.set(s.key, (session = new CtlSession(KEYS[s.key])));
          const built = session.command(s.cmd, Math.max(0, rig.now + s.skew));
          // A replay resends the previous step's exact bytes: its key is that step's.
          const sent = s.replay && last !== undefined ? last : { bytes: built.bytes, key: s.key };
          last = { bytes: built.bytes, key: s.key };
          const bytes = sent.bytes;
          const key = sent.key;
          const before = snapshot(rig, target);
          const out = ctld.handleBytes(rig.now, SOURCES[s.source]!, bytes);
          const diff = changed(before, snapshot(rig, target));

          expect(Object.hasOwn(CTL_STATUS, out.status)).toBe(true);
          if (out.applied !== undefined) seen[key === 'rs1' ? 'selfApplied' : 'adminApplied']++;
          if (out.status === 'forbidden') seen.forbidden++;
          if (out.status === 'unauthenticated') seen.unauthenticated++;
          if (out.status === 'replay') seen.replay++;
          if (out.status === 'stale') seen.stale++;
          if (out.status === 'bad-value') seen.badValue++;
          if (out.applied !== undefined) expect(out.status).toBe('ok');
          if (out.applied === undefined) expect(diff).toEqual([]);
          if (key === 'forged' || key === 'unknown') {
            expect(out.replyBytes).toBeUndefined();
            expect(out.applied).toBeUndefined();
            expect(diff).toEqual([]);
          }
          if (key === 'rs1') {
            for (const k of diff) expect(SELF_FIELDS.has(k), k).toBe(true);
            const own = (s.cmd.cls === 'server' && s.cmd.group === 'web' && s.cmd.server === 'rs1') || (s.cmd.cls === 'group' && s.cmd.op === 'get' && s.cmd.group === 'web' && s.cmd.property === 'members') || (s.cmd.cls === 'group' && (s.cmd.op === 'get' || s.cmd.op === 'set') && s.cmd.group === 'web' && s.cmd.property === 'read-only');
            if (!own && !s.replay) expect(['forbidden', 'unauthenticated', 'stale', 'replay', 'rate-limited']).toContain(out.status);
          }
          if (out.replyBytes !== undefined) {
            // Every answer is signed with the key of the command it answers.
            expect(key === 'admin' || key === 'rs1').toBe(true);
            const id = out.reply!.result.id;
            expect(readResult(out.replyBytes, KEYS[key], id).ok).toBe(true);
          }
        }
        const c = ctld.counters;
        const total = Object.values(c.status).reduce((a, b) => a + b, 0);
        expect(total).toBe(steps.length);
      }),
      { numRuns: 300 },
    );
    // The generator reaches every kind of outcome that matters here (each is expected dozens of times).
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  it('arbitrary bytes, and genuine datagrams with one byte changed, never throw and never apply', () => {
    const rig = new Rig();
    const target = new SgNodeTarget(rig.node);
    const ctld = new Ctld({ keys: [ADMIN, RS1], target, rate: { perSecond: 1e9, burst: 1e9 } });
    const session = new CtlSession(ADMIN);
    const before = snapshot(rig, target);
    let t = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1400 }),
          fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }), value: fc.nat({ max: 1000 }) }).map(({ at, bit, value }) => {
            const { bytes } = session.command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: String(value) }, t);
            const b = bytes.slice();
            b[at % b.length]! ^= 1 << bit;
            return b;
          }),
        ),
        (bytes) => {
          t += 1;
          const out = ctld.handleBytes(t as Instant, SOURCES[2]!, bytes);
          expect(out.applied).toBeUndefined();
          expect(out.replyBytes).toBeUndefined();
        },
      ),
      { numRuns: 2_000 },
    );
    expect(changed(before, snapshot(rig, target))).toEqual([]);
  });
});

describe('SGctrld between frames (regression)', () => {
  it("a state write at a time ahead of the node's last frame does not move the balancer's clock backwards", () => {
    // Found by the property above (seed -6287605): a counter write at t=1 reached the balancer at
    // ctld's time, then a state write reached it at the node's older time and failed an assertion.
    const rig = new Rig();
    const target = new SgNodeTarget(rig.node);
    const ctld = new Ctld({ keys: [ADMIN], target });
    const session = new CtlSession(ADMIN);
    const src: CtlSource = { addr: ip('10.0.0.9'), port: 40000 };
    const at = (us: number) => us as Instant;
    expect(ctld.handleBytes(at(1), src, session.command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'counter', data: '0' }, 1).bytes).status).toBe('ok');
    expect(ctld.handleBytes(at(1), src, session.command({ cls: 'server', op: 'set', group: 'web', server: 'rs3', property: 'state', data: 'dead' }, 1).bytes).status).toBe('ok');
    expect(ctld.handleBytes(at(2), src, session.command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'heartbeat', data: '3' }, 2).bytes).status).toBe('ok');
  });
});
