/**
 * Loading a scenario file: YAML text -> schema validation -> cross-reference checks -> a resolved
 * `Scenario` in base units (µs, bytes, bits/s, fractions, numeric addresses).
 *
 * Every problem is reported as `file:line:col: path: message`, where `path` is the place inside
 * the document (`topology.hosts.web.ifaces[0].segment`). Loading never throws on bad input: it
 * returns every error it found, so one run of `sg` shows them all.
 */

import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { formatIpv4, parseIpv4Addr, type Ipv4Addr } from '../wire/addr.ts';
import { DNS_NAME_MAX, dnsInZone, dnsNameProblem } from '../wire/dns.ts';
import { formatDuration, type Duration } from '../time.ts';
import type { HealthConfig } from '../health/types.ts';
import { sameRule } from '../balance/affinity.ts';
import type { KeepSameServer } from '../balance/types.ts';
import {
  MODELS_BUILT, READ_ANY, REPLIES_HELD_DEFAULT, RW_ANALYZER_MODULE_EXTS, RW_ANALYZER_NAMES, WRITE_TIMEOUT_DEFAULT_US, WRITE_TIMEOUT_MAX_US, WRITE_TIMEOUT_MIN_US, WRITES_PENDING_DEFAULT,
  type AnalyzerRef, type GroupModel, type GroupModelKind, type RwAnalyzerName, type WriteFanout,
} from '../rw/models.ts';
import { CTL_PORT_DEFAULT, type CtlClass, type CtlKey, type CtlOp } from '../ctl/types.ts';
import { Scenario as ScenarioSchema, type ClusterDoc, type ControlDoc, type ExpectationDoc, type FaultDoc, type HostDoc, type LinkDoc, type MatchDoc, type ScenarioDoc, type ServiceDoc, type WorkloadDoc } from './schema.ts';
import { matchProblems } from './match.ts';
import type { FaultAction } from './faults.ts';
import { bandwidth, duration, durationApproxUs, fraction, rate, size } from './units.ts';
import {
  DNS_ZONE_RECORDS_MAX, DURATION_MAX_US, HTTP_BODY_MAX, RPC_REFRESH_MAX_US, RPC_REFRESH_MIN_US, RPC_RETRY_MIN_US, LINK_BANDWIDTH_MAX_BPS, LINK_DELAY_MAX_US, LINK_JITTER_MAX_US, PING_SIZE_MAX, SCENARIO_DURATION_MAX_US, SWITCH_PORTS_MAX, TCP_ECHO_SIZE_MAX, UDP_PAYLOAD_MAX, WORKLOAD_RATE_MAX_PER_S,
  WORKLOAD_RATE_MIN_PER_S,
} from './limits.ts';

export interface ScenarioError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted path inside the document, e.g. `topology.hosts.web.gateway`. */
  readonly path: string;
  readonly message: string;
}

export function formatScenarioError(e: ScenarioError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.path || '(document)'}: ${e.message}`;
}

// ---- the resolved model ----

export interface LinkProps {
  readonly latency?: Duration;
  readonly bandwidthBps?: number;
  readonly loss?: number;
  readonly jitter?: Duration;
  readonly queueLimitFrames?: number;
}

export interface SegmentModel {
  readonly name: string;
  readonly net: Ipv4Addr;
  readonly prefixLen: number;
  readonly link: LinkProps;
  readonly snooping: boolean;
  readonly querier?: Ipv4Addr;
}

export interface IfaceModel {
  readonly name: string;
  readonly segment: string;
  readonly addrs: readonly { readonly addr: Ipv4Addr; readonly prefixLen: number }[];
  readonly link: LinkProps;
}

export type ServiceTimeModel = { readonly kind: 'fixed'; readonly d: Duration } | { readonly kind: 'exponential'; readonly mean: Duration };

export type ServiceModel =
  | { readonly kind: 'http'; readonly name: string; readonly port: number; readonly serviceTime?: ServiceTimeModel; readonly concurrency?: number; readonly queue?: number; readonly backlog?: number }
  | { readonly kind: 'bulk' | 'tcp-echo' | 'udp-echo'; readonly name: string; readonly port: number }
  | {
      readonly kind: 'rpc'; readonly name: string; readonly port: number; readonly serviceTime?: ServiceTimeModel; readonly group?: Ipv4Addr;
      readonly failWrites?: true; readonly diverge?: true; readonly partition?: RpcPartitionModel; readonly recover?: RpcRecoveryModel;
    }
  | { readonly kind: 'multicast-sink'; readonly name: string; readonly port: number; readonly group: Ipv4Addr }
  /**
   * An authoritative DNS server of `zone` (absolute, as written); `records`: its initial A
   * records, absolute owner names, in file order.
   */
  | { readonly kind: 'dns'; readonly name: string; readonly port: number; readonly zone: string; readonly records: readonly (readonly [string, Ipv4Addr])[]; readonly refuseUpdates: boolean; readonly group?: Ipv4Addr; readonly serviceTime?: ServiceTimeModel };

/**
 * `partition:` of an rpc service: `replicas` servers answer a read of each key, by their place in
 * the group's members, which the service reads with the cluster key `keyName` (a server key of
 * this host) from `node` (default: the host's gateway) every `refresh`.
 */
export interface RpcPartitionModel {
  readonly replicas: number;
  readonly keyName: string;
  readonly node?: Ipv4Addr;
  readonly refresh: Duration;
}

/** `recover:` of an rpc service (slide 45): its key, the node it asks (default its gateway), the settle time. */
export interface RpcRecoveryModel {
  readonly keyName: string;
  readonly node?: Ipv4Addr;
  readonly settle: Duration;
}

/** A recovering rpc service's settle time when not given. */
export const RPC_RECOVERY_SETTLE_DEFAULT_US = 250_000;

/** A partitioned rpc service's membership refresh when not given. */
export const RPC_REFRESH_DEFAULT_US = 500_000;

export interface HostModel {
  readonly name: string;
  readonly ifaces: readonly IfaceModel[];
  readonly gateway?: Ipv4Addr;
  readonly routes: readonly { readonly dst: Ipv4Addr; readonly prefixLen: number; readonly via?: Ipv4Addr }[];
  readonly router: boolean;
  readonly mrouter: boolean;
  /** The mrouter's IGMP query interval, when not the default 125 s. */
  readonly mrouterQueryInterval?: Duration;
  readonly services: readonly ServiceModel[];
}

export type RequestModel =
  | { readonly kind: 'http'; readonly size: number; readonly path?: string }
  | { readonly kind: 'bulk' | 'udp-echo' | 'multicast'; readonly size: number }
  /** `hold`: the connection stays open and idle this long after the echo, then closes. */
  | { readonly kind: 'tcp-echo'; readonly size: number; readonly hold?: Duration }
  /** `retry`: resend every so often until answered; `recordValues`: unique values, traced (the consistency check's input). */
  | { readonly kind: 'rpc'; readonly writeRatio: number; readonly keys: number; readonly retry?: Duration; readonly recordValues?: true }
  | { readonly kind: 'ping'; readonly size: number }
  | { readonly kind: 'dns'; readonly zone: string; readonly names: number; readonly updateRatio: number; readonly retry?: Duration };

export interface WorkloadModel {
  readonly name: string;
  readonly from: string;
  readonly to: Ipv4Addr;
  readonly port?: number;
  readonly request: RequestModel;
  readonly arrival: { readonly kind: 'poisson'; readonly rate: number } | { readonly kind: 'closed'; readonly users: number; readonly think?: ServiceTimeModel };
  readonly start?: Duration;
  readonly stop?: Duration;
  readonly timeout?: Duration;
}

/** The fault vocabulary is declared once, in faults.ts (the simulator and real mode run it). */
export type { FaultAction } from './faults.ts';

export interface ClusterNodeModel {
  readonly name: string;
  readonly price: number;
  readonly publicSegment: string;
  readonly publicAddr: Ipv4Addr;
  readonly privateSegment: string;
  readonly privateAddr: Ipv4Addr;
  readonly gateway?: Ipv4Addr;
  /** Real mode only (`sg daemon`): the service process the daemon watches in /proc (slide 6). */
  readonly watch?: NodeWatchModel;
}

/** `cluster.nodes.NAME.watch`: by process name or by pid file, polled every `interval`. */
export interface NodeWatchModel {
  readonly target: { readonly kind: 'name'; readonly name: string } | { readonly kind: 'pidfile'; readonly file: string };
  readonly interval: Duration;
}

/** Bounds of `watch.interval`: /proc is read at most every 10 ms, and a death is seen within 10 s. */
export const WATCH_INTERVAL_MIN_US = 10_000;
export const WATCH_INTERVAL_MAX_US = 10_000_000;
export const WATCH_INTERVAL_DEFAULT_US = 150_000;

export interface ClusterServerModel {
  readonly host: string;
  readonly addr: Ipv4Addr;
  readonly port?: number;
  readonly weight: number;
  readonly state: 'alive' | 'pending' | 'dead';
}

export interface ClusterGroupModel {
  readonly name: string;
  readonly vip: Ipv4Addr;
  readonly port: number | 'all';
  readonly policy: 'round-robin' | 'connections' | 'packets' | 'counter';
  readonly weighted: boolean;
  readonly keepSameServer: KeepSameServer;
  readonly loadWindow: Duration;
  readonly loadFromTotals: boolean;
  readonly servers: readonly ClusterServerModel[];
  readonly health?: HealthConfig;
  /** `model:` and its write settings (slide 13); read-any when not given. */
  readonly model: GroupModel;
}

export interface ClusterKeyModel {
  readonly name: string;
  readonly key: CtlKey;
}

export interface FailoverModel {
  readonly group: Ipv4Addr;
  readonly port: number;
  readonly heartbeat: Duration;
  readonly masterTimeout: Duration;
  readonly bidTimeout: Duration;
  readonly holdDown: Duration;
  readonly stallBound: Duration;
  readonly secret: Uint8Array;
  readonly privateVip?: Ipv4Addr;
  /** Stateful failover; undefined when turned off. */
  readonly sync?: { readonly flushDelay: Duration; readonly retransmit: Duration; readonly logMax: number };
  readonly scripts?: { readonly start?: string; readonly stop?: string; readonly continue?: string; readonly timeout: Duration };
  readonly igmpRefresh: boolean;
  /** How a node's bidd/sync id is chosen: its position, or the low 32 bits of its private MAC. */
  readonly nodeId: 'index' | 'mac';
}

export interface ClusterModel {
  readonly failover?: FailoverModel;
  readonly keys: readonly ClusterKeyModel[];
  /** Multicast write addresses (slide 21). */
  readonly multicast: readonly Ipv4Addr[];
  readonly controlPort: number;
  readonly nodes: readonly ClusterNodeModel[];
  readonly groups: readonly ClusterGroupModel[];
  readonly linksMax: number;
  readonly idle: { readonly tcp: Duration; readonly udp: Duration; readonly icmp: Duration; readonly closing: Duration; readonly unanswered: Duration };
}

export type ControlModel =
  | {
      readonly kind: 'send';
      readonly at: Duration;
      readonly from: string;
      readonly node: Ipv4Addr;
      readonly key: CtlKey;
      /** The key's name, or 'explicit' for a key written in the message (a forgery). */
      readonly keyName: string;
      readonly request: { readonly cls: CtlClass; readonly op: CtlOp; readonly group: string; readonly server: string; readonly property: string; readonly data: string };
      readonly every?: Duration;
      readonly until?: Duration;
      /** Added to the sender's clock when stamping (a stale or future message). */
      readonly skew: Duration;
    }
  | { readonly kind: 'replay'; readonly at: Duration; readonly from: string; readonly of: number };

export interface FaultModel {
  readonly at: Duration;
  readonly action: FaultAction;
}

export type Match = { readonly kind: string } & { readonly [field: string]: string | number | boolean };

export type ExpectationModel =
  | { readonly kind: 'success'; readonly workload: string; readonly from: number; readonly to: number; readonly min: number }
  | { readonly kind: 'latency'; readonly workload: string; readonly p: number; readonly max: Duration; readonly from: number; readonly to: number }
  | { readonly kind: 'count'; readonly match: Match; readonly from: number; readonly to: number; readonly min?: number; readonly max?: number }
  | { readonly kind: 'value'; readonly metric: string; readonly at: Duration; readonly min?: number; readonly max?: number }
  | { readonly kind: 'never'; readonly match: Match }
  | { readonly kind: 'within'; readonly after: Match; readonly then: Match; readonly within: Duration }
  | { readonly kind: 'share'; readonly group: string; readonly server: string; readonly from: number; readonly to: number; readonly min?: number; readonly max?: number }
  /** Per key, over the rpc requests of `workloads`: no read older than a write acknowledged before it started. */
  | { readonly kind: 'consistent'; readonly workloads: readonly string[] }
  /**
   * Built in for every scenario with a cluster (the health safety property): no new link goes to a
   * Dead server while an Alive server of its group exists on that node. `initial` gives each
   * group's starting server states.
   */
  | { readonly kind: 'safety-no-link-to-dead'; readonly initial: Readonly<Record<string, readonly { readonly server: string; readonly state: string }[]>> }
  /**
   * Built in for every scenario with failover (the failover safety property): never two masters at
   * once for longer than `graceUs` (the time a healed network or a lost heartbeat needs to
   * converge), except while the network is partitioned (then each part may have its own).
   */
  | { readonly kind: 'safety-one-master'; readonly graceUs: number };

export interface ExpectationEntry {
  readonly model: ExpectationModel;
  /** Where it is written, for reports: `expect[2]` and its line. */
  readonly path: string;
  readonly line: number;
  /** The expectation as written, one line. */
  readonly text: string;
}

export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  readonly seed: number;
  readonly duration: Duration;
  readonly real: boolean;
  readonly segments: readonly SegmentModel[];
  readonly hosts: readonly HostModel[];
  readonly cluster?: ClusterModel;
  readonly control: readonly ControlModel[];
  readonly workloads: readonly WorkloadModel[];
  readonly faults: readonly FaultModel[];
  readonly expectations: readonly ExpectationEntry[];
  /** The document as parsed (before resolution), for shrinking and re-emitting. */
  readonly doc: ScenarioDoc;
}

/**
 * What the loader may look at beyond the text. `fileExists` checks that a user analyzer module
 * (`analyzer: ./a.ts`) is there; the commands that read a file pass `existsSync`. Without it
 * (a text loaded from code) the path's form is checked and the module's presence is not.
 * `modelsBuilt`: the group models a file may use (default `MODELS_BUILT`, what the engine runs);
 * tests pass every model to see the configuration a write model resolves to.
 */
export interface LoadOptions {
  readonly fileExists?: (path: string) => boolean;
  readonly modelsBuilt?: readonly GroupModelKind[];
}

export type LoadResult = { readonly ok: true; readonly scenario: Scenario } | { readonly ok: false; readonly errors: readonly ScenarioError[] };

/** Errors reported at most per file (a broken file can produce hundreds). */
export const SCENARIO_ERRORS_MAX = 50;

type PathSeg = string | number;

function dotted(path: readonly PathSeg[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

class Reporter {
  readonly errors: ScenarioError[] = [];
  constructor(
    readonly file: string,
    readonly doc: Document | undefined,
    readonly lines: LineCounter,
  ) {}

  /** Report at the node for `path` (or its nearest existing ancestor); `atKey`: at the key itself. */
  at(path: readonly PathSeg[], message: string, atKey = false): void {
    if (this.errors.length >= SCENARIO_ERRORS_MAX) return;
    let offset = 0;
    const keyOffset = atKey ? this.#keyOffset(path) : undefined;
    for (let n = path.length; keyOffset === undefined && n >= 0 && this.doc !== undefined; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as YamlNode | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) {
        offset = node.range[0];
        break;
      }
    }
    const pos = this.lines.linePos(keyOffset ?? offset);
    this.errors.push({ file: this.file, line: pos.line, col: pos.col, path: dotted(path), message });
  }

  /** Offset of the key of the last path segment in its mapping, if found. */
  #keyOffset(path: readonly PathSeg[]): number | undefined {
    const parent = this.doc?.getIn(path.slice(0, -1), true) as unknown;
    const last = path[path.length - 1];
    if (!parent || typeof parent !== 'object' || !('items' in parent)) return undefined;
    for (const pair of (parent as { items: unknown[] }).items) {
      const k = (pair as { key?: { value?: unknown; range?: [number, number, number] } }).key;
      if (k && k.value === last && k.range) return k.range[0];
    }
    return undefined;
  }

  lineOf(path: readonly PathSeg[]): number {
    const node = this.doc?.getIn(path, true) as YamlNode | undefined;
    return node?.range ? this.lines.linePos(node.range[0]).line : 1;
  }
}

// ---- schema errors, explained ----

function jsonPointerToPath(p: string): PathSeg[] {
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** For a union of objects, the variant the value was meant to be (by `kind`, or by its distinguishing key). */
function pickVariant(variants: readonly TSchema[], value: Record<string, unknown>): TSchema | undefined {
  const objs = variants.filter((v) => v[Kind] === 'Object') as (TSchema & { properties: Record<string, TSchema>; required?: string[] })[];
  if (objs.length === 0) return undefined;
  for (const tag of ['kind', 'mode']) {
    const v = value[tag];
    if (typeof v !== 'string') continue;
    const byTag = objs.find((o) => (o.properties[tag] as { const?: unknown } | undefined)?.const === v);
    if (byTag) return byTag;
  }
  const keys = Object.keys(value);
  const byKey = objs.filter((o) => (o.required ?? []).every((r) => r === 'kind' || keys.includes(r)) && keys.some((k) => k !== 'at' && k !== 'kind' && k in o.properties));
  return byKey.length === 1 ? byKey[0] : undefined;
}

function unionChoices(variants: readonly TSchema[]): string {
  const kinds = variants.map((v) => (v as { properties?: Record<string, { const?: unknown }> }).properties?.['kind']?.const).filter((k) => k !== undefined);
  if (kinds.length === variants.length) return `kind must be one of: ${kinds.join(', ')}`;
  const keys = variants.map((v) => {
    const req = ((v as { required?: string[] }).required ?? []).filter((k) => k !== 'at');
    return req.join('+') || Object.keys((v as { properties?: object }).properties ?? {}).join('|');
  });
  return `expected one of: ${keys.join(', ')}`;
}

function describeSchemaError(schema: TSchema, message: string, value: unknown): string {
  const desc = schema.description ? ` (${schema.description})` : '';
  if (message.startsWith('Expected string to match')) return `${JSON.stringify(value)} is not valid${desc}`;
  if (message === 'Unexpected property') return 'unknown key';
  return `${message.charAt(0).toLowerCase()}${message.slice(1)}${desc && !message.includes('union') ? desc : ''}`;
}

function validateInto(rep: Reporter, schema: TSchema, value: unknown, base: PathSeg[], depth = 0): void {
  if (depth > 16) return;
  const missing = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const rel = jsonPointerToPath(e.path);
    const path = [...base, ...rel];
    const key = dotted(path);
    if (missing.has(key)) continue; // a missing key also fails its type check: say it once
    if (e.message === 'Expected required property') missing.add(key);
    if (e.schema[Kind] === 'Union' && isObject(e.value)) {
      const variants = (e.schema as TSchema & { anyOf: TSchema[] }).anyOf;
      const v = pickVariant(variants, e.value);
      if (v) validateInto(rep, v, e.value, path, depth + 1);
      else rep.at(path, unionChoices(variants));
      continue;
    }
    if (e.schema[Kind] === 'Union') {
      rep.at(path, `${JSON.stringify(e.value)} is not valid${e.schema.description ? ` (${e.schema.description})` : ''}`);
      continue;
    }
    if (e.message === 'Expected required property') {
      rep.at(path, 'missing required key');
      continue;
    }
    if (e.message === 'Unexpected property') {
      rep.at(path, 'unknown key', true);
      continue;
    }
    rep.at(path, describeSchemaError(e.schema, e.message, e.value));
  }
}

// ---- resolution ----

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function inSubnet(a: Ipv4Addr, net: Ipv4Addr, len: number): boolean {
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((a & mask) >>> 0) === ((net & mask) >>> 0);
}

class Resolver {
  constructor(
    readonly rep: Reporter,
    readonly doc: ScenarioDoc,
    readonly file: string = '<scenario>',
    readonly opts: LoadOptions = {},
  ) {}

  /** A duration, at most `max` µs (DURATION_MAX_US unless the engine's limit is tighter). */
  dur(text: string | undefined, path: PathSeg[], max: number = DURATION_MAX_US): Duration | undefined {
    if (text === undefined) return undefined;
    const d = duration(text);
    if (d === undefined && (durationApproxUs(text) ?? 0) > max) this.rep.at(path, `${JSON.stringify(text)} is longer than the maximum ${formatDuration(max as Duration)}`);
    else if (d === undefined) this.rep.at(path, `${JSON.stringify(text)} is not a whole number of microseconds`);
    else if (d > max) {
      this.rep.at(path, `${JSON.stringify(text)} is longer than the maximum ${formatDuration(max as Duration)}`);
      return undefined;
    }
    return d;
  }

  /** A positive duration (the engine asserts it is > 0). */
  positive(text: string | undefined, path: PathSeg[], max?: number): Duration | undefined {
    const d = this.dur(text, path, max);
    if (d !== undefined && d <= 0) {
      this.rep.at(path, `${JSON.stringify(text)} must be longer than 0`);
      return undefined;
    }
    return d;
  }

  frac(v: string | number | undefined, path: PathSeg[]): number | undefined {
    if (v === undefined) return undefined;
    const f = fraction(v);
    if (f === undefined) this.rep.at(path, `${JSON.stringify(v)} is not a fraction in [0, 1] or a percentage up to 100%`);
    return f;
  }

  bytes(v: string | number | undefined, path: PathSeg[], max: number): number {
    if (v === undefined) return 0;
    const s = size(v);
    if (s === undefined) this.rep.at(path, `${JSON.stringify(v)} is not a whole number of bytes`);
    else if (s > max) {
      this.rep.at(path, `${JSON.stringify(v)} is more than the maximum ${max} bytes for this request kind`);
      return 0;
    }
    return s ?? 0;
  }

  addr(text: string, path: PathSeg[]): Ipv4Addr {
    const a = parseIpv4Addr(text);
    if (a === undefined) this.rep.at(path, `${JSON.stringify(text)} is not an IPv4 address`);
    return a ?? (0 as Ipv4Addr);
  }

  link(l: LinkDoc | undefined, path: PathSeg[], base: LinkProps = {}): LinkProps {
    if (l === undefined) return base;
    const out: { -readonly [K in keyof LinkProps]: LinkProps[K] } = { ...base };
    const lat = this.dur(l.latency, [...path, 'latency'], LINK_DELAY_MAX_US);
    if (lat !== undefined) out.latency = lat;
    if (l.bandwidth !== undefined) {
      const bw = bandwidth(l.bandwidth);
      if (bw === undefined || bw <= 0) this.rep.at([...path, 'bandwidth'], `${JSON.stringify(l.bandwidth)} is not a positive bandwidth`);
      else if (bw > LINK_BANDWIDTH_MAX_BPS) this.rep.at([...path, 'bandwidth'], `${JSON.stringify(l.bandwidth)} is more than the maximum ${LINK_BANDWIDTH_MAX_BPS / 1e9}Gbit`);
      else if (!Number.isSafeInteger(bw)) this.rep.at([...path, 'bandwidth'], `${JSON.stringify(l.bandwidth)} is not a whole number of bit/s`);
      else out.bandwidthBps = bw;
    }
    const loss = this.frac(l.loss, [...path, 'loss']);
    if (loss !== undefined) out.loss = loss;
    const jit = this.dur(l.jitter, [...path, 'jitter'], LINK_JITTER_MAX_US);
    if (jit !== undefined) out.jitter = jit;
    if (l.queue !== undefined) out.queueLimitFrames = l.queue;
    return out;
  }

  serviceTime(v: string | { exponential: string } | undefined, path: PathSeg[]): ServiceTimeModel | undefined {
    if (v === undefined) return undefined;
    if (typeof v === 'string') {
      const d = this.dur(v, path);
      return d === undefined ? undefined : { kind: 'fixed', d };
    }
    const m = this.dur(v.exponential, [...path, 'exponential']);
    return m === undefined ? undefined : { kind: 'exponential', mean: m };
  }

  segments(): SegmentModel[] {
    return Object.entries(this.doc.topology.segments).map(([name, s]) => {
      const [netText, lenText] = s.subnet.split('/');
      const net = this.addr(netText!, ['topology', 'segments', name, 'subnet']);
      const prefixLen = Number(lenText);
      if (prefixLen > 30) this.rep.at(['topology', 'segments', name, 'subnet'], `prefix /${prefixLen} leaves no room for hosts`);
      const q = s.querier !== undefined ? this.addr(s.querier, ['topology', 'segments', name, 'querier']) : undefined;
      return {
        name,
        net,
        prefixLen,
        link: this.link(s.link, ['topology', 'segments', name, 'link']),
        snooping: s.snooping ?? false,
        ...(q !== undefined ? { querier: q } : {}),
      };
    });
  }

  readonly seenAddrs = new Map<number, string>();

  hosts(segments: readonly SegmentModel[]): HostModel[] {
    const byName = new Map(segments.map((s) => [s.name, s]));
    const seenAddrs = this.seenAddrs;
    return Object.entries(this.doc.topology.hosts).map(([name, h]) => this.host(name, h, byName, seenAddrs));
  }

  host(name: string, h: HostDoc, segments: Map<string, SegmentModel>, seenAddrs: Map<number, string>): HostModel {
    const base: PathSeg[] = ['topology', 'hosts', name];
    const ifaces: IfaceModel[] = h.ifaces.map((i, n) => {
      const p = [...base, 'ifaces', n];
      const seg = segments.get(i.segment);
      if (seg === undefined) this.rep.at([...p, 'segment'], `unknown segment '${i.segment}' (segments: ${[...segments.keys()].join(', ') || 'none'})`);
      const ips = typeof i.ip === 'string' ? [i.ip] : i.ip;
      const addrs = ips.map((text, k) => {
        const ap: PathSeg[] = typeof i.ip === 'string' ? [...p, 'ip'] : [...p, 'ip', k];
        const [a, len] = text.split('/');
        const addr = this.addr(a!, ap);
        const prefixLen = len !== undefined ? Number(len) : (seg?.prefixLen ?? 24);
        if (seg && !inSubnet(addr, seg.net, seg.prefixLen)) this.rep.at(ap, `${formatIpv4(addr)} is outside segment ${seg.name} (${formatIpv4(seg.net)}/${seg.prefixLen})`);
        const other = seenAddrs.get(addr);
        if (other !== undefined) this.rep.at(ap, `${formatIpv4(addr)} is already used by ${other}`);
        seenAddrs.set(addr, `${name}.ifaces[${n}]`);
        return { addr, prefixLen };
      });
      return { name: i.name ?? `eth${n}`, segment: i.segment, addrs, link: this.link(i.link, [...p, 'link'], seg?.link ?? {}) };
    });
    const onSubnet = (a: Ipv4Addr) => ifaces.some((i) => i.addrs.some((x) => inSubnet(a, x.addr, x.prefixLen)));
    let gateway: Ipv4Addr | undefined;
    if (h.gateway !== undefined) {
      gateway = this.addr(h.gateway, [...base, 'gateway']);
      if (!onSubnet(gateway)) this.rep.at([...base, 'gateway'], `gateway ${h.gateway} is on none of ${name}'s subnets`);
    }
    const routes = (h.routes ?? []).map((r, k) => {
      const [a, len] = r.dst.split('/');
      const via = r.via !== undefined ? this.addr(r.via, [...base, 'routes', k, 'via']) : undefined;
      if (via !== undefined && !onSubnet(via)) this.rep.at([...base, 'routes', k, 'via'], `next hop ${r.via} is on none of ${name}'s subnets`);
      return { dst: this.addr(a!, [...base, 'routes', k, 'dst']), prefixLen: len !== undefined ? Number(len) : 32, ...(via !== undefined ? { via } : {}) };
    });
    const services = (h.services ?? []).map((s, k) => this.service(s, [...base, 'services', k]));
    const names = new Set<string>();
    services.forEach((s, k) => {
      if (names.has(s.name)) this.rep.at([...base, 'services', k], `duplicate service name '${s.name}' on ${name} (set name:)`);
      names.add(s.name);
    });
    const mr = h.mrouter;
    const qi = typeof mr === 'object' ? this.dur(mr['query-interval'], [...base, 'mrouter', 'query-interval']) : undefined;
    if (qi !== undefined && qi < 4_000) this.rep.at([...base, 'mrouter', 'query-interval'], 'query-interval must be at least 4ms');
    const isMr = mr !== undefined && mr !== false;
    return { name, ifaces, ...(gateway !== undefined ? { gateway } : {}), routes, router: (h.router ?? false) || isMr, mrouter: isMr, ...(qi !== undefined ? { mrouterQueryInterval: qi } : {}), services };
  }

  service(s: ServiceDoc, path: PathSeg[]): ServiceModel {
    const defaultPort: Record<ServiceDoc['kind'], number> = { http: 80, bulk: 21, 'tcp-echo': 7, 'udp-echo': 7, rpc: 2049, 'multicast-sink': 0, dns: 53 };
    const port = s.port ?? defaultPort[s.kind];
    const name = s.name ?? `${s.kind}:${port}`;
    switch (s.kind) {
      case 'http': {
        const st = this.serviceTime(s['service-time'], [...path, 'service-time']);
        return { kind: 'http', name, port, ...(st ? { serviceTime: st } : {}), ...(s.concurrency !== undefined ? { concurrency: s.concurrency } : {}), ...(s.queue !== undefined ? { queue: s.queue } : {}), ...(s.backlog !== undefined ? { backlog: s.backlog } : {}) };
      }
      case 'rpc': {
        const st = this.serviceTime(s['service-time'], [...path, 'service-time']);
        const g = s.group !== undefined ? this.addr(s.group, [...path, 'group']) : undefined;
        let partition: RpcPartitionModel | undefined;
        if (s.partition !== undefined) {
          const pp = [...path, 'partition'];
          const x = s.partition;
          const node = x.node !== undefined ? this.addr(x.node, [...pp, 'node']) : undefined;
          const refresh = this.dur(x.refresh, [...pp, 'refresh']) ?? (RPC_REFRESH_DEFAULT_US as Duration);
          if (refresh < RPC_REFRESH_MIN_US || refresh > RPC_REFRESH_MAX_US) this.rep.at([...pp, 'refresh'], `refresh ${x.refresh} is outside 10ms to 60s`);
          partition = { replicas: x.replicas, keyName: x['control-key'], ...(node !== undefined ? { node } : {}), refresh };
        }
        let recover: RpcRecoveryModel | undefined;
        if (s.recover !== undefined) {
          const rp = [...path, 'recover'];
          const x = s.recover;
          const node = x.node !== undefined ? this.addr(x.node, [...rp, 'node']) : undefined;
          const settle = this.dur(x.settle, [...rp, 'settle'], 60_000_000) ?? (RPC_RECOVERY_SETTLE_DEFAULT_US as Duration);
          recover = { keyName: x['control-key'], ...(node !== undefined ? { node } : {}), settle };
        }
        if (s['fail-writes'] === true && s.diverge === true) this.rep.at([...path, 'diverge'], 'a service whose writes fail stores nothing, so it cannot also diverge: give fail-writes: or diverge:, not both');
        return {
          kind: 'rpc', name, port, ...(st ? { serviceTime: st } : {}), ...(g !== undefined ? { group: g } : {}),
          ...(s['fail-writes'] === true ? { failWrites: true as const } : {}), ...(s.diverge === true ? { diverge: true as const } : {}), ...(partition !== undefined ? { partition } : {}),
          ...(recover !== undefined ? { recover } : {}),
        };
      }
      case 'multicast-sink':
        return { kind: 'multicast-sink', name, port, group: this.addr(s.group, [...path, 'group']) };
      case 'dns': {
        const st = this.serviceTime(s['service-time'], [...path, 'service-time']);
        const g = s.group !== undefined ? this.addr(s.group, [...path, 'group']) : undefined;
        const zp = dnsNameProblem(s.zone);
        if (zp !== undefined) this.rep.at([...path, 'zone'], zp);
        const records: [string, Ipv4Addr][] = [];
        for (const [owner, v] of Object.entries(s.records ?? {})) {
          const rp: PathSeg[] = [...path, 'records', owner];
          const abs = owner === '@' ? s.zone : owner.endsWith('.') ? owner : `${owner}.${s.zone}`;
          const problem = dnsNameProblem(abs);
          if (problem !== undefined) this.rep.at(rp, problem);
          else if (!dnsInZone(abs, s.zone)) this.rep.at(rp, `${owner} is not in zone ${s.zone}`);
          const addrs = typeof v === 'string' ? [v] : v;
          addrs.forEach((a, i) => records.push([abs, this.addr(a, typeof v === 'string' ? rp : [...rp, i])]));
        }
        if (records.length > DNS_ZONE_RECORDS_MAX) this.rep.at([...path, 'records'], `${records.length} records, more than the maximum ${DNS_ZONE_RECORDS_MAX}`);
        return { kind: 'dns', name, port, zone: s.zone, records, refuseUpdates: s['refuse-updates'] ?? false, ...(g !== undefined ? { group: g } : {}), ...(st ? { serviceTime: st } : {}) };
      }
      default:
        return { kind: s.kind, name, port };
    }
  }

  workload(w: WorkloadDoc, k: number, hosts: Map<string, HostModel>): WorkloadModel {
    const p: PathSeg[] = ['workload', k];
    if (!hosts.has(w.from)) this.rep.at([...p, 'from'], `unknown host '${w.from}' (hosts: ${[...hosts.keys()].join(', ')})`);
    const [addrText, portText] = w.to.split(':');
    const to = this.addr(addrText!, [...p, 'to']);
    const port = portText !== undefined ? Number(portText) : undefined;
    if (port !== undefined && !(port >= 1 && port <= 65535)) this.rep.at([...p, 'to'], `port ${port} out of range`);
    const r = w.request;
    let request: RequestModel;
    switch (r.kind) {
      case 'http':
        request = { kind: 'http', size: this.bytes(r.size, [...p, 'request', 'size'], HTTP_BODY_MAX), ...(r.path !== undefined ? { path: r.path } : {}) };
        break;
      case 'rpc': {
        const retry = this.dur(r.retry, [...p, 'request', 'retry']);
        if (retry !== undefined && retry < RPC_RETRY_MIN_US) this.rep.at([...p, 'request', 'retry'], `retry ${r.retry} is shorter than 1ms`);
        const timeoutUs = w.timeout !== undefined ? durationApproxUs(w.timeout) : 10_000_000;
        if (retry !== undefined && timeoutUs !== undefined && retry >= timeoutUs) this.rep.at([...p, 'request', 'retry'], `retry ${r.retry} is not shorter than the timeout (${w.timeout ?? '10s'}): nothing would be resent`);
        request = {
          kind: 'rpc', writeRatio: this.frac(r['write-ratio'], [...p, 'request', 'write-ratio']) ?? 0, keys: r.keys ?? 100,
          ...(retry !== undefined ? { retry } : {}), ...(r['record-values'] === true ? { recordValues: true as const } : {}),
        };
        break;
      }
      case 'ping':
        request = { kind: 'ping', size: r.size === undefined ? 56 : this.bytes(r.size, [...p, 'request', 'size'], PING_SIZE_MAX) };
        break;
      case 'dns': {
        const zp = dnsNameProblem(r.zone);
        if (zp !== undefined) this.rep.at([...p, 'request', 'zone'], zp);
        else if (dnsNameProblem(`n${(r.names ?? 10) - 1}.${r.zone}`) !== undefined) this.rep.at([...p, 'request', 'zone'], `zone ${r.zone} is too long for the names n0.${r.zone} .. (at most ${DNS_NAME_MAX} bytes)`);
        const retry = this.positive(r.retry, [...p, 'request', 'retry']);
        request = { kind: 'dns', zone: r.zone, names: r.names ?? 10, updateRatio: this.frac(r['update-ratio'], [...p, 'request', 'update-ratio']) ?? 0, ...(retry !== undefined ? { retry } : {}) };
        break;
      }
      case 'tcp-echo': {
        const hold = this.dur(r.hold, [...p, 'request', 'hold']);
        request = { kind: 'tcp-echo', size: this.bytes(r.size, [...p, 'request', 'size'], TCP_ECHO_SIZE_MAX), ...(hold !== undefined ? { hold } : {}) };
        break;
      }
      default: {
        const max = { bulk: HTTP_BODY_MAX, 'udp-echo': UDP_PAYLOAD_MAX, multicast: UDP_PAYLOAD_MAX }[r.kind];
        request = { kind: r.kind, size: this.bytes(r.size, [...p, 'request', 'size'], max) };
      }
    }
    let arrival: WorkloadModel['arrival'] = { kind: 'poisson', rate: 1 };
    if ((w.rate === undefined) === (w.users === undefined)) this.rep.at(p, 'give exactly one of rate: (open loop) or users: (closed loop)');
    else if (w.rate !== undefined) {
      const v = rate(w.rate);
      if (v === undefined || v <= 0) this.rep.at([...p, 'rate'], `${JSON.stringify(w.rate)} is not a positive rate`);
      else if (v > WORKLOAD_RATE_MAX_PER_S || v < WORKLOAD_RATE_MIN_PER_S) this.rep.at([...p, 'rate'], `${JSON.stringify(w.rate)} is outside ${WORKLOAD_RATE_MIN_PER_S}/s to ${WORKLOAD_RATE_MAX_PER_S}/s`);
      else arrival = { kind: 'poisson', rate: v };
    } else {
      const think = this.serviceTime(w.think, [...p, 'think']);
      arrival = { kind: 'closed', users: w.users!, ...(think ? { think } : {}) };
    }
    if (w.think !== undefined && w.users === undefined) this.rep.at([...p, 'think'], 'think: applies to closed-loop workloads (users:) only');
    const start = this.dur(w.start, [...p, 'start']);
    const stop = this.dur(w.stop, [...p, 'stop']);
    if (start !== undefined && stop !== undefined && stop <= start) this.rep.at([...p, 'stop'], `stop (${w.stop}) must come after start (${w.start})`);
    const timeout = this.dur(w.timeout, [...p, 'timeout']);
    return { name: w.name, from: w.from, to, ...(port !== undefined ? { port } : {}), request, arrival, ...(start !== undefined ? { start } : {}), ...(stop !== undefined ? { stop } : {}), ...(timeout !== undefined ? { timeout } : {}) };
  }

  cluster?: ClusterModel;

  /**
   * Check each partitioned rpc service's `control-key` (a server key of its own host, which
   * `members` names it by) and that it has a node to ask (`node:` or the host's gateway).
   */
  partitions(hosts: readonly HostModel[]): void {
    for (const h of hosts) {
      h.services.forEach((s, k) => {
        if (s.kind !== 'rpc') return;
        const uses: [string, { readonly keyName: string; readonly node?: Ipv4Addr }][] = [];
        if (s.partition !== undefined) uses.push(['partition', s.partition]);
        if (s.recover !== undefined) uses.push(['recover', s.recover]);
        for (const [what, use] of uses) {
          const pp: PathSeg[] = ['topology', 'hosts', h.name, 'services', k, what];
          const name = use.keyName;
          const keys = this.cluster?.keys ?? [];
          const found = keys.find((x) => x.name === name);
          const who = what === 'partition' ? 'a partitioned service' : 'a recovering service';
          if (this.cluster === undefined) this.rep.at([...pp, 'control-key'], `${who} talks to an SG node: there is no cluster: section`);
          else if (found === undefined) this.rep.at([...pp, 'control-key'], `unknown key '${name}' (keys: ${keys.map((x) => x.name).join(', ') || 'none'})`);
          else if (found.key.role.kind !== 'server') this.rep.at([...pp, 'control-key'], `key ${name} is an admin key: ${who} uses its own server's key (role: { group, server: ${h.name} })`);
          else if (found.key.role.server !== h.name) this.rep.at([...pp, 'control-key'], `key ${name} is server ${found.key.role.group}/${found.key.role.server}'s, but this service runs on ${h.name} (members names servers by host)`);
          if (use.node === undefined && h.gateway === undefined) this.rep.at(pp, `give node: (the SG node's control address): host ${h.name} has no gateway to default to`);
        }
      });
    }
  }

  /** Each workload's request kind (for expectations that need one kind). */
  workloadKinds = new Map<string, string>();

  /** Check that a group and one of its servers exist (for faults and expectations). */
  groupServer(group: string, server: string, path: PathSeg[]): void {
    const g = this.cluster?.groups.find((x) => x.name === group);
    if (g === undefined) {
      this.rep.at([...path, 'group'], this.cluster ? `unknown group '${group}' (groups: ${this.cluster.groups.map((x) => x.name).join(', ')})` : 'there is no cluster: section');
      return;
    }
    if (!g.servers.some((s) => s.host === server)) this.rep.at([...path, 'server'], `group ${group} has no server '${server}' (servers: ${g.servers.map((s) => s.host).join(', ')})`);
  }

  /** A node's `watch:` (real mode's process watch): exactly one of process: / pidfile:, interval in bounds. */
  nodeWatch(w: { process?: string; pidfile?: string; interval?: string }, path: PathSeg[]): NodeWatchModel | undefined {
    const interval = this.dur(w.interval, [...path, 'interval'], WATCH_INTERVAL_MAX_US);
    if (interval !== undefined && interval < WATCH_INTERVAL_MIN_US) this.rep.at([...path, 'interval'], `${JSON.stringify(w.interval)} is shorter than the minimum ${formatDuration(WATCH_INTERVAL_MIN_US as Duration)}`);
    if ((w.process === undefined) === (w.pidfile === undefined)) {
      this.rep.at(path, 'give exactly one of process: (a process name) or pidfile: (an absolute path)');
      return undefined;
    }
    const bad = (v: string) => v.trim() === '' || /[\0-\x1f]/.test(v);
    if (w.process !== undefined && (bad(w.process) || w.process.includes('/'))) {
      this.rep.at([...path, 'process'], `${JSON.stringify(w.process)} is not a process name (non-empty, no '/' or control characters; a path is pidfile:)`);
      return undefined;
    }
    if (w.pidfile !== undefined && (bad(w.pidfile) || !w.pidfile.startsWith('/'))) {
      this.rep.at([...path, 'pidfile'], `${JSON.stringify(w.pidfile)} is not an absolute path`);
      return undefined;
    }
    const target = w.process !== undefined ? { kind: 'name' as const, name: w.process } : { kind: 'pidfile' as const, file: w.pidfile! };
    return { target, interval: interval ?? (WATCH_INTERVAL_DEFAULT_US as Duration) };
  }

  resolveCluster(c: ClusterDoc, segments: readonly SegmentModel[], hosts: Map<string, HostModel>, seenAddrs: Map<number, string>): ClusterModel {
    const segs = new Map(segments.map((x) => [x.name, x]));
    const nodes: ClusterNodeModel[] = Object.entries(c.nodes).map(([name, n]) => {
      const base: PathSeg[] = ['cluster', 'nodes', name];
      if (hosts.has(name)) this.rep.at(base, `'${name}' is also a host name`);
      const side = (key: 'public' | 'private') => {
        const seg = segs.get(n[key].segment);
        if (seg === undefined) this.rep.at([...base, key, 'segment'], `unknown segment '${n[key].segment}' (segments: ${[...segs.keys()].join(', ')})`);
        const addr = this.addr(n[key].ip, [...base, key, 'ip']);
        if (seg && !inSubnet(addr, seg.net, seg.prefixLen)) this.rep.at([...base, key, 'ip'], `${n[key].ip} is outside segment ${seg.name}`);
        const other = seenAddrs.get(addr);
        // node-id: mac (slide 7): identical nodes may share their initial address; ARP disables it, bidd runs on the group.
        const shared = c.failover?.['node-id'] === 'mac' && other !== undefined && other.endsWith(`.${key}`) && Object.hasOwn(c.nodes, other.slice(0, -key.length - 1));
        if (other !== undefined && !shared) this.rep.at([...base, key, 'ip'], `${n[key].ip} is already used by ${other}${c.failover !== undefined ? ' (nodes may share an initial address with failover node-id: mac)' : ''}`);
        if (other === undefined) seenAddrs.set(addr, `${name}.${key}`);
        return { segment: n[key].segment, addr };
      };
      const pub = side('public');
      const priv = side('private');
      const gw = n.gateway !== undefined ? this.addr(n.gateway, [...base, 'gateway']) : undefined;
      const watch = n.watch !== undefined ? this.nodeWatch(n.watch, [...base, 'watch']) : undefined;
      return { name, price: n.price ?? 100, publicSegment: pub.segment, publicAddr: pub.addr, privateSegment: priv.segment, privateAddr: priv.addr, ...(gw !== undefined ? { gateway: gw } : {}), ...(watch !== undefined ? { watch } : {}) };
    });
    const privSeg = new Set(nodes.map((n) => n.privateSegment));
    const sharedPriv = nodes.some((n, i) => nodes.some((m, j) => j < i && m.privateAddr === n.privateAddr));
    if (sharedPriv && c.groups.some((g) => g.health !== undefined)) this.rep.at(['cluster', 'nodes'], 'nodes share a private address, so health probes (sent from it) would be answered to one node only: give each node its own private address or drop health:');
    const groupNames = new Set<string>();
    const vipPorts = new Set<string>();
    const scopes = new Map<string, { group: string; keep: KeepSameServer }>(); // keep-same-server scopes
    const groups: ClusterGroupModel[] = c.groups.map((g, gi) => {
      const base: PathSeg[] = ['cluster', 'groups', gi];
      if (groupNames.has(g.name)) this.rep.at([...base, 'name'], `duplicate group name '${g.name}'`);
      groupNames.add(g.name);
      const vip = this.addr(g.vip, [...base, 'vip']);
      const key = `${g.vip}:${g.port}`;
      if (vipPorts.has(key)) this.rep.at([...base, 'port'], `another group already serves ${key}`);
      vipPorts.add(key);
      const ks = g['keep-same-server'];
      let keep: ClusterGroupModel['keepSameServer'] = { mode: 'off' };
      const scope = ks && ks.mode !== 'off' && ks.scope !== undefined ? { scope: ks.scope } : {};
      if (ks && ks.mode === 'client') keep = { mode: 'client', timeout: this.dur(ks.timeout, [...base, 'keep-same-server', 'timeout']) ?? (0 as Duration), ...scope };
      else if (ks && ks.mode === 'subnet') keep = { mode: 'subnet', prefixLen: ks.prefix, timeout: this.dur(ks.timeout, [...base, 'keep-same-server', 'timeout']) ?? (0 as Duration), ...scope };
      if (keep.mode !== 'off' && keep.scope !== undefined) {
        const first = scopes.get(keep.scope);
        if (first === undefined) scopes.set(keep.scope, { group: g.name, keep });
        else if (!sameRule(first.keep, keep)) this.rep.at([...base, 'keep-same-server'], `scope '${keep.scope}' is shared with group ${first.group}, which keys or expires differently: groups in one scope need the same mode, prefix and timeout`);
      }
      const servers = g.servers.map((s, si) => {
        const h = hosts.get(s.host);
        let addr = 0 as Ipv4Addr;
        if (h === undefined) this.rep.at([...base, 'servers', si, 'host'], `unknown host '${s.host}' (hosts: ${[...hosts.keys()].join(', ')})`);
        else {
          const iface = h.ifaces.find((i) => privSeg.has(i.segment));
          if (iface === undefined) this.rep.at([...base, 'servers', si, 'host'], `${s.host} has no interface on an SG node's private segment (${[...privSeg].join(', ')})`);
          else addr = iface.addrs[0]!.addr;
        }
        return { host: s.host, addr, ...(s.port !== undefined ? { port: s.port } : {}), weight: s.weight ?? 1, state: s.state ?? 'alive' };
      });
      const h = g.health;
      let health: HealthConfig | undefined;
      if (h !== undefined) {
        const hp: PathSeg[] = [...base, 'health'];
        const zero = 0 as Duration;
        health = {
          keyports: h.keyports,
          ...(h['udp-keyports'] !== undefined ? { udpKeyports: h['udp-keyports'] } : {}),
          ...(h.snoop ? { snoop: { P: h.snoop.P, T: this.dur(h.snoop.T, [...hp, 'snoop', 'T']) ?? zero } } : {}),
          ...(h.porttest ? { porttest: { interval: this.dur(h.porttest.interval, [...hp, 'porttest', 'interval']) ?? zero, jitter: h.porttest.jitter ?? 0.1, timeout: this.positive(h.porttest.timeout, [...hp, 'porttest', 'timeout']) ?? zero, E: h.porttest.E } } : {}),
          ...(h.heartbeat ? { heartbeat: { H: this.positive(h.heartbeat.H, [...hp, 'heartbeat', 'H']) ?? zero } } : {}),
          ...(h.mcast ? { mcast: { M: h.mcast.M } } : {}),
          rise: h.rise ?? 1,
          slowStart: this.dur(h['slow-start'], [...hp, 'slow-start']) ?? zero,
          ...(h.panic !== undefined ? { panicThreshold: h.panic } : {}),
        };
        (h['udp-keyports'] ?? []).forEach((p, i) => {
          if (!h.keyports.includes(p)) this.rep.at([...hp, 'udp-keyports', i], `udp keyport ${p} is not in keyports [${h.keyports.join(', ')}]`);
        });
        if (h.porttest && (health.porttest?.interval ?? 0) <= 0) this.rep.at([...hp, 'porttest', 'interval'], 'interval must be positive');
        if (h.porttest && (health.porttest?.timeout ?? 0) > 0 && (health.porttest?.timeout ?? 0) >= (health.porttest?.interval ?? 0)) this.rep.at([...hp, 'porttest', 'timeout'], 'timeout must be shorter than the interval');
      }
      return {
        ...(health !== undefined ? { health } : {}),
        name: g.name,
        vip,
        port: g.port,
        policy: g.policy ?? 'round-robin',
        weighted: g.weighted ?? false,
        keepSameServer: keep,
        loadWindow: ((): Duration => {
          const w = this.dur(g['load-window'], [...base, 'load-window']) ?? (10_000_000 as Duration);
          if (w <= 0) this.rep.at([...base, 'load-window'], 'load-window must be positive');
          return w;
        })(),
        loadFromTotals: g['load-from-totals'] ?? false,
        servers,
        model: this.groupModel(g, base, servers, hosts, c),
      };
    });
    const keyNames = new Set<string>();
    const keyIds = new Set<number>();
    const keys: ClusterKeyModel[] = (c.keys ?? []).map((k, ki) => {
      const base: PathSeg[] = ['cluster', 'keys', ki];
      if (keyNames.has(k.name)) this.rep.at([...base, 'name'], `duplicate key name '${k.name}'`);
      if (keyIds.has(k.id)) this.rep.at([...base, 'id'], `duplicate key id ${k.id}`);
      keyNames.add(k.name);
      keyIds.add(k.id);
      let role: CtlKey['role'] = { kind: 'admin' };
      if (k.role !== 'admin') {
        const g = groups.find((x) => x.name === (k.role as { group: string }).group);
        if (g === undefined) this.rep.at([...base, 'role', 'group'], `unknown group '${k.role.group}'`);
        else if (!g.servers.some((s) => s.host === (k.role as { server: string }).server)) this.rep.at([...base, 'role', 'server'], `group ${g.name} has no server '${k.role.server}'`);
        role = { kind: 'server', group: k.role.group, server: k.role.server };
      }
      return { name: k.name, key: { id: k.id, secret: hexBytes(k.secret), role } };
    });
    const idle = c.idle ?? {};
    const d = (v: string | undefined, def: number, key: string) => (this.dur(v, ['cluster', 'idle', key]) ?? def) as Duration;
    let failover: FailoverModel | undefined;
    const fo = c.failover;
    if (fo !== undefined) {
      const fp: PathSeg[] = ['cluster', 'failover'];
      const z = 0 as Duration;
      const group = this.addr(fo.group, [...fp, 'group']);
      if ((group >>> 28) !== 0xe) this.rep.at([...fp, 'group'], `${fo.group} is not a multicast address`);
      const pv = fo['private-vip'] !== undefined ? this.addr(fo['private-vip'], [...fp, 'private-vip']) : undefined;
      failover = {
        group,
        port: fo.port ?? 5891,
        heartbeat: this.positive(fo.heartbeat, [...fp, 'heartbeat']) ?? z,
        masterTimeout: this.positive(fo['master-timeout'], [...fp, 'master-timeout']) ?? z,
        bidTimeout: this.positive(fo['bid-timeout'], [...fp, 'bid-timeout']) ?? z,
        holdDown: this.dur(fo['hold-down'], [...fp, 'hold-down']) ?? (10_000_000 as Duration),
        stallBound: this.positive(fo['stall-bound'], [...fp, 'stall-bound']) ?? (500_000 as Duration),
        secret: hexBytes(fo.key),
        igmpRefresh: fo['igmp-refresh'] ?? true,
        nodeId: fo['node-id'] ?? 'index',
        ...(pv !== undefined ? { privateVip: pv } : {}),
        ...(fo.scripts !== undefined
          ? {
              scripts: {
                ...(fo.scripts.start !== undefined ? { start: fo.scripts.start } : {}),
                ...(fo.scripts.stop !== undefined ? { stop: fo.scripts.stop } : {}),
                ...(fo.scripts.continue !== undefined ? { continue: fo.scripts.continue } : {}),
                timeout: this.dur(fo.scripts.timeout, [...fp, 'scripts', 'timeout']) ?? (10_000_000 as Duration),
              },
            }
          : {}),
        ...(fo.sync === false
          ? {}
          : {
              sync: {
                flushDelay: this.positive(fo.sync === true ? undefined : fo.sync?.flush, [...fp, 'sync', 'flush']) ?? (2_000 as Duration),
                retransmit: this.positive(fo.sync === true ? undefined : fo.sync?.retransmit, [...fp, 'sync', 'retransmit']) ?? (200_000 as Duration),
                logMax: (fo.sync === true ? undefined : fo.sync?.['log-max']) ?? 65_536,
              },
            }),
      };
    }
    if (failover !== undefined && failover.heartbeat > 0 && failover.masterTimeout > 0 && failover.masterTimeout <= failover.heartbeat) {
      this.rep.at(['cluster', 'failover', 'master-timeout'], `master-timeout (${fo!['master-timeout']}) must be longer than heartbeat (${fo!.heartbeat})`);
    }
    return {
      ...(failover !== undefined ? { failover } : {}),
      keys,
      multicast: (c.multicast ?? []).map((m, i) => {
        const a = this.addr(m, ['cluster', 'multicast', i]);
        if ((a >>> 28) !== 0xe || (a >>> 8) === 0xe00000) this.rep.at(['cluster', 'multicast', i], `${m} is not a routable multicast address (224.0.1.0 to 239.255.255.255)`);
        return a;
      }),
      controlPort: c['control-port'] ?? CTL_PORT_DEFAULT,
      nodes,
      groups,
      linksMax: c['links-max'] ?? 1_000_000,
      idle: { tcp: d(idle.tcp, 900_000_000, 'tcp'), udp: d(idle.udp, 30_000_000, 'udp'), icmp: d(idle.icmp, 10_000_000, 'icmp'), closing: d(idle.closing, 10_000_000, 'closing'), unanswered: d(idle.unanswered, 10_000_000, 'unanswered') },
    };
  }

  /** A group's `model:` and its write settings (slide 13), each problem at its line. */
  groupModel(g: ClusterDoc['groups'][number], base: PathSeg[], servers: readonly ClusterServerModel[], hosts: Map<string, HostModel>, c: ClusterDoc): GroupModel {
    const kind = g.model ?? 'read-any';
    const writeKeys = ['analyzer', 'write-fanout', 'write-group', 'writes-pending', 'write-timeout', 'replies-held'] as const;
    if (kind === 'read-any') {
      for (const k of writeKeys) if (g[k] !== undefined) this.rep.at([...base, k], `${k}: has no effect on a read-any group (it is a setting of model: read-one-write-all or read-first-write-all)`, true);
      return READ_ANY;
    }
    const mp: PathSeg[] = [...base, 'model'];
    const notUdp = this.notUdpService(g, servers, hosts);
    if (notUdp !== undefined) this.rep.at(mp, `${kind} needs a UDP request/reply service (slide 13); ${notUdp}`);
    let analyzer: AnalyzerRef = { kind: 'builtin', name: 'rpc' };
    if (g.analyzer === undefined) this.rep.at(mp, `${kind} needs analyzer: (the packet analyzer that tells a write from a read and a reply's request, slide 25): one of ${RW_ANALYZER_NAMES.join(', ')}, or a module path ending in ${RW_ANALYZER_MODULE_EXTS.join(', ')}`);
    else analyzer = this.analyzer(g.analyzer, [...base, 'analyzer']) ?? analyzer;
    let fanout: WriteFanout = { kind: 'unicast' };
    const wg = g['write-group'];
    if ((g['write-fanout'] ?? 'multicast') === 'multicast') {
      if (wg === undefined) this.rep.at(mp, `write-fanout multicast (the default) needs write-group: the multicast address on the private segment the servers join (slides 15, 21), e.g. 239.1.1.1; or write-fanout: unicast`);
      else {
        const a = this.addr(wg, [...base, 'write-group']);
        fanout = { kind: 'multicast', group: a };
        if ((a >>> 28) !== 0xe || (a >>> 8) === 0xe00000) this.rep.at([...base, 'write-group'], `${wg} is not a routable multicast address (224.0.1.0 to 239.255.255.255; 224.0.0.x is link-local control)`);
        else if (c.failover !== undefined && wg === c.failover.group) this.rep.at([...base, 'write-group'], `${wg} is also cluster.failover.group (the nodes' bidding group)`);
        else for (const s of servers) {
          const port = s.port ?? g.port;
          const svc = hosts.get(s.host)?.services.find((x) => (x.kind === 'rpc' || x.kind === 'dns') && x.port === port);
          if ((svc?.kind === 'rpc' || svc?.kind === 'dns') && svc.group !== a) this.rep.at([...base, 'write-group'], `${s.host}/${svc.name} joins ${svc.group !== undefined ? formatIpv4(svc.group) : 'no multicast group'} (its group:), so it would not hear the writes sent to ${wg}`);
        }
      }
    } else if (wg !== undefined) this.rep.at([...base, 'write-group'], 'write-group: has no effect with write-fanout: unicast (each server gets its own copy)', true);
    const timeout = this.dur(g['write-timeout'], [...base, 'write-timeout'], WRITE_TIMEOUT_MAX_US);
    if (timeout !== undefined && timeout < WRITE_TIMEOUT_MIN_US) this.rep.at([...base, 'write-timeout'], `${JSON.stringify(g['write-timeout'])} is shorter than the minimum ${formatDuration(WRITE_TIMEOUT_MIN_US as Duration)}`);
    const repliesHeldMax = g['replies-held'] ?? REPLIES_HELD_DEFAULT;
    if (repliesHeldMax < servers.length) this.rep.at([...base, 'replies-held'], `replies-held ${repliesHeldMax} is fewer than the group's ${servers.length} servers: no write could collect every reply`);
    if (!(this.opts.modelsBuilt ?? MODELS_BUILT).includes(kind)) {
      this.rep.at(mp, `model ${kind} is not built in the engine: sg does not run this file rather than balance the group as read-any; the model's settings are checked`);
    }
    const writeAll = { analyzer, fanout, writesPendingMax: g['writes-pending'] ?? WRITES_PENDING_DEFAULT, writeTimeout: (timeout ?? WRITE_TIMEOUT_DEFAULT_US) as Duration, repliesHeldMax };
    return { kind, writeAll };
  }

  /** `analyzer:`: a built-in name, or a module path (relative to the scenario file) that exists. */
  analyzer(text: string, path: PathSeg[]): AnalyzerRef | undefined {
    if (RW_ANALYZER_MODULE_EXTS.some((e) => text.endsWith(e))) {
      const slash = this.file.lastIndexOf('/');
      const resolved = text.startsWith('/') ? text : slash < 0 ? text : `${this.file.slice(0, slash + 1)}${text.replace(/^(\.\/)+/, '')}`;
      if (this.opts.fileExists !== undefined && !this.opts.fileExists(resolved)) {
        this.rep.at(path, `analyzer module ${JSON.stringify(text)} not found (looked for ${resolved}, relative to the scenario file)`);
        return undefined;
      }
      return { kind: 'module', path: text, resolved };
    }
    if ((RW_ANALYZER_NAMES as readonly string[]).includes(text)) return { kind: 'builtin', name: text as RwAnalyzerName };
    this.rep.at(path, `unknown analyzer '${text}' (built in: ${RW_ANALYZER_NAMES.join(', ')}; or a module path ending in ${RW_ANALYZER_MODULE_EXTS.join(', ')})`);
    return undefined;
  }

  /**
   * Why group `g` is not a UDP request/reply service, if the file says so: its port is all or 0
   * (ICMP), a server runs a TCP service on the port, its health probes the port as TCP, or a
   * workload sends TCP or ping to it.
   */
  notUdpService(g: ClusterDoc['groups'][number], servers: readonly ClusterServerModel[], hosts: Map<string, HostModel>): string | undefined {
    if (g.port === 'all') return "this group's port is all (every port, TCP and ICMP too): give the service's UDP port";
    if (g.port === 0) return "this group's port is 0, ICMP echo";
    const tcpKinds = new Set(['http', 'bulk', 'tcp-echo']);
    for (const s of servers) {
      const port = s.port ?? g.port;
      const svc = hosts.get(s.host)?.services.find((x) => x.port === port && tcpKinds.has(x.kind));
      if (svc !== undefined) return `this group's port ${g.port} is served by ${s.host}/${svc.name}, a TCP service (${svc.kind}) on port ${port}`;
    }
    const h = g.health;
    if (h !== undefined && h.keyports.includes(g.port) && !(h['udp-keyports'] ?? []).includes(g.port)) return `this group's health probes port ${g.port} as TCP (it is in keyports, not in udp-keyports)`;
    for (const w of this.doc.workload ?? []) {
      const [a, p] = w.to.split(':');
      if (a !== g.vip || p === undefined || Number(p) !== g.port) continue;
      if (w.request.kind === 'rpc' || w.request.kind === 'udp-echo' || w.request.kind === 'multicast' || w.request.kind === 'dns') continue; // UDP
      return `workload ${w.name} sends ${w.request.kind} (${w.request.kind === 'ping' ? 'ICMP' : 'TCP'}) to ${w.to}`;
    }
    return undefined;
  }

  control(c: ControlDoc, k: number, hosts: Map<string, HostModel>, count: number): ControlModel {
    const p: PathSeg[] = ['control', k];
    if (!hosts.has(c.from)) this.rep.at([...p, 'from'], `unknown host '${c.from}' (hosts: ${[...hosts.keys()].join(', ')})`);
    const at = this.dur(c.at, [...p, 'at']) ?? (0 as Duration);
    if ('replay' in c) {
      if (c.replay >= count || c.replay === k) this.rep.at([...p, 'replay'], `control[${c.replay}] is not another control message`);
      return { kind: 'replay', at, from: c.from, of: c.replay };
    }
    let key: CtlKey = { id: 0, secret: new Uint8Array(16), role: { kind: 'admin' } };
    let keyName = 'explicit';
    if (typeof c.key === 'string') {
      const found = this.cluster?.keys.find((x) => x.name === c.key);
      if (found === undefined) this.rep.at([...p, 'key'], `unknown key '${c.key}' (keys: ${this.cluster?.keys.map((x) => x.name).join(', ') || 'none'})`);
      else {
        key = found.key;
        keyName = found.name;
      }
    } else key = { id: c.key.id, secret: hexBytes(c.key.secret), role: { kind: 'admin' } };
    const target = c.target ?? '';
    const slash = target.indexOf('/');
    const group = c.class === 'cluster' ? '' : slash < 0 ? target : target.slice(0, slash);
    const server = c.class === 'server' ? (slash < 0 ? '' : target.slice(slash + 1)) : '';
    if (c.class === 'server' && server === '') this.rep.at([...p, 'target'], 'a server command names group/server');
    const every = this.dur(c.every, [...p, 'every']);
    if (every !== undefined && every <= 0) this.rep.at([...p, 'every'], 'every must be positive');
    const until = this.dur(c.until, [...p, 'until']);
    return {
      kind: 'send',
      at,
      from: c.from,
      node: this.addr(c.node, [...p, 'node']),
      key,
      keyName,
      request: { cls: c.class, op: c.op, group, server, property: c.property ?? '', data: c.value === undefined ? '' : String(c.value) },
      ...(every !== undefined ? { every } : {}),
      ...(until !== undefined ? { until } : {}),
      skew: this.dur(c.skew, [...p, 'skew']) ?? (0 as Duration),
    };
  }

  fault(f: FaultDoc, k: number, hosts: Map<string, HostModel>, links: Set<string>, sgNodes: ReadonlySet<string>): FaultModel {
    const p: PathSeg[] = ['faults', k];
    const at = this.dur(f.at, [...p, 'at']) ?? (0 as Duration);
    const sgNode = (name: string, key: string): string => {
      if (!sgNodes.has(name)) this.rep.at([...p, key], `'${name}' is not an SG node with failover (nodes: ${[...sgNodes].join(', ') || 'none'})`);
      return name;
    };
    const host = (name: string, key: string): string => {
      if (!hosts.has(name)) this.rep.at([...p, key], `unknown host '${name}' (hosts: ${[...hosts.keys()].join(', ')})`);
      return name;
    };
    const link = (name: string, path: PathSeg[]): string => {
      if (!links.has(name)) this.rep.at(path, `unknown link '${name}' (links are named host.iface, e.g. ${[...links].slice(0, 3).join(', ')})`);
      return name;
    };
    const svc = (text: string, key: string): { host: string; service: string } => {
      const i = text.indexOf('/');
      const hn = text.slice(0, i);
      const sn = text.slice(i + 1);
      const h = hosts.get(hn);
      if (h === undefined) this.rep.at([...p, key], `unknown host '${hn}'`);
      else if (!h.services.some((s) => s.name === sn)) this.rep.at([...p, key], `host ${hn} has no service '${sn}' (services: ${h.services.map((s) => s.name).join(', ') || 'none'})`);
      return { host: hn, service: sn };
    };
    let action: FaultAction;
    if ('crash' in f) action = { kind: 'crash', host: host(f.crash, 'crash') };
    else if ('restart' in f) action = { kind: 'restart', host: host(f.restart, 'restart') };
    else if ('signal' in f) action = { kind: 'signal', host: sgNode(f.signal, 'signal') };
    else if ('watched-down' in f) action = { kind: 'watched-down', host: sgNode(f['watched-down'], 'watched-down') };
    else if ('watched-up' in f) action = { kind: 'watched-up', host: sgNode(f['watched-up'], 'watched-up') };
    else if ('kill' in f) action = { kind: 'kill', ...svc(f.kill, 'kill') };
    else if ('hang' in f) action = { kind: 'hang', ...svc(f.hang, 'hang') };
    else if ('start' in f) action = { kind: 'start', ...svc(f.start, 'start') };
    else if ('link-down' in f) action = { kind: 'link-down', link: link(f['link-down'], [...p, 'link-down']) };
    else if ('link-up' in f) action = { kind: 'link-up', link: link(f['link-up'], [...p, 'link-up']) };
    else if ('partition' in f) {
      f.partition.forEach((g, gi) => g.forEach((n, ni) => {
        if (!hosts.has(n)) this.rep.at([...p, 'partition', gi, ni], `unknown host '${n}'`);
      }));
      action = { kind: 'partition', groups: f.partition };
    } else if ('heal' in f) action = { kind: 'heal' };
    else if ('loss' in f) action = { kind: 'loss', link: link(f.loss.link, [...p, 'loss', 'link']), p: this.frac(f.loss.p, [...p, 'loss', 'p']) ?? 0, duration: this.dur(f.loss.for, [...p, 'loss', 'for'], LINK_DELAY_MAX_US) ?? (0 as Duration) };
    else if ('delay' in f) action = { kind: 'delay', link: link(f.delay.link, [...p, 'delay', 'link']), extra: this.dur(f.delay.extra, [...p, 'delay', 'extra'], LINK_DELAY_MAX_US) ?? (0 as Duration), duration: this.dur(f.delay.for, [...p, 'delay', 'for'], LINK_DELAY_MAX_US) ?? (0 as Duration) };
    else if ('server-state' in f) {
      const x = f['server-state'];
      this.groupServer(x.group, x.server, [...p, 'server-state']);
      action = { kind: 'server-state', group: x.group, server: x.server, state: x.state };
    } else if ('counter' in f) {
      const x = f.counter;
      this.groupServer(x.group, x.server, [...p, 'counter']);
      action = { kind: 'counter', group: x.group, server: x.server, value: x.value };
    } else {
      const c = f.clock;
      host(c.host, 'clock');
      if ((c.rate === undefined) === (c.stall === undefined)) this.rep.at([...p, 'clock'], 'give exactly one of rate: or stall:');
      action = c.rate !== undefined ? { kind: 'clock-rate', host: c.host, rate: c.rate } : { kind: 'clock-stall', host: c.host, duration: this.dur(c.stall, [...p, 'clock', 'stall']) ?? (0 as Duration) };
    }
    return { at, action };
  }

  expectation(e: ExpectationDoc, k: number, workloads: Set<string>): ExpectationModel {
    const p: PathSeg[] = ['expect', k];
    const window = (b: readonly [string, string] | undefined, path: PathSeg[]): { from: number; to: number } => {
      if (b === undefined) return { from: 0, to: Number.POSITIVE_INFINITY };
      const from = this.dur(b[0], [...path, 0]) ?? 0;
      const to = this.dur(b[1], [...path, 1]) ?? 0;
      if (to <= from) this.rep.at(path, `the window [${b[0]}, ${b[1]}) is empty`);
      return { from, to };
    };
    const wl = (name: string, path: PathSeg[]): string => {
      if (!workloads.has(name)) this.rep.at(path, `unknown workload '${name}' (workloads: ${[...workloads].join(', ') || 'none'})`);
      return name;
    };
    const match = (m: MatchDoc, path: PathSeg[]): Match => {
      // A filter no event can satisfy would make never:/count: pass silently.
      for (const x of matchProblems(m)) this.rep.at([...path, x.field], x.message, x.atKey);
      return m as Match;
    };
    if ('success' in e) {
      const s = e.success;
      return { kind: 'success', workload: wl(s.workload, [...p, 'success', 'workload']), ...window(s.between, [...p, 'success', 'between']), min: this.frac(s.min, [...p, 'success', 'min']) ?? 1 };
    }
    if ('latency' in e) {
      const l = e.latency;
      return { kind: 'latency', workload: wl(l.workload, [...p, 'latency', 'workload']), p: l.p, max: this.dur(l.max, [...p, 'latency', 'max']) ?? (0 as Duration), ...window(l.between, [...p, 'latency', 'between']) };
    }
    if ('count' in e) {
      const c = e.count;
      if (c.min === undefined && c.max === undefined) this.rep.at([...p, 'count'], 'give min:, max: or both');
      return { kind: 'count', match: match(c.match, [...p, 'count', 'match']), ...window(c.between, [...p, 'count', 'between']), ...(c.min !== undefined ? { min: c.min } : {}), ...(c.max !== undefined ? { max: c.max } : {}) };
    }
    if ('value' in e) {
      const v = e.value;
      if (v.min === undefined && v.max === undefined) this.rep.at([...p, 'value'], 'give min:, max: or both');
      return { kind: 'value', metric: v.metric, at: this.dur(v.at, [...p, 'value', 'at']) ?? (0 as Duration), ...(v.min !== undefined ? { min: v.min } : {}), ...(v.max !== undefined ? { max: v.max } : {}) };
    }
    if ('never' in e) return { kind: 'never', match: match(e.never, [...p, 'never']) };
    if ('share' in e) {
      const x = e.share;
      this.groupServer(x.group, x.server, [...p, 'share']);
      if (x.min === undefined && x.max === undefined) this.rep.at([...p, 'share'], 'give min:, max: or both');
      const min = this.frac(x.min, [...p, 'share', 'min']);
      const max = this.frac(x.max, [...p, 'share', 'max']);
      return { kind: 'share', group: x.group, server: x.server, ...window(x.between, [...p, 'share', 'between']), ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
    }
    if ('consistent' in e) {
      const c = e.consistent;
      const names = c.workloads.map((name, i) => {
        const path = [...p, 'consistent', 'workloads', i];
        wl(name, path);
        const kind = this.workloadKinds.get(name);
        if (kind !== undefined && kind !== 'rpc') this.rep.at(path, `workload ${name} sends ${kind} requests: the consistency check reads rpc reads and writes`);
        return name;
      });
      return { kind: 'consistent', workloads: names };
    }
    const w = e.within;
    return { kind: 'within', after: match(w.after, [...p, 'within', 'after']), then: match(w.then, [...p, 'within', 'then']), within: this.dur(w.within, [...p, 'within', 'within']) ?? (0 as Duration) };
  }
}

/** Names of the links a scenario builds: `<host>.<iface>` for each interface. */
export function linkNames(hosts: readonly HostModel[]): string[] {
  return hosts.flatMap((h) => h.ifaces.map((i) => `${h.name}.${i.name}`));
}

function oneLine(v: unknown): string {
  return JSON.stringify(v).replace(/"([A-Za-z_-][\w-]*)":/g, '$1: ').replace(/,/g, ', ');
}

/** Load a scenario from YAML text. `file` names it in errors. */
export function loadScenario(text: string, file = '<scenario>', opts: LoadOptions = {}): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  const rep = new Reporter(file, doc, lines);
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    rep.errors.push({ file, line: pos.line, col: pos.col, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (rep.errors.length > 0) return { ok: false, errors: rep.errors };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // An alias to an anchor that does not exist, or an alias bomb.
    rep.at([], `YAML: ${(e as Error).message.split('\n')[0]}`);
    return { ok: false, errors: rep.errors };
  }
  if (!isObject(value)) {
    rep.at([], 'a scenario is a YAML mapping (name:, duration:, topology:, ...)');
    return { ok: false, errors: rep.errors };
  }
  validateInto(rep, ScenarioSchema, value, []);
  if (rep.errors.length > 0) return { ok: false, errors: rep.errors };
  const sdoc = value as ScenarioDoc;
  const r = new Resolver(rep, sdoc, file, opts);
  const durationUs = r.positive(sdoc.duration, ['duration'], SCENARIO_DURATION_MAX_US) ?? (0 as Duration);
  const segments = r.segments();
  const hosts = r.hosts(segments);
  const hostMap = new Map(hosts.map((h) => [h.name, h]));
  const cluster = sdoc.cluster !== undefined ? r.resolveCluster(sdoc.cluster, segments, hostMap, r.seenAddrs) : undefined;
  if (cluster !== undefined) r.cluster = cluster;
  const workloads = (sdoc.workload ?? []).map((w, k) => r.workload(w, k, hostMap));
  const wlNames = new Set<string>();
  workloads.forEach((w, k) => {
    if (wlNames.has(w.name)) rep.at(['workload', k, 'name'], `duplicate workload name '${w.name}'`);
    wlNames.add(w.name);
    r.workloadKinds.set(w.name, w.request.kind);
  });
  r.partitions(hosts);
  // Every interface on a segment is a port of its switch.
  const cabled = new Map<string, number>();
  for (const seg of [...hosts.flatMap((h) => h.ifaces.map((i) => i.segment)), ...(cluster?.nodes.flatMap((n) => [n.publicSegment, n.privateSegment]) ?? [])]) cabled.set(seg, (cabled.get(seg) ?? 0) + 1);
  for (const [seg, n] of cabled) if (n > SWITCH_PORTS_MAX) rep.at(['topology', 'segments', seg], `${n} interfaces on segment ${seg}, more than its switch's ${SWITCH_PORTS_MAX} ports`, true);
  const links = new Set([...linkNames(hosts), ...(cluster?.nodes.flatMap((n) => [`${n.name}.eth0`, `${n.name}.eth1`]) ?? [])]);
  // Cluster nodes crash and restart like hosts.
  const crashable = new Map<string, HostModel>(hostMap);
  for (const n of cluster?.nodes ?? []) crashable.set(n.name, { name: n.name, ifaces: [], routes: [], router: false, mrouter: false, services: [] });
  const sgNodes = new Set(cluster?.failover !== undefined ? cluster.nodes.map((n) => n.name) : []);
  const faults = (sdoc.faults ?? []).map((f, k) => r.fault(f, k, crashable, links, sgNodes));
  faults.forEach((f, k) => {
    if (f.at > durationUs) rep.at(['faults', k, 'at'], `at ${sdoc.faults![k]!.at} is after the end of the run (duration ${sdoc.duration})`);
  });
  const control = (sdoc.control ?? []).map((c, k) => r.control(c, k, hostMap, (sdoc.control ?? []).length));
  const expectations = (sdoc.expect ?? []).map((e, k) => ({
    model: r.expectation(e, k, wlNames),
    path: `expect[${k}]`,
    line: rep.lineOf(['expect', k]),
    text: oneLine(e),
  }));
  if (rep.errors.length > 0) return { ok: false, errors: rep.errors };
  // The workloads a consistency check reads record their values (unique writes, traced).
  const checked = new Set(expectations.flatMap((e) => (e.model.kind === 'consistent' ? e.model.workloads : [])));
  const resolved = workloads.map((w) => (w.request.kind === 'rpc' && checked.has(w.name) && w.request.recordValues !== true ? { ...w, request: { ...w.request, recordValues: true as const } } : w));
  if (cluster !== undefined) {
    expectations.push({
      model: { kind: 'safety-no-link-to-dead', initial: Object.fromEntries(cluster.groups.map((g) => [g.name, g.servers.map((s) => ({ server: s.host, state: s.state }))])) },
      path: 'safety',
      line: rep.lineOf(['cluster']),
      text: 'built-in: no new link goes to a Dead server while an Alive one exists',
    });
  }
  if (cluster?.failover !== undefined) {
    const fo = cluster.failover;
    expectations.push({
      // Two masters that hear each other converge at the next heartbeat: allow two intervals.
      model: { kind: 'safety-one-master', graceUs: 2 * fo.heartbeat },
      path: 'safety',
      line: rep.lineOf(['cluster', 'failover']),
      text: 'built-in: never two masters at once, outside partitions, beyond the convergence time',
    });
  }
  return {
    ok: true,
    scenario: {
      file,
      name: sdoc.name,
      ...(sdoc.description !== undefined ? { description: sdoc.description } : {}),
      seed: sdoc.seed ?? 1,
      duration: durationUs,
      real: sdoc.real ?? false,
      segments,
      hosts,
      ...(cluster !== undefined ? { cluster } : {}),
      control,
      workloads: resolved,
      faults,
      expectations,
      doc: sdoc,
    },
  };
}
