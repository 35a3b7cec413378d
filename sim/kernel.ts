/**
 * The discrete-event kernel: a virtual clock in integer microseconds and a queue of events
 * ordered by time, then by insertion order, so equal times replay identically on any machine.
 *
 * The queue has two levels, both exact:
 * - a timing wheel of WHEEL_SLOTS one-microsecond slots covering [now, now + WHEEL_SLOTS): each
 *   slot is a FIFO list of the events due at that microsecond, and a bitmap finds the next
 *   non-empty slot with a few word scans. Insert and pop are O(1); most network events (link
 *   delays, serialisation, short timers) land here.
 * - a 4-ary min-heap for events further out, ordered by (time, insertion sequence). Whenever the
 *   clock advances, heap events that enter the wheel's window are moved into their slots in
 *   heap order. Invariant: the heap holds only events at or after now + WHEEL_SLOTS, so a slot
 *   receives every migrated event before any event inserted directly into it, and FIFO order in a
 *   slot is insertion order.
 *
 * Cancellation is lazy: a cancelled event keeps its place and is skipped. An event id packs the
 * event's record index and a generation, so a stale id never cancels a newer event that reused
 * the record.
 */

import type { Duration, Instant } from '../src/time.ts';
import { assert } from '../src/assert.ts';

export type Handler = () => void;
export type EventId = number & { readonly __brand: 'EventId' };

/** Pending events the kernel holds at most (STYLE.md 7). Records are 22 bits of an event id. */
export const EVENTS_PENDING_MAX = 1 << 22;
/** The wheel's span in microseconds (65.536 ms). A power of two. */
export const WHEEL_SLOTS = 1 << 16;

const REC_BITS = 22;
const REC_SPACE = 2 ** REC_BITS;
const WHEEL_MASK = WHEEL_SLOTS - 1;
const WHEEL_WORDS = WHEEL_SLOTS >>> 5;
const INITIAL_RECORDS = 1024;
const INITIAL_HEAP = 256;
/** Heap insertion sequence numbers use 31 bits of a double above the record index. */
const SEQ_LIMIT = 2 ** 31;
/** Empty heap nodes before the root so each node's four children share half a cache line. */
const HEAP_PAD = 3;
const NONE = -1;

export type StopReason = 'idle' | 'time' | 'budget' | 'stopped';

export interface RunResult {
  readonly reason: StopReason;
  /** Events handled by this call. */
  readonly events: number;
  readonly now: Instant;
}

export class Kernel {
  #now = 0;
  #live = 0;
  #handled = 0;
  #stopRequested = false;

  // Event records, indexed by record number.
  #fns: (Handler | undefined)[] = [];
  #time = new Float64Array(INITIAL_RECORDS);
  #gen = new Float64Array(INITIAL_RECORDS);
  #next = new Int32Array(INITIAL_RECORDS);
  #free = new Int32Array(INITIAL_RECORDS);
  #freeTop = 0;
  #recordsUsed = 0;

  // The wheel: FIFO list per microsecond slot, and a bitmap of non-empty slots.
  #head = new Int32Array(WHEEL_SLOTS).fill(NONE);
  #tail = new Int32Array(WHEEL_SLOTS).fill(NONE);
  #bits = new Uint32Array(WHEEL_WORDS);
  #inWheel = 0;
  /** Where the record last returned by `#front()` lives. */
  #frontInHeap = false;

  // The far heap: node i at index i + HEAP_PAD; time, and seq * REC_SPACE + record.
  #ht = new Float64Array(INITIAL_HEAP + HEAP_PAD);
  #ho = new Float64Array(INITIAL_HEAP + HEAP_PAD);
  #hSize = 0;
  #hCap = INITIAL_HEAP;
  #seq = 0;

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
    let rec: number;
    if (this.#freeTop > 0) rec = this.#free[--this.#freeTop]!;
    else {
      if (this.#recordsUsed >= EVENTS_PENDING_MAX) assert(false, `more than ${EVENTS_PENDING_MAX} pending events`);
      rec = this.#recordsUsed++;
      if (rec >= this.#gen.length) this.#growRecords();
    }
    this.#fns[rec] = fn;
    this.#time[rec] = at;
    if (at - this.#now < WHEEL_SLOTS) this.#wheelAppend(rec, at);
    else this.#heapPush(at, rec);
    this.#live++;
    return (this.#gen[rec]! * REC_SPACE + rec) as EventId;
  }

  /** Run `fn` after `d` (>= 0) from now. */
  after(d: Duration, fn: Handler): EventId {
    return this.at((this.#now + d) as Instant, fn);
  }

  /** Cancel a pending event; returns false when it already ran or was cancelled. */
  cancel(id: EventId): boolean {
    const rec = id % REC_SPACE;
    const gen = Math.floor(id / REC_SPACE);
    if (rec >= this.#recordsUsed || this.#gen[rec] !== gen || this.#fns[rec] === undefined) return false;
    this.#fns[rec] = undefined;
    this.#live--;
    return true;
  }

  /** Time of the next live event, or undefined when idle. */
  peek(): Instant | undefined {
    for (;;) {
      const rec = this.#front();
      if (rec === NONE) return undefined;
      if (this.#fns[rec] !== undefined) return this.#time[rec]! as Instant;
      this.#remove(rec);
    }
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
      const rec = this.#front();
      if (rec === NONE) return this.#result('idle', events, until);
      const fn = this.#fns[rec];
      if (fn === undefined) {
        this.#remove(rec);
        continue;
      }
      const t = this.#time[rec]!;
      if (t > until) return this.#result('time', events, until);
      if (events >= maxEvents) return this.#result('budget', events, until);
      this.#remove(rec);
      if (t !== this.#now) this.#advance(t);
      this.#live--;
      events++;
      this.#handled++;
      fn();
      if (this.#stopRequested) return this.#result('stopped', events, until);
    }
  }

  /** Test hook: force the renumbering that otherwise happens after 2^31 heap insertions. */
  renumberForTest(): void {
    this.#renumber();
  }

  #result(reason: StopReason, events: number, until: number): RunResult {
    if ((reason === 'time' || reason === 'idle') && until !== Number.POSITIVE_INFINITY && until > this.#now) {
      this.#advance(until);
    }
    return { reason, events, now: this.#now as Instant };
  }

  /** Move the clock to `t` and pull heap events that now fall inside the wheel's window. */
  #advance(t: number): void {
    this.#now = t;
    const limit = t + WHEEL_SLOTS;
    while (this.#hSize > 0 && this.#ht[HEAP_PAD]! < limit) {
      const rec = this.#ho[HEAP_PAD]! % REC_SPACE;
      this.#heapPopTop();
      this.#wheelAppend(rec, this.#time[rec]!);
    }
  }

  /**
   * The record due first, or NONE: the wheel's earliest slot head when the wheel has events (they
   * are all earlier than any heap event), else the heap's top. Never moves the clock.
   */
  #front(): number {
    if (this.#inWheel > 0) {
      this.#frontInHeap = false;
      return this.#head[this.#nextSlot()]!;
    }
    if (this.#hSize > 0) {
      this.#frontInHeap = true;
      return this.#ho[HEAP_PAD]! % REC_SPACE;
    }
    return NONE;
  }

  /** Remove the record `#front()` just returned and free it. */
  #remove(rec: number): void {
    if (this.#frontInHeap) this.#heapPopTop();
    else this.#wheelPopHead(rec);
    this.#fns[rec] = undefined;
    this.#gen[rec] = this.#gen[rec]! + 1;
    this.#free[this.#freeTop++] = rec;
  }

  /** Slot of the earliest non-empty wheel slot at or after now (wrapping); wheel not empty. */
  #nextSlot(): number {
    const bits = this.#bits;
    const start = this.#now & WHEEL_MASK;
    let w = start >>> 5;
    let word = bits[w]! & (0xffffffff << (start & 31));
    for (let scanned = 0; word === 0; scanned++) {
      if (scanned > WHEEL_WORDS) assert(false, 'wheel bitmap out of sync');
      w = (w + 1) & (WHEEL_WORDS - 1);
      word = bits[w]!;
    }
    return (w << 5) | (31 - Math.clz32(word & -word));
  }

  #wheelAppend(rec: number, t: number): void {
    const slot = t & WHEEL_MASK;
    this.#next[rec] = NONE;
    const tail = this.#tail[slot]!;
    if (tail === NONE) {
      this.#head[slot] = rec;
      this.#bits[slot >>> 5]! |= 1 << (slot & 31);
    } else this.#next[tail] = rec;
    this.#tail[slot] = rec;
    this.#inWheel++;
  }

  /** Unlink `rec`, the head of its slot's list. */
  #wheelPopHead(rec: number): void {
    const slot = this.#time[rec]! & WHEEL_MASK;
    const nxt = this.#next[rec]!;
    this.#head[slot] = nxt;
    if (nxt === NONE) {
      this.#tail[slot] = NONE;
      this.#bits[slot >>> 5]! &= ~(1 << (slot & 31));
    }
    this.#inWheel--;
  }

  // ---- the far heap ----

  #heapPush(t: number, rec: number): void {
    if (this.#hSize === this.#hCap) this.#growHeap();
    if (this.#seq === SEQ_LIMIT) this.#renumber();
    const order = this.#seq++ * REC_SPACE + rec;
    const ht = this.#ht;
    const ho = this.#ho;
    let q = this.#hSize++ + HEAP_PAD;
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

  #heapPopTop(): void {
    const last = --this.#hSize;
    if (last === 0) return;
    const ht = this.#ht;
    const ho = this.#ho;
    const t = ht[last + HEAP_PAD]!;
    const order = ho[last + HEAP_PAD]!;
    const end = last + HEAP_PAD;
    let q = HEAP_PAD;
    for (;;) {
      // Children of node q - PAD are nodes 4(q - PAD) + 1 .. + 4, at index 4q - 3 PAD + 1.
      const first = 4 * q - 3 * HEAP_PAD + 1;
      if (first >= end) break;
      let b = first;
      let bt = ht[first]!;
      const stop = first + 4 < end ? first + 4 : end;
      for (let c = first + 1; c < stop; c++) {
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
   * After 2^31 heap insertions, give the heap's events new sequence numbers 0..n-1 in their
   * current order: relative order is unchanged, so the heap stays valid and replay identical.
   */
  #renumber(): void {
    const ho = this.#ho;
    const idx = Array.from({ length: this.#hSize }, (_, i) => i + HEAP_PAD);
    idx.sort((a, b) => ho[a]! - ho[b]!);
    idx.forEach((q, rank) => {
      ho[q] = rank * REC_SPACE + (ho[q]! % REC_SPACE);
    });
    this.#seq = this.#hSize;
  }

  #growHeap(): void {
    const cap = this.#hCap * 2;
    const ht = new Float64Array(cap + HEAP_PAD);
    ht.set(this.#ht);
    const ho = new Float64Array(cap + HEAP_PAD);
    ho.set(this.#ho);
    this.#ht = ht;
    this.#ho = ho;
    this.#hCap = cap;
  }

  #growRecords(): void {
    const cap = this.#gen.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.#time = grow(this.#time, (n) => new Float64Array(n));
    this.#gen = grow(this.#gen, (n) => new Float64Array(n));
    this.#next = grow(this.#next, (n) => new Int32Array(n));
    this.#free = grow(this.#free, (n) => new Int32Array(n));
  }
}
