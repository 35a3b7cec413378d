/**
 * One group's balancer (slides 28-32, 35): picks the real server for each new link. A pick, in
 * order:
 * 1. Candidates by state (slide 35), among servers with weight > 0 and not `exclude`: the Alive
 *    ones if any, else the Pending ones, else the Dead ones (a group whose servers are all dead
 *    still answers with one of them). No server with weight > 0 besides `exclude`: undefined.
 * 2. Keep-same-server (slides 31-32, rule in affinity.ts): if the client (or its subnet) has a
 *    valid entry (from this group, or any group of its scope) and that server's address is a
 *    candidate here, it is the answer.
 * 3. The policy over the candidates (round-robin, connections, packets, counter: see #byPolicy).
 *    Ties go to the first tied candidate at or after the cursor, so equal loads rotate instead
 *    of always favouring server 0.
 *
 * The windowed loads (connections, packets) are counted over the same stretch of time for every
 * candidate: the load window (window.ts) shortened to the buckets since the youngest candidate
 * joined (entered Alive, or its weight went from 0 to positive; see #join). So a newcomer gets
 * its fair share of new links at once, not every new link until its count reaches the others'.
 *
 * Nothing here reads a clock: every call takes `now`, which must never go backwards.
 */

import { EPOCH, type Instant } from '../time.ts';
import type { DetailValue } from '../trace.ts';
import type { Ipv4Addr } from '../wire/addr.ts';
import { assert, assertNever } from '../assert.ts';
import { AffinityTable, type AffinityStats } from './affinity.ts';
import type { GroupConfig, LoadEvents, ServerState } from './types.ts';
import { BucketWindow, LOAD_WINDOW_BUCKETS } from './window.ts';

/** Most real servers in one group. */
export const SERVERS_MAX = 1_024;
/** Largest weight; weights are integers 0..WEIGHT_MAX (0: no new links). */
export const WEIGHT_MAX = 1_000;

export interface BalancerOptions {
  /** When the group starts; every server's history starts here (default: the epoch). */
  readonly now?: Instant;
  /** Every server's state until told otherwise (default 'alive'). */
  readonly initialState?: ServerState;
  /** Bound on keep-same-server entries (default AFFINITY_ENTRIES_MAX). */
  readonly affinityEntriesMax?: number;
  /** A keep-same-server table shared with other groups of the same scope (see affinityTables). */
  readonly affinity?: AffinityTable;
}

/** The client end of a new link. */
export interface ClientEndpoint {
  readonly addr: Ipv4Addr;
  readonly port: number;
}

/** Why the last pick chose what it chose. */
export type PickReason = 'affinity' | 'policy' | 'no-server';

export class GroupBalancer implements LoadEvents {
  readonly config: GroupConfig;
  /** Number of servers (fixed for the group's life; a config change builds a new balancer). */
  readonly size: number;

  #now: Instant;
  readonly #state: ServerState[];
  readonly #weight: Int32Array;
  readonly #open: Float64Array;
  /** When each server last joined (entered Alive or got a positive weight). */
  readonly #since: Float64Array;
  readonly #openedWindow: BucketWindow;
  readonly #packetWindow: BucketWindow;
  readonly #packetsTotal: Float64Array;
  readonly #counter: Float64Array;
  readonly #reported: Uint8Array;
  /** Smooth weighted round robin: each server's current credit. */
  readonly #rrCurrent: Float64Array;
  /** Where the next round-robin step and tie scan start. */
  #cursor = 0;
  readonly #affinity: AffinityTable;

  // The last pick, kept for explainLast() (scratch arrays, no allocation per pick).
  readonly #cand: Int32Array;
  #candCount = 0;
  readonly #isCand: Uint8Array;
  /** Score of each candidate as num / den (lower wins), or the SWRR credit (higher wins). */
  readonly #num: Float64Array;
  readonly #den: Float64Array;
  #scored = false;
  #lastServer = -1;
  #lastReason: PickReason = 'no-server';
  #lastTier: ServerState | undefined = undefined;
  #lastExclude = -1;
  #lastBuckets = 0;

  constructor(cfg: GroupConfig, opts: BalancerOptions = {}) {
    const n = cfg.servers.length;
    assert(n <= SERVERS_MAX, `group ${cfg.name}: ${n} servers exceeds serversMax ${SERVERS_MAX}`);
    const now = opts.now ?? EPOCH;
    this.config = cfg;
    this.size = n;
    this.#now = now;
    this.#state = cfg.servers.map(() => opts.initialState ?? 'alive');
    this.#weight = new Int32Array(n);
    cfg.servers.forEach((s, i) => {
      checkWeight(s.weight, `group ${cfg.name} server ${s.name}`);
      this.#weight[i] = s.weight;
    });
    this.#open = new Float64Array(n);
    this.#since = new Float64Array(n).fill(now);
    this.#openedWindow = new BucketWindow(n, cfg.loadWindow, now);
    this.#packetWindow = new BucketWindow(n, cfg.loadWindow, now);
    this.#packetsTotal = new Float64Array(n);
    this.#counter = new Float64Array(n);
    this.#reported = new Uint8Array(n);
    this.#rrCurrent = new Float64Array(n);
    this.#affinity = opts.affinity ?? new AffinityTable(cfg.keepSameServer, opts.affinityEntriesMax);
    this.#cand = new Int32Array(n);
    this.#isCand = new Uint8Array(n);
    this.#num = new Float64Array(n);
    this.#den = new Float64Array(n);
  }

  // ---- LoadEvents ----------------------------------------------------------------------------

  /** A link to `server` entered the link table (created, or remapped here). */
  linkOpened(server: number, now: Instant, clientAddr?: Ipv4Addr): void {
    this.#checkServer(server);
    this.#tick(now);
    this.#open[server] = (this.#open[server] as number) + 1;
    this.#openedWindow.add(server, 1, now);
    if (clientAddr !== undefined) this.#affinity.opened(clientAddr, this.config.servers[server]!.addr, now);
  }

  /** A link to `server` left the link table (closed, expired, or remapped away). */
  linkClosed(server: number, now: Instant, clientAddr?: Ipv4Addr): void {
    this.#checkServer(server);
    this.#tick(now);
    const open = this.#open[server] as number;
    assert(open > 0, `group ${this.config.name}: link closed on server ${server} with no open link`);
    this.#open[server] = open - 1;
    if (clientAddr !== undefined) this.#affinity.closed(clientAddr, now);
  }

  /** `count` packets forwarded to or from `server`. */
  packets(server: number, count: number, now: Instant): void {
    this.#checkServer(server);
    assert(Number.isSafeInteger(count) && count >= 0, `packet count must be a non-negative integer, got ${count}`);
    this.#tick(now);
    this.#packetWindow.add(server, count, now);
    this.#packetsTotal[server] = (this.#packetsTotal[server] as number) + count;
  }

  /** The server's own load figure (feedback protocol or admin): lower is less loaded. */
  counter(server: number, value: number, now: Instant): void {
    this.#checkServer(server);
    assert(Number.isFinite(value), `counter value must be finite, got ${value}`);
    this.#tick(now);
    this.#counter[server] = value;
    this.#reported[server] = 1;
  }

  // ---- server state and weight ---------------------------------------------------------------

  /** Record a health verdict (slide 35). Entering Alive from another state is a join. */
  setState(server: number, state: ServerState, now: Instant): void {
    this.#checkServer(server);
    this.#tick(now);
    const prev = this.#state[server] as ServerState;
    if (prev === state) return;
    this.#state[server] = state;
    if (state === 'alive') this.#join(server, now);
  }

  state(server: number): ServerState {
    this.#checkServer(server);
    return this.#state[server] as ServerState;
  }

  /** Change a weight (integer 0..WEIGHT_MAX). Going from 0 to positive is a join. */
  setWeight(server: number, weight: number, now: Instant): void {
    this.#checkServer(server);
    checkWeight(weight, `group ${this.config.name} server ${server}`);
    this.#tick(now);
    const prev = this.#weight[server] as number;
    this.#weight[server] = weight;
    if (prev === 0 && weight > 0) this.#join(server, now);
  }

  weight(server: number): number {
    this.#checkServer(server);
    return this.#weight[server] as number;
  }

  // ---- queries -------------------------------------------------------------------------------

  /** Links to `server` in the link table now. */
  openLinks(server: number): number {
    this.#checkServer(server);
    return this.#open[server] as number;
  }

  /** Links opened to `server` within the whole load window ending at `now` (since it joined). */
  recentLinks(server: number, now: Instant): number {
    this.#checkServer(server);
    this.#tick(now);
    return this.#openedWindow.sum(server);
  }

  /** Packets to or from `server` within the whole load window ending at `now` (since it joined). */
  recentPackets(server: number, now: Instant): number {
    this.#checkServer(server);
    this.#tick(now);
    return this.#packetWindow.sum(server);
  }

  /** The last counter value `server` reported since it joined, if any. */
  counterValue(server: number): number | undefined {
    this.#checkServer(server);
    return this.#reported[server] === 1 ? (this.#counter[server] as number) : undefined;
  }

  affinityStats(): AffinityStats {
    return this.#affinity.stats();
  }

  // ---- the pick ------------------------------------------------------------------------------

  /**
   * The server index for a new link from `client` at `now`, or undefined when no server other
   * than `exclude` has a weight above 0. `exclude`: the current target of a link being remapped
   * because it died before the link became active (slide 29). Call `explainLast()` right after,
   * before reporting any event, to trace why.
   */
  pick(now: Instant, client: ClientEndpoint, exclude?: number): number | undefined {
    if (exclude !== undefined) this.#checkServer(exclude);
    this.#tick(now);
    this.#scored = false;
    this.#lastExclude = exclude ?? -1;
    this.#lastBuckets = 0;
    const tier = this.#candidates(exclude ?? -1);
    this.#lastTier = tier;
    if (tier === undefined) return this.#decided(-1, 'no-server');

    if (this.#affinity.enabled) {
      // Entries hold server addresses (a scope's groups index their servers differently).
      const sticky = this.#affinity.lookup(client.addr, now);
      if (sticky !== undefined) {
        for (let j = 0; j < this.#candCount; j++) {
          const c = this.#cand[j] as number;
          if (this.config.servers[c]!.addr === sticky) return this.#decided(c, 'affinity');
        }
      }
    }

    const server = this.#byPolicy();
    this.#cursor = (server + 1) % this.size;
    return this.#decided(server, 'policy');
  }

  /** Why the last `pick` chose what it did, as a trace `decision` detail. Built only when asked. */
  explainLast(): Record<string, DetailValue> {
    const names = this.config.servers.map((s) => s.name);
    const d: Record<string, DetailValue> = {
      group: this.config.name,
      server: this.#lastServer < 0 ? '' : (names[this.#lastServer] as string),
      reason: this.#lastReason,
      policy: this.config.policy,
      weighted: this.config.weighted,
      loadFromTotals: this.config.loadFromTotals,
      tier: this.#lastTier ?? '',
    };
    if (this.#lastExclude >= 0) d['exclude'] = names[this.#lastExclude] as string;
    const cands: string[] = [];
    for (let j = 0; j < this.#candCount; j++) cands.push(names[this.#cand[j] as number] as string);
    d['candidates'] = cands.join(',');
    if (this.#lastBuckets > 0) d['windowUs'] = this.#lastBuckets * this.#openedWindow.bucketWidth;
    if (this.#scored) {
      const key = this.config.policy === 'round-robin' ? 'credit.' : 'load.';
      for (let j = 0; j < this.#candCount; j++) {
        const c = this.#cand[j] as number;
        d[key + (names[c] as string)] = (this.#num[c] as number) / (this.#den[c] as number);
      }
    }
    return d;
  }

  // ---- internals -----------------------------------------------------------------------------

  #decided(server: number, reason: PickReason): number | undefined {
    this.#lastServer = server;
    this.#lastReason = reason;
    return server < 0 ? undefined : server;
  }

  /** Slow start (health monitor): a factor in (0, 1] per server; 1 = full share. */
  readonly #ramp = new Float64Array(SERVERS_MAX).fill(1);
  /** Picks each ramping server has been offered (its admission sequence). */
  readonly #rampSeq = new Float64Array(SERVERS_MAX);
  #panic = false;

  /**
   * Slow start: a server with factor f < 1 is a candidate in only a fraction f of picks (a
   * deterministic admission sequence: offered on pick k when floor(k f) advances). It works the
   * same under every policy: under least-connections or a counter a recovered server looks least
   * loaded and would take every new link; here it takes at most f of them while it ramps.
   */
  setRamp(server: number, factor: number): void {
    this.#ramp[server] = factor >= 1 ? 1 : Math.max(0.01, factor);
  }

  /** Panic mode: every server with weight > 0 is a candidate, whatever its state. */
  setPanic(on: boolean): void {
    this.#panic = on;
  }

  /** Fill #cand (index order) with the best non-empty tier; undefined when all are empty. */
  #candidates(exclude: number): ServerState | undefined {
    const tier = this.#tier(exclude);
    if (tier === undefined || this.#candCount < 2) return tier;
    // Slow start: hold back ramping servers from some picks (never emptying the list).
    let kept = 0;
    let ramping = 0;
    for (let j = 0; j < this.#candCount; j++) if ((this.#ramp[this.#cand[j] as number] as number) < 1) ramping++;
    if (ramping === 0) return tier;
    for (let j = 0; j < this.#candCount; j++) {
      const c = this.#cand[j] as number;
      const f = this.#ramp[c] as number;
      let admit = true;
      if (f < 1) {
        const k = (this.#rampSeq[c] as number) + 1;
        this.#rampSeq[c] = k;
        admit = Math.floor(k * f) > Math.floor((k - 1) * f);
      }
      if (admit || ramping === this.#candCount) this.#cand[kept++] = c;
      else this.#isCand[c] = 0;
    }
    this.#candCount = kept;
    return tier;
  }

  #tier(exclude: number): ServerState | undefined {
    let alive = 0;
    let pending = 0;
    let dead = 0;
    for (let i = 0; i < this.size; i++) {
      if (i === exclude || this.#weight[i] === 0) continue;
      const s = this.#state[i] as ServerState;
      switch (s) {
        case 'alive': alive++; break;
        case 'pending': pending++; break;
        case 'dead': dead++; break;
        default: assertNever(s, 'server state');
      }
    }
    const tier: ServerState | undefined = alive > 0 ? 'alive' : pending > 0 ? 'pending' : dead > 0 ? 'dead' : undefined;
    this.#isCand.fill(0);
    this.#candCount = 0;
    if (tier === undefined) return undefined;
    for (let i = 0; i < this.size; i++) {
      if (i === exclude || this.#weight[i] === 0 || (!this.#panic && this.#state[i] !== tier)) continue;
      this.#cand[this.#candCount++] = i;
      this.#isCand[i] = 1;
    }
    return tier;
  }

  /** Position in #cand of the first candidate at or after the cursor (wrapping). */
  #startPos(): number {
    for (let j = 0; j < this.#candCount; j++) if ((this.#cand[j] as number) >= this.#cursor) return j;
    return 0;
  }

  /**
   * The policy's pick over the candidates:
   * - round-robin, unweighted: the first candidate at or after the cursor, in index order (the
   *   cursor is one past the previous policy pick), so 0, 1, 2, 0, 1, 2...
   * - round-robin, weighted: nginx's smooth weighted round robin. Each pick adds every
   *   candidate's weight to its `current`, takes the largest `current` (ties: lowest index) and
   *   subtracts the candidates' total weight from it. Weights {a:3, b:1} give a a b a, repeating;
   *   {a:5, b:1, c:1} give a a b a c a a.
   * - connections: the fewest links opened within the load window (slide 30: the change of the
   *   count over a period, not the total, so a server that joins a busy group is not bombed).
   *   With `loadFromTotals`: the fewest links open now (classic least-connections, which bombs a
   *   newcomer: kept to show the difference).
   * - packets: the fewest packets (both directions, as the engine reports them) within the load
   *   window, a link opened in the window counting as at least the pool's packets per link (see
   *   #expectPackets); with `loadFromTotals`, the packets since the server joined.
   * - counter: the lowest external counter last reported by the server (the value holds until
   *   the next report; `loadFromTotals` does not apply). A server that has not reported since it
   *   joined counts as the mean of the reporting candidates' loads (0 if none report): it is not
   *   flooded before its first report (as it would be at 0), and it takes its turn when the
   *   reports are equal.
   * Weighted, each load is divided by the server's weight (compared exactly, as
   * L_a * w_b < L_b * w_a).
   */
  #byPolicy(): number {
    const policy = this.config.policy;
    switch (policy) {
      case 'round-robin':
        return this.config.weighted ? this.#smoothWeighted() : (this.#cand[this.#startPos()] as number);
      case 'connections':
      case 'packets':
      case 'counter':
        this.#score(policy);
        return this.#leastLoaded();
      default:
        return assertNever(policy, 'policy');
    }
  }

  /** nginx's smooth weighted round robin over the candidates (ties: lowest index). */
  #smoothWeighted(): number {
    let total = 0;
    let best = -1;
    for (let j = 0; j < this.#candCount; j++) {
      const c = this.#cand[j] as number;
      const w = this.#weight[c] as number;
      total += w;
      const cur = (this.#rrCurrent[c] as number) + w;
      this.#rrCurrent[c] = cur;
      this.#num[c] = cur;
      this.#den[c] = 1;
      if (best < 0 || cur > (this.#rrCurrent[best] as number)) best = c;
    }
    this.#scored = true;
    this.#rrCurrent[best] = (this.#rrCurrent[best] as number) - total;
    return best;
  }

  /** Fill #num / #den for every candidate. */
  #score(policy: 'connections' | 'packets' | 'counter'): void {
    const weighted = this.config.weighted;
    const totals = this.config.loadFromTotals;
    let k = LOAD_WINDOW_BUCKETS;
    if (policy !== 'counter' && !totals) {
      // Compare over the buckets since the youngest candidate joined (all candidates alike).
      let youngest = 0;
      for (let j = 0; j < this.#candCount; j++) {
        const b = this.#openedWindow.bucketOf(this.#since[this.#cand[j] as number] as Instant);
        if (j === 0 || b > youngest) youngest = b;
      }
      k = Math.max(1, Math.min(LOAD_WINDOW_BUCKETS, this.#openedWindow.head - youngest + 1));
      this.#lastBuckets = k;
    }
    let reportedSum = 0;
    let reportedCount = 0;
    for (let j = 0; j < this.#candCount; j++) {
      const c = this.#cand[j] as number;
      const den = weighted ? (this.#weight[c] as number) : 1;
      this.#den[c] = den;
      let num: number;
      switch (policy) {
        case 'connections':
          num = totals ? (this.#open[c] as number) : this.#openedWindow.sum(c, k);
          break;
        case 'packets':
          num = totals ? (this.#packetsTotal[c] as number) : this.#packetWindow.sum(c, k);
          break;
        case 'counter':
          num = this.#counter[c] as number;
          if (this.#reported[c] === 1) {
            reportedSum += num / den;
            reportedCount++;
          }
          break;
        default:
          num = assertNever(policy, 'policy');
      }
      this.#num[c] = num;
    }
    if (policy === 'packets' && !totals) this.#expectPackets(k);
    if (policy === 'counter') {
      const mean = reportedCount === 0 ? 0 : reportedSum / reportedCount;
      for (let j = 0; j < this.#candCount; j++) {
        const c = this.#cand[j] as number;
        if (this.#reported[c] === 0) {
          this.#num[c] = mean;
          this.#den[c] = 1;
        }
      }
    }
    this.#scored = true;
  }

  /**
   * Packets policy: a link's packets reach the window over its life (a long request's response
   * comes at its end), so a server that just joined looks idle while its links ramp up. Count each
   * link opened in the window at no less than the pool's packets per link over the same buckets:
   * load = max(packets, links opened * pool packets / pool links opened). The pool's figure comes
   * from the candidates that joined at least a load window ago (their windows hold whole link
   * lives), or from all candidates when none did. A server whose links really carry more traffic
   * keeps its measured count; with no link opened yet, packets alone.
   */
  #expectPackets(k: number): void {
    const settledBefore = this.#now - this.config.loadWindow;
    let packets = 0;
    let links = 0;
    for (let pass = 0; pass < 2 && links === 0; pass++) {
      packets = 0;
      for (let j = 0; j < this.#candCount; j++) {
        const c = this.#cand[j] as number;
        if (pass === 0 && (this.#since[c] as number) > settledBefore) continue;
        packets += this.#num[c] as number;
        links += this.#openedWindow.sum(c, k);
      }
    }
    if (links === 0) return;
    const perLink = packets / links;
    for (let j = 0; j < this.#candCount; j++) {
      const c = this.#cand[j] as number;
      const expected = this.#openedWindow.sum(c, k) * perLink;
      if (expected > (this.#num[c] as number)) this.#num[c] = expected;
    }
  }

  /** The candidate with the lowest num / den; ties: first at or after the cursor. */
  #leastLoaded(): number {
    const start = this.#startPos();
    let best = this.#cand[start] as number;
    for (let j = 1; j < this.#candCount; j++) {
      const c = this.#cand[(start + j) % this.#candCount] as number;
      // num_c / den_c < num_best / den_best, without division (dens are positive).
      if ((this.#num[c] as number) * (this.#den[best] as number) < (this.#num[best] as number) * (this.#den[c] as number)) best = c;
    }
    return best;
  }

  /**
   * A server joins: its history (window rows, packet total, counter report, round-robin credit)
   * restarts at `now`. It is then compared with the others on the links they received since it
   * arrived: at most a catch-up of their links in the bucket it joined in (a tenth of a window).
   */
  #join(server: number, now: Instant): void {
    this.#since[server] = now;
    this.#openedWindow.clearRow(server);
    this.#packetWindow.clearRow(server);
    this.#packetsTotal[server] = 0;
    this.#reported[server] = 0;
    this.#counter[server] = 0;
    this.#rrCurrent[server] = 0;
  }

  #tick(now: Instant): void {
    assert(now >= this.#now, `group ${this.config.name}: time went backwards (${now} < ${this.#now})`);
    this.#now = now;
    this.#openedWindow.advance(now);
    this.#packetWindow.advance(now);
  }

  #checkServer(server: number): void {
    assert(Number.isInteger(server) && server >= 0 && server < this.size, `group ${this.config.name}: no server ${server}`);
  }
}

function checkWeight(weight: number, what: string): void {
  assert(Number.isInteger(weight) && weight >= 0 && weight <= WEIGHT_MAX, `${what}: weight must be an integer 0..${WEIGHT_MAX}, got ${weight}`);
}
