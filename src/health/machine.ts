/**
 * The server status machine of slide 34 as data plus a pure function (STYLE.md 6).
 *
 * Inputs are detector verdicts: a fault at level 1 (threshold crossed once), a fault at level 2
 * (crossed twice), or a recovery. For one detector the latest event decides (slide 35), with one
 * refinement: a fault never improves a state, so a level-1 fault on a Dead server leaves it Dead.
 * The monitor (`monitor.ts`) combines the detectors: the server is as bad as the worst verdict
 * still standing. Admin requests
 * bypass the table and set the state directly (`adminTransition`).
 */

import type { ServerState } from '../balance/types.ts';
import { assertNever } from '../assert.ts';

export const HEALTH_INPUTS = ['fault1', 'fault2', 'recovery'] as const;
export type HealthInput = (typeof HEALTH_INPUTS)[number];

/** `TRANSITIONS[state][input]` is the next state; the visualizer can draw slide 34 from it. */
export const TRANSITIONS = {
  alive: { fault1: 'pending', fault2: 'dead', recovery: 'alive' },
  pending: { fault1: 'pending', fault2: 'dead', recovery: 'alive' },
  dead: { fault1: 'dead', fault2: 'dead', recovery: 'alive' },
} as const satisfies Record<ServerState, Record<HealthInput, ServerState>>;

export function transition(state: ServerState, input: HealthInput): ServerState {
  switch (state) {
    case 'alive':
      return TRANSITIONS.alive[input];
    case 'pending':
      return TRANSITIONS.pending[input];
    case 'dead':
      return TRANSITIONS.dead[input];
    default:
      return assertNever(state, 'server state');
  }
}

/** The machine input for a detector verdict. */
export function inputOf(kind: 'fault' | 'recovery', level: 1 | 2 | undefined): HealthInput {
  if (kind === 'recovery') return 'recovery';
  return level === 2 ? 'fault2' : 'fault1';
}

/** Admin (feedback protocol, user recovery): the requested state, whatever the current one. */
export function adminTransition(_state: ServerState, requested: ServerState): ServerState {
  return requested;
}
