/**
 * IGMPv2 host side (RFC 2236 section 6): group membership per (interface, group), the report
 * timers that make a router learn membership "up to 10 s" late (slide 21), and report
 * suppression ("members of the same group in the same subnet report only once").
 *
 * The per-group machine is the RFC's state diagram as data (STYLE.md 6):
 *
 *   Non-Member --join--> Delaying   send report, set flag, start timer in [0, Unsolicited Report Interval]
 *   Delaying   --leave-> Non-Member stop timer, send leave if flag
 *   Delaying   --query-> Delaying   reset timer to [0, Max Resp Time] if that is shorter than what is left
 *   Delaying   --report> Idle       stop timer, clear flag (another member answered: suppression)
 *   Delaying   --timer-> Idle       send report, set flag
 *   Idle       --leave-> Non-Member send leave if flag
 *   Idle       --query-> Delaying   start timer in [0, Max Resp Time]
 *
 * "flag" is RFC 2236's "we were the last host to report", which decides whether leaving sends a
 * Leave Group message. The join's timer is the repeat of the unsolicited report (RFC 2236 3:
 * "repeated once or twice after short delays"); Linux, like this module, sends it once more.
 * The all-systems group 224.0.0.1 is never in the table: every interface is always a member and
 * never reports it (RFC 2236 6).
 *
 * Several joins of one group on one interface (two sockets) share a membership by reference count;
 * only the first join and the last leave drive the machine. Timers use the host's clock via
 * `env.timer`; delays are drawn from `env.rng`, uniformly in whole microseconds.
 */

import type { IfaceName } from '../port.ts';
import type { Rng } from '../rng.ts';
import { seconds, type Duration, type Instant } from '../time.ts';
import { IGMP_ALL_SYSTEMS } from '../wire/igmp.ts';
import type { Ipv4Addr } from '../wire/addr.ts';
import { assertNever } from '../assert.ts';
import { step, type Step, type Table } from '../machine.ts';

/** RFC 2236 8.10: time between repetitions of the initial report. */
export const IGMP_UNSOLICITED_REPORT_INTERVAL: Duration = seconds(10);
/** RFC 2236 4: a v1 query (max resp code 0) is answered as if it said 10 s. */
export const IGMP_V1_MAX_RESP: Duration = seconds(10);
/** Memberships (interface, group) per host. */
export const IGMP_MEMBERSHIPS_MAX = 4096;

export interface IgmpHostConfig {
  readonly unsolicitedReportInterval: Duration;
  readonly membershipsMax: number;
}

export const IGMP_HOST_DEFAULTS: IgmpHostConfig = {
  unsolicitedReportInterval: IGMP_UNSOLICITED_REPORT_INTERVAL,
  membershipsMax: IGMP_MEMBERSHIPS_MAX,
};

export type IgmpHostState = 'non-member' | 'delaying' | 'idle';
export type IgmpHostEvent = 'join' | 'leave' | 'query' | 'report-heard' | 'timer-expired';
export type IgmpHostAction =
  | 'send-report'
  | 'send-leave-if-flag'
  | 'set-flag'
  | 'clear-flag'
  | 'start-timer'
  | 'stop-timer'
  | 'reset-timer-if-shorter';

export type IgmpHostStep = Step<IgmpHostState, IgmpHostAction>;

/** RFC 2236 section 6's diagram. Events not listed for a state are ignored there. */
export const IGMP_HOST_TRANSITIONS = {
  'non-member': {
    join: { to: 'delaying', actions: ['send-report', 'set-flag', 'start-timer'] },
  },
  delaying: {
    leave: { to: 'non-member', actions: ['stop-timer', 'send-leave-if-flag'] },
    query: { to: 'delaying', actions: ['reset-timer-if-shorter'] },
    'report-heard': { to: 'idle', actions: ['stop-timer', 'clear-flag'] },
    'timer-expired': { to: 'idle', actions: ['send-report', 'set-flag'] },
  },
  idle: {
    leave: { to: 'non-member', actions: ['send-leave-if-flag'] },
    query: { to: 'delaying', actions: ['start-timer'] },
  },
} as const satisfies Table<IgmpHostState, IgmpHostEvent, IgmpHostAction>;

/** The pure transition function over the table; undefined when the event is ignored. */
export function igmpHostTransition(state: IgmpHostState, event: IgmpHostEvent): IgmpHostStep | undefined {
  return step<IgmpHostState, IgmpHostEvent, IgmpHostAction>(IGMP_HOST_TRANSITIONS, state, event);
}

/** What started a report timer (for the trace). */
export type IgmpTimerTrigger = 'join' | 'query';

export interface IgmpHostEnv {
  now(): Instant;
  timer(d: Duration, fn: () => void): () => void;
  readonly rng: Rng;
  sendReport(iface: IfaceName, group: Ipv4Addr): void;
  sendLeave(iface: IfaceName, group: Ipv4Addr): void;
  onTransition(iface: IfaceName, group: Ipv4Addr, from: IgmpHostState, to: IgmpHostState, event: IgmpHostEvent): void;
  /** A report timer was (re)started: `delay` drawn uniformly from [0, max]. */
  onTimer(iface: IfaceName, group: Ipv4Addr, delay: Duration, max: Duration, trigger: IgmpTimerTrigger): void;
}

export interface IgmpMembershipView {
  readonly iface: IfaceName;
  readonly group: Ipv4Addr;
  readonly state: IgmpHostState;
  /** Joins holding the membership. */
  readonly refs: number;
  /** We sent the last report heard for this group here. */
  readonly lastReporter: boolean;
  /** Local-clock instant the running report timer fires. */
  readonly reportAt?: Instant;
}

interface Membership {
  readonly iface: IfaceName;
  readonly group: Ipv4Addr;
  state: IgmpHostState;
  refs: number;
  flag: boolean;
  timerAt: Instant | undefined;
  cancel: (() => void) | undefined;
}

export interface IgmpHostCounters {
  reportsSent: number;
  leavesSent: number;
  reportsSuppressed: number;
  queriesHeard: number;
}

export class IgmpHost {
  readonly config: IgmpHostConfig;
  readonly counters: IgmpHostCounters = { reportsSent: 0, leavesSent: 0, reportsSuppressed: 0, queriesHeard: 0 };
  readonly #env: IgmpHostEnv;
  readonly #byIface = new Map<IfaceName, Map<Ipv4Addr, Membership>>();
  #size = 0;

  constructor(env: IgmpHostEnv, config: Partial<IgmpHostConfig> = {}) {
    this.#env = env;
    this.config = { ...IGMP_HOST_DEFAULTS, ...config };
  }

  /** Member of `group` on `iface` (224.0.0.1 always). */
  isMember(iface: IfaceName, group: Ipv4Addr): boolean {
    return group === IGMP_ALL_SYSTEMS || this.#byIface.get(iface)?.has(group) === true;
  }

  memberships(): IgmpMembershipView[] {
    const out: IgmpMembershipView[] = [];
    for (const m of this.#byIface.values()) {
      for (const g of m.values()) {
        out.push({
          iface: g.iface,
          group: g.group,
          state: g.state,
          refs: g.refs,
          lastReporter: g.flag,
          ...(g.timerAt !== undefined ? { reportAt: g.timerAt } : {}),
        });
      }
    }
    return out;
  }

  /**
   * Add a reference; returns true when this started the membership. `announce` false joins
   * without the unsolicited report (straight to Idle): the router learns of the membership only
   * when it next asks (slide 21's behaviour, which an SG node uses as the no-refresh baseline).
   */
  join(iface: IfaceName, group: Ipv4Addr, announce = true): boolean {
    if (group === IGMP_ALL_SYSTEMS) return false;
    const t = this.#table(iface);
    const m = t.get(group);
    if (m !== undefined) {
      m.refs++;
      return false;
    }
    if (this.#size >= this.config.membershipsMax) throw new Error(`more than ${this.config.membershipsMax} IGMP memberships`);
    const fresh: Membership = { iface, group, state: 'non-member', refs: 1, flag: false, timerAt: undefined, cancel: undefined };
    t.set(group, fresh);
    this.#size++;
    if (announce) this.#step(fresh, 'join', this.config.unsolicitedReportInterval, 'join');
    else {
      fresh.state = 'idle';
      this.#env.onTransition(iface, group, 'non-member', 'idle', 'join');
    }
    return true;
  }

  /** Drop a reference; returns true when this ended the membership (a leave may have been sent). */
  leave(iface: IfaceName, group: Ipv4Addr): boolean {
    const m = this.#byIface.get(iface)?.get(group);
    if (m === undefined) return false;
    if (--m.refs > 0) return false;
    this.#step(m, 'leave');
    this.#byIface.get(iface)?.delete(group);
    this.#size--;
    return true;
  }

  /** A membership query heard on `iface`: `group` 0 for a general query. */
  query(iface: IfaceName, group: Ipv4Addr, maxResp: Duration): void {
    this.counters.queriesHeard++;
    const t = this.#byIface.get(iface);
    if (t === undefined) return;
    if (group === 0) {
      for (const m of t.values()) this.#step(m, 'query', maxResp, 'query');
      return;
    }
    const m = t.get(group);
    if (m !== undefined) this.#step(m, 'query', maxResp, 'query');
  }

  /** Another host's report for `group` heard on `iface`. */
  reportHeard(iface: IfaceName, group: Ipv4Addr): void {
    const m = this.#byIface.get(iface)?.get(group);
    if (m === undefined) return;
    if (m.state === 'delaying') this.counters.reportsSuppressed++;
    this.#step(m, 'report-heard');
  }

  /** Forget every membership without sending anything (host crash). */
  clear(): void {
    for (const t of this.#byIface.values()) for (const m of t.values()) m.cancel?.();
    this.#byIface.clear();
    this.#size = 0;
  }

  #step(m: Membership, event: IgmpHostEvent, max: Duration = 0 as Duration, trigger: IgmpTimerTrigger = 'query'): void {
    const step = igmpHostTransition(m.state, event);
    if (step === undefined) return;
    const from = m.state;
    m.state = step.to;
    for (const a of step.actions) this.#act(m, a, max, trigger);
    this.#env.onTransition(m.iface, m.group, from, step.to, event);
  }

  #act(m: Membership, a: IgmpHostAction, max: Duration, trigger: IgmpTimerTrigger): void {
    switch (a) {
      case 'send-report':
        this.counters.reportsSent++;
        this.#env.sendReport(m.iface, m.group);
        return;
      case 'send-leave-if-flag':
        if (m.flag) {
          this.counters.leavesSent++;
          this.#env.sendLeave(m.iface, m.group);
        }
        return;
      case 'set-flag':
        m.flag = true;
        return;
      case 'clear-flag':
        m.flag = false;
        return;
      case 'start-timer':
        this.#startTimer(m, max, trigger);
        return;
      case 'stop-timer':
        m.cancel?.();
        m.cancel = undefined;
        m.timerAt = undefined;
        return;
      case 'reset-timer-if-shorter': {
        const left = m.timerAt === undefined ? Infinity : m.timerAt - this.#env.now();
        if (max < left) this.#startTimer(m, max, trigger);
        return;
      }
      default:
        assertNever(a, 'IGMP host action');
    }
  }

  #startTimer(m: Membership, max: Duration, trigger: IgmpTimerTrigger): void {
    m.cancel?.();
    const delay = this.#env.rng.int(0, Math.max(0, max)) as Duration;
    m.timerAt = (this.#env.now() + delay) as Instant;
    this.#env.onTimer(m.iface, m.group, delay, max, trigger);
    m.cancel = this.#env.timer(delay, () => {
      m.cancel = undefined;
      m.timerAt = undefined;
      this.#step(m, 'timer-expired');
    });
  }

  #table(iface: IfaceName): Map<Ipv4Addr, Membership> {
    let t = this.#byIface.get(iface);
    if (t === undefined) {
      t = new Map();
      this.#byIface.set(iface, t);
    }
    return t;
  }
}
