/**
 * Always-on assertions (STYLE.md 2: bad input is data, our own bugs crash). A broken internal
 * invariant throws an `AssertionError`, never a plain `Error`, so a test, the fuzzer or a driver
 * can tell our bug from anything else that throws. Nothing here is compiled out.
 */

/** A broken internal invariant: a bug in this code, not bad input. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** An always-on assertion: `cond` must hold, else our bug crashes here. */
export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new AssertionError(`assertion failed: ${msg}`);
}

/** Exhaustiveness check for `switch` over closed unions (STYLE.md 6). */
export function assertNever(x: never, what = 'value'): never {
  throw new AssertionError(`unreachable: unexpected ${what}: ${JSON.stringify(x)}`);
}
