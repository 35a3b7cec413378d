/**
 * An admin's hold on a server survives a failover: the master streams it with the server's state
 * (sync server records carry a held flag), so on the new master the server's own key still may
 * not undo the admin's dead, and an admin can lift it there.
 */
import { describe, expect, it } from 'vitest';
import { CtlSession } from '../../src/ctl/client.ts';
import type { CtlKey } from '../../src/ctl/types.ts';
import { seconds, type Instant } from '../../src/time.ts';
import { GroupRig, member } from './group.ts';

const ADMIN: CtlKey = { id: 1, secret: new Uint8Array(16).fill(0xa1), role: { kind: 'admin' } };
const RS1: CtlKey = { id: 11, secret: new Uint8Array(16).fill(0x11), role: { kind: 'server', group: 'web', server: 'rs1' } };
const SOURCE = { addr: 0x8c744876, port: 40_000 };
const s = (x: number) => seconds(x) as number;

describe('an admin hold across a failover', () => {
  it('the new master keeps the hold: the server key is refused until an admin lifts it', () => {
    const g = new GroupRig([1, 2].map((id) => ({ ...member(id, 300 - id * 100), ctl: { port: 5890, keys: [ADMIN, RS1] } })));
    g.start(0);
    g.start(1);
    g.run(s(2));
    const sessions = new Map<CtlKey, CtlSession>([[ADMIN, new CtlSession(ADMIN)], [RS1, new CtlSession(RS1)]]);
    const send = (i: number, key: CtlKey, data: string) =>
      g.node(i).ctld!.handleBytes(g.now as Instant, SOURCE, sessions.get(key)!.command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'state', data }, g.now).bytes).status;
    expect(send(0, ADMIN, 'dead')).toBe('ok');
    g.run(s(2.1));
    const sg2 = g.node(1);
    expect(sg2.ctlTarget!.held(0, 0)).toBe(true);
    expect(sg2.balancers[0]!.state(0)).toBe('dead');
    g.crash(0);
    g.run(s(3));
    expect(sg2.bidd!.state).toBe('master');
    // The server's own key cannot revive itself on the new master; an admin can.
    expect(send(1, RS1, 'alive')).toBe('forbidden');
    expect(sg2.balancers[0]!.state(0)).toBe('dead');
    expect(send(1, ADMIN, 'alive')).toBe('ok');
    expect(sg2.ctlTarget!.held(0, 0)).toBe(false);
    expect(sg2.balancers[0]!.state(0)).toBe('alive');
  });
});
