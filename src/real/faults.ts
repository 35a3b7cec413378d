/**
 * Real mode's executor of the fault vocabulary (src/scenario/faults.ts): one entry per fault kind,
 * saying how the lab applies it. `lab`: by real means, at its time (a signal, `ip link`, nftables);
 * `feedback`: sent as a feedback command by the server host's control sender (control.ts), so
 * there is nothing to do at its time; `none`: the lab cannot apply it, and why (it is traced with
 * a 'not applied' detail, and `notRunInLab` in gaps.ts names it from this same table).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { faultEntry, type FaultAction, type FaultKind, type FaultOf } from '../scenario/faults.ts';
import type { Scenario } from '../scenario/load.ts';
import { assertNever } from '../assert.ts';
import { nsName, startDaemon, startMrouter, startService, type LabState } from './lab.ts';

/** What a fault applied in the lab has to hand. */
export interface LabFaultContext {
  readonly lab: LabState;
  readonly sc: Scenario;
  /** Services stopped by a hang (SIGSTOP), which a start continues. */
  readonly stopped: Set<number>;
  readonly log: (line: string) => void;
  /** The switch namespace's nft, started ahead when the scenario partitions (run.ts). */
  readonly nft: { run(cmds: readonly string[]): Promise<string> } | undefined;
}

/** true, or why the fault was not (or only partly) applied (the trace event's detail). */
export type FaultApplied = true | string;

export type RealFault<K extends FaultKind> =
  | { readonly by: 'lab'; apply(cx: LabFaultContext, a: FaultOf<K>): FaultApplied | Promise<FaultApplied> }
  | { readonly by: 'feedback' }
  | { readonly by: 'none'; readonly why: string };

const daemon = (cx: LabFaultContext, name: string) => cx.lab.processes.find((p) => p.kind === 'daemon' && p.name === name);
const isNode = (cx: LabFaultContext, name: string) => (cx.sc.cluster?.nodes ?? []).some((n) => n.name === name);
const ifaces = (cx: LabFaultContext, host: string) => cx.sc.hosts.find((h) => h.name === host)?.ifaces.map((f) => f.name) ?? [];
const daemonSignal = (sig: NodeJS.Signals) => (cx: LabFaultContext, a: { readonly host: string }): FaultApplied => {
  const d = daemon(cx, a.host);
  if (d === undefined) return `no daemon ${a.host}`;
  signal(d.pid, sig);
  return true;
};
const setLink = (up: boolean) => (cx: LabFaultContext, a: { readonly link: string }): FaultApplied => {
  const [host, iface] = a.link.split('.');
  execFileSync('ip', ['-n', nsName(cx.lab.prefix, host!), 'link', 'set', iface!, up ? 'up' : 'down']);
  return true;
};
/** SIGKILL (kill) or SIGSTOP (hang) to the service's whole process tree in its namespace (nginx: master and worker). */
const serviceSignal = (sig: 'SIGKILL' | 'SIGSTOP') => (cx: LabFaultContext, a: { readonly host: string; readonly service: string }): FaultApplied => {
  const p = cx.lab.processes.find((x) => x.name === `${a.host}/${a.service}`);
  if (p === undefined) return `no running service ${a.host}/${a.service}`;
  const tree = pidsIn(p.ns).filter((pid) => pid === p.pid || readParent(pid) === p.pid);
  for (const pid of tree) signal(pid, sig);
  if (sig === 'SIGSTOP') cx.stopped.add(p.pid);
  return true;
};

export const REAL_FAULTS = {
  crash: {
    by: 'lab',
    apply: (cx, a) => {
      if (isNode(cx, a.host)) {
        const d = daemon(cx, a.host);
        if (d !== undefined) signal(d.pid, 'SIGKILL');
        return true;
      }
      // Everything in the host dies but a multicast router started ahead for its restart.
      const standby = new Set(cx.lab.processes.filter((p) => p.kind === 'mrouter-standby').map((p) => p.pid));
      for (const pid of pidsIn(nsName(cx.lab.prefix, a.host))) if (!standby.has(pid)) signal(pid, 'SIGKILL');
      for (const i of ifaces(cx, a.host)) execFileSync('ip', ['-n', nsName(cx.lab.prefix, a.host), 'link', 'set', i, 'down']);
      return true;
    },
  },
  restart: {
    by: 'lab',
    apply: (cx, a) => {
      if (isNode(cx, a.host)) {
        startDaemon(cx.lab, a.host);
        return true;
      }
      for (const i of ifaces(cx, a.host)) execFileSync('ip', ['-n', nsName(cx.lab.prefix, a.host), 'link', 'set', i, 'up']);
      if (cx.sc.hosts.find((h) => h.name === a.host)?.mrouter === true) startMrouter(cx.lab, cx.sc, a.host);
      for (const s of cx.sc.hosts.find((h) => h.name === a.host)?.services ?? []) startService(cx.lab, a.host, s.name, cx.sc, cx.log);
      return true;
    },
  },
  signal: { by: 'lab', apply: daemonSignal('SIGHUP') },
  'watched-down': { by: 'lab', apply: daemonSignal('SIGUSR1') },
  'watched-up': { by: 'lab', apply: daemonSignal('SIGUSR2') },
  kill: { by: 'lab', apply: serviceSignal('SIGKILL') },
  hang: { by: 'lab', apply: serviceSignal('SIGSTOP') },
  start: {
    by: 'lab',
    apply: (cx, a) => {
      // A hung service continues (SIGCONT); any other is started again.
      const p = cx.lab.processes.find((x) => x.name === `${a.host}/${a.service}`);
      if (p !== undefined && cx.stopped.has(p.pid)) {
        signal(p.pid, 'SIGCONT');
        cx.stopped.delete(p.pid);
        return true;
      }
      startService(cx.lab, a.host, a.service, cx.sc, cx.log);
      return true;
    },
  },
  'link-down': { by: 'lab', apply: setLink(false) },
  'link-up': { by: 'lab', apply: setLink(true) },
  partition: { by: 'lab', apply: (cx, a) => partition(cx.sc, a.groups, cx.nft!) },
  heal: {
    by: 'lab',
    apply: async (cx): Promise<FaultApplied> => {
      await cx.nft!.run(['delete table bridge sgpart']); // no partition in place: nothing to delete
      return true;
    },
  },
  loss: { by: 'none', why: 'netem is not in this kernel' },
  delay: { by: 'none', why: 'netem is not in this kernel' },
  'clock-rate': { by: 'none', why: "a host's clock rate cannot be changed" },
  'clock-stall': {
    by: 'lab',
    apply: (cx, a) => {
      // A frozen process: SIGSTOP, SIGCONT after the stall.
      const d = daemon(cx, a.host);
      if (d === undefined) return `clock stall applies to SG nodes in real mode (${a.host} is a host)`;
      signal(d.pid, 'SIGSTOP');
      setTimeout(() => signal(d.pid, 'SIGCONT'), a.duration / 1000);
      return true;
    },
  },
  'server-state': { by: 'feedback' },
  counter: { by: 'feedback' },
} as const satisfies { readonly [K in FaultKind]: RealFault<K> };

/** Why the lab cannot apply faults of `kind` at all, or undefined when it does (by real means or as feedback). */
export function realFaultNotApplied(kind: FaultKind): string | undefined {
  const e = faultEntry<RealFault<FaultKind>>(REAL_FAULTS, kind);
  return e.by === 'none' ? e.why : undefined;
}

/** Apply one fault in the lab at its time; true, or why it was not (or only partly) applied. */
export async function applyFault(cx: LabFaultContext, a: FaultAction): Promise<FaultApplied> {
  const e = faultEntry<RealFault<FaultKind>>(REAL_FAULTS, a.kind);
  switch (e.by) {
    case 'lab':
      return e.apply(cx, a);
    case 'feedback':
      return true; // sent by the host's control sender at its time (control.ts)
    case 'none':
      return `not applied in real mode (${a.kind})`;
    default:
      return assertNever(e, 'real fault');
  }
}

function pidsIn(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function readParent(pid: number): number | undefined {
  try {
    return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/** Drop frames between the sides' bridge ports (nftables, bridge family, in the switch namespace). */
async function partition(sc: Scenario, groups: readonly (readonly string[])[], nft: NonNullable<LabFaultContext['nft']>): Promise<FaultApplied> {
  // Bridge port names in plug order: hosts' interfaces, then each SG node's eth0 and eth1.
  const ports = new Map<string, string[]>();
  let k = 0;
  for (const h of sc.hosts) for (const _ of h.ifaces) ports.set(h.name, [...(ports.get(h.name) ?? []), `p${k++}`]);
  for (const n of sc.cluster?.nodes ?? []) ports.set(n.name, [`p${k++}`, `p${k++}`]);
  const side = groups.map((g) => g.flatMap((n) => ports.get(n) ?? []));
  const rules: string[] = ['add table bridge sgpart', 'add chain bridge sgpart cut { type filter hook forward priority 0; }'];
  for (let i = 0; i < side.length; i++) {
    for (let j = 0; j < side.length; j++) {
      if (i === j || side[i]!.length === 0 || side[j]!.length === 0) continue;
      rules.push(`add rule bridge sgpart cut iifname { ${side[i]!.join(', ')} } oifname { ${side[j]!.join(', ')} } drop`);
    }
  }
  const err = await nft.run(rules);
  return err === '' ? true : `partition not applied: ${err}`;
}
