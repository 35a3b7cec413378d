/**
 * `Bidd`: the slide-9 election machine (`machine.ts`) driven by timers, in quinn's shape
 * (STYLE.md 3). Sans-IO: messages are plain values; the caller carries them over UDP multicast.
 *
 * Call `handleMessage(now, msg)` for every message received on the group, `handleTimeout(now)`
 * when `pollTimeout()` has passed, `processFailed(now)` when the monitored service dies and
 * `resign(now)` on SIGHUP/SIGINT. After each of these, drain `pollAction()` until it returns
 * undefined (sends, scripts, VIP changes, in the order they must happen) and re-read
 * `pollTimeout()`.
 *
 * Ordering of bids: higher price wins, ties by higher node id. Epochs: a node becoming master
 * takes an epoch beyond every epoch it has seen, and a master keeps its epoch above any epoch it
 * hears from others. A heartbeat whose epoch is below ours from a node ranked below us is stale
 * and dropped.
 *
 * Flap protection: after losing mastership (or a process failure) we do not bid for `holdDown`.
 * Stall protection: if any of our timers is overdue by more than `stallBound` when we are next
 * driven, we were frozen (GC, swap, SIGSTOP); a master demotes itself instead of fighting the
 * master elected meanwhile.
 */

import type { Duration, Instant } from '../time.ts';
import { addDuration } from '../time.ts';
import { TimerTable } from '../timers.ts';
import { assert, assertNever } from '../assert.ts';
import type { BiddInput, BiddState } from './machine.ts';
import { transition } from './machine.ts';

export interface BiddConfig {
  readonly node: number;
  readonly price: number;
  readonly group: number;
  readonly heartbeatInterval: Duration;
  readonly masterTimeout: Duration;
  readonly bidTimeout: Duration;
  /** After losing mastership, do not bid again for this long. */
  readonly holdDown: Duration;
  /** A timer firing later than this past its deadline means we were stalled. */
  readonly stallBound: Duration;
}

export type BiddMessageKind = 'heartbeat' | 'bid' | 'resign';

export interface BiddMessage {
  readonly kind: BiddMessageKind;
  readonly node: number;
  readonly price: number;
  readonly epoch: number;
  readonly group: number;
}

export type BiddOutput =
  | { readonly kind: 'send'; readonly msg: BiddMessage }
  | { readonly kind: 'script'; readonly which: 'start' | 'stop' | 'continue' }
  | { readonly kind: 'take-vip' }
  | { readonly kind: 'release-vip' };

export interface BiddStats {
  otherGroup: number;
  own: number;
  stale: number;
  stalls: number;
  suppressedByHoldDown: number;
}

/** Most actions one entry point can queue (a step queues at most 4); the caller drains between. */
export const BIDD_ACTIONS_QUEUED_MAX = 64;

type TimerName = 'heartbeat' | 'master' | 'bid' | 'listen' | 'holdDown';
const TIMER_NAMES = ['heartbeat', 'master', 'bid', 'listen', 'holdDown'] as const satisfies readonly TimerName[];

/** Whether bid (priceA, nodeA) beats (priceB, nodeB). */
export function outranks(priceA: number, nodeA: number, priceB: number, nodeB: number): boolean {
  return priceA > priceB || (priceA === priceB && nodeA > nodeB);
}

export class Bidd {
  readonly cfg: BiddConfig;
  readonly stats: BiddStats = { otherGroup: 0, own: 0, stale: 0, stalls: 0, suppressedByHoldDown: 0 };
  #state: BiddState = 'initial';
  #epoch = 0;
  #master: number | undefined = undefined;
  #holdDownUntil: Instant | undefined = undefined;
  /** Watched resources that are down (the process, an interface): we do not bid while any is. */
  readonly #down = new Set<string>();
  /** Other masters (node:epoch) we re-announced against while master: continue runs once for each. */
  readonly #answered = new Set<string>();
  /** The price we bid with: the configured one, or 0 while not eligible (`setEligible`). */
  #price: number;
  readonly #timers = new TimerTable<TimerName>(TIMER_NAMES);
  readonly #actions: BiddOutput[] = [];

  constructor(cfg: BiddConfig, now: Instant) {
    for (const key of ['heartbeatInterval', 'masterTimeout', 'bidTimeout'] as const) {
      assert(cfg[key] > 0, `bidd ${key} must be positive, got ${cfg[key]}`);
    }
    assert(cfg.holdDown >= 0 && cfg.stallBound > 0, 'bidd holdDown must be >= 0 and stallBound > 0');
    assert(cfg.masterTimeout > cfg.heartbeatInterval, 'bidd masterTimeout must exceed heartbeatInterval');
    this.cfg = cfg;
    this.#price = cfg.price;
    // Listen as long as a slave would wait for a heartbeat before deciding there is no master.
    this.#timers.set('listen', addDuration(now, cfg.masterTimeout));
  }

  get state(): BiddState {
    return this.#state;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** The master we follow (our own id while master), or undefined. */
  get master(): number | undefined {
    return this.#state === 'master' ? this.cfg.node : this.#master;
  }

  /** The price we bid with now. */
  get price(): number {
    return this.#price;
  }

  /**
   * Bid at the configured price (true) or at the lowest price, 0 (false): a node still receiving
   * the master's state (slide 11) loses every election against a node that holds it, yet still
   * takes over when it is the only one left, since a VIP held without state beats a dark VIP.
   */
  setEligible(eligible: boolean): void {
    this.#price = eligible ? this.cfg.price : 0;
  }

  /** Whether we are inside a hold-down window at `now`, or held down by a dead watched process. */
  holdingDown(now: Instant): boolean {
    return this.#down.size > 0 || (this.#holdDownUntil !== undefined && now < this.#holdDownUntil);
  }

  /**
   * Call before anything else the node does when it may have been frozen (the engine calls it
   * for every frame): if a timer is overdue beyond `stallBound`, the stall is handled now, so a
   * master that slept through an election demotes itself before it answers a single ARP request.
   * Returns whether a stall was found.
   */
  checkStall(now: Instant): boolean {
    return this.#checkStall(now);
  }

  /** Call for every message received on the group (our own looped-back messages are ignored). */
  handleMessage(now: Instant, msg: BiddMessage): void {
    this.#checkStall(now);
    if (this.#state === 'exit') return;
    if (msg.group !== this.cfg.group) {
      this.stats.otherGroup++;
      return;
    }
    if (msg.node === this.cfg.node) {
      this.stats.own++;
      return;
    }
    const higher = outranks(msg.price, msg.node, this.#price, this.cfg.node);
    switch (msg.kind) {
      case 'heartbeat': {
        if (!higher && msg.epoch < this.#epoch) {
          this.stats.stale++;
          return;
        }
        if (this.#state === 'master' && higher) {
          // Step down first, so the resign carries the epoch we held as master (the winner
          // re-announces once per master and term), then adopt the winner's.
          this.#apply(now, 'higher-master');
          this.#epoch = Math.max(this.#epoch, msg.epoch);
        } else {
          if (this.#state === 'master') {
            this.#answered.add(`${msg.node}:${msg.epoch}`);
            // Keep our epoch above the other master's, so followers treat the survivor as current.
            this.#epoch = Math.max(this.#epoch, msg.epoch) + 1;
          } else this.#epoch = Math.max(this.#epoch, msg.epoch);
          this.#apply(now, higher ? 'higher-master' : 'lower-master');
        }
        if (this.#state === 'slave') {
          this.#master = msg.node;
          this.#timers.set('master', addDuration(now, this.cfg.masterTimeout));
        }
        return;
      }
      case 'bid': {
        if (this.#state === 'master') this.#epoch = Math.max(this.#epoch, msg.epoch + 1);
        else this.#epoch = Math.max(this.#epoch, msg.epoch);
        if (!higher && (this.#state === 'slave' || this.#state === 'initial') && this.holdingDown(now)) {
          this.stats.suppressedByHoldDown++;
          return;
        }
        this.#apply(now, higher ? 'higher-bid' : 'lower-bid');
        return;
      }
      case 'resign': {
        if (this.#state === 'master') {
          // Another master stepped down on meeting us (a split ended), or left on purpose: the
          // ARP caches on its side may point at it, so re-announce (continue), once per master
          // and term (its heartbeat may have told us already).
          const key = `${msg.node}:${msg.epoch}`;
          if (this.#answered.has(key)) return;
          this.#answered.add(key);
          this.#epoch = Math.max(this.#epoch, msg.epoch + 1);
          this.#apply(now, 'lower-master');
          return;
        }
        if (this.#state === 'slave' && this.#master === msg.node) {
          this.#master = undefined;
          this.#timers.clear('master');
          this.#masterGone(now);
        }
        return;
      }
      default:
        return assertNever(msg.kind, 'bidd message kind');
    }
  }

  /** Call when `pollTimeout()` has passed. */
  handleTimeout(now: Instant): void {
    if (this.#checkStall(now)) return;
    for (const name of this.#timers.expired(now)) {
      switch (name) {
        case 'heartbeat':
          if (this.#state !== 'master') break;
          this.#send('heartbeat');
          this.#timers.set('heartbeat', addDuration(now, this.cfg.heartbeatInterval));
          break;
        case 'master':
          this.#master = undefined;
          this.#masterGone(now);
          break;
        case 'bid':
          this.#apply(now, 'bid-timeout');
          break;
        case 'listen':
          if (this.holdingDown(now)) break; // the holdDown timer or processRecovered starts us
          this.#apply(now, 'start');
          break;
        case 'holdDown':
          this.#holdDownUntil = undefined;
          if (this.#down.size > 0) break;
          if (this.#state === 'initial' && !this.#timers.isArmed('listen')) this.#apply(now, 'start');
          else if (this.#state === 'slave' && !this.#timers.isArmed('master')) this.#apply(now, 'master-timeout');
          break;
        default:
          assertNever(name, 'bidd timer');
      }
    }
  }

  /**
   * Call when a watched resource fails: the service process (slide 6) or, like keepalived's
   * track_interface, an interface losing carrier (`what` names it). A master steps down at once
   * and tells the others (if it still can); no node bids while any watched resource is down.
   */
  processFailed(now: Instant, what = 'process'): void {
    this.#checkStall(now);
    if (this.#state === 'exit' || this.#down.has(what)) return;
    if (this.#down.size === 0) this.#apply(now, 'process-failure');
    this.#down.add(what);
  }

  /** Call when the watched resource `what` works again: bidding resumes once none is down (after any hold-down left). */
  processRecovered(now: Instant, what = 'process'): void {
    this.#checkStall(now);
    if (!this.#down.delete(what) || this.#down.size > 0) return;
    if (this.holdingDown(now)) return; // the holdDown timer resumes us
    if (this.#state === 'initial' && !this.#timers.isArmed('listen')) this.#apply(now, 'start');
    else if (this.#state === 'slave' && !this.#timers.isArmed('master')) this.#apply(now, 'master-timeout');
  }

  /** Call on SIGHUP/SIGINT. */
  resign(now: Instant): void {
    this.#checkStall(now);
    this.#apply(now, 'resign');
  }

  /** The next deadline at which to call `handleTimeout`, or undefined when none is armed. */
  pollTimeout(): Instant | undefined {
    return this.#timers.next()?.at;
  }

  /** The next action to carry out, in order; drain after every entry point. */
  pollAction(): BiddOutput | undefined {
    return this.#actions.shift();
  }

  /** No master heard (timeout or resign): bid unless we are holding down. */
  #masterGone(now: Instant): void {
    if (this.#state !== 'slave') return;
    if (this.holdingDown(now)) {
      this.stats.suppressedByHoldDown++;
      return; // the holdDown timer bids when it expires, unless a master shows up first
    }
    this.#apply(now, 'master-timeout');
  }

  #startHoldDown(now: Instant): void {
    if (this.cfg.holdDown <= 0 || this.#state === 'exit') return;
    this.#holdDownUntil = addDuration(now, this.cfg.holdDown);
    this.#timers.set('holdDown', this.#holdDownUntil);
  }

  /** Detect a stall: any timer overdue by more than `stallBound`. Returns whether one was found. */
  #checkStall(now: Instant): boolean {
    const next = this.#timers.next();
    if (next === undefined || now - next.at <= this.cfg.stallBound) return false;
    this.stats.stalls++;
    const before = this.#state;
    this.#apply(now, 'stall-detected');
    // Start the state's timers afresh from now; what happened meanwhile is in the socket queue.
    if (this.#state === before) this.#enter(now, before);
    if (this.#holdDownUntil !== undefined && now >= this.#holdDownUntil) {
      this.#holdDownUntil = undefined;
      this.#timers.clear('holdDown');
    }
    return true;
  }

  #apply(now: Instant, input: BiddInput): void {
    const prev = this.#state;
    const { to: next, actions } = transition(prev, input);
    this.#state = next;
    if (next !== prev) {
      if (next === 'master') this.#epoch += 1; // beyond every epoch we have seen
      this.#enter(now, prev);
    }
    for (const action of actions) {
      switch (action) {
        case 'run-start-script':
          this.#push({ kind: 'script', which: 'start' });
          break;
        case 'run-stop-script':
          this.#push({ kind: 'script', which: 'stop' });
          break;
        case 'run-continue-script':
          this.#push({ kind: 'script', which: 'continue' });
          break;
        case 'send-bid':
          this.#send('bid');
          break;
        case 'send-heartbeat':
          this.#send('heartbeat');
          break;
        case 'send-resign':
          this.#send('resign');
          break;
        case 'take-vip':
          this.#push({ kind: 'take-vip' });
          break;
        case 'release-vip':
          this.#push({ kind: 'release-vip' });
          break;
        default:
          assertNever(action, 'bidd action');
      }
    }
  }

  /** Arm the timers of the current state (entered from `prev`). */
  #enter(now: Instant, prev: BiddState): void {
    const keepHoldDown = this.#timers.get('holdDown');
    this.#timers.clearAll();
    if (keepHoldDown !== undefined) this.#timers.set('holdDown', keepHoldDown);
    const cfg = this.cfg;
    switch (this.#state) {
      case 'initial':
        this.#timers.set('listen', addDuration(now, cfg.masterTimeout));
        break;
      case 'bid':
        this.#timers.set('bid', addDuration(now, cfg.bidTimeout));
        break;
      case 'master':
        this.#master = undefined;
        this.#answered.clear();
        this.#timers.set('heartbeat', addDuration(now, cfg.heartbeatInterval));
        break;
      case 'slave':
        this.#timers.set('master', addDuration(now, cfg.masterTimeout));
        if (prev === 'master') this.#startHoldDown(now);
        break;
      case 'exit':
        this.#timers.clearAll();
        this.#holdDownUntil = undefined;
        break;
      default:
        assertNever(this.#state, 'bidd state');
    }
  }

  #send(kind: BiddMessageKind): void {
    const { node, group } = this.cfg;
    this.#push({ kind: 'send', msg: { kind, node, price: this.#price, epoch: this.#epoch, group } });
  }

  #push(action: BiddOutput): void {
    assert(this.#actions.length < BIDD_ACTIONS_QUEUED_MAX, 'bidd action queue full: caller is not draining');
    this.#actions.push(action);
  }
}
