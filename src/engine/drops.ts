/**
 * Drop counting with no allocation per drop (STYLE.md 2: bad input is counted). Every pair of
 * the closed drop vocabulary (src/trace.ts `DROP_REASONS`) has its 'layer/reason' key made once,
 * when this module loads; counting a drop looks the key up (a property read and a `Map.get` of
 * an interned string) and bumps its count. The counts stay readable as a `Map` from
 * 'layer/reason' to a number, in first-drop order, as `SgCounters.drops` has always been.
 */

import { DROP_LAYERS, DROP_REASONS, type DropKey, type DropLayer, type DropReason } from '../trace.ts';
import { AssertionError } from '../assert.ts';

/** layer -> reason -> 'layer/reason', every pair of the vocabulary. */
const KEYS: { readonly [L in DropLayer]: ReadonlyMap<string, DropKey> } = Object.fromEntries(
  DROP_LAYERS.map((layer) => [layer, new Map(DROP_REASONS[layer].map((reason: string) => [reason, `${layer}/${reason}` as DropKey]))]),
) as unknown as { readonly [L in DropLayer]: ReadonlyMap<string, DropKey> };

/** The counter key of a drop, made once per pair (the same string every call). */
export function dropKey<L extends DropLayer>(layer: L, reason: DropReason<L>): DropKey {
  const k = KEYS[layer]?.get(reason);
  // A pair outside the vocabulary got past the types (a cast): our bug.
  if (k === undefined) throw new AssertionError(`assertion failed: drop ${String(layer)}/${String(reason)} is not in the drop vocabulary (src/trace.ts DROP_REASONS)`);
  return k;
}

export class DropCounter {
  readonly #counts = new Map<DropKey, number>();
  /** Drops by 'layer/reason' since start, in first-drop order. */
  readonly counts: ReadonlyMap<DropKey, number> = this.#counts;

  /** Count one drop. */
  count<L extends DropLayer>(layer: L, reason: DropReason<L>): void {
    const k = dropKey(layer, reason);
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  /** Drops of one pair so far. */
  get<L extends DropLayer>(layer: L, reason: DropReason<L>): number {
    return this.#counts.get(dropKey(layer, reason)) ?? 0;
  }

  /** Drops of every pair so far. */
  get total(): number {
    let n = 0;
    for (const v of this.#counts.values()) n += v;
    return n;
  }
}
