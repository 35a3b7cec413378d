/**
 * The one shape of every state machine in the engine (the bidd election, a server's health, an
 * IGMP membership, a link's life): a table `TABLE[state][input]` of steps, each the next state
 * and the actions to run in order, read by one pure function. An input a state does not list is
 * ignored there. The tables are data, so the tests and the visualizer read the same diagram the
 * engine runs.
 */

export interface Step<S extends string, A extends string> {
  readonly to: S;
  readonly actions: readonly A[];
}

export type Table<S extends string, I extends string, A extends string> = {
  readonly [state in S]: { readonly [input in I]?: Step<S, A> };
};

/** A table that lists every input in every state (the bidd election, a server's health). */
export type TotalTable<S extends string, I extends string, A extends string> = {
  readonly [state in S]: { readonly [input in I]: Step<S, A> };
};

/** The pure step: what `input` does in `state`, or undefined when it is ignored there. */
export function step<S extends string, I extends string, A extends string>(table: Table<S, I, A>, state: S, input: I): Step<S, A> | undefined {
  return table[state][input];
}
