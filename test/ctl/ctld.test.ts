/**
 * SGctrld (src/ctl/ctld.ts) against a real SG node (test/engine/rig.ts): signed commands built
 * by the client library go in as datagrams, signed results come out and are checked with the
 * sender's key. Every property read and written with its type and range errors, every role
 * rule, stale and replayed messages, rate limiting, key rotation, silence towards
 * unauthenticated senders, and a drain through the node's balancer.
 */

import { describe, expect, it } from 'vitest';
import { CtlSession, readResult, type CtlRequest } from '../../src/ctl/client.ts';
import { SgNodeTarget } from '../../src/engine/ctl-target.ts';
import { Ctld, fitData, type CtldOptions, type CtlBytesOutcome, type CtlSource, type CtlTarget, type WriteOutcome } from '../../src/ctl/ctld.ts';
import type { PropRef, PropValue, PropWrite } from '../../src/ctl/properties.ts';
import type { CtlCommand, CtlKey, CtlResult, CtlStatus } from '../../src/ctl/types.ts';
import { seconds, type Duration, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import { encodeCommand, encodeResult, FEEDBACK_DATA_MAX } from '../../src/wire/feedback.ts';
import { TCP_FLAG } from '../../src/wire/tcp.ts';
import { CLIENT, CLIENT_MAC, config, G_WEB, ipv4Of, PRIV, PUB, Rig, SERVER_MACS, SERVERS, SG_PRIV_MAC, SG_PUB_MAC, tcpFrame, VIP } from '../engine/rig.ts';

const secret = (b: number) => new Uint8Array(16).fill(b);
const ADMIN: CtlKey = { id: 1, secret: secret(0xa1), role: { kind: 'admin' } };
const ADMIN_NEW: CtlKey = { id: 2, secret: secret(0xa2), role: { kind: 'admin' } };
const RS1: CtlKey = { id: 11, secret: secret(0x11), role: { kind: 'server', group: 'web', server: 'rs1' } };
const RS2: CtlKey = { id: 12, secret: secret(0x12), role: { kind: 'server', group: 'web', server: 'rs2' } };
/** Admin's id with another secret: a forgery. */
const FORGED: CtlKey = { id: 1, secret: secret(0xee), role: { kind: 'admin' } };
const UNKNOWN: CtlKey = { id: 99, secret: secret(0x99), role: { kind: 'admin' } };

const ADMIN_SRC: CtlSource = { addr: ip('140.116.72.10'), port: 40_000 };
const RS1_SRC: CtlSource = { addr: ip('192.168.1.1'), port: 40_001 };
const EVIL_SRC: CtlSource = { addr: ip('140.116.72.66'), port: 40_002 };

const SEC = 1_000_000;

interface Sent {
  readonly out: CtlBytesOutcome;
  readonly command: CtlCommand;
  readonly bytes: Uint8Array;
  /** The verified reply, or undefined when the node sent none. */
  readonly result: CtlResult | undefined;
}

/** A node, its SGctrld, and one client session per key (as many processes would hold). */
class Bench {
  readonly rig: Rig;
  readonly target: SgNodeTarget;
  readonly ctld: Ctld;
  readonly #sessions = new Map<CtlKey, CtlSession>();

  constructor(opts: Partial<CtldOptions> = {}) {
    this.rig = new Rig();
    this.target = new SgNodeTarget(this.rig.node);
    this.ctld = new Ctld({ keys: [ADMIN, RS1, RS2], target: this.target, ...opts });
  }

  get now(): Instant {
    return this.rig.now;
  }

  /** Move the node's time on (firing its timers). */
  at(us: number): void {
    this.rig.advance(us);
  }

  session(key: CtlKey): CtlSession {
    let s = this.#sessions.get(key);
    if (s === undefined) this.#sessions.set(key, (s = new CtlSession(key)));
    return s;
  }

  /** Sign `req` with `key` (its clock `skew` µs off the node's) and hand it to SGctrld. */
  send(key: CtlKey, req: CtlRequest, opts: { from?: CtlSource; skew?: number } = {}): Sent {
    const { bytes, command } = this.session(key).command(req, Math.max(0, this.now + (opts.skew ?? 0)));
    return this.deliver(key, bytes, command, opts.from ?? ADMIN_SRC);
  }

  /** Hand exact bytes (a replay, say) to SGctrld; the reply is checked with `key`. */
  deliver(key: CtlKey, bytes: Uint8Array, command: CtlCommand, from: CtlSource = ADMIN_SRC): Sent {
    const out = this.ctld.handleBytes(this.now, from, bytes);
    let result: CtlResult | undefined;
    if (out.replyBytes !== undefined) {
      const r = readResult(out.replyBytes, key, command.id);
      if (!r.ok) throw new Error(`reply does not verify: ${r.reason}`);
      result = r.result;
      expect(result).toEqual(out.reply?.result);
      expect(result.timestamp).toBe(this.now);
    }
    return { out, command, bytes, result };
  }

  /** Status and data of the signed answer (fails when there is none). */
  ask(key: CtlKey, req: CtlRequest, opts: { from?: CtlSource; skew?: number } = {}): { status: CtlStatus; data: string } {
    const s = this.send(key, req, opts);
    if (s.result === undefined) throw new Error(`no answer (${s.out.status})`);
    return { status: s.result.status, data: s.result.data };
  }

  get(key: CtlKey, cls: CtlRequest['cls'], target: string, property: string, from: CtlSource = ADMIN_SRC) {
    return this.ask(key, { cls, op: 'get', ...names(cls, target), property }, { from });
  }

  set(key: CtlKey, cls: CtlRequest['cls'], target: string, property: string, data: string, from: CtlSource = ADMIN_SRC) {
    return this.ask(key, { cls, op: 'set', ...names(cls, target), property, data }, { from });
  }

  /** Every property of every entity, as text: the node's whole control-plane state. */
  snapshot(): string {
    const lines: string[] = [];
    for (const p of ['links', 'links-max', 'read-only', 'groups'] as const) lines.push(`${p}=${show(this.target.read({ cls: 'cluster', property: p, group: -1, server: -1 }))}`);
    this.rig.node.cfg.groups.forEach((g, gi) => {
      for (const p of ['policy', 'weighted', 'read-only', 'servers', 'vip', 'port'] as const) lines.push(`${g.name}.${p}=${show(this.target.read({ cls: 'group', property: p, group: gi, server: -1 }))}`);
      g.servers.forEach((s, si) => {
        for (const p of ['state', 'held', 'weight', 'counter', 'heartbeat', 'heartbeat-at', 'links', 'addr'] as const) {
          lines.push(`${g.name}/${s.name}.${p}=${show(this.target.read({ cls: 'server', property: p, group: gi, server: si }))}`);
        }
      });
    });
    return lines.join('\n');
  }
}

function show(v: PropValue): string {
  return JSON.stringify(v);
}

function names(cls: CtlRequest['cls'], target: string): { group: string; server: string } {
  if (cls === 'cluster') return { group: '', server: '' };
  const [group = '', server = ''] = target.split('/');
  return { group, server };
}

const ok = (data: string) => ({ status: 'ok', data });

// ---- properties ----

describe('cluster properties', () => {
  it('reads links, links-max, read-only and groups; list gives the groups', () => {
    const b = new Bench();
    expect(b.get(ADMIN, 'cluster', '', 'links')).toEqual(ok('0'));
    expect(b.get(ADMIN, 'cluster', '', 'links-max')).toEqual(ok('1000'));
    expect(b.get(ADMIN, 'cluster', '', 'read-only')).toEqual(ok('false'));
    expect(b.get(ADMIN, 'cluster', '', 'groups')).toEqual(ok('web\ndns\nping'));
    expect(b.ask(ADMIN, { cls: 'cluster', op: 'list' })).toEqual(ok('web\ndns\nping'));
    expect(b.ask(ADMIN, { cls: 'cluster', op: 'list', property: 'groups' })).toEqual(ok('web\ndns\nping'));
    expect(b.ask(ADMIN, { cls: 'cluster', op: 'list', property: 'links' }).status).toBe('bad-message');
  });

  it('counts links as the node opens them', () => {
    const b = new Bench();
    b.rig.rx(PUB, clientSyn(40_000));
    expect(b.get(ADMIN, 'cluster', '', 'links')).toEqual(ok('1'));
  });

  it('sets read-only (slide 45) with bool text, refuses anything else', () => {
    const b = new Bench();
    expect(b.set(ADMIN, 'cluster', '', 'read-only', 'true')).toEqual(ok('true'));
    expect(b.target.readOnly(G_WEB)).toBe(true);
    expect(b.set(ADMIN, 'cluster', '', 'read-only', 'yes')).toEqual({ status: 'bad-value', data: 'read-only must be true or false, got "yes"' });
    expect(b.set(ADMIN, 'cluster', '', 'read-only', '0')).toEqual(ok('false'));
    expect(b.target.readOnly(G_WEB)).toBe(false);
  });

  it('refuses to set read-only properties', () => {
    const b = new Bench();
    for (const p of ['links', 'links-max', 'groups']) expect(b.set(ADMIN, 'cluster', '', p, '5'), p).toEqual({ status: 'forbidden', data: `${p} is read-only` });
  });

  it('wants no group or server named', () => {
    const b = new Bench();
    expect(b.ask(ADMIN, { cls: 'cluster', op: 'get', group: 'web', property: 'links' }).status).toBe('bad-message');
  });
});

describe('group properties', () => {
  it('reads policy, weighted, read-only, servers, vip, port; list gives the servers', () => {
    const b = new Bench();
    expect(b.get(ADMIN, 'group', 'web', 'policy')).toEqual(ok('round-robin'));
    expect(b.get(ADMIN, 'group', 'web', 'weighted')).toEqual(ok('false'));
    expect(b.get(ADMIN, 'group', 'web', 'read-only')).toEqual(ok('false'));
    expect(b.get(ADMIN, 'group', 'web', 'servers')).toEqual(ok('rs1\nrs2\nrs3'));
    expect(b.get(ADMIN, 'group', 'web', 'vip')).toEqual(ok('140.116.72.114'));
    expect(b.get(ADMIN, 'group', 'web', 'port')).toEqual(ok('80'));
    expect(b.get(ADMIN, 'group', 'ping', 'port')).toEqual(ok('0'));
    expect(b.ask(ADMIN, { cls: 'group', op: 'list', group: 'dns' })).toEqual(ok('rs1\nrs2'));
  });

  it('members: the servers in service now, in the config order; read-only', () => {
    const b = new Bench();
    expect(b.get(ADMIN, 'group', 'web', 'members')).toEqual(ok('rs1\nrs2\nrs3'));
    expect(b.set(ADMIN, 'server', 'web/rs2', 'state', 'dead').status).toBe('ok');
    expect(b.get(RS1, 'group', 'web', 'members')).toEqual(ok('rs1\nrs3')); // a server may read it (slide 20)
    expect(b.set(ADMIN, 'server', 'web/rs1', 'state', 'pending').status).toBe('ok');
    expect(b.get(ADMIN, 'group', 'web', 'members')).toEqual(ok('rs3'));
    expect(b.set(ADMIN, 'group', 'web', 'members', 'rs1').status).toBe('forbidden');
    // A server key reads its own group's members and nothing else of the group.
    expect(b.get(RS1, 'group', 'dns', 'members').status).toBe('forbidden');
    expect(b.get(RS1, 'group', 'web', 'servers').status).toBe('forbidden');
  });

  it('sets read-only for one group', () => {
    const b = new Bench();
    expect(b.set(ADMIN, 'group', 'dns', 'read-only', 'true')).toEqual(ok('true'));
    expect([b.target.readOnly(0), b.target.readOnly(1)]).toEqual([false, true]);
  });

  it('checks policy and weighted values; changing them at run time is not supported by the node yet', () => {
    const b = new Bench();
    expect(b.set(ADMIN, 'group', 'web', 'policy', 'random')).toEqual({ status: 'bad-value', data: 'policy must be one of round-robin, connections, packets, counter, got "random"' });
    expect(b.set(ADMIN, 'group', 'web', 'policy', 'counter').status).toBe('not-supported');
    expect(b.set(ADMIN, 'group', 'web', 'policy', 'round-robin')).toEqual(ok('round-robin')); // the current value: a no-op
    expect(b.set(ADMIN, 'group', 'web', 'weighted', 'on').status).toBe('bad-value');
    expect(b.set(ADMIN, 'group', 'web', 'weighted', 'true').status).toBe('not-supported');
    expect(b.get(ADMIN, 'group', 'web', 'weighted')).toEqual(ok('false'));
  });

  it('applies policy and weighted on a target that supports them', () => {
    const t = new PolicyTarget();
    const c = new Ctld({ keys: [ADMIN], target: t });
    const cmd = (property: string, data: string, n: number): CtlCommand => ({ kind: 'command', id: n, handle: 0, cls: 'group', op: 'set', group: 'g', server: '', property, data, keyId: 1, timestamp: n });
    expect(c.handle(10 as Instant, ADMIN_SRC, cmd('policy', 'counter', 1), true).applied).toMatchObject({ target: 'g', property: 'policy', from: 'round-robin', to: 'counter' });
    expect(c.handle(10 as Instant, ADMIN_SRC, cmd('weighted', '1', 2), true).applied).toMatchObject({ property: 'weighted', from: 'false', to: 'true' });
  });

  it('refuses read-only properties, unknown groups and properties, and a server name', () => {
    const b = new Bench();
    for (const p of ['servers', 'vip', 'port']) expect(b.set(ADMIN, 'group', 'web', p, '1').status, p).toBe('forbidden');
    expect(b.get(ADMIN, 'group', 'mail', 'policy')).toEqual({ status: 'no-such-group', data: 'no group "mail"' });
    expect(b.get(ADMIN, 'group', 'web', 'colour').status).toBe('no-such-property');
    expect(b.get(ADMIN, 'group', 'web', '__proto__').status).toBe('no-such-property');
    expect(b.ask(ADMIN, { cls: 'group', op: 'get', group: 'web', server: 'rs1', property: 'policy' }).status).toBe('bad-message');
  });
});

describe('server properties', () => {
  it('reads state, weight, counter, heartbeat, links, addr; list gives them all', () => {
    const b = new Bench();
    expect(b.get(ADMIN, 'server', 'web/rs1', 'state')).toEqual(ok('alive'));
    expect(b.get(ADMIN, 'server', 'web/rs1', 'weight')).toEqual(ok('1'));
    expect(b.get(ADMIN, 'server', 'web/rs1', 'counter')).toEqual(ok('')); // none reported yet
    expect(b.get(ADMIN, 'server', 'web/rs1', 'heartbeat')).toEqual(ok(''));
    expect(b.get(ADMIN, 'server', 'web/rs1', 'links')).toEqual(ok('0'));
    expect(b.get(ADMIN, 'server', 'web/rs1', 'addr')).toEqual(ok('192.168.1.1'));
    expect(b.get(ADMIN, 'server', 'dns/rs2', 'addr')).toEqual(ok('192.168.1.2:5353'));
    expect(b.ask(ADMIN, { cls: 'server', op: 'list', group: 'web', server: 'rs2' })).toEqual(
      ok('state=alive\nheld=false\nweight=1\ncounter=\nheartbeat=\nheartbeat-at=\nlinks=0\naddr=192.168.1.2'),
    );
    expect(b.ask(ADMIN, { cls: 'server', op: 'list', group: 'web', server: 'rs2', property: 'state' }).status).toBe('bad-message');
  });

  it('sets state to any of alive, pending, dead', () => {
    const b = new Bench();
    for (const s of ['pending', 'dead', 'alive']) {
      expect(b.set(ADMIN, 'server', 'web/rs3', 'state', s)).toEqual(ok(s));
      expect(b.rig.node.balancers[G_WEB]!.state(2)).toBe(s);
    }
    expect(b.set(ADMIN, 'server', 'web/rs3', 'state', 'zombie')).toEqual({ status: 'bad-value', data: 'state must be one of alive, pending, dead, got "zombie"' });
  });

  it('sets weight in 0..1000', () => {
    const b = new Bench();
    expect(b.set(ADMIN, 'server', 'web/rs1', 'weight', '1000')).toEqual(ok('1000'));
    expect(b.set(ADMIN, 'server', 'web/rs1', 'weight', '1001')).toEqual({ status: 'bad-value', data: 'weight must be in 0..1000, got 1001' });
    expect(b.set(ADMIN, 'server', 'web/rs1', 'weight', '-1').status).toBe('bad-value');
    expect(b.set(ADMIN, 'server', 'web/rs1', 'weight', '2.5').status).toBe('bad-value');
    expect(b.set(ADMIN, 'server', 'web/rs1', 'weight', '').status).toBe('bad-value');
    expect(b.rig.node.balancers[G_WEB]!.weight(0)).toBe(1000);
  });

  it('sets counter (a number >= 0) into the balancer', () => {
    const b = new Bench();
    expect(b.set(ADMIN, 'server', 'web/rs1', 'counter', '17.5')).toEqual(ok('17.5'));
    expect(b.rig.node.balancers[G_WEB]!.counterValue(0)).toBe(17.5);
    for (const bad of ['-1', 'NaN', 'Infinity', '1e400', 'x']) expect(b.set(ADMIN, 'server', 'web/rs1', 'counter', bad).status, bad).toBe('bad-value');
    expect(b.get(ADMIN, 'server', 'web/rs1', 'counter')).toEqual(ok('17.5'));
  });

  it('stores the last heartbeat count and when it came (slide 41)', () => {
    const b = new Bench();
    b.at(3 * SEC);
    expect(b.set(RS1, 'server', 'web/rs1', 'heartbeat', '42', RS1_SRC)).toEqual(ok('42'));
    expect(b.target.heartbeat(G_WEB, 0)).toEqual({ count: 42, at: 3 * SEC });
    expect(b.get(RS1, 'server', 'web/rs1', 'heartbeat-at', RS1_SRC)).toEqual(ok(String(3 * SEC)));
    expect(b.set(RS1, 'server', 'web/rs1', 'heartbeat', '4294967296', RS1_SRC).status).toBe('bad-value');
    expect(b.set(RS1, 'server', 'web/rs1', 'heartbeat', '0', RS1_SRC)).toEqual(ok('0')); // a restarted server counts from 0
  });

  it('refuses read-only properties, unknown servers and properties', () => {
    const b = new Bench();
    for (const p of ['links', 'addr', 'heartbeat-at']) expect(b.set(ADMIN, 'server', 'web/rs1', p, '1').status, p).toBe('forbidden');
    expect(b.get(ADMIN, 'server', 'web/rs9', 'state')).toEqual({ status: 'no-such-server', data: 'group web has no server "rs9"' });
    expect(b.get(ADMIN, 'server', 'mail/rs1', 'state').status).toBe('no-such-group');
    expect(b.get(ADMIN, 'server', 'web/rs1', 'colour').status).toBe('no-such-property');
    expect(b.get(ADMIN, 'server', 'web/rs1', 'constructor').status).toBe('no-such-property');
  });

  it('answers add and delete with not-supported (groups and servers are fixed by the config)', () => {
    const b = new Bench();
    expect(b.ask(ADMIN, { cls: 'server', op: 'add', group: 'web', server: 'rs4' }).status).toBe('not-supported');
    expect(b.ask(ADMIN, { cls: 'group', op: 'delete', group: 'web' }).status).toBe('not-supported');
  });
});

// ---- roles ----

describe('roles', () => {
  it('a server key on its own server: counter, heartbeat and a state request are fine, weight is not', () => {
    const b = new Bench();
    const own = { from: RS1_SRC };
    expect(b.set(RS1, 'server', 'web/rs1', 'counter', '5', own.from)).toEqual(ok('5'));
    expect(b.set(RS1, 'server', 'web/rs1', 'heartbeat', '1', own.from)).toEqual(ok('1'));
    expect(b.set(RS1, 'server', 'web/rs1', 'state', 'dead', own.from)).toEqual(ok('dead')); // draining itself
    expect(b.set(RS1, 'server', 'web/rs1', 'state', 'alive', own.from)).toEqual(ok('alive')); // back after recovery
    expect(b.set(RS1, 'server', 'web/rs1', 'weight', '0', own.from)).toEqual({ status: 'forbidden', data: 'only admin may set weight' });
    expect(b.rig.node.balancers[G_WEB]!.weight(0)).toBe(1);
    expect(b.get(RS1, 'server', 'web/rs1', 'weight', own.from)).toEqual(ok('1'));
    expect(b.ask(RS1, { cls: 'server', op: 'list', group: 'web', server: 'rs1' }, own).status).toBe('ok');
    expect(b.ask(RS1, { cls: 'server', op: 'add', group: 'web', server: 'rs1' }, own).status).toBe('forbidden');
  });

  it('a server key on another server, another group, the group or the cluster: forbidden, even for names that do not exist', () => {
    const b = new Bench();
    const before = b.snapshot();
    const forbidden = { status: 'forbidden', data: 'a server key may only name its own server web/rs1' };
    expect(b.set(RS1, 'server', 'web/rs2', 'counter', '5', RS1_SRC)).toEqual(forbidden);
    expect(b.set(RS1, 'server', 'web/rs2', 'weight', '0', RS1_SRC)).toEqual(forbidden);
    expect(b.set(RS1, 'server', 'dns/rs1', 'counter', '5', RS1_SRC)).toEqual(forbidden); // same host, other group
    expect(b.get(RS1, 'server', 'web/rs2', 'state', RS1_SRC)).toEqual(forbidden);
    expect(b.get(RS1, 'group', 'web', 'policy', RS1_SRC)).toEqual(forbidden);
    expect(b.set(RS1, 'group', 'dns', 'read-only', 'true', RS1_SRC)).toEqual(forbidden); // not its own group
    expect(b.set(RS1, 'cluster', '', 'read-only', 'true', RS1_SRC)).toEqual(forbidden);
    expect(b.get(RS1, 'cluster', '', 'links', RS1_SRC)).toEqual(forbidden);
    expect(b.get(RS1, 'server', 'mail/rs9', 'state', RS1_SRC)).toEqual(forbidden); // no group oracle
    expect(b.snapshot()).toBe(before);
    expect(b.ctld.counters.status.forbidden).toBe(9);
  });

  it('a recovering server sets and clears its own group\'s read-only (slide 45)', () => {
    const b = new Bench();
    expect(b.set(RS1, 'group', 'web', 'read-only', 'true', RS1_SRC)).toEqual(ok('true'));
    expect(b.get(ADMIN, 'group', 'web', 'read-only')).toEqual(ok('true'));
    expect(b.set(RS1, 'group', 'web', 'read-only', 'false', RS1_SRC)).toEqual(ok('false'));
    expect(b.get(RS1, 'group', 'web', 'read-only', RS1_SRC)).toEqual(ok('false'));
  });

  it('admin may do everything', () => {
    const b = new Bench();
    expect(b.set(ADMIN, 'server', 'web/rs2', 'weight', '3').status).toBe('ok');
    expect(b.set(ADMIN, 'server', 'web/rs2', 'counter', '3').status).toBe('ok');
    expect(b.set(ADMIN, 'server', 'web/rs2', 'heartbeat', '3').status).toBe('ok');
    expect(b.set(ADMIN, 'server', 'web/rs2', 'state', 'pending').status).toBe('ok');
    expect(b.set(ADMIN, 'group', 'web', 'read-only', 'true').status).toBe('ok');
    expect(b.set(ADMIN, 'cluster', '', 'read-only', 'true').status).toBe('ok');
  });

  it('traces each command as a decision, with the change it applied', () => {
    const b = new Bench();
    const s = b.send(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs2', property: 'weight', data: '0' });
    expect(s.out.applied).toEqual({ cls: 'server', target: 'web/rs2', property: 'weight', from: '1', to: '0', keyId: 1, by: 'admin' });
    expect(s.out.trace).toEqual({
      kind: 'decision',
      what: 'ctl',
      detail: { status: 'ok', reply: true, applied: true, src: '140.116.72.10:40000', key: 1, id: s.command.id, op: 'set', cls: 'server', target: 'web/rs2', property: 'weight', role: 'admin', value: '0', from: '1', to: '0' },
    });
    const f = b.send(RS1, { cls: 'server', op: 'set', group: 'web', server: 'rs2', property: 'weight', data: '0' }, { from: RS1_SRC });
    expect(f.out.applied).toBeUndefined();
    expect(f.out.trace).toMatchObject({ kind: 'decision', what: 'ctl', detail: { status: 'forbidden', reply: true, applied: false, role: 'server' } });
    expect(b.ctld.counters.applied).toBe(1);
    // The caller emits it with its time and node.
    b.rig.trace.emit({ ...s.out.trace, t: b.now, node: 'sg1' });
    expect(b.rig.trace.ofKind('decision').filter((e) => e.what === 'ctl')).toHaveLength(1);
  });
});

// ---- authentication, time, replay ----

describe('authentication', () => {
  it('an unknown key id or a bad MAC gets no answer at all, and nothing is applied', () => {
    const b = new Bench();
    const before = b.snapshot();
    const forged = b.send(FORGED, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: '0' }, { from: EVIL_SRC });
    const unknown = b.send(UNKNOWN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: '0' }, { from: EVIL_SRC });
    for (const s of [forged, unknown]) {
      expect(s.out.status).toBe('unauthenticated');
      expect(s.out.reply).toBeUndefined();
      expect(s.out.replyBytes).toBeUndefined();
      expect(s.out.applied).toBeUndefined();
      expect(s.out.trace).toMatchObject({ kind: 'decision', what: 'ctl', detail: { status: 'unauthenticated', reply: false, applied: false } });
    }
    // The two look the same from outside: silence. The trace tells them apart only by key id.
    const { key: _a, id: _i, ...f } = forged.out.trace.kind === 'decision' ? forged.out.trace.detail : {};
    const { key: _b, id: _j, ...u } = unknown.out.trace.kind === 'decision' ? unknown.out.trace.detail : {};
    expect(f).toEqual(u);
    expect(b.snapshot()).toBe(before);
    expect(b.ctld.counters.status.unauthenticated).toBe(2);
    expect(b.ctld.counters.replies).toBe(0);
  });

  it('a message changed in flight fails its MAC', () => {
    const b = new Bench();
    const { bytes, command } = b.session(ADMIN).command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: '5' }, b.now);
    const tampered = bytes.slice();
    tampered[tampered.indexOf('5'.charCodeAt(0), 20)] = '0'.charCodeAt(0);
    expect(b.deliver(ADMIN, tampered, command).out.status).toBe('unauthenticated');
    expect(b.rig.node.balancers[G_WEB]!.weight(0)).toBe(1);
  });

  it('bytes that do not parse, and results sent to the node, are dropped unanswered', () => {
    const b = new Bench();
    for (const bytes of [new Uint8Array(0), new Uint8Array([0x53, 0x47, 1, 1]), new TextEncoder().encode('set server web/rs1 weight 0')]) {
      const out = b.ctld.handleBytes(b.now, EVIL_SRC, bytes);
      expect(out.status).toBe('bad-message');
      expect(out.replyBytes).toBeUndefined();
      expect(out.trace).toMatchObject({ kind: 'drop', layer: 'feedback' });
    }
    const result = encodeResult({ kind: 'result', id: 1, status: 'ok', data: '', keyId: 1, timestamp: b.now }, ADMIN.secret);
    const out = b.ctld.handleBytes(b.now, EVIL_SRC, result);
    expect(out).toMatchObject({ status: 'bad-message', trace: { kind: 'drop', layer: 'feedback', reason: 'unsupported' } });
    expect(out.replyBytes).toBeUndefined();
    expect(b.ctld.counters.status['bad-message']).toBe(4);
  });

  it('the value-level entry point trusts only a verified command with a key in the table', () => {
    const b = new Bench();
    const cmd: CtlCommand = { kind: 'command', id: 7, handle: 0, cls: 'cluster', op: 'get', group: '', server: '', property: 'links', data: '', keyId: 1, timestamp: 0 };
    expect(b.ctld.handle(b.now, ADMIN_SRC, cmd, false).status).toBe('unauthenticated');
    expect(b.ctld.handle(b.now, ADMIN_SRC, { ...cmd, keyId: 99 }, true).status).toBe('unauthenticated');
    expect(b.ctld.handle(b.now, ADMIN_SRC, undefined, false)).toMatchObject({ status: 'bad-message', trace: { kind: 'drop' } });
    const good = b.ctld.handle(b.now, ADMIN_SRC, cmd, true);
    expect(good.reply).toEqual({ result: { kind: 'result', id: 7, status: 'ok', data: '0', keyId: 1, timestamp: 0 }, key: ADMIN });
    expect(b.ctld.keyFor(1)).toBe(ADMIN);
  });
});

describe('time window and replays', () => {
  const get = { cls: 'cluster', op: 'get', property: 'links' } as const;

  it('accepts timestamps within ±30 s of the node clock and calls the rest stale', () => {
    const b = new Bench();
    b.at(100 * SEC);
    expect(b.ask(ADMIN, get, { skew: -30 * SEC }).status).toBe('ok');
    expect(b.ask(ADMIN, get, { skew: 30 * SEC }).status).toBe('ok');
    const early = b.ask(RS1, { cls: 'server', op: 'get', group: 'web', server: 'rs1', property: 'state' }, { skew: -30 * SEC - 1, from: RS1_SRC });
    expect(early).toEqual({ status: 'stale', data: `timestamp ${70 * SEC - 1} outside ${100 * SEC} ± ${30 * SEC} µs (node clock)` });
    expect(b.ask(RS2, { cls: 'server', op: 'get', group: 'web', server: 'rs2', property: 'state' }, { skew: 30 * SEC + 1 }).status).toBe('stale');
  });

  it('rejects the same (key, timestamp) twice, from any address, and applies it once', () => {
    const b = new Bench();
    b.at(SEC);
    const first = b.send(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'counter', data: '9' });
    expect(first.result?.status).toBe('ok');
    b.at(2 * SEC);
    b.set(ADMIN, 'server', 'web/rs1', 'counter', '1');
    b.at(3 * SEC);
    const again = b.deliver(ADMIN, first.bytes, first.command, EVIL_SRC);
    expect(again.result).toMatchObject({ status: 'replay', data: `timestamp ${SEC} already seen for key 1` });
    expect(again.out.applied).toBeUndefined();
    expect(b.rig.node.balancers[G_WEB]!.counterValue(0)).toBe(1);
    // Once the window has passed, the same bytes are stale (and the cache has let the entry go).
    b.at(SEC + 30 * SEC + 1);
    expect(b.deliver(ADMIN, first.bytes, first.command, EVIL_SRC).result?.status).toBe('stale');
  });

  it('remembers timestamps that arrive out of order (several senders share a key) until each ages out', () => {
    const b = new Bench();
    b.at(100 * SEC);
    const cmd = (ts: number): CtlCommand => ({ kind: 'command', id: ts, handle: 0, cls: 'cluster', op: 'get', group: '', server: '', property: 'links', data: '', keyId: 1, timestamp: ts * SEC });
    const status = (ts: number) => b.ctld.handle(b.now, ADMIN_SRC, cmd(ts), true).status;
    expect([120, 80, 100, 90, 110, 75].map(status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect([75, 80, 90, 100, 110, 120].map(status)).toEqual(['replay', 'replay', 'replay', 'replay', 'replay', 'replay']);
    b.at(125 * SEC); // the window now starts at 95 s
    expect([75, 80, 90, 100, 110, 120].map(status)).toEqual(['stale', 'stale', 'stale', 'replay', 'replay', 'replay']);
  });

  it('reads timestamps against a separate message clock when given one (real mode: wall clock)', () => {
    const b = new Bench();
    const wall = 1_700_000_000 * SEC; // wall-clock µs; the node's Instant counts from process start
    const cmd = (ts: number, id: number): CtlCommand => ({ kind: 'command', id, handle: 0, cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: String(id), keyId: 1, timestamp: ts });
    b.at(5 * SEC);
    const r = b.ctld.handle(b.now, ADMIN_SRC, cmd(wall, 7), true, wall);
    expect(r.reply?.result).toMatchObject({ status: 'ok', timestamp: wall });
    expect(b.rig.node.balancers[G_WEB]!.weight(0)).toBe(7); // written at the node's time
    expect(b.ctld.handle(b.now, ADMIN_SRC, cmd(wall - 31 * SEC, 8), true, wall).status).toBe('stale');
    // The wall clock steps back 60 s: the window does not follow it back, so nothing reopens.
    b.at(6 * SEC);
    expect(b.ctld.handle(b.now, ADMIN_SRC, cmd(wall, 7), true, wall - 60 * SEC).status).toBe('replay');
    expect(b.ctld.handle(b.now, ADMIN_SRC, cmd(wall - 60 * SEC, 9), true, wall - 60 * SEC).status).toBe('stale');
  });

  it('rejects rather than forgets when a key fills its replay cache, and recovers as entries age out', () => {
    const b = new Bench({ replayCacheMax: 3 });
    b.at(SEC);
    const s = ['ok', 'ok', 'ok', 'rate-limited'].map(() => b.ask(ADMIN, get).status);
    expect(s).toEqual(['ok', 'ok', 'ok', 'rate-limited']);
    expect(b.ctld.counters.replayCacheFull).toBe(1);
    expect(b.ask(RS1, { cls: 'server', op: 'get', group: 'web', server: 'rs1', property: 'state' }, { from: RS1_SRC }).status).toBe('ok'); // per key
    b.at(SEC + 30 * SEC + 10);
    expect(b.ask(ADMIN, get).status).toBe('ok');
  });
});

// ---- rate limiting ----

describe('rate limiting per source address', () => {
  const rate = { perSecond: 10, burst: 5, rejectsPerSecond: 1, rejectBurst: 2 };
  const get = { cls: 'cluster', op: 'get', property: 'links' } as const;

  it('serves a burst, answers a few with rate-limited (signed), then drops silently', () => {
    const b = new Bench({ rate });
    const outs = Array.from({ length: 10 }, () => b.send(ADMIN, get));
    expect(outs.map((o) => o.result?.status ?? 'none')).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'rate-limited', 'rate-limited', 'none', 'none', 'none']);
    expect(outs[9]!.out).toMatchObject({ status: 'rate-limited', trace: { kind: 'drop', layer: 'ctl', reason: 'rate-limited' } });
    expect(b.ctld.counters).toMatchObject({ rateDropped: 3, replies: 7 });
    expect(b.ctld.counters.status['rate-limited']).toBe(5);
    // Another address is not affected; the first is served again after a while.
    expect(b.ask(RS1, { cls: 'server', op: 'get', group: 'web', server: 'rs1', property: 'state' }, { from: RS1_SRC }).status).toBe('ok');
    b.at(SEC);
    expect(b.ask(ADMIN, get).status).toBe('ok');
  });

  it('applies nothing over the limit', () => {
    const b = new Bench({ rate });
    for (let i = 0; i < 5; i++) b.ask(ADMIN, get);
    const s = b.send(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: '0' });
    expect(s.result?.status).toBe('rate-limited');
    expect(b.rig.node.balancers[G_WEB]!.weight(0)).toBe(1);
  });

  it('gives an unauthenticated flood no answer and stops reading it at the limit', () => {
    const b = new Bench({ rate });
    const outs = Array.from({ length: 20 }, () => b.send(FORGED, get, { from: EVIL_SRC }).out);
    expect(outs.every((o) => o.replyBytes === undefined)).toBe(true);
    expect(b.ctld.counters.status.unauthenticated).toBe(7); // 5 served + 2 over the limit were read
    expect(b.ctld.counters.rateDropped).toBe(13);
  });
});

// ---- key rotation ----

describe('key rotation', () => {
  it('moves from the old key to the new one without a rejected message', () => {
    const b = new Bench({ keys: [ADMIN] });
    const get = { cls: 'cluster', op: 'get', property: 'links' } as const;
    const statuses: string[] = [];
    const tick = () => b.at(b.now + 100_000);
    statuses.push(b.ask(ADMIN, get).status);
    tick();
    b.ctld.setKeys([ADMIN, ADMIN_NEW]); // 1. both valid
    statuses.push(b.ask(ADMIN, get).status); // a sender that has not switched yet
    tick();
    statuses.push(b.ask(ADMIN_NEW, get).status); // one that has
    tick();
    statuses.push(b.ask(ADMIN, get).status, b.ask(ADMIN_NEW, get).status);
    tick();
    b.ctld.setKeys([ADMIN_NEW]); // 2. everyone switched: retire the old id
    statuses.push(b.ask(ADMIN_NEW, get).status);
    expect(statuses).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(b.send(ADMIN, get).out.status).toBe('unauthenticated');
  });

  it('keeps a removed key replay-proof if it comes back within the window', () => {
    const b = new Bench();
    b.at(SEC);
    const first = b.send(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'counter', data: '9' });
    b.ctld.setKeys([RS1, RS2]);
    b.at(2 * SEC);
    expect(b.deliver(ADMIN, first.bytes, first.command).out.status).toBe('unauthenticated');
    b.ctld.setKeys([ADMIN, RS1, RS2]);
    expect(b.deliver(ADMIN, first.bytes, first.command).result?.status).toBe('replay');
  });

  it('refuses a bad key table (our config bug)', () => {
    const b = new Bench();
    expect(() => b.ctld.setKeys([ADMIN, { ...ADMIN_NEW, id: 1 }])).toThrow(/duplicate key id 1/);
    expect(() => b.ctld.setKeys([{ ...ADMIN, secret: new Uint8Array(8) }])).toThrow(/at least 16 bytes/);
    expect(() => b.ctld.setKeys([{ ...ADMIN, id: 70_000 }])).toThrow(/key id/);
  });
});

// ---- drain through the node ----

const { syn: SYN, ack: ACK } = TCP_FLAG;
const clientSyn = (sport: number) => tcpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport, dport: 80, flags: SYN });
const clientAck = (sport: number) => tcpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: CLIENT, dst: VIP, sport, dport: 80, flags: ACK });
const serverSynAck = (i: number, cport: number) => tcpFrame({ srcMac: SERVER_MACS[i]!, dstMac: SG_PRIV_MAC, src: SERVERS[i]!, dst: CLIENT, sport: 80, dport: cport, flags: SYN | ACK });

/** The server index a frame the node sent on the private side goes to. */
function serverOf(rig: Rig, frame: Uint8Array): number {
  return SERVERS.indexOf(ipv4Of(frame).ip.dst as (typeof SERVERS)[number]);
}

describe('drain (weight 0) through the node', () => {
  it('sends no new link to a drained server while its open links carry on', () => {
    const b = new Bench();
    // Open a link to each server (round robin: rs1, rs2, rs3).
    const open = [41_000, 41_001, 41_002].map((sport) => {
      const [tx] = b.rig.rx(PUB, clientSyn(sport));
      const i = serverOf(b.rig, tx!.frame);
      b.rig.rx(PRIV, serverSynAck(i, sport));
      return { sport, i };
    });
    expect(open.map((o) => o.i)).toEqual([0, 1, 2]);
    b.at(SEC);
    expect(b.set(ADMIN, 'server', 'web/rs2', 'weight', '0')).toEqual(ok('0'));
    expect(b.get(ADMIN, 'server', 'web/rs2', 'links')).toEqual(ok('1'));
    // New links: never rs2.
    const picks: number[] = [];
    for (let k = 0; k < 12; k++) {
      const [tx] = b.rig.rx(PUB, clientSyn(42_000 + k));
      picks.push(serverOf(b.rig, tx!.frame));
    }
    expect(picks).not.toContain(1);
    expect(new Set(picks)).toEqual(new Set([0, 2]));
    // The open link to rs2 still goes to rs2.
    const [tx] = b.rig.rx(PUB, clientAck(open[1]!.sport));
    expect(serverOf(b.rig, tx!.frame)).toBe(1);
    // Undrain: rs2 is picked again.
    expect(b.set(ADMIN, 'server', 'web/rs2', 'weight', '1').status).toBe('ok');
    const after = [0, 1, 2].map((k) => serverOf(b.rig, b.rig.rx(PUB, clientSyn(43_000 + k))[0]!.frame));
    expect(after).toContain(1);
  });

  it('a server asking to be dead (its own request) gets new links only if every server is dead', () => {
    const b = new Bench();
    expect(b.set(RS1, 'server', 'web/rs1', 'state', 'dead', RS1_SRC)).toEqual(ok('dead'));
    const picks = [0, 1, 2, 3].map((k) => serverOf(b.rig, b.rig.rx(PUB, clientSyn(44_000 + k))[0]!.frame));
    expect(picks).not.toContain(0);
  });
});

// ---- data size ----

describe('answers fit one datagram', () => {
  it('cuts a long listing at a line and says how many lines are left out', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `server-${String(i).padStart(4, '0')}`);
    const text = fitData(lines.join('\n'));
    expect(new TextEncoder().encode(text).length).toBeLessThanOrEqual(FEEDBACK_DATA_MAX);
    const out = text.split('\n');
    const kept = out.length - 1;
    expect(out.slice(0, kept)).toEqual(lines.slice(0, kept));
    expect(out[kept]).toBe(`+${300 - kept} more`);
    expect(fitData('short')).toBe('short');
  });
});

/** A target whose groups can change policy (as SgNode will once GroupBalancer supports it). */
class PolicyTarget implements CtlTarget {
  policy = 'round-robin';
  weighted = false;
  findGroup(name: string): number {
    return name === 'g' ? 0 : -1;
  }
  findServer(): number {
    return -1;
  }
  read(ref: PropRef): PropValue {
    if (ref.cls === 'group' && ref.property === 'policy') return this.policy;
    if (ref.cls === 'group' && ref.property === 'weighted') return this.weighted;
    return null;
  }
  write(w: PropWrite): WriteOutcome {
    if (w.cls === 'group' && w.property === 'policy') this.policy = w.value;
    else if (w.cls === 'group' && w.property === 'weighted') this.weighted = w.value;
    else return { ok: false, status: 'not-supported', message: 'no' };
    return { ok: true };
  }
}

// Keep the encoder import used: a command encoded by hand is accepted like the session's.
describe('the codec and the session agree', () => {
  it('accepts a command encoded directly', () => {
    const b = new Bench();
    const cmd: CtlCommand = { kind: 'command', id: 5, handle: 9, cls: 'cluster', op: 'get', group: '', server: '', property: 'links-max', data: '', keyId: 1, timestamp: b.now };
    const s = b.deliver(ADMIN, encodeCommand(cmd, ADMIN.secret), cmd);
    expect(s.result).toEqual({ kind: 'result', id: 5, status: 'ok', data: '1000', keyId: 1, timestamp: b.now });
  });
});

// ---- order: per (key, entity property) high-water marks ----

/** A command signed with `key` stamped exactly `ts` (a session of its own: sessions never go back). */
function signed(key: CtlKey, req: CtlRequest, ts: number) {
  return new CtlSession(key, (ts % 100_000) + 1).command(req, ts);
}

describe('commands applied in timestamp order per key and property', () => {
  /** Two signed sets of one key, stamped `t1` < `t2`, to be delivered in any order. */
  function pair(_b: Bench, key: CtlKey, req: (v: string) => CtlRequest, t1: number, t2: number) {
    return { older: signed(key, req('older'), t1), newer: signed(key, req('newer'), t2) };
  }
  const weight = (v: string): CtlRequest => ({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: v === 'older' ? '5' : '0' });

  it('two sets delivered in reverse order: the newer wins, the late older one is refused as superseded and counted', () => {
    const b = new Bench();
    b.at(10 * SEC);
    const { older, newer } = pair(b, ADMIN, weight, 8 * SEC, 9 * SEC);
    expect(b.deliver(ADMIN, newer.bytes, newer.command).result?.status).toBe('ok');
    const late = b.deliver(ADMIN, older.bytes, older.command);
    expect(late.result).toMatchObject({ status: 'superseded', data: `key 1 already set weight with a newer command (timestamp ${9 * SEC}); this one (${8 * SEC}) came late` });
    expect(late.out.applied).toBeUndefined();
    expect(late.out.trace).toMatchObject({ kind: 'decision', what: 'ctl', detail: { status: 'superseded', reply: true, applied: false } });
    expect(b.rig.node.balancers[G_WEB]!.weight(0)).toBe(0);
    expect(b.ctld.counters.status.superseded).toBe(1);
    // In order, both apply and the last one stays.
    const c = new Bench();
    c.at(10 * SEC);
    const p = pair(c, ADMIN, weight, 8 * SEC, 9 * SEC);
    expect(c.deliver(ADMIN, p.older.bytes, p.older.command).result?.status).toBe('ok');
    expect(c.deliver(ADMIN, p.newer.bytes, p.newer.command).result?.status).toBe('ok');
    expect(c.rig.node.balancers[G_WEB]!.weight(0)).toBe(0);
  });

  it("a server's counter reports reordered in flight: the newest report stays", () => {
    const b = new Bench();
    b.at(10 * SEC);
    const counter = (v: string): CtlRequest => ({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'counter', data: v === 'older' ? '0' : '90' });
    const { older, newer } = pair(b, RS1, counter, 9 * SEC, 9 * SEC + 1);
    expect(b.deliver(RS1, newer.bytes, newer.command, RS1_SRC).result?.status).toBe('ok');
    expect(b.deliver(RS1, older.bytes, older.command, RS1_SRC).result?.status).toBe('superseded');
    expect(b.rig.node.balancers[G_WEB]!.counterValue(0)).toBe(90);
  });

  it('refuses nothing unrelated: other properties, other servers, other keys, reads; a refused set moves no mark', () => {
    const b = new Bench({ keys: [ADMIN, ADMIN_NEW, RS1, RS2] });
    b.at(10 * SEC);
    const at = (key: CtlKey, ts: number, req: CtlRequest) => {
      const { bytes, command } = signed(key, req, ts);
      return b.deliver(key, bytes, command, key.role.kind === 'admin' ? ADMIN_SRC : RS1_SRC).result?.status;
    };
    const set = (server: string, property: string, data: string): CtlRequest => ({ cls: 'server', op: 'set', group: 'web', server, property, data });
    expect(at(ADMIN, 9 * SEC, set('rs1', 'weight', '3'))).toBe('ok');
    expect(at(ADMIN, 8 * SEC, set('rs1', 'counter', '4'))).toBe('ok'); // another property
    expect(at(ADMIN, 8 * SEC + 5, set('rs2', 'weight', '4'))).toBe('ok'); // another server
    expect(at(ADMIN_NEW, 8 * SEC, set('rs1', 'weight', '7'))).toBe('ok'); // another key: its own clock
    expect(at(ADMIN, 7 * SEC, { cls: 'server', op: 'get', group: 'web', server: 'rs1', property: 'weight' })).toBe('ok'); // a read
    expect(at(ADMIN, 9 * SEC + 1, set('rs3', 'weight', '2000'))).toBe('bad-value');
    expect(at(ADMIN, 9 * SEC - 5, set('rs3', 'weight', '2'))).toBe('ok'); // the bad-value one set no mark
    expect(at(ADMIN, 8 * SEC + 2, { cls: 'group', op: 'set', group: 'web', property: 'read-only', data: 'true' })).toBe('ok');
    expect(at(ADMIN, 8 * SEC + 3, { cls: 'group', op: 'set', group: 'dns', property: 'read-only', data: 'true' })).toBe('ok');
    expect(at(ADMIN, 8 * SEC + 1, { cls: 'group', op: 'set', group: 'web', property: 'read-only', data: 'false' })).toBe('superseded');
    expect(b.get(ADMIN, 'group', 'web', 'read-only')).toEqual(ok('true'));
    expect(b.ctld.counters.status.superseded).toBe(1);
  });

  it('keeps its marks bounded: marks older than the window are swept', () => {
    const b = new Bench({ replayCacheMax: 100_000 });
    const t = 100 * SEC;
    b.at(t);
    for (let i = 0; i < 2_000; i++) {
      const g = i % 2 === 0 ? 'web/rs1' : 'web/rs2';
      b.at(t + i * 100_000); // 10 per second: the window holds about 300 of them
      const { bytes, command } = b.session(ADMIN).command({ cls: 'server', op: 'set', ...names('server', g), property: 'weight', data: String(i % 1000) }, b.now);
      expect(b.deliver(ADMIN, bytes, command).result?.status).toBe('ok');
    }
    // A hidden table; its effect: an old command is stale (outside the window), never superseded by a forgotten mark.
    const { bytes, command } = signed(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'weight', data: '1' }, b.now - 31 * SEC);
    expect(b.deliver(ADMIN, bytes, command).result?.status).toBe('stale');
  });
});

// ---- admin hold ----

describe("an admin's decision on a server holds against the server's own requests", () => {
  it("a server key cannot undo an admin's dead (state alive, counter 0): no new link goes to it", () => {
    const b = new Bench();
    b.at(SEC);
    expect(b.set(ADMIN, 'server', 'web/rs1', 'state', 'dead')).toEqual(ok('dead'));
    expect(b.get(ADMIN, 'server', 'web/rs1', 'held')).toEqual(ok('true'));
    b.at(2 * SEC);
    const held = { status: 'forbidden', data: 'web/rs1 is held by an admin: its own state requests are refused until an admin sets state alive or held false' };
    expect(b.set(RS1, 'server', 'web/rs1', 'state', 'alive', RS1_SRC)).toEqual(held);
    expect(b.set(RS1, 'server', 'web/rs1', 'counter', '0', RS1_SRC).status).toBe('forbidden');
    expect(b.set(RS1, 'server', 'web/rs1', 'held', 'false', RS1_SRC)).toEqual({ status: 'forbidden', data: 'only admin may set held' });
    expect(b.set(RS1, 'server', 'web/rs1', 'heartbeat', '7', RS1_SRC)).toEqual(ok('7')); // recorded
    expect(b.rig.node.balancers[G_WEB]!.state(0)).toBe('dead');
    const picks = Array.from({ length: 300 }, (_, k) => serverOf(b.rig, b.rig.rx(PUB, clientSyn(45_000 + k))[0]!.frame));
    expect(picks.filter((i) => i === 0)).toHaveLength(0);
    // The admin lifts it: the server's own requests count again.
    b.at(3 * SEC);
    expect(b.set(ADMIN, 'server', 'web/rs1', 'state', 'alive')).toEqual(ok('alive'));
    expect(b.get(ADMIN, 'server', 'web/rs1', 'held')).toEqual(ok('false'));
    expect(b.set(RS1, 'server', 'web/rs1', 'state', 'dead', RS1_SRC)).toEqual(ok('dead')); // draining itself is fine
    expect(b.get(ADMIN, 'server', 'web/rs1', 'held')).toEqual(ok('false')); // its own request holds nothing
    expect(b.set(RS1, 'server', 'web/rs1', 'state', 'alive', RS1_SRC)).toEqual(ok('alive'));
    const after = Array.from({ length: 30 }, (_, k) => serverOf(b.rig, b.rig.rx(PUB, clientSyn(46_000 + k))[0]!.frame));
    expect(after).toContain(0);
  });

  it("an admin's counter holds too, held false lifts it, and held true freezes a server as it is", () => {
    const b = new Bench();
    b.at(SEC);
    expect(b.set(ADMIN, 'server', 'web/rs2', 'counter', '1000')).toEqual(ok('1000'));
    b.at(2 * SEC);
    expect(b.set(RS2, 'server', 'web/rs2', 'counter', '0', RS1_SRC).status).toBe('forbidden');
    expect(b.rig.node.balancers[G_WEB]!.counterValue(1)).toBe(1000);
    expect(b.set(ADMIN, 'server', 'web/rs2', 'held', 'false')).toEqual(ok('false'));
    expect(b.set(RS2, 'server', 'web/rs2', 'counter', '0', RS1_SRC)).toEqual(ok('0'));
    expect(b.set(ADMIN, 'server', 'web/rs2', 'held', 'true')).toEqual(ok('true'));
    expect(b.set(RS2, 'server', 'web/rs2', 'state', 'dead', RS1_SRC).status).toBe('forbidden');
    expect(b.rig.node.balancers[G_WEB]!.state(1)).toBe('alive');
  });

  it("an older 'held false' arriving after a newer dead does not lift the hold", () => {
    const b = new Bench();
    b.at(10 * SEC);
    const lift = signed(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'held', data: 'false' }, 8 * SEC);
    const dead = signed(ADMIN, { cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'state', data: 'dead' }, 9 * SEC);
    expect(b.deliver(ADMIN, dead.bytes, dead.command).result?.status).toBe('ok');
    expect(b.deliver(ADMIN, lift.bytes, lift.command).result?.status).toBe('superseded');
    expect(b.target.held(G_WEB, 0)).toBe(true);
  });

  it("a held server's own heartbeats do not revive it through the health monitor; the admin's alive does", () => {
    const rig = new Rig(config({ health: [{ keyports: [80], heartbeat: { H: seconds(1) }, rise: 1, slowStart: 0 as Duration }, undefined, undefined] }));
    const target = new SgNodeTarget(rig.node);
    const ctld = new Ctld({ keys: [ADMIN, RS1], target });
    const sessions = new Map<CtlKey, CtlSession>([[ADMIN, new CtlSession(ADMIN)], [RS1, new CtlSession(RS1)]]);
    const set = (key: CtlKey, property: string, data: string) =>
      ctld.handle(rig.now, ADMIN_SRC, sessions.get(key)!.command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property, data }, rig.now).command, true).status;
    rig.advance(SEC);
    expect(set(RS1, 'heartbeat', '1')).toBe('ok');
    expect(set(ADMIN, 'state', 'dead')).toBe('ok');
    for (let k = 2; k < 6; k++) {
      rig.advance(rig.now + 200_000);
      expect(set(RS1, 'heartbeat', String(k))).toBe('ok');
    }
    expect(rig.node.balancers[G_WEB]!.state(0)).toBe('dead');
    expect(target.heartbeat(G_WEB, 0)?.count).toBe(5);
    expect(set(ADMIN, 'state', 'alive')).toBe('ok');
    rig.advance(rig.now + 200_000);
    expect(set(RS1, 'heartbeat', '6')).toBe('ok');
    expect(rig.node.balancers[G_WEB]!.state(0)).toBe('alive');
  });
});
