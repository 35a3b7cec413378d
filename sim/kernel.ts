/**
 * The discrete-event kernel: a virtual clock in microseconds and a queue of events ordered by
 * time, then by insertion order, so equal times replay identically on any machine.
 *
 * The queue is a 4-ary min-heap over parallel typed arrays: times (the only array most compares
 * read; a node's four children share 32 bytes of one cache line), and `order`, which packs the
 * insertion sequence number above the handler's slot, read only to break a tie. The hot loop
 * touches no objects but the handlers themselves. Cancellation is lazy: a cancelled slot keeps
 * its heap entry and is skipped when popped. An event id packs slot and generation, so a stale id
 * can never cancel a newer event that reused the slot.
 */

import { assert } from '../src/wire/result.ts';
import type { Duration, Instant } from '../src/time.ts';

export type Handler = () => void;
export type EventId = number & { readonly __brand: 'EventId' };

/** Pending events the kernel holds at most (STYLE.md 7). Slots are 22 bits of an event id. */
export const EVENTS_PENDING_MAX = 1 << 22;
const SLOT_BITS = 22;
const SLOT_SPACE = 2 ** SLOT_BITS;
const INITIAL_CAPACITY = 1024;
/** Insertion sequence numbers use the 31 bits of a double's mantissa above the slot. */
const SEQ_LIMIT = 2 ** 31;
/** Empty nodes before the root so that each node's four children start a 64-byte line. */
const HEAP_PAD = 3;

export type StopReason = 'idle' | 'time' | 'budget' | 'stopped';

export interface RunResult {
  readonly reason: StopReason;
  /** Events handled by this call. */
  readonly events: number;
  readonly now: Instant;
}

export class Kernel {
  #now = 0;
  #seq = 0;
  #size = 0;
  #cap = INITIAL_CAPACITY;
  /** Node i lives at index i + HEAP_PAD of both arrays. */
  #ht = new Float64Array(INITIAL_CAPACITY + HEAP_PAD);
  /** seq * SLOT_SPACE + slot */
  #ho = new Float64Array(INITIAL_CAPACITY + HEAP_PAD);
  // Slot arrays, indexed by slot.
  #fns: (Handler | undefined)[] = [];
  #gen = new Float64Array(INITIAL_CAPACITY);
  #free = new Int32Array(INITIAL_CAPACITY);
  #freeTop = 0;
  #slotsUsed = 0;
  #live = 0;
  #handled = 0;
  #stopRequested = false;

  /** Current virtual time. */
  get now(): Instant {
    return this.#now as Instant;
  }
  /** Events waiting (cancelled ones excluded). */
  get pending(): number {
    return this.#live;
  }
  /** Events handled since the kernel was made. */
  get handled(): number {
    return this.#handled;
  }

  /** Run `fn` at `at`; `at` before now is our bug (the clock never goes backwards). */
  at(at: Instant, fn: Handler): EventId {
    // Messages are built only on failure: this is the hottest function of every run.
    if (!(at >= this.#now && at <= Number.MAX_SAFE_INTEGER && Math.floor(at) === at)) {
      assert(false, `event time ${at} is before now (${this.#now}) or not an integer of µs`);
    }
    let slot: number;
    if (this.#freeTop > 0) slot = this.#free[--this.#freeTop]!;
    else {
      if (this.#slotsUsed >= EVENTS_PENDING_MAX) assert(false, `more than ${EVENTS_PENDING_MAX} pending events`);
      slot = this.#slotsUsed++;
      if (slot >= this.#gen.length) this.#growSlots();
    }
    this.#fns[slot] = fn;
    if (this.#size === this.#cap) this.#growHeap();
    if (this.#seq === SEQ_LIMIT) this.#renumber();
    this.#siftUp(this.#size++, at, this.#seq++ * SLOT_SPACE + slot);
    this.#live++;
    return (this.#gen[slot]! * SLOT_SPACE + slot) as EventId;
  }

  /** Run `fn` after `d` (>= 0) from now. */
  after(d: Duration, fn: Handler): EventId {
    return this.at((this.#now + d) as Instant, fn);
  }

  /** Cancel a pending event; returns false when it already ran or was cancelled. */
  cancel(id: EventId): boolean {
    const slot = id % SLOT_SPACE;
    const gen = Math.floor(id / SLOT_SPACE);
    if (slot >= this.#slotsUsed || this.#gen[slot] !== gen || this.#fns[slot] === undefined) return false;
    this.#fns[slot] = undefined;
    this.#live--;
    return true;
  }

  /** Time of the next live event, or undefined when idle. */
  peek(): Instant | undefined {
    this.#dropCancelledTop();
    return this.#size === 0 ? undefined : (this.#ht[HEAP_PAD]! as Instant);
  }

  /** Ask a running `run` to return after the current event. */
  stop(): void {
    this.#stopRequested = true;
  }

  /** Handle one event; false when idle. */
  step(): boolean {
    return this.run({ maxEvents: 1 }).events === 1;
  }

  /**
   * Handle events in order until the queue is empty, the next event lies after `until` (the
   * clock then moves to `until`), `maxEvents` have run, or `stop()` is called.
   */
  run(opts: { until?: Instant; maxEvents?: number } = {}): RunResult {
    const until = opts.until ?? Number.POSITIVE_INFINITY;
    const maxEvents = opts.maxEvents ?? Number.POSITIVE_INFINITY;
    this.#stopRequested = false;
    let events = 0;
    for (;;) {
      if (this.#size === 0) return this.#result('idle', events, until);
      const t = this.#ht[HEAP_PAD]!;
      const slot = this.#ho[HEAP_PAD]! % SLOT_SPACE;
      const fn = this.#fns[slot];
      if (fn === undefined) {
        this.#popTop(slot);
        continue;
      }
      if (t > until) return this.#result('time', events, until);
      if (events >= maxEvents) return this.#result('budget', events, until);
      this.#popTop(slot);
      this.#now = t;
      this.#live--;
      events++;
      this.#handled++;
      fn();
      if (this.#stopRequested) return this.#result('stopped', events, until);
    }
  }

  #result(reason: StopReason, events: number, until: number): RunResult {
    if ((reason === 'time' || reason === 'idle') && until !== Number.POSITIVE_INFINITY && until > this.#now) {
      this.#now = until;
    }
    return { reason, events, now: this.#now as Instant };
  }

  #dropCancelledTop(): void {
    while (this.#size > 0) {
      const slot = this.#ho[HEAP_PAD]! % SLOT_SPACE;
      if (this.#fns[slot] !== undefined) return;
      this.#popTop(slot);
    }
  }

  /** Remove the heap top (whose slot is `slot`) and free its slot. */
  #popTop(slot: number): void {
    this.#fns[slot] = undefined;
    this.#gen[slot] = this.#gen[slot]! + 1;
    this.#free[this.#freeTop++] = slot;
    const last = --this.#size;
    if (last > 0) this.#siftDown(this.#ht[last + HEAP_PAD]!, this.#ho[last + HEAP_PAD]!);
  }

  #siftUp(pos: number, t: number, order: number): void {
    const ht = this.#ht;
    const ho = this.#ho;
    let q = pos + HEAP_PAD;
    while (q > HEAP_PAD) {
      const pq = ((q - HEAP_PAD - 1) >> 2) + HEAP_PAD;
      const pt = ht[pq]!;
      if (pt < t || (pt === t && ho[pq]! < order)) break;
      ht[q] = pt;
      ho[q] = ho[pq]!;
      q = pq;
    }
    ht[q] = t;
    ho[q] = order;
  }

  /** Place (t, order) from the root down. */
  #siftDown(t: number, order: number): void {
    const ht = this.#ht;
    const ho = this.#ho;
    const end = this.#size + HEAP_PAD;
    let q = HEAP_PAD;
    for (;;) {
      // Children of node q - PAD are nodes 4(q - PAD) + 1 .. + 4, at index 4q - 3 PAD + 1.
      const first = 4 * q - 3 * HEAP_PAD + 1;
      if (first >= end) break;
      let b = first;
      let bt = ht[first]!;
      const last = first + 4 < end ? first + 4 : end;
      for (let c = first + 1; c < last; c++) {
        const ct = ht[c]!;
        if (ct < bt || (ct === bt && ho[c]! < ho[b]!)) {
          b = c;
          bt = ct;
        }
      }
      if (t < bt || (t === bt && order < ho[b]!)) break;
      ht[q] = bt;
      ho[q] = ho[b]!;
      q = b;
    }
    ht[q] = t;
    ho[q] = order;
  }

  /**
   * Sequence numbers are 31 bits of `order`; when they run out (after 2^31 insertions), give the
   * pending events new numbers 0..n-1 in their current order. Relative order is unchanged, so the
   * heap stays valid and replay stays identical.
   */
  #renumber(): void {
    const ho = this.#ho;
    const idx = Array.from({ length: this.#size }, (_, i) => i + HEAP_PAD);
    idx.sort((a, b) => ho[a]! - ho[b]!);
    idx.forEach((q, rank) => {
      ho[q] = rank * SLOT_SPACE + (ho[q]! % SLOT_SPACE);
    });
    this.#seq = this.#size;
  }

  /** Test hook: force the renumbering that otherwise happens after 2^31 insertions. */
  renumberForTest(): void {
    this.#renumber();
  }

  #growHeap(): void {
    const cap = this.#cap * 2;
    const ht = new Float64Array(cap + HEAP_PAD);
    ht.set(this.#ht);
    const ho = new Float64Array(cap + HEAP_PAD);
    ho.set(this.#ho);
    this.#ht = ht;
    this.#ho = ho;
    this.#cap = cap;
  }

  #growSlots(): void {
    const cap = this.#gen.length * 2;
    const g = new Float64Array(cap);
    g.set(this.#gen);
    const f = new Int32Array(cap);
    f.set(this.#free);
    this.#gen = g;
    this.#free = f;
  }
}
