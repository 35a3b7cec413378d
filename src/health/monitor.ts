/**
 * Health monitor for one server group (slides 33-45): four detectors (packet snoop, port test,
 * heartbeat, write mismatch) and the administrator feed the Alive / Pending / Dead machine of
 * slide 34 (`machine.ts`). Sans-IO: the engine reports what it saw and sends the probes this
 * module asks for; every call takes `now`; time must not go backwards.
 *
 * Calling convention (STYLE.md 3): after every call drain `pollChange()` and apply each change to
 * the balancer (and the trace); after `handleTimeout` drain `pollProbe()` and send each probe (its
 * timeout runs from the `handleTimeout` that issued it); re-arm the engine timer from
 * `pollTimeout()` after every call.
 *
 * Status (the README's "Health detection" says why): each detector's latest event decides its
 * own verdict (level 0 fine, 1 Pending, 2 Dead), and the server is the worst verdict still
 * standing, so a port test that passes on a hung process does not clear the heartbeat detector's
 * fault. Detectors are edge-triggered (a fault when their own level rises), and entering Alive
 * restarts every detector for that server, so a fault that persists is reported again after a
 * full threshold. Each detector's rules are at its section below; a disabled detector (its
 * config absent) ignores its inputs. Initial state: Alive.
 */

import type { ServerState } from '../balance/types.ts';
import { Rng } from '../rng.ts';
import { durationBetween, type Duration, type Instant } from '../time.ts';
import { assert, assertNever } from '../assert.ts';
import { inputOf, transition } from './machine.ts';
import type { HealthConfig, HealthEvent, ProbeOutcome, ProbeRequest, StateChange } from './types.ts';

// Bounds: SERVERS_MAX servers, KEYPORTS_MAX keyports, at most one outstanding probe per (server,
// keyport) (`probesMax`), and `changesMax` undrained state changes (overflow is a caller bug).
export const SERVERS_MAX = 1_024;
export const KEYPORTS_MAX = 16;
/** Largest count threshold (snoop P packets, porttest E errors, mcast M mismatches): a u32. */
export const HEALTH_COUNT_MAX = 0xffff_ffff;
/** The port a 'tcp-closed' probe targets: expected closed, so a live host answers RST. */
export const CLOSED_PROBE_PORT = 1;
/** Slow start's first weight multiplier. */
export const RAMP_START = 0.1;
/** Undrained state changes allowed per server (several detectors can fire in one call). */
const CHANGES_PER_SERVER_MAX = 8;

/** Detectors with their own per-server levels (admin has none). */
const JUDGES = ['snoop', 'porttest', 'heartbeat', 'mcast'] as const;
type Judge = (typeof JUDGES)[number];
type Level = 0 | 1 | 2;

export interface HealthMonitorOptions {
  readonly now: Instant;
  /** Seeds the port-test jitter (one split per server). */
  readonly seed: number;
}

export interface HealthCounters {
  /** probeResult for an id that is not outstanding (late after its timeout, or unknown). */
  staleProbeResults: number;
  /** toServer/fromServer on a port that is not a keyport. */
  nonKeyportPackets: number;
  /** fromServer with RST on a keyport (not a response). */
  resets: number;
}

interface SnoopSlot {
  /** packet_delta_in: client packets since the last response. */
  delta: number;
  /** When the first of those packets was forwarded (undefined when delta is 0). */
  firstAt: Instant | undefined;
}

interface Probe {
  readonly req: ProbeRequest;
  readonly keyportIndex: number;
  readonly deadline: Instant;
}

interface Round {
  outstanding: number;
  failed: boolean;
}

interface ServerHealth {
  state: ServerState;
  /** When it last entered Alive from Pending/Dead (slow start); undefined: never. */
  aliveSince: Instant | undefined;
  readonly level: Record<Judge, Level>;
  /** Consecutive good results per detector since the server's latest fault. */
  readonly goods: Record<Judge, number>;
  readonly snoop: SnoopSlot[];
  porttestErrors: number;
  nextTestAt: Instant | undefined;
  round: Round | undefined;
  readonly rng: Rng;
  lastHeartbeatAt: Instant | undefined;
  mismatches: number;
}

const STATE_OF_LEVEL: readonly ServerState[] = ['alive', 'pending', 'dead'];
const RANK: Record<ServerState, number> = { alive: 0, pending: 1, dead: 2 };

/** The state the worst standing detector verdict calls for. */
function worst(level: Record<Judge, Level>): ServerState {
  let w = 0;
  for (const k in level) w = Math.max(w, level[k as Judge]);
  return STATE_OF_LEVEL[w]!;
}

function worse(a: ServerState, b: ServerState): ServerState {
  return RANK[a] >= RANK[b] ? a : b;
}

function levels(): Record<Judge, Level> {
  return { snoop: 0, porttest: 0, heartbeat: 0, mcast: 0 };
}
function zeros(): Record<Judge, number> {
  return { snoop: 0, porttest: 0, heartbeat: 0, mcast: 0 };
}

/** Level of a count against threshold X: > 2X is 2, > X is 1. */
function countLevel(count: number, x: number): Level {
  return count > 2 * x ? 2 : count > x ? 1 : 0;
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= HEALTH_COUNT_MAX;
}

function isNonNegInt(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

export class HealthMonitor {
  readonly cfg: HealthConfig;
  readonly servers: number;
  readonly probesMax: number;
  readonly changesMax: number;
  readonly counters: HealthCounters = { staleProbeResults: 0, nonKeyportPackets: 0, resets: 0 };

  readonly #keyportIndex = new Map<number, number>();
  readonly #udp: ReadonlySet<number>;
  readonly #s: ServerHealth[];
  /** Probes due to be sent (pollProbe), in issue order. */
  readonly #probeQueue: ProbeRequest[] = [];
  /** Probes sent or queued and not yet resolved, by id. */
  readonly #outstanding = new Map<number, Probe>();
  readonly #changes: StateChange[] = [];
  #nextProbeId = 1;
  #now: Instant;

  constructor(cfg: HealthConfig, servers: number, opts: HealthMonitorOptions) {
    assert(Number.isSafeInteger(servers) && servers >= 0 && servers <= SERVERS_MAX, `servers must be 0..${SERVERS_MAX}, got ${servers}`);
    assert(cfg.keyports.length <= KEYPORTS_MAX, `at most ${KEYPORTS_MAX} keyports, got ${cfg.keyports.length}`);
    cfg.keyports.forEach((p, i) => {
      assert(Number.isInteger(p) && p >= 0 && p <= 65_535, `keyport ${p} out of range`);
      assert(!this.#keyportIndex.has(p), `duplicate keyport ${p}`);
      this.#keyportIndex.set(p, i);
    });
    for (const p of cfg.udpKeyports ?? []) assert(this.#keyportIndex.has(p) && p !== 0, `udp keyport ${p} is not a nonzero keyport`);
    assert(Number.isSafeInteger(cfg.rise) && cfg.rise >= 1, `rise must be an integer >= 1, got ${cfg.rise}`);
    assert(isNonNegInt(cfg.slowStart), `slowStart must be >= 0 µs, got ${cfg.slowStart}`);
    if (cfg.snoop) assert(isCount(cfg.snoop.P) && isNonNegInt(cfg.snoop.T), `snoop P must be 0..${HEALTH_COUNT_MAX} and T an integer >= 0`);
    if (cfg.porttest) {
      const pt = cfg.porttest;
      assert(Number.isSafeInteger(pt.interval) && pt.interval > 0, 'porttest interval must be > 0');
      assert(pt.jitter >= 0 && pt.jitter < 1, `porttest jitter must be in [0, 1), got ${pt.jitter}`);
      assert(Number.isSafeInteger(pt.timeout) && pt.timeout > 0, 'porttest timeout must be > 0');
      assert(isCount(pt.E), `porttest E must be an integer 0..${HEALTH_COUNT_MAX}`);
    }
    if (cfg.heartbeat) assert(Number.isSafeInteger(cfg.heartbeat.H) && cfg.heartbeat.H > 0, 'heartbeat H must be > 0');
    if (cfg.mcast) assert(isCount(cfg.mcast.M), `mcast M must be an integer 0..${HEALTH_COUNT_MAX}`);
    if (cfg.panicThreshold !== undefined) assert(cfg.panicThreshold >= 0 && cfg.panicThreshold <= 1, 'panicThreshold must be in [0, 1]');

    this.cfg = cfg;
    this.servers = servers;
    this.#udp = new Set(cfg.udpKeyports ?? []);
    this.probesMax = Math.max(1, servers * Math.max(1, cfg.keyports.length));
    this.changesMax = Math.max(16, servers * CHANGES_PER_SERVER_MAX);
    this.#now = opts.now;
    const root = Rng.fromSeed(opts.seed);
    this.#s = [];
    for (let i = 0; i < servers; i++) {
      const rng = root.split(`porttest:${i}`);
      const pt = cfg.porttest;
      this.#s.push({
        state: 'alive',
        aliveSince: undefined,
        level: levels(),
        goods: zeros(),
        snoop: cfg.keyports.map(() => ({ delta: 0, firstAt: undefined })),
        porttestErrors: 0,
        nextTestAt: pt ? ((opts.now + Math.floor(rng.float() * pt.interval)) as Instant) : undefined,
        round: undefined,
        rng,
        lastHeartbeatAt: undefined,
        mismatches: 0,
      });
    }
  }

  // ---- packet snoop (slides 36-37) ------------------------------------------------------------
  // Per (server, keyport): packet_delta_in counts client packets forwarded since the last
  // response. The keyport is dead at level 1 when delta > P and the time since its first
  // unanswered packet > T; level 2 when delta > 2P and time > 2T. The clock starts at the first
  // packet after the last response, not at the response, so a server idle for an hour is not
  // judged dead by the first burst that reaches it. The server is faulty when any keyport is
  // dead; a response resets its keyport, and one that leaves every keyport alive is a good
  // result. A TCP RST is not a response (slide 37). Ports not in `cfg.keyports` are ignored.

  /** A client packet forwarded to `server` on `keyport` (call on the NAT path, any port). */
  toServer(server: number, keyport: number, now: Instant): void {
    const s = this.#server(server);
    this.#tick(now);
    const snoop = this.cfg.snoop;
    if (!snoop) return;
    const k = this.#keyportIndex.get(keyport);
    if (k === undefined) {
      this.counters.nonKeyportPackets++;
      return;
    }
    const slot = s.snoop[k] as SnoopSlot;
    if (slot.delta === 0) slot.firstAt = now;
    slot.delta++;
    this.#snoopJudge(server, now);
  }

  /** A reply from `server` on `keyport`; `rst`: a TCP RST, which is not a response (slide 37). */
  fromServer(server: number, keyport: number, now: Instant, rst: boolean): void {
    const s = this.#server(server);
    this.#tick(now);
    if (!this.cfg.snoop) return;
    const k = this.#keyportIndex.get(keyport);
    if (k === undefined) {
      this.counters.nonKeyportPackets++;
      return;
    }
    if (rst) {
      this.counters.resets++;
      return;
    }
    const slot = s.snoop[k] as SnoopSlot;
    slot.delta = 0;
    slot.firstAt = undefined;
    if (this.#snoopLevel(s, now) === 0) this.#good(server, 'snoop', `response on keyport ${keyport}`, now);
  }

  /** The worst keyport level now, and the keyport that has it. */
  #snoopWorst(s: ServerHealth, now: Instant): { level: Level; keyport: number; delta: number } {
    const snoop = this.cfg.snoop;
    let worst = { level: 0 as Level, keyport: -1, delta: 0 };
    if (!snoop) return worst;
    s.snoop.forEach((slot, k) => {
      if (slot.firstAt === undefined) return;
      const elapsed = durationBetween(slot.firstAt, now);
      const level: Level =
        slot.delta > 2 * snoop.P && elapsed > 2 * snoop.T ? 2 : slot.delta > snoop.P && elapsed > snoop.T ? 1 : 0;
      if (level > worst.level) worst = { level, keyport: this.cfg.keyports[k] as number, delta: slot.delta };
    });
    return worst;
  }

  #snoopLevel(s: ServerHealth, now: Instant): Level {
    return this.#snoopWorst(s, now).level;
  }

  #snoopJudge(server: number, now: Instant): void {
    const s = this.#s[server] as ServerHealth;
    const w = this.#snoopWorst(s, now);
    if (w.level > s.level.snoop) {
      const T = (this.cfg.snoop?.T ?? 0) * w.level;
      this.#fault(server, 'snoop', w.level, `keyport ${w.keyport}: ${w.delta} packets unanswered for > ${T} µs`, now);
    }
  }

  // ---- port test (slides 38-40) ---------------------------------------------------------------
  // Each server is tested every `interval`, each gap scaled by a factor in [1 - jitter,
  // 1 + jitter] from its own generator (split from the seed), and the first test falls at a
  // uniform offset in [0, interval), so tests to many servers do not synchronise. A test probes
  // every keyport: 0 is 'icmp', those in `cfg.udpKeyports` 'udp', others 'tcp'. A probe without a
  // result after `timeout` is a 'timeout'. 'alive' is good; 'refused', 'unreachable' and
  // 'timeout' are bad, except that a timed-out UDP probe is ambiguous (slide 38) and is followed
  // by a 'tcp-closed' probe to CLOSED_PROBE_PORT: 'refused' (RST) or 'alive' means the host is up
  // and the UDP service took the datagram silently (alive); 'timeout' or 'unreachable' means
  // down. A test with every keyport alive is a good result and resets the error count; each
  // failed test adds one: > E is level 1, > 2E level 2. A test starts only when the previous one
  // has finished. Late or unknown probe results are ignored (counted).

  /** The next probe to send now; call until undefined after every `handleTimeout` (probes are issued only there). */
  pollProbe(_now: Instant): ProbeRequest | undefined {
    return this.#probeQueue.shift();
  }

  /** What came back for probe `id` (a result for an unknown or timed-out probe is ignored). */
  probeResult(id: number, outcome: ProbeOutcome, now: Instant): void {
    this.#tick(now);
    const probe = this.#outstanding.get(id);
    if (!probe) {
      this.counters.staleProbeResults++;
      return;
    }
    this.#resolve(probe, outcome, now);
  }

  #resolve(probe: Probe, outcome: ProbeOutcome, now: Instant): void {
    this.#outstanding.delete(probe.req.id);
    const qi = this.#probeQueue.indexOf(probe.req);
    if (qi >= 0) this.#probeQueue.splice(qi, 1);
    const { server, kind } = probe.req;
    let alive: boolean;
    switch (kind) {
      case 'tcp':
      case 'icmp':
        alive = outcome === 'alive';
        break;
      case 'udp':
        if (outcome === 'timeout') {
          // Slide 38: UDP silence is ambiguous; ask the host itself with a SYN to a closed port.
          this.#issue(server, probe.keyportIndex, 'tcp-closed', CLOSED_PROBE_PORT, now);
          return;
        }
        alive = outcome === 'alive';
        break;
      case 'tcp-closed':
        alive = outcome === 'refused' || outcome === 'alive';
        break;
      default:
        return assertNever(kind, 'probe kind');
    }
    const s = this.#s[server] as ServerHealth;
    const round = s.round;
    assert(round !== undefined && round.outstanding > 0, `probe ${probe.req.id} resolved outside a test round`);
    if (!alive) round.failed = true;
    round.outstanding--;
    if (round.outstanding === 0) {
      s.round = undefined;
      this.#testDone(server, !round.failed, now);
    }
  }

  #testDone(server: number, ok: boolean, now: Instant): void {
    const s = this.#s[server] as ServerHealth;
    const pt = this.cfg.porttest;
    assert(pt !== undefined, 'port test finished without porttest config');
    if (ok) {
      s.porttestErrors = 0;
      this.#good(server, 'porttest', 'port test ok', now);
      return;
    }
    s.goods.porttest = 0;
    s.porttestErrors++;
    const level = countLevel(s.porttestErrors, pt.E);
    if (level > s.level.porttest) this.#fault(server, 'porttest', level, `${s.porttestErrors} port tests failed`, now);
  }

  #issue(server: number, keyportIndex: number, kind: ProbeRequest['kind'], port: number, now: Instant): void {
    const pt = this.cfg.porttest;
    assert(pt !== undefined, 'probe without porttest config');
    assert(this.#outstanding.size < this.probesMax, `outstanding probes full: probesMax ${this.probesMax}`);
    const req: ProbeRequest = { id: this.#nextProbeId++, server, kind, port };
    this.#outstanding.set(req.id, { req, keyportIndex, deadline: (now + pt.timeout) as Instant });
    this.#probeQueue.push(req);
  }

  #startTest(server: number, now: Instant): void {
    const s = this.#s[server] as ServerHealth;
    const pt = this.cfg.porttest;
    assert(pt !== undefined && s.nextTestAt !== undefined, 'test without porttest config');
    let next = s.nextTestAt + this.#gap(s, pt.interval, pt.jitter);
    if (next <= now) next = now + this.#gap(s, pt.interval, pt.jitter); // the caller was late: no burst
    s.nextTestAt = next as Instant;
    if (this.cfg.keyports.length === 0) {
      this.#testDone(server, true, now);
      return;
    }
    s.round = { outstanding: this.cfg.keyports.length, failed: false };
    this.cfg.keyports.forEach((port, k) => {
      const kind = port === 0 ? 'icmp' : this.#udp.has(port) ? 'udp' : 'tcp';
      this.#issue(server, k, kind, port, now);
    });
  }

  /** interval scaled by a factor in [1 - jitter, 1 + jitter], at least 1 µs. */
  #gap(s: ServerHealth, interval: Duration, jitter: number): number {
    return Math.max(1, Math.round(interval * (1 + jitter * (2 * s.rng.float() - 1))));
  }

  // ---- heartbeat (slides 41-42) and write mismatch (slide 43) --------------------------------
  // Heartbeat: after the first one, none for > H is level 1, > 2H level 2; each is a good result.
  // A server that never sent one is not judged by this detector. Write mismatch: > M is level 1,
  // > 2M level 2, with no recovery from this detector (it cannot know when the server's data is
  // whole again); the count restarts only when the server enters Alive another way.

  /** A heartbeat from `server` (feedback protocol, SGhb). */
  heartbeat(server: number, now: Instant): void {
    const s = this.#server(server);
    this.#tick(now);
    if (!this.cfg.heartbeat) return;
    s.lastHeartbeatAt = now;
    this.#good(server, 'heartbeat', 'heartbeat received', now);
  }

  /** A multicast write whose result differed from the other servers'. */
  writeMismatch(server: number, now: Instant): void {
    const s = this.#server(server);
    this.#tick(now);
    const mcast = this.cfg.mcast;
    if (!mcast) return;
    s.mismatches++;
    s.goods.mcast = 0;
    const level = countLevel(s.mismatches, mcast.M);
    if (level > s.level.mcast) this.#fault(server, 'mcast', level, `${s.mismatches} write results differed`, now);
  }

  /**
   * A write this server replied failure to (slide 15: "any one replying failure is turned off
   * immediately"): the write-mismatch detector at its Dead level at once, with or without a
   * threshold M configured. Like a mismatch, only an admin or the server's own state request
   * clears it (its data missed a write).
   */
  writeFailed(server: number, now: Instant): void {
    const s = this.#server(server);
    this.#tick(now);
    s.mismatches++;
    s.goods.mcast = 0;
    this.#fault(server, 'mcast', 2, 'replied failure to a write', now);
  }

  // ---- admin ---------------------------------------------------------------------------------

  /**
   * Set the state directly (user recovery, or a state requested through the feedback protocol,
   * slide 33), as the latest event; it may move Dead to Pending.
   */
  admin(server: number, state: ServerState, now: Instant): void {
    const s = this.#server(server);
    this.#tick(now);
    const event: HealthEvent =
      state === 'alive'
        ? { t: now, server, detector: 'admin', kind: 'recovery', detail: 'admin: alive' }
        : { t: now, server, detector: 'admin', kind: 'fault', level: state === 'dead' ? 2 : 1, detail: `admin: ${state}` };
    if (state !== 'alive') Object.assign(s.goods, zeros());
    this.#apply(server, state, event, now);
  }

  // ---- timers --------------------------------------------------------------------------------

  /** Fire everything due at or before `now`: probe timeouts, snoop T, heartbeat H, test schedule. */
  handleTimeout(now: Instant): void {
    this.#tick(now);
    const expired = [...this.#outstanding.values()].filter((p) => p.deadline <= now);
    for (const p of expired) if (this.#outstanding.has(p.req.id)) this.#resolve(p, 'timeout', now);
    for (let i = 0; i < this.servers; i++) {
      const s = this.#s[i] as ServerHealth;
      if (this.cfg.snoop) this.#snoopJudge(i, now);
      const hb = this.cfg.heartbeat;
      if (hb && s.lastHeartbeatAt !== undefined) {
        const level = countLevel(durationBetween(s.lastHeartbeatAt, now), hb.H);
        if (level > s.level.heartbeat) {
          s.goods.heartbeat = 0;
          this.#fault(i, 'heartbeat', level, `no heartbeat for > ${level * hb.H} µs`, now);
        }
      }
      if (s.nextTestAt !== undefined && s.round === undefined && s.nextTestAt <= now) this.#startTest(i, now);
    }
  }

  /** The earliest deadline to call `handleTimeout` at, if any. */
  pollTimeout(): Instant | undefined {
    let best: number | undefined;
    const consider = (at: number): void => {
      if (best === undefined || at < best) best = at;
    };
    for (const p of this.#outstanding.values()) consider(p.deadline);
    const snoop = this.cfg.snoop;
    const hb = this.cfg.heartbeat;
    for (const s of this.#s) {
      if (snoop) {
        for (const slot of s.snoop) {
          if (slot.firstAt === undefined) continue;
          if (s.level.snoop < 1 && slot.delta > snoop.P) consider(slot.firstAt + snoop.T + 1);
          if (s.level.snoop < 2 && slot.delta > 2 * snoop.P) consider(slot.firstAt + 2 * snoop.T + 1);
        }
      }
      if (hb && s.lastHeartbeatAt !== undefined) {
        if (s.level.heartbeat < 1) consider(s.lastHeartbeatAt + hb.H + 1);
        else if (s.level.heartbeat < 2) consider(s.lastHeartbeatAt + 2 * hb.H + 1);
      }
      if (s.nextTestAt !== undefined && s.round === undefined) consider(s.nextTestAt);
    }
    return best === undefined ? undefined : (Math.max(best, this.#now) as Instant);
  }

  // ---- results -------------------------------------------------------------------------------

  /** The next state change, oldest first; drain after every call. */
  pollChange(): StateChange | undefined {
    return this.#changes.shift();
  }

  state(server: number): ServerState {
    return this.#server(server).state;
  }

  /**
   * Slow start: weight multiplier in (0, 1] for a server that entered Alive from Pending or Dead,
   * rising linearly from RAMP_START to 1 over `cfg.slowStart`; 1 otherwise, including at start-up
   * (every server starts together, so ramping them all would change no share).
   */
  rampFactor(server: number, now: Instant): number {
    const s = this.#server(server);
    const ramp = this.cfg.slowStart;
    if (ramp <= 0 || s.state !== 'alive' || s.aliveSince === undefined) return 1;
    const elapsed = durationBetween(s.aliveSince, now);
    if (elapsed >= ramp) return 1;
    return RAMP_START + ((1 - RAMP_START) * Math.max(0, elapsed)) / ramp;
  }

  /** Panic mode: true when more than cfg.panicThreshold of the servers are Dead (never without one). */
  panic(): boolean {
    const t = this.cfg.panicThreshold;
    if (t === undefined || this.servers === 0) return false;
    const dead = this.#s.filter((s) => s.state === 'dead').length;
    return dead > t * this.servers;
  }

  // ---- internals -----------------------------------------------------------------------------
  // A fault never improves a state (a level-1 fault on a Dead server leaves it Dead). A recovery
  // clears only its own detector's verdict and counts only after `cfg.rise` consecutive good
  // results of that detector since the server's latest fault (rise 1: none). A StateChange is
  // emitted only on an actual change.

  #server(server: number): ServerHealth {
    const s = this.#s[server];
    assert(Number.isInteger(server) && s !== undefined, `server ${server} out of range 0..${this.servers - 1}`);
    return s;
  }

  #tick(now: Instant): void {
    assert(now >= this.#now, `health monitor time went backwards: ${now} < ${this.#now}`);
    this.#now = now;
  }

  #fault(server: number, detector: Judge, level: Level, detail: string, now: Instant): void {
    assert(level !== 0, 'a fault has level 1 or 2');
    const s = this.#s[server] as ServerHealth;
    s.level[detector] = level;
    Object.assign(s.goods, zeros()); // rise counts good results since the latest fault
    const event: HealthEvent = { t: now, server, detector, kind: 'fault', level, detail };
    this.#apply(server, worse(transition(s.state, inputOf('fault', level)), worst(s.level)), event, now);
  }

  #good(server: number, detector: Judge, detail: string, now: Instant): void {
    const s = this.#s[server] as ServerHealth;
    s.goods[detector]++;
    if (s.goods[detector] < this.cfg.rise) return;
    if (s.level[detector] === 0 && s.state === 'alive') return;
    s.level[detector] = 0;
    // Packet snoop cannot see a recovery by itself (slide 37: a server that is not Alive gets no
    // traffic), so a recovery seen by an active detector (port test, heartbeat) also clears it.
    // Write mismatches are not cleared this way: only an admin or the server's own state request
    // says its data is consistent again (slide 43).
    if (detector === 'porttest' || detector === 'heartbeat') s.level.snoop = 0;
    const event: HealthEvent = { t: now, server, detector, kind: 'recovery', detail };
    // Each detector's latest event decides its own verdict; the server is as bad as the worst
    // verdict still standing. So a detector that cannot see a fault (port tests pass on a hung
    // process) never clears one that another detector sees (its heartbeats stopped).
    this.#apply(server, worst(s.level), event, now);
  }

  #apply(server: number, to: ServerState, event: HealthEvent, now: Instant): void {
    const s = this.#s[server] as ServerHealth;
    const from = s.state;
    if (from === to) return;
    s.state = to;
    if (to === 'alive') this.#restart(s, now);
    assert(this.#changes.length < this.changesMax, `undrained state changes: changesMax ${this.changesMax}`);
    this.#changes.push({ t: now, server, from, to, event });
  }

  /**
   * Entering Alive, by any detector or admin, restarts every detector for the server (snoop
   * counters, port-test errors, mismatch count to zero, the heartbeat clock to now).
   */
  #restart(s: ServerHealth, now: Instant): void {
    s.aliveSince = now;
    Object.assign(s.level, levels());
    Object.assign(s.goods, zeros());
    for (const slot of s.snoop) {
      slot.delta = 0;
      slot.firstAt = undefined;
    }
    s.porttestErrors = 0;
    s.mismatches = 0;
    if (s.lastHeartbeatAt !== undefined) s.lastHeartbeatAt = now;
  }
}

