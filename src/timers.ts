/**
 * Deadlines (STYLE.md 5, after quinn's `timer.rs`).
 *
 * - `TimerTable<K>`: a few named timers per state machine, keyed by a closed union of names
 *   (`'heartbeat' | 'bidTimeout' | ...`). The next deadline is the minimum over the table.
 * - `KeyedTimers<Key>`: many per-entity deadlines (one probe timer per real server, one idle
 *   timer per link) in an indexed binary min-heap with a named bound.
 *
 * Both are deterministic: equal deadlines break by name order (`TimerTable`) or by insertion
 * sequence (`KeyedTimers`), never by hash or memory order.
 */

import type { Instant } from './time.ts';
import { assert } from './assert.ts';

export interface Deadline<K> {
  readonly name: K;
  readonly at: Instant;
}

interface TableIndex<K extends string> {
  readonly names: readonly K[];
  readonly index: ReadonlyMap<K, number>;
}
/** Name index per names array, shared by every `TimerTable` built from that array. */
const TABLE_INDEXES = new WeakMap<readonly string[], TableIndex<string>>();

/**
 * A table of named timers. The constructor takes every name once, in the order that breaks ties
 * between equal deadlines, e.g. `new TimerTable(['heartbeat', 'bidTimeout'] as const)`.
 */
export class TimerTable<K extends string> {
  readonly names: readonly K[];
  readonly #index: ReadonlyMap<K, number>;
  readonly #at: (Instant | undefined)[];

  constructor(names: readonly K[]) {
    // Tables made from the same names array share one index (a simulated host may hold a
    // million TCP connections, each with its own table).
    let shared = TABLE_INDEXES.get(names) as TableIndex<K> | undefined;
    if (shared === undefined) {
      const index = new Map<K, number>();
      names.forEach((name, i) => {
        assert(!index.has(name), `duplicate timer name ${JSON.stringify(name)}`);
        index.set(name, i);
      });
      shared = { names: Object.freeze([...names]), index };
      TABLE_INDEXES.set(names, shared);
    }
    this.names = shared.names;
    this.#index = shared.index;
    this.#at = new Array<Instant | undefined>(names.length).fill(undefined);
  }

  #slot(name: K): number {
    const i = this.#index.get(name);
    assert(i !== undefined, `unknown timer name ${JSON.stringify(name)}`);
    return i;
  }

  /** Arm (or re-arm) `name` to fire at `at`. */
  set(name: K, at: Instant): void {
    this.#at[this.#slot(name)] = at;
  }

  /** Disarm `name`; a no-op when it is not armed. */
  clear(name: K): void {
    this.#at[this.#slot(name)] = undefined;
  }

  clearAll(): void {
    this.#at.fill(undefined);
  }

  /** The deadline of `name`, or undefined when it is not armed. */
  get(name: K): Instant | undefined {
    return this.#at[this.#slot(name)];
  }

  isArmed(name: K): boolean {
    return this.get(name) !== undefined;
  }

  /** The earliest armed timer (ties: the name given first to the constructor), if any. */
  next(): Deadline<K> | undefined {
    let best = -1;
    let bestAt = 0;
    for (let i = 0; i < this.#at.length; i++) {
      const at = this.#at[i];
      if (at !== undefined && (best < 0 || at < bestAt)) {
        best = i;
        bestAt = at;
      }
    }
    return best < 0 ? undefined : { name: this.names[best] as K, at: bestAt as Instant };
  }

  /**
   * Disarm and return every timer with `at <= now`, earliest first, equal deadlines in name
   * order. Call from `handleTimeout(now)`.
   */
  expired(now: Instant): K[] {
    const due: number[] = [];
    for (let i = 0; i < this.#at.length; i++) {
      const at = this.#at[i];
      if (at !== undefined && at <= now) due.push(i);
    }
    due.sort((a, b) => (this.#at[a] as number) - (this.#at[b] as number) || a - b);
    for (const i of due) this.#at[i] = undefined;
    return due.map((i) => this.names[i] as K);
  }
}

export interface KeyedDeadline<Key> {
  readonly key: Key;
  readonly at: Instant;
}

interface HeapEntry<Key> {
  readonly key: Key;
  at: Instant;
  /** Insertion sequence; every `set` takes a fresh one, so a re-armed timer queues behind ties. */
  seq: number;
}

export interface KeyedTimersOptions {
  /** Most keys armed at once; arming one more fails an assertion (size it from config). */
  readonly maxEntries: number;
}

/**
 * Many deadlines keyed by an entity id, in an indexed binary min-heap: `set`, `clear` and
 * `popExpired` are O(log n), `next` is O(1). Order is (deadline, insertion sequence): equal
 * deadlines fire in the order they were last `set`.
 */
export class KeyedTimers<Key extends string | number> {
  readonly maxEntries: number;
  readonly #heap: HeapEntry<Key>[] = [];
  readonly #pos = new Map<Key, number>();
  #seq = 0;

  constructor(options: KeyedTimersOptions) {
    assert(
      Number.isSafeInteger(options.maxEntries) && options.maxEntries > 0,
      `maxEntries must be a positive integer, got ${options.maxEntries}`,
    );
    this.maxEntries = options.maxEntries;
  }

  get size(): number {
    return this.#heap.length;
  }

  has(key: Key): boolean {
    return this.#pos.has(key);
  }

  get(key: Key): Instant | undefined {
    const i = this.#pos.get(key);
    return i === undefined ? undefined : this.#entry(i).at;
  }

  /** Arm or re-arm `key` at `at`. Arming a new key when `maxEntries` are armed is our bug. */
  set(key: Key, at: Instant): void {
    const i = this.#pos.get(key);
    const seq = this.#seq++;
    if (i !== undefined) {
      const e = this.#entry(i);
      e.at = at;
      e.seq = seq;
      this.#fix(i);
      return;
    }
    assert(this.#heap.length < this.maxEntries, `KeyedTimers full: maxEntries ${this.maxEntries}`);
    this.#heap.push({ key, at, seq });
    this.#pos.set(key, this.#heap.length - 1);
    this.#siftUp(this.#heap.length - 1);
  }

  /** Disarm `key`; returns whether it was armed. */
  clear(key: Key): boolean {
    const i = this.#pos.get(key);
    if (i === undefined) return false;
    this.#removeAt(i);
    return true;
  }

  clearAll(): void {
    this.#heap.length = 0;
    this.#pos.clear();
  }

  /** The earliest deadline, if any. */
  next(): KeyedDeadline<Key> | undefined {
    const top = this.#heap[0];
    return top === undefined ? undefined : { key: top.key, at: top.at };
  }

  /**
   * Disarm and return the keys with `at <= now`, earliest first (ties by insertion sequence),
   * at most `max` of them (default: all). Call from `handleTimeout(now)`.
   */
  popExpired(now: Instant, max: number = this.maxEntries): Key[] {
    const out: Key[] = [];
    while (out.length < max) {
      const top = this.#heap[0];
      if (top === undefined || top.at > now) break;
      out.push(top.key);
      this.#removeAt(0);
    }
    return out;
  }

  #entry(i: number): HeapEntry<Key> {
    const e = this.#heap[i];
    assert(e !== undefined, `heap index ${i} out of range`);
    return e;
  }

  #less(a: HeapEntry<Key>, b: HeapEntry<Key>): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #place(i: number, e: HeapEntry<Key>): void {
    this.#heap[i] = e;
    this.#pos.set(e.key, i);
  }

  #removeAt(i: number): void {
    const removed = this.#entry(i);
    const last = this.#heap.pop() as HeapEntry<Key>;
    this.#pos.delete(removed.key);
    if (i < this.#heap.length) {
      this.#place(i, last);
      this.#fix(i);
    }
  }

  #fix(i: number): void {
    if (!this.#siftUp(i)) this.#siftDown(i);
  }

  /** Returns whether the entry moved. */
  #siftUp(i: number): boolean {
    const e = this.#entry(i);
    const start = i;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = this.#entry(parent);
      if (!this.#less(e, p)) break;
      this.#place(i, p);
      i = parent;
    }
    if (i !== start) this.#place(i, e);
    return i !== start;
  }

  #siftDown(i: number): void {
    const e = this.#entry(i);
    const n = this.#heap.length;
    const start = i;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      if (r < n && this.#less(this.#entry(r), this.#entry(l))) child = r;
      const c = this.#entry(child);
      if (!this.#less(c, e)) break;
      this.#place(i, c);
      i = child;
    }
    if (i !== start) this.#place(i, e);
  }
}
