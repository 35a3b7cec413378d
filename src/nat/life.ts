/**
 * A link's life (slide 29) as a table: new -> active -> closing -> gone.
 *
 * A link is born 'new' by the client's first packet (a SYN for TCP), becomes 'active' at its
 * server's first reply (a RST is not a reply: slide 37, connection refused), 'closing' after a
 * RST or a FIN from both sides, and 'gone' when an idle timeout ends it, when a fresh SYN reuses
 * the key of a closing link, or when the master's state stream says so (on a slave). Only a 'new'
 * link moves to another server when its own is dead; an answered one never does.
 *
 * Actions: `sync` streams the link's new state to the slaves (the core's `linkChanged` hooks);
 * `remap` picks another server for it; `close` runs the core's `linkClosed` hooks (its balancer
 * forgets it, the stream says 'link-gone'); `count-expired`
 * counts it in `linksExpired`.
 */

import { step, type Step, type Table } from '../machine.ts';

export const LINK_LIFE_STATES = ['new', 'active', 'closing', 'gone'] as const;
export type LinkLifeState = (typeof LINK_LIFE_STATES)[number];

export const LINK_LIFE_INPUTS = ['reply', 'rst', 'fin-both', 'server-dead', 'reuse', 'idle', 'master-gone'] as const;
export type LinkLifeInput = (typeof LINK_LIFE_INPUTS)[number];

export const LINK_LIFE_ACTIONS = ['sync', 'remap', 'close', 'count-expired'] as const;
export type LinkLifeAction = (typeof LINK_LIFE_ACTIONS)[number];

export type LinkLifeStep = Step<LinkLifeState, LinkLifeAction>;

const CLOSE_IDLE = { to: 'gone', actions: ['count-expired', 'close'] } as const;
const CLOSE_SYNCED = { to: 'gone', actions: ['close'] } as const;

/** `LINK_LIFE[state][input]`; each row names the slide-29 arrow it draws. */
export const LINK_LIFE = {
  new: {
    reply: { to: 'active', actions: ['sync'] }, // the server answered: pinned to it from now on
    rst: { to: 'closing', actions: ['sync'] }, // refused (slide 37) or reset by the client
    'fin-both': { to: 'closing', actions: ['sync'] },
    'server-dead': { to: 'new', actions: ['remap'] }, // still unanswered: try another server
    idle: CLOSE_IDLE, // unanswered for too long
    'master-gone': CLOSE_SYNCED,
  },
  active: {
    rst: { to: 'closing', actions: ['sync'] },
    'fin-both': { to: 'closing', actions: ['sync'] },
    idle: CLOSE_IDLE,
    'master-gone': CLOSE_SYNCED,
  },
  closing: {
    reuse: { to: 'gone', actions: ['close', 'count-expired'] }, // a new connection on the old key: balanced afresh
    idle: CLOSE_IDLE,
    'master-gone': CLOSE_SYNCED,
  },
  gone: {},
} as const satisfies Table<LinkLifeState, LinkLifeInput, LinkLifeAction>;

/** The pure step over `LINK_LIFE`; undefined when `input` does nothing in `state`. */
export function linkStep(state: LinkLifeState, input: LinkLifeInput): LinkLifeStep | undefined {
  return step<LinkLifeState, LinkLifeInput, LinkLifeAction>(LINK_LIFE, state, input);
}
