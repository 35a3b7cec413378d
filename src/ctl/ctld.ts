/**
 * SGctrld (slide 27): the node's side of the feedback protocol, sans-IO. It is handed a
 * datagram (or a parsed command), the time and the sender's address, and hands back what to send
 * (a signed result, or nothing), the change it applied, and one trace event; the caller sends,
 * and emits the event with its `t` and `node`.
 *
 * Each message goes through these gates, in order; the first that says no decides (the README's
 * "The control plane" says why each answers or stays silent):
 *
 *   1. rate      per source address, before any parsing or MAC work (ratelimit.ts): over the
 *                serve bucket 'limited' (see 4), over the reject bucket too dropped unread.
 *   2. structure the codec's parser; a result sent to the node is no command. No answer.
 *   3. key + MAC unknown key id or HMAC mismatch: 'unauthenticated', NO ANSWER.
 *   4. rate      a 'limited' message: signed 'rate-limited', nothing applied.
 *   5. time      timestamp outside clock ± window: signed 'stale'.
 *   6. replay    (key id, timestamp) already accepted: signed 'replay' (see ReplayCache).
 *   7. command   role and names (#execute), property, value, order and admin hold (#set).
 *
 * Two clocks: `now`, the node's Instant, paces the rate limiter and stamps the writes; `stampUs`
 * is what message timestamps are read against (the same in the simulator, wall-clock µs in real
 * mode). The highest `stampUs` seen is the clock, so a wall clock stepped back never reopens
 * replays.
 */

import type { Instant } from '../time.ts';
import { formatIpv4, type Ipv4Addr } from '../wire/addr.ts';
import { encodeResult, FEEDBACK_DATA_MAX, parseFeedback, verifyFeedback } from '../wire/feedback.ts';
import { assert, assertNever } from '../assert.ts';
import type { DecisionDetail, DropReason } from '../trace.ts';
import {
  formatValue,
  mayWrite,
  parseValue,
  propNames,
  propSpec,
  valueFits,
  type PropRef,
  type PropValue,
  type PropWrite,
  type Writer,
} from './properties.ts';
import { RATE_LIMIT_DEFAULTS, SourceLimiter, SOURCES_MAX_DEFAULT, type RateLimitConfig, type RateVerdict } from './ratelimit.ts';
import { CTL_CLASS, CTL_OP, CTL_STATUS, type CtlCommand, type CtlKey, type CtlResult, type CtlRole, type CtlStatus } from './types.ts';

/** Accepted clock skew between a sender and the node, each way (µs). */
export const CTL_WINDOW_US_DEFAULT = 30_000_000;
/** Timestamps remembered per key within the window. */
export const REPLAY_CACHE_MAX_DEFAULT = 8_192;
/** Keys in the table at most. */
export const KEYS_MAX = 4_096;
/** Shortest secret accepted (bytes). */
export const KEY_SECRET_MIN = 16;
/** Largest key id (the wire carries a u16). */
export const KEY_ID_MAX = 0xffff;

// ---- the target ------------------------------------------------------------------------------

/** Who asked for a write: an admin key, or a server key about its own server. */
export type WriteOrigin = CtlRole['kind'];

export type WriteOutcome =
  /** Applied. */
  | { readonly ok: true }
  /** Refused by the target as a whole, nothing changed. */
  | { readonly ok: false; readonly status: 'not-supported' | 'bad-value'; readonly message: string };

/**
 * What SGctrld reads and changes: the node (the engine's adapter is `SgNodeTarget`,
 * src/engine/ctl-target.ts). Indices are the config's (group, server) order.
 */
export interface CtlTarget {
  /** Index of the group named `name`, or -1. */
  findGroup(name: string): number;
  /** Index of server `name` in group `group` (a valid index), or -1. */
  findServer(group: number, name: string): number;
  /** The property's value now (null: not known yet). Must fit the property's type. */
  read(ref: PropRef): PropValue;
  /**
   * Apply one write, atomically: all of it or nothing. `now` is the node's current instant.
   * The value has been parsed and range-checked against the property table already. `by`
   * 'server' is a server's own request (slide 33: "triggered by server through feedback
   * protocol"): the health part may weigh a 'state' request as one more event (slide 35,
   * latest event wins) rather than a verdict.
   */
  write(w: PropWrite, now: Instant, by: WriteOrigin): WriteOutcome;
}

// ---- outcomes --------------------------------------------------------------------------------

export interface CtlSource {
  readonly addr: number;
  readonly port: number;
}

/** A change SGctrld applied: one property of one entity, from one value to another. */
export interface CtlApplied {
  readonly cls: CtlCommand['cls'];
  /** 'web/rs1', 'web', or '' for the cluster. */
  readonly target: string;
  readonly property: string;
  readonly from: string;
  readonly to: string;
  readonly keyId: number;
  readonly by: WriteOrigin;
}

/** One trace event, without `t` and `node` (the caller adds them and emits it). */
export type CtlTrace =
  | { readonly kind: 'decision'; readonly what: 'ctl'; readonly detail: DecisionDetail<'ctl'> }
  | { readonly kind: 'drop'; readonly layer: 'ctl'; readonly reason: 'rate-limited'; readonly detail: string }
  | { readonly kind: 'drop'; readonly layer: 'feedback'; readonly reason: DropReason<'feedback'>; readonly detail: string };

export interface CtlOutcome {
  /** What the message came to ('rate-limited' also for one dropped unread). */
  readonly status: CtlStatus;
  /** The result to send back to the source, and the key to sign it with; absent: send nothing. */
  readonly reply?: { readonly result: CtlResult; readonly key: CtlKey };
  /** The change made, if any. */
  readonly applied?: CtlApplied;
  readonly trace: CtlTrace;
}

export interface CtlBytesOutcome extends CtlOutcome {
  /** `reply` encoded and signed: the datagram to send back to the source. */
  readonly replyBytes?: Uint8Array;
}

export interface CtldCounters {
  /** Messages by what they came to (answered or not). */
  readonly status: Record<CtlStatus, number>;
  /** Of status['rate-limited']: dropped unread (over both buckets, or the source table full). */
  rateDropped: number;
  /** Of status['rate-limited']: refused because the key's replay cache was full. */
  replayCacheFull: number;
  /** Results handed back to send. */
  replies: number;
  /** Writes applied. */
  applied: number;
}

export interface CtldOptions {
  readonly keys: readonly CtlKey[];
  readonly target: CtlTarget;
  /** Accepted clock skew each way, µs (default 30 s). */
  readonly windowUs?: number;
  /** Timestamps remembered per key (default REPLAY_CACHE_MAX_DEFAULT). */
  readonly replayCacheMax?: number;
  /** Per source address (default RATE_LIMIT_DEFAULTS; missing fields from it). */
  readonly rate?: Partial<RateLimitConfig>;
  /** Source addresses the rate limiter remembers (default SOURCES_MAX_DEFAULT). */
  readonly sourcesMax?: number;
}

// ---- the replay cache ------------------------------------------------------------------------

/**
 * The timestamps accepted for one key within the window: a set for lookups and a min-heap for
 * ageing out. Every message that passes the time gate is recorded, whatever it comes to. A
 * timestamp older than clock - window is stale anyway, so it is forgotten as time passes: the
 * window bounds the cache. A key that sends more than `replayCacheMax` commands within it gets
 * 'rate-limited' (data 'replay cache full') until old entries age out: the cache rejects rather
 * than forget, since forgetting an entry still inside the window would let its message be
 * replayed.
 */
class ReplayCache {
  readonly #seen = new Set<number>();
  readonly #heap: number[] = [];

  get size(): number {
    return this.#seen.size;
  }

  has(ts: number): boolean {
    return this.#seen.has(ts);
  }

  add(ts: number): void {
    assert(!this.#seen.has(ts), 'replay cache: timestamp added twice');
    this.#seen.add(ts);
    const h = this.#heap;
    let i = h.push(ts) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as number) <= ts) break;
      h[i] = h[parent] as number;
      i = parent;
    }
    h[i] = ts;
  }

  /** Forget every timestamp below `floor`. */
  evictBelow(floor: number): void {
    const h = this.#heap;
    while (h.length > 0 && (h[0] as number) < floor) {
      this.#seen.delete(h[0] as number);
      const last = h.pop() as number;
      if (h.length === 0) break;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
        if ((h[c] as number) >= last) break;
        h[i] = h[c] as number;
        i = c;
      }
      h[i] = last;
    }
  }
}

// ---- SGctrld ---------------------------------------------------------------------------------

type Exec = { readonly status: CtlStatus; readonly data: string; readonly applied?: CtlApplied };

function statusCounts(): Record<CtlStatus, number> {
  const out = {} as Record<CtlStatus, number>;
  for (const s of Object.keys(CTL_STATUS) as CtlStatus[]) out[s] = 0;
  return out;
}

export class Ctld {
  readonly target: CtlTarget;
  readonly windowUs: number;
  readonly replayCacheMax: number;
  readonly limiter: SourceLimiter;
  readonly counters: CtldCounters = { status: statusCounts(), rateDropped: 0, replayCacheFull: 0, replies: 0, applied: 0 };
  #keys = new Map<number, CtlKey>();
  readonly #caches = new Map<number, ReplayCache>();
  /** Per key id: the timestamp of the newest applied set per entity property (see Marks). */
  readonly #marks = new Map<number, Marks>();
  /**
   * Key ids removed from the table whose caches still hold timestamps inside the window: kept
   * until they empty, so removing and re-adding a key within the window does not reopen replays.
   */
  readonly #retired = new Set<number>();
  #now = 0;
  /** The highest message clock seen (µs): the base of the window and of result timestamps. */
  #clock = 0;

  constructor(opts: CtldOptions) {
    this.target = opts.target;
    this.windowUs = opts.windowUs ?? CTL_WINDOW_US_DEFAULT;
    this.replayCacheMax = opts.replayCacheMax ?? REPLAY_CACHE_MAX_DEFAULT;
    assert(Number.isSafeInteger(this.windowUs) && this.windowUs >= 0, `ctld window must be a non-negative integer of µs, got ${this.windowUs}`);
    assert(Number.isSafeInteger(this.replayCacheMax) && this.replayCacheMax >= 1, `replayCacheMax must be a positive integer, got ${this.replayCacheMax}`);
    this.limiter = new SourceLimiter({ ...RATE_LIMIT_DEFAULTS, ...opts.rate }, opts.sourcesMax ?? SOURCES_MAX_DEFAULT);
    this.setKeys(opts.keys);
  }

  /**
   * Replace the key table (rotation: list the old and the new key together, then the new one
   * alone). Asserts ids are unique u16s, secrets at least KEY_SECRET_MIN bytes, at most
   * KEYS_MAX keys: the table comes from validated config, so a bad one is the caller's bug.
   */
  setKeys(keys: readonly CtlKey[]): void {
    assert(keys.length <= KEYS_MAX, `at most ${KEYS_MAX} keys, got ${keys.length}`);
    const next = new Map<number, CtlKey>();
    for (const k of keys) {
      assert(Number.isInteger(k.id) && k.id >= 0 && k.id <= KEY_ID_MAX, `key id must be 0..${KEY_ID_MAX}, got ${k.id}`);
      assert(!next.has(k.id), `duplicate key id ${k.id}`);
      assert(k.secret.length >= KEY_SECRET_MIN, `key ${k.id}: secret must be at least ${KEY_SECRET_MIN} bytes`);
      if (k.role.kind === 'server') assert(k.role.group !== '' && k.role.server !== '', `key ${k.id}: a server role names a group and a server`);
      next.set(k.id, k);
    }
    for (const id of this.#caches.keys()) {
      if (next.has(id)) this.#retired.delete(id);
      else this.#retired.add(id);
    }
    this.#keys = next;
  }

  /** The key with this id, if it is in the table (to verify a command parsed elsewhere). */
  keyFor(id: number): CtlKey | undefined {
    return this.#keys.get(id);
  }

  /**
   * One datagram from `source` at `now` (the node's Instant; never going backwards): parse,
   * authenticate, check, apply. `stampUs`: the clock message timestamps use, when it is not
   * `now` (real mode: wall-clock µs). Never throws on any bytes. Send `replyBytes` (if any)
   * back to the source, emit `trace` with `t: now` and the node's name.
   */
  handleBytes(now: Instant, source: CtlSource, bytes: Uint8Array, stampUs: number = now): CtlBytesOutcome {
    const verdict = this.#gate(now, source, stampUs);
    if (verdict === 'drop') return this.#rateDropped(source);
    const p = parseFeedback(bytes);
    if (!p.ok) return this.#malformed(source, p.error.reason, `${p.error.layer}: ${p.error.detail ?? p.error.reason}`);
    const m = p.value.message;
    // Never answer a result: two nodes (or a spoofed pair) must not bounce results forever.
    if (m.kind === 'result') return this.#malformed(source, 'unsupported', 'a result sent to the node');
    const key = this.#keys.get(m.keyId);
    const authentic = key !== undefined && verifyFeedback(p.value, key.secret);
    const out = this.#checked(now, source, m, authentic, verdict);
    return out.reply === undefined ? out : { ...out, replyBytes: encodeResult(out.reply.result, out.reply.key.secret) };
  }

  /**
   * The same for a command already parsed (`undefined`: it did not parse) whose HMAC the
   * caller checked with `keyFor(cmd.keyId)` (`verified`). Sign `reply.result` with
   * `reply.key` and send it back to the source.
   */
  handle(now: Instant, source: CtlSource, cmd: CtlCommand | undefined, verified: boolean, stampUs: number = now): CtlOutcome {
    const verdict = this.#gate(now, source, stampUs);
    if (verdict === 'drop') return this.#rateDropped(source);
    if (cmd === undefined) return this.#malformed(source, 'bad-message', 'did not parse');
    return this.#checked(now, source, cmd, verified && this.#keys.has(cmd.keyId), verdict);
  }

  // ---- gates -----------------------------------------------------------------------------------

  #gate(now: Instant, source: CtlSource, stampUs: number): RateVerdict {
    assert(now >= this.#now, `ctld: time went backwards (${now} < ${this.#now})`);
    assert(Number.isSafeInteger(stampUs) && stampUs >= 0, `ctld: message clock must be a non-negative integer of µs, got ${stampUs}`);
    this.#now = now;
    this.#clock = Math.max(this.#clock, stampUs);
    this.#ageRetired();
    return this.limiter.take(source.addr, now);
  }

  #rateDropped(source: CtlSource): CtlOutcome {
    this.counters.status['rate-limited']++;
    this.counters.rateDropped++;
    return { status: 'rate-limited', trace: { kind: 'drop', layer: 'ctl', reason: 'rate-limited', detail: `from ${sourceText(source)}` } };
  }

  #malformed(source: CtlSource, reason: DropReason<'feedback'>, detail: string): CtlOutcome {
    this.counters.status['bad-message']++;
    return { status: 'bad-message', trace: { kind: 'drop', layer: 'feedback', reason, detail: `from ${sourceText(source)}: ${detail}` } };
  }

  /** Gates 3 to 7 for a structurally valid command. */
  #checked(now: Instant, source: CtlSource, cmd: CtlCommand, authentic: boolean, verdict: RateVerdict): CtlOutcome {
    const key = authentic ? this.#keys.get(cmd.keyId) : undefined;
    if (key === undefined) return this.#outcome(source, cmd, undefined, { status: 'unauthenticated', data: '' });
    if (verdict === 'limited') return this.#outcome(source, cmd, key, { status: 'rate-limited', data: 'too many commands from this address' });
    const ts = cmd.timestamp;
    const clock = this.#clock;
    if (!Number.isSafeInteger(ts) || ts < clock - this.windowUs || ts > clock + this.windowUs) {
      return this.#outcome(source, cmd, key, { status: 'stale', data: `timestamp ${ts} outside ${clock} ± ${this.windowUs} µs (node clock)` });
    }
    let cache = this.#caches.get(key.id);
    if (cache === undefined) this.#caches.set(key.id, (cache = new ReplayCache()));
    cache.evictBelow(clock - this.windowUs);
    if (cache.has(ts)) return this.#outcome(source, cmd, key, { status: 'replay', data: `timestamp ${ts} already seen for key ${key.id}` });
    if (cache.size >= this.replayCacheMax) {
      this.counters.replayCacheFull++;
      return this.#outcome(source, cmd, key, { status: 'rate-limited', data: `replay cache full for key ${key.id}` });
    }
    cache.add(ts);
    return this.#outcome(source, cmd, key, this.#execute(now, cmd, key));
  }

  #ageRetired(): void {
    for (const id of this.#retired) {
      const c = this.#caches.get(id);
      c?.evictBelow(this.#clock - this.windowUs);
      if (c === undefined || c.size === 0) {
        // Every mark is a timestamp the cache held: it is below the window too.
        this.#caches.delete(id);
        this.#marks.delete(id);
        this.#retired.delete(id);
      }
    }
  }

  /** Count, trace and (for a known key) answer. */
  #outcome(source: CtlSource, cmd: CtlCommand, key: CtlKey | undefined, ex: Exec): CtlOutcome {
    this.counters.status[ex.status]++;
    const detail: DecisionDetail<'ctl'> = {
      status: ex.status,
      reply: key !== undefined,
      applied: ex.applied !== undefined,
      src: sourceText(source),
      key: cmd.keyId,
      id: cmd.id,
      op: cmd.op,
      cls: cmd.cls,
      target: targetText(cmd.cls, cmd.group, cmd.server),
      property: clip(cmd.property),
      ...(key !== undefined ? { role: key.role.kind } : {}),
      ...(cmd.op === 'set' ? { value: clip(cmd.data) } : {}),
      ...(ex.applied !== undefined ? { from: clip(ex.applied.from), to: clip(ex.applied.to) } : {}),
      ...(ex.status !== 'ok' && key !== undefined ? { message: clip(ex.data, 120) } : {}),
    };
    if (ex.applied !== undefined) this.counters.applied++;
    const trace: CtlTrace = { kind: 'decision', what: 'ctl', detail };
    if (key === undefined) return { status: ex.status, trace };
    this.counters.replies++;
    const result: CtlResult = { kind: 'result', id: cmd.id, status: ex.status, data: fitData(ex.data), keyId: key.id, timestamp: this.#clock };
    return ex.applied === undefined ? { status: ex.status, reply: { result, key }, trace } : { status: ex.status, reply: { result, key }, applied: ex.applied, trace };
  }

  // ---- the command itself ----------------------------------------------------------------------

  /**
   * Roles: an admin key may do everything. A server key (role { group, server }) may only name
   * its own server: read any of its properties, list it, and set its 'state' (a request, slide
   * 33: drain itself with 'dead', come back with 'alive'), 'counter' (slide 28) and 'heartbeat'
   * (slide 41), and it may get its own group's `members` (slide 20) and get and set its own
   * group's `read-only` (slide 45: the recovering server's state transfer). Anything else is
   * 'forbidden', checked before names are resolved, so a server key learns nothing about other
   * groups and servers.
   *
   * Operations: get (any property), set (a writable one), list ('groups' at cluster class,
   * 'servers' at group class, every property as `name=value` lines at server class). add and
   * delete are 'not-supported': groups and servers are fixed by the config. An answer's data
   * longer than the protocol's 1024 bytes is cut at a line boundary (`fitData`).
   */
  #execute(now: Instant, cmd: CtlCommand, key: CtlKey): Exec {
    const role = key.role;
    // Defensive: a command built in memory may not have come through the codec.
    if (!Object.hasOwn(CTL_CLASS, cmd.cls) || !Object.hasOwn(CTL_OP, cmd.op)) return { status: 'bad-message', data: 'unknown class or op' };
    if (role.kind === 'server') {
      const own = cmd.cls === 'server' && cmd.group === role.group && cmd.server === role.server;
      // A ReadFirst service divides its data by the members in service (slide 20): it may read its own group's.
      const membership = cmd.cls === 'group' && cmd.op === 'get' && cmd.group === role.group && cmd.property === 'members';
      // A recovering server turns its own group read-only for its state transfer and back (slide 45).
      const readOnly = cmd.cls === 'group' && (cmd.op === 'get' || cmd.op === 'set') && cmd.group === role.group && cmd.property === 'read-only';
      if (!own && !membership && !readOnly) return { status: 'forbidden', data: `a server key may only name its own server ${role.group}/${role.server}` };
      if (cmd.op !== 'get' && cmd.op !== 'set' && cmd.op !== 'list') return { status: 'forbidden', data: `a server key may not ${cmd.op}` };
    }
    if (cmd.op === 'add' || cmd.op === 'delete') {
      return { status: 'not-supported', data: `${cmd.op} ${cmd.cls}: groups and servers are fixed by the config (restart with a new config to change them)` };
    }
    // Names: cluster commands name no group or server, group commands no server.
    if (cmd.cls === 'cluster' && (cmd.group !== '' || cmd.server !== '')) return { status: 'bad-message', data: 'a cluster command names no group or server' };
    if (cmd.cls === 'group' && cmd.server !== '') return { status: 'bad-message', data: 'a group command names no server' };
    let group = -1;
    let server = -1;
    if (cmd.cls !== 'cluster') {
      group = this.target.findGroup(cmd.group);
      if (group < 0) return { status: 'no-such-group', data: `no group ${clipQuoted(cmd.group)}` };
    }
    if (cmd.cls === 'server') {
      server = this.target.findServer(group, cmd.server);
      if (server < 0) return { status: 'no-such-server', data: `group ${cmd.group} has no server ${clipQuoted(cmd.server)}` };
    }
    const op = cmd.op;
    switch (op) {
      case 'list':
        return this.#list(cmd, group, server);
      case 'get':
        return this.#get(cmd, group, server);
      case 'set':
        return this.#set(now, cmd, key, group, server);
      default:
        return assertNever(op, 'op');
    }
  }

  #read(cls: CtlCommand['cls'], property: string, group: number, server: number): string {
    const spec = propSpec(cls, property);
    assert(spec !== undefined, `no property ${cls}.${property}`);
    const v = this.target.read({ cls, property, group, server } as PropRef);
    assert(valueFits(spec, v), `target read ${cls}.${property} as ${JSON.stringify(v)}, not a ${spec.type}`);
    return formatValue(v);
  }

  #list(cmd: CtlCommand, group: number, server: number): Exec {
    const cls = cmd.cls;
    switch (cls) {
      case 'cluster':
      case 'group': {
        const what = cls === 'cluster' ? 'groups' : 'servers';
        if (cmd.property !== '' && cmd.property !== what) return { status: 'bad-message', data: `list ${cls} lists ${what}: give no property` };
        return { status: 'ok', data: this.#read(cls, what, group, server) };
      }
      case 'server':
        if (cmd.property !== '') return { status: 'bad-message', data: 'list server lists every property: give no property' };
        return { status: 'ok', data: propNames('server').map((p) => `${p}=${this.#read('server', p, group, server)}`).join('\n') };
      default:
        return assertNever(cls, 'class');
    }
  }

  #get(cmd: CtlCommand, group: number, server: number): Exec {
    if (propSpec(cmd.cls, cmd.property) === undefined) return noSuchProperty(cmd);
    return { status: 'ok', data: this.#read(cmd.cls, cmd.property, group, server) };
  }

  /**
   * Order (see Marks): a `set` older than the newest one its key had applied to that property
   * is 'superseded' and applies nothing.
   *
   * Admin hold: an admin's `set` of a server's state to dead or pending, or of its counter,
   * holds the server (`held` becomes true): while held, the server's own key may not set its
   * state or counter ('forbidden'), and its heartbeats are recorded but not taken as recoveries
   * (SgNodeTarget, src/engine/ctl-target.ts), so a server cannot undo an admin's decision. An
   * admin lifts the hold with state alive or `held false`, and may set `held true` to freeze a
   * server as it is. The implied `held` write moves the `held` mark too, so an older `held
   * false` arriving late does not lift a newer hold. The health monitor's own detectors are not
   * held: an admin's dead lasts until they see the server recover (slide 35).
   */
  #set(now: Instant, cmd: CtlCommand, key: CtlKey, group: number, server: number): Exec {
    const spec = propSpec(cmd.cls, cmd.property);
    if (spec === undefined) return noSuchProperty(cmd);
    if (spec.write.length === 0) return { status: 'forbidden', data: `${cmd.property} is read-only` };
    const writer: Writer = key.role.kind === 'admin' ? 'admin' : 'self';
    if (!mayWrite(spec, writer)) return { status: 'forbidden', data: `only ${spec.write.join(' or ')} may set ${cmd.property}` };
    const v = parseValue(cmd.property, spec, cmd.data);
    if (!v.ok) return { status: 'bad-value', data: v.message };
    let marks = this.#marks.get(key.id);
    if (marks === undefined) this.#marks.set(key.id, (marks = { byTarget: new Map(), sweepAt: MARKS_SWEEP_MIN }));
    const mk = markKey(cmd.cls, group, server, cmd.property);
    const mark = marks.byTarget.get(mk);
    if (mark !== undefined && cmd.timestamp < mark) {
      return { status: 'superseded', data: `key ${key.id} already set ${cmd.property} with a newer command (timestamp ${mark}); this one (${cmd.timestamp}) came late` };
    }
    const holds = cmd.cls === 'server' && (cmd.property === 'state' || cmd.property === 'counter');
    if (holds && writer === 'self' && this.#read('server', 'held', group, server) === 'true') {
      return { status: 'forbidden', data: `${cmd.group}/${cmd.server} is held by an admin: its own ${cmd.property} requests are refused until an admin sets state alive or held false` };
    }
    const before = this.#read(cmd.cls, cmd.property, group, server);
    const w = { cls: cmd.cls, property: cmd.property, group, server, value: v.value } as PropWrite;
    const r = this.target.write(w, now, key.role.kind);
    if (!r.ok) return { status: r.status, data: r.message };
    this.#setMark(marks, mk, cmd.timestamp);
    if (holds && writer === 'admin') {
      // An admin's dead, pending or counter holds the server; an admin's alive lifts the hold.
      const hold = cmd.property === 'counter' || v.value !== 'alive';
      const h = this.target.write({ cls: 'server', property: 'held', group, server, value: hold }, now, 'admin');
      assert(h.ok, `target refused held ${hold} for server ${group}/${server}`);
      this.#setMark(marks, markKey('server', group, server, 'held'), cmd.timestamp);
    }
    const after = this.#read(cmd.cls, cmd.property, group, server);
    const applied: CtlApplied = { cls: cmd.cls, target: targetText(cmd.cls, cmd.group, cmd.server), property: cmd.property, from: before, to: after, keyId: key.id, by: key.role.kind };
    return { status: 'ok', data: after, applied };
  }

  #setMark(marks: Marks, mk: string, ts: number): void {
    marks.byTarget.set(mk, Math.max(ts, marks.byTarget.get(mk) ?? 0));
    if (marks.byTarget.size < marks.sweepAt) return;
    const floor = this.#clock - this.windowUs;
    for (const [k, t] of marks.byTarget) if (t < floor) marks.byTarget.delete(k);
    marks.sweepAt = Math.max(MARKS_SWEEP_MIN, 2 * marks.byTarget.size);
  }
}

/**
 * A key's high-water marks: entity property (cluster, group or server, and property name) ->
 * timestamp of the newest `set` of it that key had applied. A set with an older timestamp (a
 * datagram delayed past a newer one, or a copy resent late) is refused, so the newer command wins
 * whatever the arrival order; other properties, entities, keys and reads are not affected. Marks
 * are per key because different senders' clocks are not comparable: two admins that must not
 * overrule each other out of order share no key, or agree on one sender. Only applied sets move
 * a mark. A mark below clock - window can go (anything older is 'stale'); they are swept when
 * the table doubles, so a key holds at most about 2 x replayCacheMax marks.
 */
interface Marks {
  readonly byTarget: Map<string, number>;
  /** Sweep out marks below the window when the table reaches this size. */
  sweepAt: number;
}

/** Marks a key may hold before the first sweep. */
const MARKS_SWEEP_MIN = 64;

function markKey(cls: CtlCommand['cls'], group: number, server: number, property: string): string {
  return `${cls}/${group}/${server}/${property}`;
}

function noSuchProperty(cmd: CtlCommand): Exec {
  return { status: 'no-such-property', data: `${cmd.cls} has no property ${clipQuoted(cmd.property)} (${propNames(cmd.cls).join(', ')})` };
}

function sourceText(s: CtlSource): string {
  return `${formatIpv4(s.addr as Ipv4Addr)}:${s.port}`;
}

function targetText(cls: CtlCommand['cls'], group: string, server: string): string {
  return cls === 'cluster' ? '' : cls === 'group' ? clip(group) : `${clip(group)}/${clip(server)}`;
}

/** At most `n` characters of sender-chosen text, for traces and messages. */
function clip(text: string, n = 64): string {
  return text.length > n ? `${text.slice(0, n)}...` : text;
}

function clipQuoted(text: string): string {
  return JSON.stringify(clip(text, 32));
}

const utf8 = new TextEncoder();

/**
 * `text` if its UTF-8 fits a result's data (FEEDBACK_DATA_MAX bytes); else its first lines that
 * fit together with a last line '+N more' (N: the lines left out).
 */
export function fitData(text: string): string {
  if (utf8.encode(text).length <= FEEDBACK_DATA_MAX) return text;
  const lines = text.split('\n');
  const kept: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const n = utf8.encode(line).length + 1;
    const more = `+${lines.length - kept.length} more`;
    // Room for this line and a worst-case marker after it.
    if (bytes + n + more.length > FEEDBACK_DATA_MAX) break;
    kept.push(line);
    bytes += n;
  }
  kept.push(`+${lines.length - kept.length} more`);
  return kept.join('\n');
}
