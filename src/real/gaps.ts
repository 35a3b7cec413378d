/**
 * What of a scenario `sg run --real` does not run in the lab: one line per kind of element, naming
 * where it is. `runReal` prints them at the start and returns them with the results (`notRun`),
 * and `sg run --real` prints them beside the results: nothing is skipped silently.
 */

import type { FaultKind } from '../scenario/faults.ts';
import type { Scenario } from '../scenario/load.ts';
import { formatDuration } from '../time.ts';
import { feedbackFaultUnsent } from './control.ts';
import { realFaultNotApplied } from './faults.ts';
import { formatList as list, labWatchLine } from './lab.ts';

/** Service kinds the lab starts (src/real/lab.ts startService). */
const LAB_SERVICES = new Set(['http', 'bulk', 'tcp-echo', 'udp-echo', 'rpc', 'multicast-sink', 'dns']);
/** Request kinds the lab's clients send (src/real/client.ts). */
const LAB_REQUESTS = new Set(['http', 'bulk', 'tcp-echo', 'udp-echo', 'ping', 'multicast']);

/** Each element of `sc` that real mode does not run (or runs differently), as a printable line. */
export function notRunInLab(sc: Scenario): string[] {
  const out: string[] = [];
  // The kinds real mode's executor (faults.ts) says it cannot apply, with its reason.
  const faults = new Map<FaultKind, { why: string; at: string[] }>();
  for (const f of sc.faults) {
    const why = realFaultNotApplied(f.action.kind);
    if (why === undefined) continue;
    const seen = faults.get(f.action.kind) ?? { why, at: [] };
    seen.at.push(formatDuration(f.at));
    faults.set(f.action.kind, seen);
  }
  for (const [kind, { why, at }] of faults) {
    out.push(`fault ${kind} (${at.length}, at ${list(at)}): not applied (${why}); traced as a fault with detail 'not applied'`);
  }
  sc.faults.forEach((f, i) => {
    const why = feedbackFaultUnsent(sc, i);
    if (why !== undefined && (f.action.kind === 'counter' || f.action.kind === 'server-state')) out.push(`fault ${f.action.kind} ${f.action.group}/${f.action.server} (at ${formatDuration(f.at)}): ${why}; traced as a fault with that detail`);
  });
  const admin = sc.faults.filter((f) => f.action.kind === 'server-state' && f.action.state !== 'alive').filter((f) => {
    const a = f.action as { group: string; server: string };
    const keys = sc.cluster?.keys ?? [];
    return !keys.some((k) => k.key.role.kind === 'server' && k.key.role.group === a.group && k.key.role.server === a.server) && keys.some((k) => k.key.role.kind === 'admin');
  });
  if (admin.length > 0) out.push(`fault server-state (${admin.length}, at ${list(admin.map((f) => formatDuration(f.at)))}): sent with an admin key (no key of the server's own), so the dead or pending state also holds the server (its own state and counter requests are forbidden, its heartbeats are not taken as recoveries) until an admin's alive`);
  const links: string[] = [];
  for (const s of sc.segments) {
    const l = s.link;
    const what = [l.latency ? `latency ${formatDuration(l.latency)}` : '', l.jitter ? `jitter ${formatDuration(l.jitter)}` : '', l.loss ? `loss ${l.loss}` : ''].filter(Boolean);
    if (what.length > 0) links.push(`${s.name} (${what.join(', ')})`);
  }
  for (const h of sc.hosts)
    for (const f of h.ifaces) {
      const l = f.link;
      const seg = sc.segments.find((s) => s.name === f.segment)?.link;
      const what = [l.latency && l.latency !== seg?.latency ? `latency ${formatDuration(l.latency)}` : '', l.jitter && l.jitter !== seg?.jitter ? `jitter ${formatDuration(l.jitter)}` : '', l.loss && l.loss !== seg?.loss ? `loss ${l.loss}` : ''].filter(Boolean);
      if (what.length > 0) links.push(`${h.name}.${f.name} (${what.join(', ')})`);
    }
  if (links.length > 0) out.push(`link latency, jitter and loss of ${list(links, 4)}: not applied (netem is not in this kernel; bandwidth is, with tbf)`);
  const svcs = sc.hosts.flatMap((h) => h.services.filter((s) => !LAB_SERVICES.has(s.kind)).map((s) => `${h.name}/${s.name} (${s.kind})`));
  if (svcs.length > 0) out.push(`service(s) ${list(svcs)}: not started (kind not available in the lab)`);
  const timed = sc.hosts.flatMap((h) => h.services.flatMap((s) => (s.kind === 'http' && (s.serviceTime !== undefined || s.concurrency !== undefined || s.queue !== undefined || s.backlog !== undefined)) || (s.kind === 'rpc' && s.serviceTime !== undefined) ? [`${h.name}/${s.name}`] : []));
  if (timed.length > 0) out.push(`service-time, concurrency, queue and backlog of ${list(timed)}: not modelled (nginx, the Node server or sg rpc serve answers at once)`);
  const parted = sc.hosts.flatMap((h) => h.services.flatMap((s) => (s.kind === 'rpc' && s.partition !== undefined ? [`${h.name}/${s.name}`] : [])));
  if (parted.length > 0) out.push(`partition of ${list(parted)}: not run (sg rpc serve answers every read from its own store; it does not read the group's members)`);
  const dnsTimed = sc.hosts.flatMap((h) => h.services.flatMap((s) => (s.kind === 'dns' && s.serviceTime !== undefined ? [`${h.name}/${s.name}`] : [])));
  if (dnsTimed.length > 0) out.push(`service-time of ${list(dnsTimed)}: not modelled (knotd answers at once)`);
  const refusing = sc.hosts.flatMap((h) => h.services.flatMap((s) => (s.kind === 'dns' && s.refuseUpdates ? [`${h.name}/${s.name}`] : [])));
  if (refusing.length > 0) out.push(`refuse-updates of ${list(refusing)}: knotd answers NOTAUTH where the simulator answers REFUSED (both a failure to the dns analyzer)`);
  const reqs = sc.workloads.filter((w) => !LAB_REQUESTS.has(w.request.kind)).map((w) => `${w.name} (${w.request.kind})`);
  if (reqs.length > 0) out.push(`workload(s) ${list(reqs)}: request kind not sent by the lab's clients; each request is traced with status error`);
  const hold = sc.workloads.filter((w) => w.request.kind === 'tcp-echo' && w.request.hold !== undefined).map((w) => w.name);
  if (hold.length > 0) out.push(`hold of workload(s) ${list(hold)}: not applied (the connection closes after the echo)`);
  // A host's mrouter runs (src/real/mrouter.ts); a segment's own querier address does not.
  const q = sc.segments.filter((s) => s.querier !== undefined).map((s) => s.name);
  if (q.length > 0) out.push(`IGMP querier of segment(s) ${list(q)}: not run (the lab's bridges do not send IGMP queries; a host with mrouter: does)`);
  const w = labWatchLine(sc);
  if (w !== undefined) out.push(w);
  return out;
}

/** `sg run` (the simulator): the nodes' `watch:` is real mode's; the faults model the process. */
export function simWatchLine(sc: Scenario): string | undefined {
  const ws = (sc.cluster?.nodes ?? []).filter((n) => n.watch !== undefined).map((n) => n.name);
  if (ws.length === 0) return undefined;
  return `note: cluster.nodes.{${ws.join(',')}}.watch is for sg daemon (real mode); the simulator has no process table: its watched-down/watched-up faults are the watched process dying and running again`;
}

export function formatNotRun(lines: readonly string[]): string {
  return lines.map((l) => `not run in real mode: ${l}\n`).join('');
}
