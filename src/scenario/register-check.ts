/**
 * The read/write models' consistency check: for every key, no read returns a value older than a
 * write that was already acknowledged before the read started (a per-key register history
 * check over what the clients saw).
 *
 * Each write stores a value no other write of that key stores (the workloads write unique
 * values), so a read's value names the write it came from. For a read R of key k that returned
 * the value of write W (or the key's initial value, written at time 0 before everything):
 *   - stale: some write V of k was acknowledged before R started (V.end < R.start) and W ended
 *     before V started (W.end < V.start): V had certainly replaced W when R began;
 *   - unknown: no write of k stored that value (and it is not the initial one);
 * anything else is consistent (W may overlap V, or be still in flight: a read may see a write
 * before its acknowledgement). Writes that were never acknowledged (failed, timed out) may or may
 * not have happened, and if they did, at any time after they started (a delayed datagram, a
 * retransmission, a vote the client stopped waiting for): they never make a read stale, and a
 * read may return their value at any later time (their end counts as never).
 *
 * O(n log n) per key: the acknowledged writes sorted by end, with a running maximum of their
 * starts, answer "the latest start among writes acknowledged before t" by binary search.
 */

export interface HistoryOp {
  readonly op: 'read' | 'write';
  readonly key: string;
  /** Value written, or value the read returned. */
  readonly value: string;
  /** µs: when the client sent it, and when it got the answer. */
  readonly start: number;
  readonly end: number;
  /** A write the client got a success reply for (reads: ignored). */
  readonly acked: boolean;
  /** Who, for the report. */
  readonly client?: string;
}

export interface Violation {
  readonly kind: 'stale' | 'unknown';
  readonly read: HistoryOp;
  /** stale: the acknowledged write the read should have seen at least. */
  readonly newer?: HistoryOp;
}

/** Every violation in `history`; `initial` gives each key's value before any write (missing: none). */
export function checkRegisters(history: readonly HistoryOp[], initial: ReadonlyMap<string, string> = new Map()): Violation[] {
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    let l = byKey.get(h.key);
    if (l === undefined) byKey.set(h.key, (l = []));
    l.push(h);
  }
  const out: Violation[] = [];
  for (const [key, ops] of byKey) {
    const writes = ops.filter((o) => o.op === 'write');
    const byValue = new Map<string, HistoryOp>();
    for (const w of writes) byValue.set(w.value, w);
    const acked = writes.filter((w) => w.acked).sort((a, b) => a.end - b.end);
    // maxStart[i]: the acknowledged write with the latest start among acked[0..i].
    const latest: HistoryOp[] = [];
    for (const w of acked) latest.push(latest.length === 0 || w.start > latest[latest.length - 1]!.start ? w : latest[latest.length - 1]!);
    const init = initial.get(key);
    for (const r of ops) {
      if (r.op !== 'read') continue;
      const w = byValue.get(r.value);
      // The latest-starting write acknowledged strictly before the read started.
      let lo = 0;
      let hi = acked.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (acked[mid]!.end < r.start) lo = mid + 1;
        else hi = mid;
      }
      const newer = lo === 0 ? undefined : latest[lo - 1]!;
      if (w === undefined) {
        if (init === undefined || r.value !== init) out.push({ kind: 'unknown', read: r });
        else if (newer !== undefined) out.push({ kind: 'stale', read: r, newer }); // the initial value, after an acknowledged write
        continue;
      }
      // An unacknowledged write may have taken effect at any time after it started.
      if (newer !== undefined && w.acked && w.end < newer.start) out.push({ kind: 'stale', read: r, newer });
    }
  }
  return out;
}
