/**
 * The timeline's model: a trace (the JSON Lines format the simulator and real mode share) turned
 * into what the page draws. Pure and DOM-free, so it is unit-tested in Node and reused by the
 * report writer.
 *
 * - **Lanes**: one per node (hosts, SG nodes, switches), in order of first appearance, SG nodes
 *   first.
 * - **Bands**: intervals of a state: each SG node's role (bidd: initial, bid, master, slave, exit)
 *   and each server's state as each SG node sees it (alive, pending, dead).
 * - **Markers**: faults (crash, restart, partition...), and decisions worth a glance (scripts,
 *   takeovers, sync readiness).
 * - **Arrows**: control traffic between nodes (bidd heartbeats and bids, sync, feedback commands,
 *   port-test probes): a frame sent by one node and received by another, matched through the
 *   trace's cause chain (switch hops in between are skipped).
 * - **Rates**: data frames per node per time bucket (drawn as a heat strip, not one by one).
 * - **Metrics**: requests/s, failures/s and latency percentiles per bucket; new links per server.
 *
 * Everything is built in one pass over typed arrays of the events' fields, so a million events
 * load in seconds (see the README for the measured figure).
 *
 * The events are the trace's own type (src/trace.ts): the machines, decisions and drops the
 * model picks out are names of its closed vocabulary, checked by the compiler here as in the
 * engine. A line the trace format refuses, a name this build does not know included, is skipped
 * and counted, and the first few say why.
 */

import { traceEventProblem, type TraceEvent } from '../../src/trace.ts';

export type TraceEv = TraceEvent;

/** Bad lines whose reason `parseTrace` keeps (the rest are only counted). */
export const BAD_LINES_SHOWN = 3;

export interface Band {
  readonly lane: string;
  /** 'role' for an SG node's bidd state, or the server entity ('web/rs1') for a server state. */
  readonly row: string;
  readonly state: string;
  readonly from: number;
  readonly to: number;
}

export interface Marker {
  readonly lane: string;
  readonly t: number;
  readonly label: string;
  readonly kind: 'fault' | 'decision';
  readonly id: number;
}

export interface Arrow {
  readonly from: string;
  readonly to: string;
  readonly t0: number;
  readonly t1: number;
  readonly label: string;
  readonly id: number;
}

export interface Bucket {
  readonly t: number;
  requests: number;
  failures: number;
  p50: number;
  p99: number;
}

export interface Model {
  readonly start: number;
  readonly end: number;
  readonly lanes: readonly string[];
  readonly bands: readonly Band[];
  readonly markers: readonly Marker[];
  readonly arrows: readonly Arrow[];
  /** Data frames per lane per bucket. */
  readonly rates: ReadonlyMap<string, Float64Array>;
  readonly bucketUs: number;
  readonly metrics: readonly Bucket[];
  /** New links per server per bucket ('group/server' -> counts). */
  readonly links: ReadonlyMap<string, Float64Array>;
  readonly events: number;
  readonly kinds: ReadonlyMap<string, number>;
  /** The events by id, for the inspector and cause chains. */
  readonly byId: ReadonlyMap<number, TraceEv>;
  readonly header: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Parse JSON Lines; bad lines are counted, not fatal. Each event is checked as src/trace.ts's
 * `parseTraceLine` checks it (`traceEventProblem`), but kept as parsed rather than copied.
 * `problems`: why the first BAD_LINES_SHOWN bad lines were refused ('line 7: decision.what:
 * unknown decision "x" (known: ...)').
 */
export function parseTrace(text: string): { events: TraceEv[]; header: Record<string, unknown> | undefined; bad: number; problems: string[] } {
  const events: TraceEv[] = [];
  const problems: string[] = [];
  let header: Record<string, unknown> | undefined;
  let bad = 0;
  let line = 0;
  let i = 0;
  const refuse = (why: string): void => {
    if (bad++ < BAD_LINES_SHOWN) problems.push(`line ${line}: ${why}`);
  };
  while (i < text.length) {
    let j = text.indexOf('\n', i);
    if (j < 0) j = text.length;
    line++;
    if (j > i) {
      let raw: unknown;
      try {
        raw = JSON.parse(text.slice(i, j));
      } catch {
        raw = undefined;
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) refuse('not a JSON object');
      else {
        const rec = raw as Record<string, unknown>;
        if (rec['kind'] === 'header') header = rec;
        else {
          const why = traceEventProblem(rec);
          if (why === undefined) events.push(rec as unknown as TraceEv);
          else refuse(why);
        }
      }
    }
    i = j + 1;
  }
  return { events, header, bad, problems };
}

/** A short label of an event for lists: a frame's summary, a decision's or fault's name, a state event's machine. */
export function eventLabel(e: TraceEv): string {
  switch (e.kind) {
    case 'frame':
      return e.summary;
    case 'decision':
    case 'fault':
      return e.what;
    case 'state':
      return e.machine;
    default:
      return '';
  }
}

/** Control traffic ports: bidd, sync, the feedback protocol, the default probe port range. */
const CONTROL = [
  [/:5891 /, 'bidd'],
  [/:5892 /, 'sync'],
  [/:5890 /, 'ctl'],
] as const;

function controlLabel(summary: string): string | undefined {
  for (const [re, label] of CONTROL) if (re.test(summary)) return label;
  if (/^ARP /.test(summary)) return 'arp';
  if (/IGMP/.test(summary)) return 'igmp';
  if (/ 6[01]\d\d\d > /.test(summary) || / > [0-9.]+:6[01]\d\d\d /.test(summary)) return 'probe';
  return undefined;
}

/** `events` in time order, as traces are written (and as the page sorts them). */
export function buildModel(events: readonly TraceEv[], header?: Record<string, unknown>, bucketCount = 400): Model {
  let start = Infinity;
  let end = -Infinity;
  const lanesSeen = new Map<string, number>();
  const sg = new Set<string>();
  const kinds = new Map<string, number>();
  const byId = new Map<number, TraceEv>();
  const SWITCHLIKE = new Set<string>();
  for (const e of events) {
    if (e.t < start) start = e.t;
    if (e.t > end) end = e.t;
    kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    byId.set(e.id, e);
    const n = e.node;
    if (n !== undefined && !lanesSeen.has(n)) lanesSeen.set(n, lanesSeen.size);
    if (e.kind === 'state' && e.machine === 'bidd' && n !== undefined) sg.add(n);
  }
  if (!Number.isFinite(start)) {
    start = 0;
    end = 1;
  }
  if (end <= start) end = start + 1;
  // Switch lanes: nodes that only forward (frames on links named like 'host.eth0' under a segment).
  for (const e of events) if (e.kind === 'frame' && e.node !== undefined && e.link.includes('.') && !e.link.startsWith(`${e.node}.`) && !e.link.startsWith(`${e.node}:`)) SWITCHLIKE.add(e.node);
  // Segment switches only forward: their frames show up as the hosts' arrows and rates instead.
  // SG nodes first, by name (sg1 before sg2 whichever spoke first); then the rest as they appear.
  const lanes = [...lanesSeen.keys()]
    .filter((l) => !SWITCHLIKE.has(l) || sg.has(l))
    .sort((a, b) => Number(sg.has(b)) - Number(sg.has(a)) || (sg.has(a) && sg.has(b) ? a.localeCompare(b, 'en', { numeric: true }) : lanesSeen.get(a)! - lanesSeen.get(b)!));
  // Bands.
  const bands: Band[] = [];
  const open = new Map<string, { lane: string; row: string; state: string; from: number }>();
  const close = (key: string, t: number) => {
    const o = open.get(key);
    if (o !== undefined && t > o.from) bands.push({ ...o, to: t });
    open.delete(key);
  };
  const markers: Marker[] = [];
  for (const e of events) {
    if (e.kind === 'state' && e.node !== undefined && (e.machine === 'bidd' || e.machine === 'server')) {
      const row = e.machine === 'bidd' ? 'role' : e.entity;
      const key = `${e.node}\u0000${row}`;
      close(key, e.t);
      open.set(key, { lane: e.node, row, state: e.to, from: e.t });
    } else if (e.kind === 'fault') {
      const target = e.target;
      const lane = lanesSeen.has(target) ? target : (e.node ?? target);
      markers.push({ lane, t: e.t, label: `${e.what} ${target}`, kind: 'fault', id: e.id });
      if (e.what === 'crash' && lanesSeen.has(target)) for (const k of [...open.keys()]) if (k.startsWith(`${target}\u0000`)) close(k, e.t);
    } else if (e.kind === 'decision' && e.node !== undefined && (e.what === 'script' || e.what === 'sync-ready' || e.what === 'watched-down' || e.what === 'carrier-down')) {
      markers.push({ lane: e.node, t: e.t, label: e.what === 'script' ? `script ${e.detail.which}` : e.what, kind: 'decision', id: e.id });
    }
  }
  for (const k of [...open.keys()]) close(k, end);
  // Arrows: a frame received ('rx') by a host, traced back through its causes to a 'tx' by another host.
  const arrows: Arrow[] = [];
  const isHostLane = (n: string | undefined) => n !== undefined && !SWITCHLIKE.has(n);
  for (const e of events) {
    if (e.kind !== 'frame' || e.dir !== 'rx' || !isHostLane(e.node)) continue;
    const label = controlLabel(e.summary);
    if (label === undefined) continue;
    let c = e.cause !== undefined ? byId.get(e.cause) : undefined;
    for (let hops = 0; c !== undefined && hops < 8; hops++) {
      if (c.kind === 'frame' && c.dir === 'tx' && isHostLane(c.node) && c.node !== e.node) {
        arrows.push({ from: c.node!, to: e.node!, t0: c.t, t1: e.t, label, id: e.id });
        break;
      }
      c = c.cause !== undefined ? byId.get(c.cause) : undefined;
    }
  }
  // Rates and metrics by bucket: the same functions that re-bucket a zoomed window, over the whole trace.
  const { bucketUs, metrics, links } = windowMetrics(events, start, end + 1, bucketCount);
  const { rates } = windowRates(events, new Set(lanes), start, end + 1, bucketCount);
  return { start, end, lanes, bands, markers, arrows, rates, bucketUs, metrics, links, events: events.length, kinds, byId, header };
}

/** Index of the first event at or after `t` in time-sorted `events`. */
function firstAtOrAfter(events: readonly TraceEv[], t: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The chain of causes of event `id`, newest first (bounded: a trace is a DAG, but be safe). */
export function causeChain(m: Model, id: number, max = 32): TraceEv[] {
  const out: TraceEv[] = [];
  let e = m.byId.get(id);
  while (e !== undefined && out.length < max) {
    out.push(e);
    e = e.cause !== undefined ? m.byId.get(e.cause) : undefined;
  }
  return out;
}

/** Events at or near time `t` (µs) in lane `lane`, nearest first. */
export function eventsNear(events: readonly TraceEv[], lane: string | undefined, t: number, within: number, limit = 20): TraceEv[] {
  const out: TraceEv[] = [];
  const lo = firstAtOrAfter(events, t - within);
  for (let i = lo; i < events.length && events[i]!.t <= t + within; i++) {
    const e = events[i]!;
    if (lane === undefined || e.node === lane) out.push(e);
  }
  return out.sort((a, b) => Math.abs(a.t - t) - Math.abs(b.t - t)).slice(0, limit);
}

/** The client port of a frame's summary ('TCP 10.0.0.1:40000 > 10.0.0.2:80 ...'): the higher of the two ports. */
export function flowPort(summary: string): number | undefined {
  const m = /(?:TCP|UDP) [\d.]+:(\d+) > [\d.]+:(\d+)/.exec(summary);
  if (!m) return undefined;
  return Math.max(Number(m[1]), Number(m[2]));
}

/**
 * A client flow as a sequence diagram (slides 16 and 19): every frame of the flow with `port`
 * (its client port, which NAT keeps) received by a host, drawn from the host that sent it.
 */
export function flowArrows(m: Model, events: readonly TraceEv[], port: number, from: number, to: number): Arrow[] {
  const tag = new RegExp(`:${port} `);
  const out: Arrow[] = [];
  const hosts = new Set(m.lanes);
  for (const e of events) {
    if (e.t < from) continue;
    if (e.t > to) break;
    if (e.kind !== 'frame' || e.dir !== 'rx' || e.node === undefined || !hosts.has(e.node)) continue;
    const s = e.summary;
    if (!tag.test(s)) continue;
    let c = e.cause !== undefined ? m.byId.get(e.cause) : undefined;
    for (let hops = 0; c !== undefined && hops < 8; hops++) {
      if (c.kind === 'frame' && c.dir === 'tx' && c.node !== undefined && hosts.has(c.node) && c.node !== e.node) {
        out.push({ from: c.node, to: e.node, t0: c.t, t1: e.t, label: /\[([A-Z,]+)\]/.exec(s)?.[1] ?? s.split(' ')[0]!, id: e.id });
        break;
      }
      c = c.cause !== undefined ? m.byId.get(c.cause) : undefined;
    }
  }
  return out;
}

/**
 * Request metrics for the window [from, to) in `buckets` buckets, from the time-sorted events
 * (binary search to the window, then one pass): what the charts show when zoomed in, where the
 * whole-trace buckets would be wider than the window.
 */
export function windowMetrics(events: readonly TraceEv[], from: number, to: number, buckets: number): { bucketUs: number; metrics: Bucket[]; links: Map<string, Float64Array> } {
  const bucketUs = Math.max(1, Math.ceil((to - from) / buckets));
  const nb = Math.ceil((to - from) / bucketUs) + 1;
  const metrics: Bucket[] = Array.from({ length: nb }, (_, i) => ({ t: from + i * bucketUs, requests: 0, failures: 0, p50: NaN, p99: NaN }));
  const lat: number[][] = Array.from({ length: nb }, () => []);
  const links = new Map<string, Float64Array>();
  const lo = firstAtOrAfter(events, from);
  for (let i = lo; i < events.length && events[i]!.t < to; i++) {
    const e = events[i]!;
    const b = Math.floor((e.t - from) / bucketUs);
    if (e.kind === 'request') {
      metrics[b]!.requests++;
      if (e.status !== 'ok') metrics[b]!.failures++;
      else lat[b]!.push(e.latency);
    } else if (e.kind === 'decision' && e.what === 'link-new') {
      const k = `${e.detail.group}/${e.detail.server}`;
      let r = links.get(k);
      if (r === undefined) links.set(k, (r = new Float64Array(nb)));
      r[b]!++;
    }
  }
  lat.forEach((xs, i) => {
    if (xs.length === 0) return;
    xs.sort((a, b) => a - b);
    metrics[i]!.p50 = xs[Math.floor(xs.length * 0.5)]!;
    metrics[i]!.p99 = xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
  });
  return { bucketUs, metrics, links };
}

/**
 * The fields of a frame event's summary, as the simulator and real mode write it, e.g.
 * 'TCP 10.0.0.1:40000 > 10.0.0.2:80 [ACK,SYN] seq=1 ack=2 len=0' or 'ARP 10.0.0.1 is-at 02:..'.
 */
export function decodeSummary(summary: string): Record<string, string> {
  const out: Record<string, string> = {};
  const l4 = /^(TCP|UDP) ([\d.]+):(\d+) > ([\d.]+):(\d+)(?: \[([A-Z,]+)\])?(.*)$/.exec(summary);
  if (l4) {
    out['protocol'] = l4[1]!;
    out['source'] = `${l4[2]}:${l4[3]}`;
    out['destination'] = `${l4[4]}:${l4[5]}`;
    if (l4[6]) out['flags'] = l4[6];
    for (const m of (l4[7] ?? '').matchAll(/(\w+)=(\S+)/g)) out[m[1]!] = m[2]!;
    const port = Number(l4[5]);
    const sport = Number(l4[3]);
    const svc = { 5891: 'bidd (heartbeat/bid/resign)', 5892: 'state sync', 5890: 'feedback protocol (SGctrld)' } as Record<number, string>;
    if (svc[port] ?? svc[sport]) out['service'] = (svc[port] ?? svc[sport])!;
    return out;
  }
  const words = summary.split(' ');
  out['protocol'] = words[0] ?? '';
  out['text'] = words.slice(1).join(' ');
  return out;
}

/** Data frames sent per lane in `buckets` buckets over [from, to): the heat strips of a zoomed window. */
export function windowRates(events: readonly TraceEv[], lanes: ReadonlySet<string>, from: number, to: number, buckets: number): { bucketUs: number; rates: Map<string, Float64Array> } {
  const bucketUs = Math.max(1, Math.ceil((to - from) / buckets));
  const nb = Math.ceil((to - from) / bucketUs) + 1;
  const rates = new Map<string, Float64Array>();
  const lo = firstAtOrAfter(events, from);
  for (let i = lo; i < events.length && events[i]!.t < to; i++) {
    const e = events[i]!;
    if (e.kind !== 'frame' || e.dir !== 'tx' || e.node === undefined || !lanes.has(e.node)) continue;
    let r = rates.get(e.node);
    if (r === undefined) rates.set(e.node, (r = new Float64Array(nb)));
    r[Math.floor((e.t - from) / bucketUs)]!++;
  }
  return { bucketUs, rates };
}
