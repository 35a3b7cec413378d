/**
 * The bidd election machine of slide 9 as data plus a pure function (STYLE.md 6).
 *
 * States: `initial` (listening for an existing master), `bid` (offering our price), `master`
 * (holding the virtual IP, heartbeating), `slave` (following a master), `exit` (resigned).
 *
 * Inputs are verdicts the driver (`Bidd`) has already classified against our own bid
 * (higher price wins, ties by higher node id): another node's bid or master heartbeat is
 * `higher-*` or `lower-*`; `bid-timeout` means "no other higher bid" for `bidTimeout`;
 * `master-timeout` means no master heartbeat for `masterTimeout` (or the master resigned);
 * `start` ends the initial listen period; `process-failure` is the monitored service dying;
 * `resign` is SIGHUP/SIGINT; `stall-detected` means our own timers fired later than
 * `stallBound` past their deadline, so others may already have replaced us.
 *
 * Actions are emitted in order, exactly once per transition. `send-resign` (not on the slide)
 * tells the followers a master is leaving on purpose so they bid at once instead of waiting out
 * `masterTimeout`.
 *
 * Mastership is sticky: a master answers any bid with a heartbeat, and a node in `initial` or
 * `bid` that hears any master follows it. Only two masters meeting (after a partition heals)
 * compare prices: the lower one steps down (stop script) and says so with a resign, the higher
 * one re-announces (continue script) when it hears the lower one's heartbeat or its resign,
 * whichever comes first (the lower one may hear the higher first and never send a heartbeat).
 */

import { assertNever } from '../assert.ts';

export const BIDD_STATES = ['initial', 'bid', 'master', 'slave', 'exit'] as const;
export type BiddState = (typeof BIDD_STATES)[number];

export const BIDD_INPUTS = [
  'start',
  'higher-bid',
  'lower-bid',
  'bid-timeout',
  'higher-master',
  'lower-master',
  'master-timeout',
  'process-failure',
  'resign',
  'stall-detected',
] as const;
export type BiddInput = (typeof BIDD_INPUTS)[number];

export const BIDD_ACTIONS = [
  'run-start-script',
  'run-stop-script',
  'run-continue-script',
  'send-bid',
  'send-heartbeat',
  'send-resign',
  'take-vip',
  'release-vip',
] as const;
export type BiddAction = (typeof BIDD_ACTIONS)[number];

export type BiddStep = readonly [BiddState, readonly BiddAction[]];

/** Stepping down from master: give the address back first, then stop the service. */
const STEP_DOWN = ['release-vip', 'run-stop-script'] as const;

/**
 * `BIDD_TRANSITIONS[state][input]` is `[next state, actions]`. Each row is commented with the
 * slide-9 arrow it draws (or why the input is a no-op in that state).
 */
export const BIDD_TRANSITIONS = {
  initial: {
    start: ['bid', ['send-bid']], // listen period over, no master heard: offer our price
    'higher-bid': ['slave', []], // someone better is bidding: we would lose, follow
    'lower-bid': ['bid', ['send-bid']], // an election started and we beat that bid: join it
    'bid-timeout': ['initial', []], // not armed in initial
    'higher-master': ['slave', []], // "master heartbeat": a master exists, follow it
    'lower-master': ['slave', []], // "master heartbeat": sticky, even if our price is higher
    'master-timeout': ['initial', []], // not armed in initial (the listen timer is `start`)
    'process-failure': ['initial', []], // nothing running yet; the driver holds us down
    resign: ['exit', []], // "signal HUP/INT"
    'stall-detected': ['initial', []], // the driver restarts the listen period
  },
  bid: {
    start: ['bid', []], // already started
    'higher-bid': ['slave', []], // "other higher bid": we lost
    'lower-bid': ['bid', ['send-bid']], // "other lower bid": re-announce so the lower one yields
    'bid-timeout': ['master', ['take-vip', 'run-start-script', 'send-heartbeat']], // "no other higher bid": start script
    'higher-master': ['slave', []], // "master heartbeat": follow it
    'lower-master': ['slave', []], // "master heartbeat": mastership is sticky, follow it
    'master-timeout': ['bid', []], // not armed while bidding
    'process-failure': ['slave', []], // our service is down: stop competing
    resign: ['exit', []], // "signal HUP/INT": nothing held yet
    'stall-detected': ['slave', []], // our bid timer is stale; others may have moved on
  },
  master: {
    start: ['master', []], // already started
    'higher-bid': ['master', ['send-heartbeat']], // sticky: answer a bid with a heartbeat
    'lower-bid': ['master', ['send-heartbeat']], // "other lower bid": answer with a heartbeat
    'bid-timeout': ['master', []], // not armed while master
    'higher-master': ['slave', [...STEP_DOWN, 'send-resign']], // "other higher master": stop script, follow it; the resign tells the winner a split ended
    'lower-master': ['master', ['run-continue-script', 'send-heartbeat']], // "other lower master": continue script, re-announce
    'master-timeout': ['master', []], // not armed while master
    'process-failure': ['slave', [...STEP_DOWN, 'send-resign']], // "server process failure": hand over now
    resign: ['exit', [...STEP_DOWN, 'send-resign']], // "signal HUP/INT": hand over now
    'stall-detected': ['slave', [...STEP_DOWN, 'send-resign']], // we were frozen: demote instead of fighting
  },
  slave: {
    start: ['slave', []], // already started
    'higher-bid': ['slave', []], // a better node is bidding: keep following
    'lower-bid': ['bid', ['send-bid']], // "other lower bid": the master may be gone and we beat it
    'bid-timeout': ['slave', []], // not armed while slave
    'higher-master': ['slave', []], // "master heartbeat": keep following (driver re-arms the timer)
    'lower-master': ['slave', []], // "master heartbeat": keep following
    'master-timeout': ['bid', ['send-bid']], // "master timeout": start an election
    'process-failure': ['slave', []], // nothing held; the driver holds us down
    resign: ['exit', []], // "signal HUP/INT"
    'stall-detected': ['slave', []], // the driver re-arms the master timer
  },
  exit: {
    start: ['exit', []],
    'higher-bid': ['exit', []],
    'lower-bid': ['exit', []],
    'bid-timeout': ['exit', []],
    'higher-master': ['exit', []],
    'lower-master': ['exit', []],
    'master-timeout': ['exit', []],
    'process-failure': ['exit', []],
    resign: ['exit', []],
    'stall-detected': ['exit', []],
  },
} as const satisfies Record<BiddState, Record<BiddInput, BiddStep>>;

/** The pure step: next state and the actions to run, in order. */
export function transition(state: BiddState, input: BiddInput): BiddStep {
  switch (state) {
    case 'initial':
      return BIDD_TRANSITIONS.initial[input];
    case 'bid':
      return BIDD_TRANSITIONS.bid[input];
    case 'master':
      return BIDD_TRANSITIONS.master[input];
    case 'slave':
      return BIDD_TRANSITIONS.slave[input];
    case 'exit':
      return BIDD_TRANSITIONS.exit[input];
    default:
      return assertNever(state, 'bidd state');
  }
}
