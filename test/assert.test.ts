import { describe, expect, it } from 'vitest';
import { assert, AssertionError, assertNever } from '../src/assert.ts';
import { millis } from '../src/time.ts';

describe('assert, assertNever', () => {
  it('assert passes a truthy condition and throws a named AssertionError on a falsy one', () => {
    expect(() => assert(1, 'one')).not.toThrow();
    let caught: unknown;
    try {
      assert(0, 'the count is positive');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AssertionError);
    expect(caught).toBeInstanceOf(Error);
    expect(caught).toMatchObject({ name: 'AssertionError', message: 'assertion failed: the count is positive' });
    expect(String(caught)).toBe('AssertionError: assertion failed: the count is positive');
  });

  it('assertNever names what it got', () => {
    const x = 'purple' as never;
    expect(() => assertNever(x, 'colour')).toThrow(new AssertionError('unreachable: unexpected colour: "purple"'));
  });

  it("the engine's own assertions throw it", () => {
    expect(() => millis(Number.NaN)).toThrow(AssertionError);
  });
});
