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
 */

import type { Instant } from './time.ts';
import { assert, assertNever } from './assert.ts';
import { fail, ok, type Parsed } from './wire/result.ts';

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
  /** Why it was dropped (dir 'drop'), a stable code such as 'loss' or 'queue-full'. */
  readonly reason?: string;
}

/** A state machine transition. */
export interface StateEvent extends TraceBase {
  readonly kind: 'state';
  /** Which instance, e.g. 'server:10.0.1.5' or 'sg1'. */
  readonly entity: string;
  /** Which machine, e.g. 'health' or 'bidd'. */
  readonly machine: string;
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
export interface DecisionEvent extends TraceBase {
  readonly kind: 'decision';
  readonly what: string;
  readonly detail: Readonly<Record<string, DetailValue>>;
}

/**
 * Bad input counted and dropped (STYLE.md 2), with a stable reason code such as 'bad-checksum'.
 * One event is one drop, unless it has `count`: a summary of that many drops of this layer and
 * reason since `since`, none of them traced one by one (an SG node under a flood traces a few
 * per second one by one and summarises the rest, src/engine/drop-trace.ts).
 */
export interface DropEvent extends TraceBase {
  readonly kind: 'drop';
  /** Which layer said no, e.g. 'ipv4' or 'feedback'. */
  readonly layer: string;
  readonly reason: string;
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
}

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
    reason: { type: 'string', optional: true },
  },
  state: {
    entity: { type: 'string' },
    machine: { type: 'string' },
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
    what: { type: 'string' },
    detail: { type: 'detail' },
  },
  drop: {
    layer: { type: 'string' },
    reason: { type: 'string' },
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

function fieldsOf(kind: TraceKind): readonly (readonly [string, FieldSpecBase & { readonly optional?: boolean }])[] {
  return Object.entries(EVENT_FIELDS[kind]);
}

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
      return typeof v === 'string' && (spec.values ?? []).includes(v) ? undefined : `not one of ${(spec.values ?? []).join('|')}`;
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
 *   'unsupported' not an object, unknown kind, or a field missing or of the wrong type
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
  const kind = raw['kind'];
  if (typeof kind !== 'string') return fail(LAYER, 'unsupported', 'missing kind');
  if (kind === 'header') return parseHeader(raw);
  if (!isTraceKind(kind)) return fail(LAYER, 'unsupported', `unknown kind ${JSON.stringify(kind)}`);

  const out: [string, unknown][] = [['kind', kind]];
  const id = raw['id'];
  const t = raw['t'];
  const cause = raw['cause'];
  const node = raw['node'];
  if (!isCount(id)) return fail(LAYER, 'unsupported', `${kind}.id: missing or not a non-negative integer`);
  if (!isCount(t)) return fail(LAYER, 'unsupported', `${kind}.t: missing or not a non-negative integer`);
  out.push(['id', id], ['t', t]);
  if (cause !== undefined) {
    if (!isCount(cause)) return fail(LAYER, 'unsupported', `${kind}.cause: not a non-negative integer`);
    out.push(['cause', cause]);
  }
  if (node !== undefined) {
    if (typeof node !== 'string') return fail(LAYER, 'unsupported', `${kind}.node: not a string`);
    out.push(['node', node]);
  }
  for (const [name, spec] of fieldsOf(kind)) {
    const v = Object.hasOwn(raw, name) ? raw[name] : undefined;
    if (v === undefined) {
      if (spec.optional === true) continue;
      return fail(LAYER, 'unsupported', `${kind}.${name}: missing`);
    }
    const bad = checkValue(spec, v);
    if (bad !== undefined) return fail(LAYER, 'unsupported', `${kind}.${name}: ${bad}`);
    // Records are copied with fromEntries (own data properties), so a "__proto__" key stays data.
    out.push([name, isRecord(v) ? Object.fromEntries(Object.entries(v)) : v]);
  }
  return ok(Object.fromEntries(out) as unknown as TraceEvent);
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
