/**
 * A scenario's `control:` timeline and its `counter:` faults in the lab (`sg run --real`): one
 * sender per host (`sg lab control SPEC`, run in that host's namespace), sending the feedback
 * protocol over UDP exactly as `sg cmd` / `sg hb` do (CtlSession, wall-clock µs timestamps), at
 * the scenario's times since the lab's t0 (CLOCK_MONOTONIC, the daemons' clock). Each answer is
 * checked and written as a `decision` event `ctl-reply` on the sender, as the simulator does
 * (sim/control.ts). A replay resends the exact bytes of an earlier message: its sender reports
 * them (`{"kind":"ctl-sent"}`) and `sg run --real` passes them on to the replaying sender's stdin.
 *
 * A `counter:` fault (the simulator sets the engines' counter directly) is sent as `set server
 * G/S counter V` from the server's own host to every SG node, signed with an admin key or the
 * server's key from cluster.keys; a scenario with a counter fault and no such key is an error.
 *
 * A `server-state:` fault (the simulator calls every running engine's setServerState directly,
 * sim/network.ts, holding nothing) is sent the same way as `set server G/S state X`, signed with
 * the server's own key first: ctld then makes that same call (SgNodeTarget.write) and holds
 * nothing, the identical effect, except that it is 'forbidden' while an admin holds the server.
 * With only an admin key the state is the same, but an admin's dead or pending also holds the
 * server (its own state and counter requests forbidden, its heartbeats not taken as recoveries)
 * and an admin's alive lifts a hold. No such key is an error, as for counter faults.
 */

import { createSocket, type Socket } from 'node:dgram';
import { CtlSession, readResult, type CtlRequest } from '../ctl/client.ts';
import type { CtlKey } from '../ctl/types.ts';
import type { Scenario } from '../scenario/load.ts';
import { formatDuration, type Instant } from '../time.ts';
import type { DecisionDetail, TraceEventInput } from '../trace.ts';
import { formatIpv4 } from '../wire/addr.ts';
import { monotonicUs } from './engine-worker.ts';

/** How long a sender waits for an answer (the simulator's CONTROL_REPLY_TIMEOUT_US). */
const REPLY_TIMEOUT_MS = 2000;

export type SenderEntry =
  | {
      readonly kind: 'send';
      /** control[index], or the counter or server-state fault `fault` (faults[fault]). */
      readonly index?: number;
      readonly fault?: number;
      readonly at: number;
      readonly node: string;
      readonly port: number;
      readonly key: { readonly id: number; readonly secret: string; readonly role: CtlKey['role'] };
      readonly session: string;
      readonly request: CtlRequest;
      readonly every?: number;
      readonly until?: number;
      readonly skew: number;
      /** Report the bytes sent (another sender replays them). */
      readonly report: boolean;
    }
  | { readonly kind: 'replay'; readonly index: number; readonly at: number; readonly of: number; readonly node: string; readonly port: number };

export interface SenderSpec {
  readonly host: string;
  readonly end: number;
  readonly entries: readonly SenderEntry[];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The senders of a scenario's control timeline, counter and server-state faults, one per host; throws on such a fault without a key. */
export function controlSenders(sc: Scenario): SenderSpec[] {
  const port = sc.cluster?.controlPort ?? 5890;
  const by = new Map<string, SenderEntry[]>();
  const add = (host: string, e: SenderEntry) => by.set(host, [...(by.get(host) ?? []), e]);
  const replayed = new Set(sc.control.flatMap((c) => (c.kind === 'replay' ? [c.of] : [])));
  const nodeOf = (i: number): number => {
    let c = sc.control[i];
    for (let hops = 0; c !== undefined && c.kind === 'replay' && hops < sc.control.length; hops++) c = sc.control[c.of];
    return c !== undefined && c.kind === 'send' ? c.node : 0;
  };
  sc.control.forEach((c, index) => {
    if (c.kind === 'replay') {
      add(c.from, { kind: 'replay', index, at: c.at, of: c.of, node: formatIpv4(nodeOf(index) as never), port });
      return;
    }
    add(c.from, {
      kind: 'send', index, at: c.at, node: formatIpv4(c.node), port, key: { id: c.key.id, secret: hex(c.key.secret), role: c.key.role },
      session: `${c.keyName}/${c.key.id}`, request: c.request, ...(c.every !== undefined ? { every: c.every } : {}), ...(c.until !== undefined ? { until: c.until } : {}), skew: c.skew, report: replayed.has(index),
    });
  });
  sc.faults.forEach((f, fault) => {
    const a = f.action;
    if (a.kind !== 'counter' && a.kind !== 'server-state') return;
    const keys = sc.cluster?.keys ?? [];
    const admin = keys.find((x) => x.key.role.kind === 'admin');
    const own = keys.find((x) => x.key.role.kind === 'server' && x.key.role.group === a.group && x.key.role.server === a.server);
    // server-state: the server's own key first (no hold, as the simulator's fault; see the header).
    const k = a.kind === 'counter' ? admin ?? own : own ?? admin;
    const host = sc.cluster?.groups.find((g) => g.name === a.group)?.servers.find((s) => s.host === a.server)?.host;
    if (k === undefined || host === undefined) throw new Error(`faults[${fault}]: ${a.kind} ${a.group}/${a.server} is sent as a feedback command in real mode and needs ${host === undefined ? `a server ${a.server} in group ${a.group}` : a.kind === 'counter' ? `a key in cluster.keys with role admin or { group: ${a.group}, server: ${a.server} }` : `a key in cluster.keys with role { group: ${a.group}, server: ${a.server} } (or admin, which also holds the server)`}`);
    const h = sc.hosts.find((x) => x.name === host);
    for (const n of sc.cluster?.nodes ?? []) {
      const onPrivate = h?.ifaces.some((i) => i.segment === n.privateSegment) ?? false;
      add(host, {
        kind: 'send', fault, at: f.at, node: formatIpv4(onPrivate ? n.privateAddr : n.publicAddr), port, key: { id: k.key.id, secret: hex(k.key.secret), role: k.key.role },
        session: `${k.name}/${k.key.id}`, request: { cls: 'server', op: 'set', group: a.group, server: a.server, ...(a.kind === 'counter' ? { property: 'counter', data: String(a.value) } : { property: 'state', data: a.state }) }, skew: 0, report: false,
      });
    }
  });
  return [...by].map(([host, entries]) => ({ host, end: sc.duration, entries }));
}

/**
 * Why faults[fault] (counter or server-state) is not sent in the lab, or undefined: a crash of
 * the server's host at or before its time kills the host's sender, which a restart does not bring
 * back (the simulator sets the engines all the same).
 */
export function feedbackFaultUnsent(sc: Scenario, fault: number): string | undefined {
  const f = sc.faults[fault];
  const a = f?.action;
  if (a === undefined || (a.kind !== 'counter' && a.kind !== 'server-state')) return undefined;
  const host = sc.cluster?.groups.find((g) => g.name === a.group)?.servers.find((s) => s.host === a.server)?.host;
  const crash = sc.faults.find((c) => c.action.kind === 'crash' && c.action.host === host && c.at <= f!.at);
  return crash === undefined ? undefined : `not sent: the crash of ${host} at ${formatDuration(crash.at)} killed the sender on that host`;
}

/**
 * Run one host's sender (`sg lab control`): `emit` gets each JSON line for stdout; `replayBytes`
 * resolves with the bytes of control[of] once its sender has reported them.
 */
export async function runSender(spec: SenderSpec, t0: number, emit: (line: string) => void, replayBytes: (of: number) => Promise<Uint8Array | undefined>): Promise<void> {
  const now = () => monotonicUs() - t0;
  // setTimeout alone fired up to 1.7 ms early against CLOCK_MONOTONIC (ms rounding, a stale loop
  // clock): a heartbeat due at 6 s reached its node at 5.999993 s. Wait again until it is time.
  const sleepUntil = async (tUs: number): Promise<void> => {
    while (now() < tUs) await new Promise<void>((res) => setTimeout(res, Math.max(1, (tUs - now()) / 1000)));
  };
  const sessions = new Map<string, CtlSession>();
  const pending = new Set<Promise<void>>();
  const reply = (t: number, detail: DecisionDetail<'ctl-reply'>): string => JSON.stringify({ kind: 'decision', t: t as Instant, node: spec.host, what: 'ctl-reply', detail } satisfies TraceEventInput);
  const send = (bytes: Uint8Array, node: string, port: number, detail: { readonly index?: number; readonly fault?: number }, check?: { key: CtlKey; id: number }): void => {
    const sock: Socket = createSocket('udp4');
    const p = new Promise<void>((res) => {
      const timer = setTimeout(() => {
        sock.close();
        res();
      }, REPLY_TIMEOUT_MS);
      sock.on('message', (payload) => {
        clearTimeout(timer);
        sock.close();
        const t = now();
        if (check === undefined) emit(reply(t, { ...detail, verified: false, bytes: payload.length }));
        else {
          const r = readResult(new Uint8Array(payload), check.key, check.id);
          emit(reply(t, r.ok ? { ...detail, status: r.result.status, data: r.result.data.slice(0, 200) } : { ...detail, status: 'unverified', reason: r.reason }));
        }
        res();
      });
      sock.on('error', () => {
        clearTimeout(timer);
        sock.close();
        res();
      });
      sock.send(bytes, port, node);
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  // Every firing, in time order across entries.
  type Firing = { at: number; entry: SenderEntry };
  const queue: Firing[] = spec.entries.map((entry) => ({ at: entry.at, entry }));
  const reported = new Set<number>();
  while (queue.length > 0) {
    queue.sort((a, b) => a.at - b.at);
    const f = queue.shift()!;
    if (f.at > spec.end) break;
    await sleepUntil(f.at);
    const e = f.entry;
    if (e.kind === 'replay') {
      const bytes = await replayBytes(e.of);
      if (bytes !== undefined) send(bytes, e.node, e.port, { index: e.index });
      continue;
    }
    const key: CtlKey = { id: e.key.id, secret: new Uint8Array(Buffer.from(e.key.secret, 'hex')), role: e.key.role };
    let session = sessions.get(e.session);
    if (session === undefined) sessions.set(e.session, (session = new CtlSession(key)));
    const { bytes, command } = session.command(e.request, Date.now() * 1000 + e.skew);
    if (e.report && e.index !== undefined && !reported.has(e.index)) {
      reported.add(e.index);
      emit(JSON.stringify({ kind: 'ctl-sent', index: e.index, hex: hex(bytes) }));
    }
    send(bytes, e.node, e.port, e.index !== undefined ? { index: e.index } : e.fault !== undefined ? { fault: e.fault } : {}, { key, id: command.id });
    if (e.every !== undefined) {
      const next = f.at + e.every;
      if (e.until === undefined || next <= e.until) queue.push({ at: next, entry: e });
    }
  }
  await Promise.all(pending);
}

/** `sg lab control SPEC-JSON`: say 'ready', take t0 from stdin's first line, then replayed bytes from later lines. */
export async function senderMain(json: string, out: (line: string) => void): Promise<string | undefined> {
  let spec: SenderSpec;
  try {
    spec = JSON.parse(json) as SenderSpec;
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (typeof spec !== 'object' || spec === null || typeof spec.host !== 'string' || !Array.isArray(spec.entries) || typeof spec.end !== 'number') return 'the spec is { host, end, entries: [...] }';
  const bytes = new Map<number, Uint8Array>();
  const waiters = new Map<number, (b: Uint8Array) => void>();
  let t0Resolve!: (t: number | undefined) => void;
  const t0p = new Promise<number | undefined>((r) => (t0Resolve = r));
  let buf = '';
  let gotT0 = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) {
      if (!gotT0) {
        gotT0 = true;
        const t0 = Number(p);
        t0Resolve(Number.isSafeInteger(t0) ? t0 : undefined);
        continue;
      }
      const m = JSON.parse(p) as { index: number; hex: string };
      const b = new Uint8Array(Buffer.from(m.hex, 'hex'));
      bytes.set(m.index, b);
      waiters.get(m.index)?.(b);
    }
  });
  process.stdin.on('end', () => t0Resolve(undefined));
  out('ready');
  const t0 = await t0p;
  if (t0 === undefined) return 'no t0 (microseconds) on stdin';
  // A replay whose bytes never came (its sender's host was down): not sent, as in the simulator.
  const replayBytes = (of: number) =>
    bytes.has(of) ? Promise.resolve(bytes.get(of)) : new Promise<Uint8Array | undefined>((res) => {
      const timer = setTimeout(() => res(undefined), REPLY_TIMEOUT_MS);
      waiters.set(of, (b) => {
        clearTimeout(timer);
        res(b);
      });
    });
  await runSender(spec, t0, out, replayBytes);
  process.stdin.destroy();
  return undefined;
}
