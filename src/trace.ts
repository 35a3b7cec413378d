/**
 * The trace: everything observable as a typed event (STYLE.md 12, after XState's inspection
 * events), in one versioned JSON Lines format shared by the simulator, real mode and the
 * visualizer.
 *
 * A trace file is a header line then one event per line:
 *   {"kind":"header","format":"sg-trace","version":1,"seed":7,"scenario":"failover-basic"}
 *   {"kind":"frame","id":1,"t":1500,"node":"sg1","link":"eth0","dir":"tx","len":60,"summary":"ARP who-has 10.0.0.1"}
 *
 * Every event has `id` (assigned by the sink, 1, 2, 3, ... per run), `t` (integer µs since the
 * run's epoch), and optionally `cause` (the id of the event that caused it) and `node` (the host
 * or SG node). Serialisation is deterministic: keys in the order declared in `EVENT_FIELDS`,
 * integers for ids, times and lengths, numbers in ECMAScript's shortest round-trip form.
 *
 * Adding a kind: declare its interface, add it to `TraceEvent`, give its fields in
 * `EVENT_FIELDS` (the compiler insists every field is listed with the right optionality).
 * Adding an optional field to a kind keeps the version; anything else bumps `TRACE_VERSION`.
 *
 * The vocabulary is closed: a decision's `what` and its detail fields (`DECISION_DETAILS`), a
 * state event's `machine` (`MACHINES`) and a drop's `layer` and `reason` (`DROP_REASONS`) are
 * declared here once. The engine, the simulator, the expectations and the viewer all take their
 * types from these tables, so a misspelt name is a compile error in code and a load error in a
 * scenario. Adding a name keeps the version too; a reader that does not know it refuses that line
 * (`parseTraceLine` names the unknown value) and reads the rest.
 */

import type { Instant } from './time.ts';
import { assert, assertNever } from './assert.ts';
import { ANALYZER_REASONS } from './rw/analyzer.ts';
import { CTL_STATUS, type CtlStatus } from './wire/feedback.ts';
import { fail, ok, PARSE_REASONS, type ParseLayer, type Parsed, type ParseReason } from './wire/result.ts';

export const TRACE_FORMAT = 'sg-trace';
export const TRACE_VERSION = 1;

export interface TraceHeader {
  readonly kind: 'header';
  readonly format: typeof TRACE_FORMAT;
  readonly version: number;
  readonly seed?: number | string;
  readonly scenario?: string;
  /** Wall-clock start (ISO 8601). Real mode only: simulated traces omit it to stay byte-identical. */
  readonly startedAt?: string;
}

/** Fields every event carries. */
export interface TraceBase {
  /** Monotonic per run, assigned by the sink (first event is 1). */
  readonly id: number;
  readonly t: Instant;
  /** Id of the event that caused this one. */
  readonly cause?: number;
  /** Host or SG node name. */
  readonly node?: string;
}

export type FrameDir = 'tx' | 'rx' | 'drop';
export const FRAME_DIRS = ['tx', 'rx', 'drop'] as const satisfies readonly FrameDir[];

/** Why a simulated link or node lost a frame (a `frame` event with dir 'drop'). */
export const FRAME_DROP_REASONS = [
  'loss', 'queue-full', 'link-down', 'partition', // a link (sim/net/link.ts)
  'rx-queue-full', 'node-down', // an SG node busy, stalled or crashed (sim/engine-node.ts)
] as const;
export type FrameDropReason = (typeof FRAME_DROP_REASONS)[number];

/** A frame on a link or interface. */
export interface FrameEvent extends TraceBase {
  readonly kind: 'frame';
  /** Link or interface name. */
  readonly link: string;
  readonly dir: FrameDir;
  /** Frame length in bytes. */
  readonly len: number;
  /** One-line decode, e.g. 'TCP 10.0.0.9:40000 > 10.0.0.1:80 [S]'. */
  readonly summary: string;
  /** Why it was dropped (dir 'drop'). */
  readonly reason?: FrameDropReason;
}

// ---- the closed vocabulary: machines, decisions, drops ----

/** The state machines that trace their transitions. */
export const MACHINES = [
  // The SG node's: its election role (slide 9), a server's health as it sees it (slide 34),
  // its IGMP membership per group.
  'bidd', 'server', 'igmp-host',
  // The simulator's devices: links, switch ports and snooping, services, hosts' TCP and ARP,
  // the multicast router.
  'link', 'switch-port', 'igmp-member', 'igmp-router', 'service', 'tcp', 'arp', 'mroute-membership', 'igmp-querier',
] as const;
export type Machine = (typeof MACHINES)[number];

/** A decision detail field: its type, a closed set of strings, and whether it may be absent. */
export interface DetailField {
  readonly type: 'string' | 'number' | 'boolean';
  readonly values?: readonly string[];
  readonly optional?: true;
}

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const bool = { type: 'boolean' } as const;
const opt = <F extends DetailField>(f: F): F & { readonly optional: true } => ({ ...f, optional: true });
const oneOf = <const V extends readonly string[]>(values: V): { readonly type: 'string'; readonly values: V } => ({ type: 'string', values });

const CTL_STATUSES = Object.keys(CTL_STATUS) as readonly CtlStatus[];

/**
 * Every decision and its detail fields, in the order producers write them. A detail is a flat
 * record of strings, numbers and booleans (`DetailValue`); `DecisionDetail<W>` is its type.
 */
export const DECISION_DETAILS = {
  /** A client's first packet got a link: the balancer's pick and why ('policy', 'affinity', ...). */
  'link-new': { group: str, server: str, client: str, sport: num, proto: num, reason: str },
  /** A first packet got no link: the table is full, or the server-side 5-tuple is taken. */
  'link-drop': { reason: oneOf(['table-full', 'server-key-taken']), group: str, client: str, sport: num },
  /** An unanswered link of a dead server moved to another server. */
  'link-remap': { group: str, from: str, to: str, client: str, sport: num },
  /** A peer's bidd or sync stream adopted a new incarnation (after a freshness exchange). */
  'peer-incarnation': { peer: num, stream: oneOf(['bidd', 'sync']), incarnation: num, seq: num, previous: opt(num) },
  /** A failover script ran (start, stop, continue ...). */
  script: { which: str, state: str, epoch: num, command: opt(str) },
  'carrier-up': { iface: str, state: str },
  'carrier-down': { iface: str, state: str },
  'watched-up': { state: str },
  'watched-down': { state: str },
  /** An IGMP report timer was armed. */
  'igmp-report-timer': { iface: str, group: str, delayUs: num, maxUs: num, trigger: str },
  /** A restarted node's link table caught up with the master's (or still waits). */
  'sync-ready': { position: num, links: num },
  'sync-wait': { position: num, links: num },
  /** SGctrld's verdict on a feedback-protocol command. */
  ctl: {
    status: oneOf(CTL_STATUSES), reply: bool, applied: bool, src: str, key: num, id: num, op: str, cls: str, target: str, property: str,
    role: opt(oneOf(['admin', 'server'])), value: opt(str), from: opt(str), to: opt(str), message: opt(str),
  },
  /** A control sender's answer: its `control:` entry (`index`) or fault (`fault`), verified or not. */
  'ctl-reply': { index: opt(num), fault: opt(num), verified: opt(bool), bytes: opt(num), status: opt(str), data: opt(str), reason: opt(str) },
  /** A simulated host saw its own address claimed by another MAC. */
  'arp-address-conflict': { iface: str, addr: str, mac: str, action: oneOf(['disable', 'ignore']) },
  /**
   * The read/write models (slides 15-20): a write sent to `members` servers; its answer (the
   * largest group of equal replies had `copies`; 'failure': every reply failed; 'none': nobody
   * answered); a server turned off for replying failure; a server outside the answer ('value')
   * or silent ('timeout'); a write refused while the group is read-only (slide 45).
   */
  'write-begin': { group: str, client: str, id: str, members: num },
  'write-answer': { group: str, client: str, id: str, copies: num, members: num, status: oneOf(['ok', 'failure', 'none']) },
  'write-turn-off': { group: str, server: str, client: str, id: str },
  'write-mismatch': { group: str, server: str, client: str, id: str, why: oneOf(['value', 'timeout']) },
  'write-refused': { group: str, client: str, id: str, reason: oneOf(['read-only']), replied: bool },
  /** A simulated host gave up resolving a next hop. */
  'arp-failed': { iface: str, target: str, queued: num },
} as const satisfies Readonly<Record<string, Readonly<Record<string, DetailField>>>>;

export type DecisionWhat = keyof typeof DECISION_DETAILS;
export const DECISION_WHATS = Object.keys(DECISION_DETAILS) as readonly DecisionWhat[];

type DetailFieldValue<F> = F extends { readonly values: readonly (infer V)[] } ? V : F extends { readonly type: 'string' } ? string : F extends { readonly type: 'boolean' } ? boolean : number;
type IsOptional<F> = F extends { readonly optional: true } ? true : false;
type DetailOf<D> = {
  readonly [K in keyof D as IsOptional<D[K]> extends true ? never : K]: DetailFieldValue<D[K]>;
} & {
  readonly [K in keyof D as IsOptional<D[K]> extends true ? K : never]?: DetailFieldValue<D[K]>;
};
type Flat<T> = { readonly [K in keyof T]: T[K] };
/** The detail record of decision `W`. */
export type DecisionDetail<W extends DecisionWhat> = Flat<DetailOf<(typeof DECISION_DETAILS)[W]>>;

const AUTH_DROPS = ['unauthenticated', 'replay', 'unverified', 'peers-full'] as const;
/** The control port's refusals, sampled like drops (every status but 'ok'). */
const CTL_DROPS = CTL_STATUSES.filter((s): s is Exclude<CtlStatus, 'ok'> => s !== 'ok');

/**
 * Every drop layer and its reason codes. A codec's layer takes every parse reason (a parse error
 * is a drop of that layer); the rest are the engine's and the simulator's own refusals.
 */
export const DROP_REASONS = {
  ethernet: [...PARSE_REASONS, 'unknown-iface'],
  arp: [...PARSE_REASONS, 'unresolved', 'queue-full', 'martian', 'arp-queue-full', 'arp-table-full'],
  ipv4: [...PARSE_REASONS, 'not-for-us', 'ttl-expired', 'ttl-exceeded', 'too-big', 'martian', 'unknown-protocol', 'no-route', 'directed-broadcast'],
  icmp: [...PARSE_REASONS, 'bad-quote', 'rate-limited'],
  igmp: PARSE_REASONS,
  tcp: [...PARSE_REASONS, 'not-unicast', 'no-route', 'too-big'],
  udp: [...PARSE_REASONS, 'no-socket'],
  bidd: [...PARSE_REASONS, ...AUTH_DROPS],
  sync: [...PARSE_REASONS, ...AUTH_DROPS, 'unknown-server', 'table-full', 'server-key-taken', 'other-group'],
  fresh: [...PARSE_REASONS, 'unauthenticated', 'other-group', 'rate-limited', 'unexpected'],
  stamp: PARSE_REASONS,
  feedback: [...PARSE_REASONS, 'bad-message'],
  rpc: PARSE_REASONS,
  oncrpc: PARSE_REASONS,
  pcap: PARSE_REASONS,
  pcapng: PARSE_REASONS,
  trace: PARSE_REASONS,
  /** The NAT path (slides 16-19). */
  nat: ['standby', 'fragment', 'no-link', 'truncated', 'no-group', 'no-server', 'table-full', 'server-key-taken'],
  /** A datagram to the node itself that is not a ping. */
  local: ['unsupported'],
  /** Multicast writes (slide 21). */
  mcast: ['standby', 'not-udp'],
  /**
   * The read/write models: what the group's analyzer refused, and the engine's own: a port the
   * analyzer does not serve, no server in service, a bound reached (writes pending, reads
   * pending, replies held), a write refused read-only with no reply to give, a retransmission
   * of a write still collecting (not written twice), a reply after its race or vote ended, a
   * reply to no request, a write no member answered, a read no member could serve without going
   * back in time (each owes a write already acknowledged).
   */
  rw: [...ANALYZER_REASONS, 'not-mine', 'no-member', 'writes-full', 'reads-full', 'replies-full', 'read-only', 'retransmit', 'late-reply', 'unknown-reply', 'unanswered', 'no-reader'],
  /** The node's transmit queue. */
  tx: ['queue-full'],
  /** The control port (SGctrld). */
  ctl: CTL_DROPS,
  /** Drops of further keys once a summary interval tells DROP_KEYS_MAX apart (src/engine/drop-trace.ts). */
  other: ['other'],
  /** Simulated devices and hosts. */
  switch: ['port-disabled', 'truncated', 'bad-source', 'bad-igmp'],
  /** A service's own: started on a crashed host; a partitioned RPC server's read of a key it does not hold. */
  service: ['host-down', 'not-responsible'],
  host: ['host-down'],
} as const satisfies Readonly<Record<ParseLayer, readonly string[]>> & Readonly<Record<string, readonly string[]>>;

export type DropLayer = keyof typeof DROP_REASONS;
export const DROP_LAYERS = Object.keys(DROP_REASONS) as readonly DropLayer[];
/** The reasons of layer `L` (of any layer, without one). */
export type DropReason<L extends DropLayer = DropLayer> = (typeof DROP_REASONS)[L][number];
/** A layer with one of its own reasons. */
export type DropCause = { readonly [L in DropLayer]: { readonly layer: L; readonly reason: DropReason<L> } }[DropLayer];
/** 'layer/reason', how counters name a drop. */
export type DropKey = { readonly [L in DropLayer]: `${L}/${DropReason<L>}` }[DropLayer];
/** Every reason of any layer, each once. */
export const ALL_DROP_REASONS: readonly DropReason[] = [...new Set(Object.values(DROP_REASONS).flat())];

// A parse error names its codec and a parse reason: every codec's layer takes every parse reason.
type TakesParseReasons = { readonly [L in ParseLayer]: [ParseReason] extends [DropReason<L>] ? L : never }[ParseLayer];
const PARSE_ERRORS_ARE_DROPS: ParseLayer extends TakesParseReasons ? true : never = true;
void PARSE_ERRORS_ARE_DROPS;

const DROP_REASON_SETS: { readonly [L in DropLayer]: ReadonlySet<string> } = Object.fromEntries(
  DROP_LAYERS.map((l) => [l, new Set<string>(DROP_REASONS[l])]),
) as unknown as { readonly [L in DropLayer]: ReadonlySet<string> };

/** Whether `reason` is one of `layer`'s reasons. */
export function isDropCause(layer: string, reason: string): boolean {
  return Object.hasOwn(DROP_REASON_SETS, layer) && DROP_REASON_SETS[layer as DropLayer].has(reason);
}

export function isDecisionWhat(what: string): what is DecisionWhat {
  return Object.hasOwn(DECISION_DETAILS, what);
}

/** A state machine transition. */
export interface StateEvent extends TraceBase {
  readonly kind: 'state';
  /** Which instance, e.g. 'web/rs1' or 'sg1'. */
  readonly entity: string;
  readonly machine: Machine;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

/** An injected fault starting or ending. */
export interface FaultEvent extends TraceBase {
  readonly kind: 'fault';
  readonly what: string;
  readonly target: string;
  readonly detail?: string;
}

/** A sampled metric. */
export interface MetricEvent extends TraceBase {
  readonly kind: 'metric';
  readonly name: string;
  readonly value: number;
  readonly labels?: Readonly<Record<string, string>>;
}

export type DetailValue = string | number | boolean;

/** A choice the engine made (a balancing pick, an election result) and what it was based on. */
export interface DecisionOf<W extends DecisionWhat> extends TraceBase {
  readonly kind: 'decision';
  readonly what: W;
  readonly detail: DecisionDetail<W>;
}
export type DecisionEvent = { readonly [W in DecisionWhat]: DecisionOf<W> }[DecisionWhat];

/**
 * Bad input counted and dropped (STYLE.md 2), with a stable reason code such as 'bad-checksum'.
 * One event is one drop, unless it has `count`: a summary of that many drops of this layer and
 * reason since `since`, none of them traced one by one (an SG node under a flood traces a few
 * per second one by one and summarises the rest, src/engine/drop-trace.ts).
 */
export type DropEvent = DropFields & DropCause;

interface DropFields extends TraceBase {
  readonly kind: 'drop';
  /** A free-text note (which node, which address). */
  readonly detail?: string;
  /** A summary: the number of drops it stands for. */
  readonly count?: number;
  /** A summary: when its interval began (µs). */
  readonly since?: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly LogLevel[];

export interface LogEvent extends TraceBase {
  readonly kind: 'log';
  readonly level: LogLevel;
  readonly msg: string;
}

export type RequestStatus = 'ok' | 'timeout' | 'refused' | 'reset' | 'unreachable' | 'error';
export const REQUEST_STATUSES = ['ok', 'timeout', 'refused', 'reset', 'unreachable', 'error'] as const satisfies readonly RequestStatus[];

/**
 * One client request's outcome, traced when it completes or fails (`t` is the end time). The
 * workload generators of the simulator and real mode's clients both emit it, so expectations
 * (delivery ratio in a window, latency percentiles) read one format.
 */
export interface RequestEvent extends TraceBase {
  readonly kind: 'request';
  /** Service name, e.g. 'web' or 'vip:80'. */
  readonly service: string;
  /** Request kind, e.g. 'http-get', 'rpc-read', 'ping', 'bulk'. */
  readonly op: string;
  readonly status: RequestStatus;
  /** When the request started (µs). */
  readonly start: number;
  /** Latency in µs (end - start). */
  readonly latency: number;
  /** Payload bytes received, when it matters (bulk transfers). */
  readonly bytes?: number;
  /** Which server answered, when known. */
  readonly server?: string;
  /**
   * An RPC request of a workload that records values (for the consistency check): whether it
   * read or wrote, its key, and the value it wrote or (when answered) the value it read.
   */
  readonly rw?: 'read' | 'write';
  readonly key?: number;
  readonly value?: number;
  /**
   * A recorded request's start in the run's time (µs), where `start` and `latency` are the
   * client's own clock (a host's clock may run fast or slow): the consistency check compares
   * requests of different clients, so it orders them by `since` and `t`.
   */
  readonly since?: number;
}

/** What an RPC request did (`RequestEvent.rw`). */
export const REQUEST_RW = ['read', 'write'] as const;

export type TraceEvent = FrameEvent | StateEvent | FaultEvent | MetricEvent | DecisionEvent | DropEvent | LogEvent | RequestEvent;
export type TraceKind = TraceEvent['kind'];
export type TraceEventOf<K extends TraceKind> = Extract<TraceEvent, { readonly kind: K }>;
/** What a producer hands to `TraceSink.emit`: an event without its id. */
export type TraceEventInput = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 'id'> : never) : never;
export type TraceRecord = TraceHeader | TraceEvent;

// ---- field table: one source for serialisation order and validation ----

export type FieldType = 'string' | 'int' | 'number' | 'labels' | 'detail' | 'enum';

export interface FieldSpecBase {
  readonly type: FieldType;
  /** Allowed values of an 'enum' field. */
  readonly values?: readonly string[];
  /** What an 'enum' value names, for messages ('decision': "unknown decision 'x'"). */
  readonly noun?: string;
}

type OwnKeys<E> = Exclude<keyof E, keyof TraceBase | 'kind'>;
type FieldSpecFor<E, F extends keyof E> = {} extends Pick<E, F>
  ? FieldSpecBase & { readonly optional: true }
  : FieldSpecBase & { readonly optional?: false };
type KindFields<E> = { readonly [F in OwnKeys<E>]-?: FieldSpecFor<E, F> };

/** Each kind's own fields, in serialisation order. */
export const EVENT_FIELDS: { readonly [K in TraceKind]: KindFields<TraceEventOf<K>> } = {
  frame: {
    link: { type: 'string' },
    dir: { type: 'enum', values: FRAME_DIRS },
    len: { type: 'int' },
    summary: { type: 'string' },
    reason: { type: 'enum', values: FRAME_DROP_REASONS, noun: 'frame drop reason', optional: true },
  },
  state: {
    entity: { type: 'string' },
    machine: { type: 'enum', values: MACHINES, noun: 'machine' },
    from: { type: 'string' },
    to: { type: 'string' },
    reason: { type: 'string' },
  },
  fault: {
    what: { type: 'string' },
    target: { type: 'string' },
    detail: { type: 'string', optional: true },
  },
  metric: {
    name: { type: 'string' },
    value: { type: 'number' },
    labels: { type: 'labels', optional: true },
  },
  decision: {
    what: { type: 'enum', values: DECISION_WHATS, noun: 'decision' },
    detail: { type: 'detail' },
  },
  drop: {
    layer: { type: 'enum', values: DROP_LAYERS, noun: 'drop layer' },
    reason: { type: 'enum', values: ALL_DROP_REASONS, noun: 'drop reason' },
    detail: { type: 'string', optional: true },
    count: { type: 'int', optional: true },
    since: { type: 'int', optional: true },
  },
  log: {
    level: { type: 'enum', values: LOG_LEVELS },
    msg: { type: 'string' },
  },
  request: {
    service: { type: 'string' },
    op: { type: 'string' },
    status: { type: 'enum', values: REQUEST_STATUSES },
    start: { type: 'int' },
    latency: { type: 'int' },
    bytes: { type: 'int', optional: true },
    server: { type: 'string', optional: true },
    rw: { type: 'enum', values: REQUEST_RW, optional: true },
    key: { type: 'int', optional: true },
    value: { type: 'number', optional: true },
    since: { type: 'int', optional: true },
  },
};

export const TRACE_KINDS = Object.keys(EVENT_FIELDS) as readonly TraceKind[];

/** The fields every event has (`TraceBase`), in serialisation order. */
export const BASE_FIELDS: { readonly [F in keyof TraceBase]-?: FieldSpecFor<TraceBase, F> } = {
  id: { type: 'int' },
  t: { type: 'int' },
  cause: { type: 'int', optional: true },
  node: { type: 'string', optional: true },
};

export type TraceFieldSpec = FieldSpecBase & { readonly optional?: boolean };

/** Every field an event of `kind` can carry, base fields first (for checking expectation filters). */
export function traceFields(kind: TraceKind): readonly (readonly [string, TraceFieldSpec])[] {
  return [...Object.entries(BASE_FIELDS), ...fieldsOf(kind)];
}

export function isTraceKind(kind: string): kind is TraceKind {
  return Object.hasOwn(EVENT_FIELDS, kind);
}

function fieldsOf(kind: TraceKind): readonly (readonly [string, TraceFieldSpec])[] {
  return FIELD_LISTS[kind];
}

/** Each kind's own fields as [name, spec] in order, listed once (readers walk them per line). */
const FIELD_LISTS: { readonly [K in TraceKind]: readonly (readonly [string, TraceFieldSpec])[] } = Object.fromEntries(
  TRACE_KINDS.map((k) => [k, Object.entries(EVENT_FIELDS[k])]),
) as unknown as { readonly [K in TraceKind]: readonly (readonly [string, TraceFieldSpec])[] };

// ---- checking values (shared by the writer, which asserts, and the parser, which reports) ----

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Why `v` is not a valid value of `spec`, or undefined when it is. */
function checkValue(spec: FieldSpecBase, v: unknown): string | undefined {
  switch (spec.type) {
    case 'string':
      return typeof v === 'string' ? undefined : 'not a string';
    case 'int':
      return isCount(v) ? undefined : 'not a non-negative integer';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? undefined : 'not a finite number';
    case 'enum':
      if (typeof v === 'string' && (spec.values ?? []).includes(v)) return undefined;
      return spec.noun === undefined ? `not one of ${(spec.values ?? []).join('|')}` : `unknown ${spec.noun} ${JSON.stringify(v)} (known: ${(spec.values ?? []).join(', ')})`;
    case 'labels':
      if (!isRecord(v)) return 'not an object';
      return Object.values(v).every((x) => typeof x === 'string') ? undefined : 'a label value is not a string';
    case 'detail':
      if (!isRecord(v)) return 'not an object';
      return Object.values(v).every(
        (x) => typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x)),
      )
        ? undefined
        : 'a detail value is not a string, finite number or boolean';
    default:
      return assertNever(spec.type, 'trace field type');
  }
}

/** Why a value is not of detail field `f`, or undefined when it is. */
function detailFieldProblem(f: DetailField, v: unknown): string | undefined {
  if (f.values !== undefined) return typeof v === 'string' && f.values.includes(v) ? undefined : `not one of ${f.values.join('|')}`;
  if (f.type === 'number') return typeof v === 'number' && Number.isFinite(v) ? undefined : 'not a finite number';
  return typeof v === f.type ? undefined : `not a ${f.type}`;
}

/**
 * What the field table cannot say alone, for an event whose fields each passed it: a drop's
 * reason must be one of its layer's, a decision's detail must have its declared fields with their
 * types. Extra detail keys are allowed here (a newer producer's optional additions); the writer
 * refuses them (`strict`), so what this code writes is exactly the declared vocabulary.
 */
function vocabularyProblem(rec: Readonly<Record<string, unknown>>, strict: boolean): string | undefined {
  if (rec['kind'] === 'drop') {
    const layer = rec['layer'] as DropLayer;
    const reason = rec['reason'] as string;
    return isDropCause(layer, reason) ? undefined : `drop.reason: ${JSON.stringify(reason)} is not a reason of layer ${JSON.stringify(layer)} (its reasons: ${DROP_REASONS[layer].join(', ')})`;
  }
  if (rec['kind'] !== 'decision') return undefined;
  const what = rec['what'] as DecisionWhat;
  const detail = rec['detail'] as Readonly<Record<string, unknown>>;
  const spec: Readonly<Record<string, DetailField>> = DECISION_DETAILS[what];
  for (const name in spec) {
    const f = spec[name]!;
    const v = Object.hasOwn(detail, name) ? detail[name] : undefined;
    if (v === undefined) {
      if (f.optional === true) continue;
      return `decision ${what}: detail.${name}: missing`;
    }
    const bad = detailFieldProblem(f, v);
    if (bad !== undefined) return `decision ${what}: detail.${name}: ${bad}`;
  }
  if (strict) {
    for (const name of Object.keys(detail)) {
      if (!Object.hasOwn(spec, name)) return `decision ${what}: detail.${name}: not a detail of ${what} (its details: ${Object.keys(spec).join(', ')})`;
    }
  }
  return undefined;
}

// ---- writing ----

function jsonValue(v: unknown): string {
  // Records keep the producer's key order (deterministic code gives deterministic order);
  // numbers use ECMAScript's shortest round-trip form, the same on every engine.
  return JSON.stringify(v);
}

/** One record as a JSON line (no trailing newline). Asserts the record is well-formed: a bad event is our bug. */
export function formatTraceRecord(rec: TraceRecord): string {
  const parts: string[] = [`"kind":${jsonValue(rec.kind)}`];
  const put = (key: string, v: unknown): void => {
    if (v !== undefined) parts.push(`${jsonValue(key)}:${jsonValue(v)}`);
  };
  if (rec.kind === 'header') {
    put('format', rec.format);
    put('version', rec.version);
    put('seed', rec.seed);
    put('scenario', rec.scenario);
    put('startedAt', rec.startedAt);
    return `{${parts.join(',')}}`;
  }
  assert(isTraceKind(rec.kind), `unknown trace kind ${JSON.stringify(rec.kind)}`);
  assert(isCount(rec.id), `trace id must be a non-negative integer, got ${rec.id}`);
  assert(isCount(rec.t), `trace t must be integer µs, got ${rec.t}`);
  assert(rec.cause === undefined || isCount(rec.cause), `trace cause must be an event id, got ${rec.cause}`);
  put('id', rec.id);
  put('t', rec.t);
  put('cause', rec.cause);
  put('node', rec.node);
  const fields = rec as unknown as Record<string, unknown>;
  for (const [name, spec] of fieldsOf(rec.kind)) {
    const v = fields[name];
    if (v === undefined) {
      assert(spec.optional === true, `${rec.kind} event is missing ${name}`);
      continue;
    }
    const bad = checkValue(spec, v);
    assert(bad === undefined, `${rec.kind}.${name}: ${bad}`);
    put(name, v);
  }
  const bad = vocabularyProblem(fields, true);
  assert(bad === undefined, bad ?? '');
  return `{${parts.join(',')}}`;
}

// ---- sinks ----

/** Where the engine sends events. The sink assigns and returns the id (1, 2, 3, ...). */
export interface TraceSink {
  emit(ev: TraceEventInput): number;
}

function withId(ev: TraceEventInput, id: number): TraceEvent {
  return { ...ev, id } as TraceEvent;
}

/** Discards events but still hands out increasing ids, so `cause` links stay meaningful. */
export class NullTrace implements TraceSink {
  #lastId = 0;

  emit(_ev: TraceEventInput): number {
    return ++this.#lastId;
  }
}

export const MEMORY_TRACE_EVENTS_MAX = 1_000_000;

/** Keeps events in an array, for tests and the in-process visualizer. */
export class MemoryTrace implements TraceSink {
  readonly events: TraceEvent[] = [];
  readonly maxEvents: number;
  #lastId = 0;

  constructor(options: { readonly maxEvents?: number } = {}) {
    this.maxEvents = options.maxEvents ?? MEMORY_TRACE_EVENTS_MAX;
  }

  emit(ev: TraceEventInput): number {
    assert(this.events.length < this.maxEvents, `MemoryTrace full: maxEvents ${this.maxEvents}`);
    const id = ++this.#lastId;
    this.events.push(withId(ev, id));
    return id;
  }

  /** The events of one kind, typed by it. */
  ofKind<K extends TraceKind>(kind: K): TraceEventOf<K>[] {
    return this.events.filter((e): e is TraceEventOf<K> => e.kind === kind);
  }

  /** The decisions of one name, their details typed by it. */
  decisions<W extends DecisionWhat>(what: W): Extract<DecisionEvent, { readonly what: W }>[] {
    return this.events.filter((e): e is Extract<DecisionEvent, { readonly what: W }> => e.kind === 'decision' && e.what === what);
  }
}

export type TraceHeaderMeta = Omit<TraceHeader, 'kind' | 'format' | 'version'>;

/**
 * Writes the header and then one line per event through `write` (each line without its
 * newline; the writer adds one). The same events always give the same bytes.
 */
export class JsonlTrace implements TraceSink {
  readonly #write: (line: string) => void;
  #lastId = 0;

  constructor(write: (line: string) => void, meta: TraceHeaderMeta = {}) {
    this.#write = write;
    write(formatTraceRecord({ kind: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, ...meta }));
  }

  emit(ev: TraceEventInput): number {
    const id = ++this.#lastId;
    this.#write(formatTraceRecord(withId(ev, id)));
    return id;
  }
}

// ---- reading ----

const LAYER = 'trace';

/**
 * Parse one line of a trace file. Never throws: malformed input is `{ ok: false }` with layer
 * 'trace' and one of these reasons (the detail names the field):
 *   'truncated'   not JSON (typically the cut-off last line of a crashed run)
 *   'unsupported' not an object, unknown kind, a field missing or of the wrong type, or a name
 *                 outside the vocabulary (a decision, machine, drop layer or reason this reader
 *                 does not know: the detail names it and the known ones; a decision's detail
 *                 missing a declared field or with one of the wrong type)
 *   'bad-magic'   a header whose format is not 'sg-trace'
 *   'bad-version' a header whose version this reader does not speak
 * Unknown extra keys are ignored (an older reader of a newer minor addition); the value holds
 * only the known fields, in declared order, so `formatTraceRecord(value)` re-emits the line.
 */
export function parseTraceLine(line: string): Parsed<TraceRecord> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return fail(LAYER, 'truncated', 'not JSON');
  }
  if (!isRecord(raw)) return fail(LAYER, 'unsupported', 'not a JSON object');
  if (raw['kind'] === 'header') return parseHeader(raw);
  const bad = traceEventProblem(raw);
  if (bad !== undefined) return fail(LAYER, 'unsupported', bad);
  const kind = raw['kind'] as TraceKind;
  const out: [string, unknown][] = [['kind', kind], ['id', raw['id']], ['t', raw['t']]];
  if (raw['cause'] !== undefined) out.push(['cause', raw['cause']]);
  if (raw['node'] !== undefined) out.push(['node', raw['node']]);
  for (const [name] of FIELD_LISTS[kind]) {
    const v = Object.hasOwn(raw, name) ? raw[name] : undefined;
    // Records are copied with fromEntries (own data properties), so a "__proto__" key stays data.
    if (v !== undefined) out.push([name, isRecord(v) ? Object.fromEntries(Object.entries(v)) : v]);
  }
  return ok(Object.fromEntries(out) as unknown as TraceEvent);
}

/**
 * Why `raw`, a parsed JSON object that is not a header, is not a trace event; undefined when it
 * is one. The checks of `parseTraceLine` (its detail strings) without its copy, for a reader that
 * keeps the objects it parsed (the viewer, where a million events must load in seconds).
 */
export function traceEventProblem(raw: Readonly<Record<string, unknown>>): string | undefined {
  const kind = raw['kind'];
  if (typeof kind !== 'string') return 'missing kind';
  if (!isTraceKind(kind)) return `unknown kind ${JSON.stringify(kind)}`;
  if (!isCount(raw['id'])) return `${kind}.id: missing or not a non-negative integer`;
  if (!isCount(raw['t'])) return `${kind}.t: missing or not a non-negative integer`;
  const cause = raw['cause'];
  if (cause !== undefined && !isCount(cause)) return `${kind}.cause: not a non-negative integer`;
  const node = raw['node'];
  if (node !== undefined && typeof node !== 'string') return `${kind}.node: not a string`;
  for (const [name, spec] of FIELD_LISTS[kind]) {
    const v = Object.hasOwn(raw, name) ? raw[name] : undefined;
    if (v === undefined) {
      if (spec.optional === true) continue;
      return `${kind}.${name}: missing`;
    }
    const bad = checkValue(spec, v);
    if (bad !== undefined) return `${kind}.${name}: ${bad}`;
  }
  return vocabularyProblem(raw, false);
}

function parseHeader(raw: Record<string, unknown>): Parsed<TraceRecord> {
  const { format, version, seed, scenario, startedAt } = raw;
  if (format !== TRACE_FORMAT) return fail(LAYER, 'bad-magic', `format ${JSON.stringify(format)} is not ${TRACE_FORMAT}`);
  if (version !== TRACE_VERSION) return fail(LAYER, 'bad-version', `version ${JSON.stringify(version)}, expected ${TRACE_VERSION}`);
  const out: [string, unknown][] = [
    ['kind', 'header'],
    ['format', TRACE_FORMAT],
    ['version', TRACE_VERSION],
  ];
  if (seed !== undefined) {
    if (typeof seed !== 'string' && !(typeof seed === 'number' && Number.isSafeInteger(seed))) {
      return fail(LAYER, 'unsupported', 'header.seed: not a string or integer');
    }
    out.push(['seed', seed]);
  }
  if (scenario !== undefined) {
    if (typeof scenario !== 'string') return fail(LAYER, 'unsupported', 'header.scenario: not a string');
    out.push(['scenario', scenario]);
  }
  if (startedAt !== undefined) {
    if (typeof startedAt !== 'string') return fail(LAYER, 'unsupported', 'header.startedAt: not a string');
    out.push(['startedAt', startedAt]);
  }
  return ok(Object.fromEntries(out) as unknown as TraceHeader);
}
