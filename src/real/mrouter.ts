/**
 * The lab's multicast router (`sg lab mrouter SPEC-JSON`, run by the lab in a host's namespace
 * for a scenario host with `mrouter:`): the simulator's mrouted-like router (sim/host/mrouter.ts:
 * IGMPv2 querier, membership per interface, forwarding to interfaces with members) run unchanged
 * on real interfaces, in userspace over AF_PACKET.
 *
 * Why not pimd or smcroute: both program the kernel's multicast forwarding cache, and this
 * machine's kernel is built without it (CONFIG_IP_MROUTE is not set; pimd exits with "Cannot
 * enable multicast routing in kernel: Protocol not available"). Everything around the router is
 * real: the members' IGMP (Linux hosts answering its queries after their own random delays, the
 * SG nodes' engines), the switch's IGMP snooping (the Linux bridge), the senders' and receivers'
 * sockets.
 *
 * The process opens one AF_PACKET socket per interface, writes its status file (`bound`, as a
 * daemon does) and waits for its start file: time 0 of the trace, and the instant the router
 * starts (its first general query). IGMP reports heard before a start at t0 (members that joined
 * while the lab was built) are handed to the router as it starts, as the simulator's members,
 * joining at 0, report to a router starting at 0; a router started later (a restart, from a
 * standby) forgets them. It loops on poll bounded by its next timer and
 * writes its trace events (querier and membership states) to the trace file as JSON Lines,
 * stamped like the daemons' (CLOCK_MONOTONIC µs since t0). It runs until killed (a host crash).
 */

import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { MulticastRouter, type MrouterHost } from '../../sim/host/mrouter.ts';
import type { Cancel, MulticastForwarder } from '../../sim/host/host.ts';
import { ifaceName, type IfaceName } from '../port.ts';
import type { Duration, Instant } from '../time.ts';
import type { TraceEventInput } from '../trace.ts';
import { formatIpv4, isMulticastIpv4, mac, multicastMac, readIpv4, readU16, writeMac, writeU16, type Ipv4Addr, type MacAddr } from '../wire/addr.ts';
import { ETH_HEADER_LEN, ETH_VLAN_TAG_LEN, ETHERTYPE } from '../wire/ethernet.ts';
import { decodeFrame, encodeFrame, ipv4Header } from '../wire/frame.ts';
import type { IgmpMessage } from '../wire/igmp.ts';
import { IP_PROTO } from '../wire/ipv4.ts';
import { pollReadable, RawSocket } from './afpacket.ts';
import { monotonicUs, readStartFile, sleepMs } from './engine-worker.ts';

export interface MrouterSpec {
  readonly host: string;
  readonly ifaces: readonly { readonly name: string; readonly addrs: readonly { readonly addr: number; readonly prefixLen: number }[] }[];
  /** Static routes (the reverse-path check's routes beyond the interfaces' subnets). */
  readonly routes: readonly { readonly dst: number; readonly prefixLen: number; readonly iface: string }[];
  /** The scenario's query interval (µs), when not the default. */
  readonly queryInterval?: number;
  readonly startFile: string;
  readonly status: string;
  readonly trace: string;
}

/** Check the JSON argument: a message instead of a throw. */
export function parseMrouterSpec(json: string): { readonly ok: true; readonly spec: MrouterSpec } | { readonly ok: false; readonly message: string } {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    return { ok: false, message: `not JSON: ${(e as Error).message}` };
  }
  const o = v as Partial<Record<keyof MrouterSpec, unknown>>;
  const u32 = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
  const plen = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 32;
  if (typeof v !== 'object' || v === null) return { ok: false, message: 'a JSON object { host, ifaces, routes, startFile, status, trace }' };
  if (typeof o.host !== 'string') return { ok: false, message: 'host: a string' };
  for (const k of ['startFile', 'status', 'trace'] as const) if (typeof o[k] !== 'string') return { ok: false, message: `${k}: a file name` };
  if (!Array.isArray(o.ifaces) || o.ifaces.length === 0) return { ok: false, message: 'ifaces: a non-empty array' };
  for (const f of o.ifaces as { name?: unknown; addrs?: unknown }[]) {
    if (typeof f?.name !== 'string' || !Array.isArray(f.addrs) || !(f.addrs as { addr?: unknown; prefixLen?: unknown }[]).every((a) => u32(a?.addr) && plen(a?.prefixLen))) return { ok: false, message: 'ifaces[]: { name, addrs: [{ addr: u32, prefixLen: 0..32 }] }' };
  }
  if (!Array.isArray(o.routes) || !(o.routes as { dst?: unknown; prefixLen?: unknown; iface?: unknown }[]).every((r) => u32(r?.dst) && plen(r?.prefixLen) && typeof r?.iface === 'string')) return { ok: false, message: 'routes: [{ dst: u32, prefixLen, iface }]' };
  if (o.queryInterval !== undefined && !(typeof o.queryInterval === 'number' && Number.isSafeInteger(o.queryInterval) && o.queryInterval > 0)) return { ok: false, message: 'queryInterval: µs > 0' };
  return { ok: true, spec: v as MrouterSpec };
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  dead: boolean;
}

interface Nic {
  readonly name: IfaceName;
  readonly mac: MacAddr;
  readonly addrs: readonly { readonly addr: Ipv4Addr; readonly prefixLen: number }[];
  readonly sock: RawSocket;
}

function inPrefix(a: number, net: number, len: number): boolean {
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((a & mask) >>> 0) === ((net & mask) >>> 0);
}

function writeStatus(file: string, s: Record<string, unknown>): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(s));
  renameSync(`${file}.tmp`, file);
}

const START_POLL_MS = 2;
const POLL_MAX_MS = 20;

/** Run the router until the process is killed. */
export function runMrouter(spec: MrouterSpec): never {
  const nics: Nic[] = spec.ifaces.map((f) => ({
    name: ifaceName(f.name),
    mac: mac(readFileSync(`/sys/class/net/${f.name}/address`, 'utf8').trim()),
    addrs: f.addrs.map((a) => ({ addr: a.addr as Ipv4Addr, prefixLen: a.prefixLen })),
    sock: new RawSocket(f.name, { promiscuous: true, batch: 32 }),
  }));
  const byName = new Map(nics.map((n) => [n.name as string, n]));
  writeStatus(spec.status, { node: spec.host, pid: process.pid, phase: 'bound', boundAt: monotonicUs() });

  // Before the start: keep the reports heard (members joining while the lab was built).
  const early: { nic: Nic; src: Ipv4Addr; dst: Ipv4Addr; msg: IgmpMessage }[] = [];
  let fwd: MulticastForwarder | undefined;
  const receiveAll = () => {
    for (const nic of nics) {
      nic.sock.receive((frame) => {
        const d = decodeFrame(frame);
        if (!d.ok || d.value.net.kind !== 'ipv4') return;
        const { ip, l4 } = d.value.net;
        if (!isMulticastIpv4(ip.dst)) return;
        if (l4.kind === 'igmp') {
          if (fwd !== undefined) fwd.igmpInput(nic.name, ip.src, ip.dst, l4.igmp);
          else if (l4.igmp.kind !== 'query' && l4.igmp.kind !== 'v3-query' && early.length < 4096) early.push({ nic, src: ip.src, dst: ip.dst, msg: l4.igmp });
          return;
        }
        if (fwd === undefined) return;
        // The datagram as it came (header included, without the frame's padding), copied.
        const off = ETH_HEADER_LEN + ETH_VLAN_TAG_LEN * (d.value.eth.vlans?.length ?? 0);
        fwd.forward(nic.name, frame.slice(off, off + readU16(frame, off + 2)), ip, false);
      });
    }
  };
  const socks = nics.map((n) => n.sock);
  let start: { t0: number; at: number } | undefined;
  while ((start = readStartFile(spec.startFile)) === undefined) {
    if (pollReadable(socks, START_POLL_MS).length > 0) receiveAll();
  }
  const t0 = start.t0;
  // Only a router starting with the lab (at t0) takes what it heard while waiting: a restarted one
  // (a standby started later) knows nothing from before its start, as the simulator's.
  if (start.at > start.t0) early.length = 0;
  const nowUs = () => (monotonicUs() - t0) as Instant;
  sleepMs((start.at - monotonicUs()) / 1000);

  const timers: Timer[] = [];
  let seq = 0;
  let ipId = 1;
  const trace = (ev: TraceEventInput) => appendFileSync(spec.trace, `${JSON.stringify(ev)}\n`);
  const send = (nic: Nic, frame: Uint8Array) => {
    nic.sock.send(frame);
    nic.sock.flush();
  };
  const nicOf = (iface: string): Nic => {
    const n = byName.get(iface);
    if (n === undefined) throw new Error(`${spec.host}: no interface ${iface}`);
    return n;
  };
  const host: MrouterHost = {
    name: spec.host,
    up: true,
    world: {
      get now() {
        return nowUs();
      },
      cause: undefined,
      emit: trace,
    },
    now: nowUs,
    timer(d: Duration, fn: () => void): Cancel {
      const t: Timer = { at: monotonicUs() + d, seq: seq++, fn, dead: false };
      timers.push(t);
      return () => void (t.dead = true);
    },
    interface: (name) => {
      const n = byName.get(name);
      return n === undefined ? undefined : { name: n.name, addrs: n.addrs };
    },
    interfaces: () => nics.map((n) => ({ name: n.name })),
    lookupRoute: (dst) => {
      let best: { origin: 'static'; iface: IfaceName; len: number } | undefined;
      for (const r of spec.routes) if (inPrefix(dst, r.dst, r.prefixLen) && (best === undefined || r.prefixLen > best.len)) best = { origin: 'static', iface: ifaceName(r.iface), len: r.prefixLen };
      return best;
    },
    setMulticastForwarder: (f) => void (fwd = f),
    sendIgmp(iface: string, dst: Ipv4Addr, msg: IgmpMessage): void {
      const nic = nicOf(iface);
      const header = ipv4Header({ src: nic.addrs[0]?.addr ?? (0 as Ipv4Addr), dst, protocol: IP_PROTO.igmp, ttl: 1, dscp: 48, identification: ipId++ & 0xffff, options: [{ kind: 'router-alert', value: 0 }] });
      send(nic, encodeFrame({ eth: { dst: multicastMac(dst), src: nic.mac }, net: { kind: 'ipv4', ip: header, l4: { kind: 'igmp', igmp: msg } } }));
    },
    sendMulticastCopy(iface: string, ip: Uint8Array): void {
      const nic = nicOf(iface);
      const frame = new Uint8Array(ETH_HEADER_LEN + ip.length);
      frame.set(ip, ETH_HEADER_LEN);
      writeMac(frame, 0, multicastMac(readIpv4(ip, 16)));
      writeMac(frame, 6, nic.mac);
      writeU16(frame, 12, ETHERTYPE.ipv4);
      send(nic, frame);
    },
  };
  const router = new MulticastRouter(host, spec.queryInterval !== undefined ? { queryInterval: spec.queryInterval as Duration } : {});
  for (const e of early) router.igmpInput(e.nic.name, e.src, e.dst, e.msg);
  writeStatus(spec.status, { node: spec.host, pid: process.pid, phase: 'running', t0, at: start.at, startLateUs: Math.max(0, monotonicUs() - start.at), early: early.length });
  process.stderr.write(`mrouter ${spec.host}: running on ${nics.map((n) => n.name).join(', ')} (${early.length} report(s) heard before the start${early.length > 0 ? `: ${[...new Set(early.map((e) => formatIpv4(e.src)))].join(', ')}` : ''})\n`);
  for (;;) {
    // Fire what is due, in deadline order (a timer's callback may arm more).
    for (;;) {
      const now = monotonicUs();
      let next: Timer | undefined;
      for (const t of timers) if (!t.dead && t.at <= now && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      next.dead = true;
      next.fn();
    }
    for (let i = timers.length - 1; i >= 0; i--) if (timers[i]!.dead) timers.splice(i, 1);
    let wait = POLL_MAX_MS;
    const now = monotonicUs();
    for (const t of timers) wait = Math.min(wait, Math.max(0, Math.ceil((t.at - now) / 1000)));
    if (pollReadable(socks, wait).length > 0) receiveAll();
  }
}
