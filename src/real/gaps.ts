/**
 * What of a scenario `sg run --real` does not run in the lab: one line per kind of element, naming
 * where it is. `runReal` prints them at the start and returns them with the results (`notRun`),
 * and `sg run --real` prints them beside the results: nothing is skipped silently.
 */

import type { Scenario } from '../scenario/load.ts';
import { formatDuration } from '../time.ts';
import { feedbackFaultUnsent } from './control.ts';

/** Service kinds the lab starts (src/real/lab.ts startService). */
const LAB_SERVICES = new Set(['http', 'bulk', 'tcp-echo', 'udp-echo', 'multicast-sink']);
/** Request kinds the lab's clients send (src/real/client.ts). */
const LAB_REQUESTS = new Set(['http', 'bulk', 'tcp-echo', 'udp-echo', 'ping', 'multicast']);
/** Fault kinds run by real means (src/real/run.ts applyFault; counter, server-state: feedback commands, control.ts). */
const LAB_FAULTS = new Set(['crash', 'restart', 'kill', 'hang', 'start', 'link-down', 'link-up', 'partition', 'heal', 'signal', 'watched-down', 'watched-up', 'clock-stall', 'counter', 'server-state']);

function list(xs: readonly string[], max = 6): string {
  const u = [...new Set(xs)];
  return u.length <= max ? u.join(', ') : `${u.slice(0, max).join(', ')} and ${u.length - max} more`;
}

/** Each element of `sc` that real mode does not run (or runs differently), as a printable line. */
export function notRunInLab(sc: Scenario): string[] {
  const out: string[] = [];
  const faults = new Map<string, string[]>();
  for (const f of sc.faults) {
    if (LAB_FAULTS.has(f.action.kind)) continue;
    faults.set(f.action.kind, [...(faults.get(f.action.kind) ?? []), formatDuration(f.at)]);
  }
  for (const [kind, at] of faults) {
    const why = kind === 'loss' || kind === 'delay' ? 'netem is not in this kernel' : kind === 'clock-rate' ? "a host's clock rate cannot be changed" : 'the lab has no way to set it from outside the daemon';
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
  const timed = sc.hosts.flatMap((h) => h.services.flatMap((s) => (s.kind === 'http' && (s.serviceTime !== undefined || s.concurrency !== undefined || s.queue !== undefined || s.backlog !== undefined) ? [`${h.name}/${s.name}`] : [])));
  if (timed.length > 0) out.push(`service-time, concurrency, queue and backlog of ${list(timed)}: not modelled (nginx or the Node server answers at once)`);
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

/**
 * The nodes' `watch:` (real mode's process watch): the lab starts its daemons with `--no-watch`,
 * since its namespaces share the machine's one process table (a name would match any process on
 * the machine, the lab's own nginx included); the scenario's watched-down/watched-up faults,
 * sent as SIGUSR1/SIGUSR2, are the watched process there, as in the simulator.
 */
export function labWatchLine(sc: Scenario): string | undefined {
  const ws = (sc.cluster?.nodes ?? []).flatMap((n) => (n.watch === undefined ? [] : [`${n.name} (${n.watch.target.kind === 'name' ? `process '${n.watch.target.name}'` : `pidfile ${n.watch.target.file}`})`]));
  if (ws.length === 0) return undefined;
  return `watch of node(s) ${list(ws, 4)}: not watched (the lab's daemons run with --no-watch: its namespaces share the machine's process table); watched-down/watched-up faults (SIGUSR1/SIGUSR2) stand for the process, as in the simulator`;
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
