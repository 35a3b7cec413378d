/**
 * Feedback-protocol messages sent from simulated hosts during a run (a scenario's `control:`):
 * each is signed with its key at the sender's clock (plus any skew), sent over UDP to the node,
 * and its answer is checked and traced as a `decision` event `ctl-reply` on the sender. A replay
 * resends the exact bytes of an earlier message.
 */

import { CtlSession, readResult } from '../src/ctl/client.ts';
import type { ControlModel, Scenario } from '../src/scenario/load.ts';
import type { Duration, Instant } from '../src/time.ts';
import type { Ipv4Addr } from '../src/wire/addr.ts';
import type { Network } from './network.ts';

/** Replies a sender waits for (per message) before giving up silently. */
export const CONTROL_REPLY_TIMEOUT_US = 2_000_000;

/** The node a control message (or the message it replays) is addressed to. */
function nodeOf(sc: Scenario, index: number): Ipv4Addr {
  let c = sc.control[index];
  for (let hops = 0; c !== undefined && c.kind === 'replay' && hops < sc.control.length; hops++) c = sc.control[c.of];
  return c !== undefined && c.kind === 'send' ? c.node : (0 as Ipv4Addr);
}

export function scheduleControl(net: Network, sc: Scenario): void {
  const port = sc.cluster?.controlPort ?? 5890;
  const sessions = new Map<string, CtlSession>();
  const firstBytes = new Map<number, Uint8Array>();
  sc.control.forEach((c, index) => {
    const host = net.getHost(c.from).host;
    const world = net.world;
    const send = (bytes: Uint8Array, check?: { id: number; model: Extract<ControlModel, { kind: 'send' }> }): void => {
      if (!host.up) return;
      const sock = host.udpBind(0, {
        onMessage: (payload) => {
          sock.close();
          if (check === undefined) {
            world.emit({ kind: 'decision', t: world.now, node: host.name, what: 'ctl-reply', detail: { index, verified: false, bytes: payload.length } });
            return;
          }
          const r = readResult(payload, check.model.key, check.id);
          world.emit({
            kind: 'decision',
            t: world.now,
            node: host.name,
            what: 'ctl-reply',
            detail: r.ok ? { index, status: r.result.status, data: r.result.data.slice(0, 200) } : { index, status: 'unverified', reason: r.reason },
          });
        },
      });
      sock.sendTo(nodeOf(sc, index), port, bytes);
      host.timer(CONTROL_REPLY_TIMEOUT_US as Duration, () => sock.close());
    };
    if (c.kind === 'replay') {
      world.at(c.at as number as Instant, () => {
        const bytes = firstBytes.get(c.of);
        if (bytes !== undefined) send(bytes);
      });
      return;
    }
    const sessionKey = `${c.from}/${c.keyName}/${c.key.id}`;
    let session = sessions.get(sessionKey);
    if (session === undefined) sessions.set(sessionKey, (session = new CtlSession(c.key)));
    const fire = (): void => {
      const { bytes, command } = session.command(c.request, host.now() + c.skew);
      if (!firstBytes.has(index)) firstBytes.set(index, bytes);
      send(bytes, { id: command.id, model: c });
      if (c.every !== undefined) {
        const next = world.now + c.every;
        if (c.until === undefined || next <= c.until) world.at(next as Instant, fire);
      }
    };
    world.at(c.at as number as Instant, fire);
  });
}
