/**
 * ReadFirst's race (slides 18-20): a read goes to every member and the client gets the earliest
 * reply; the later replies are dropped and counted. A retransmission of a read (same key) starts
 * its race again: the node sends it again, since the request or the reply may have been lost, and
 * reads can be repeated. Bounded: `readsPending` races at most (a read beyond is refused, counted), each
 * forgotten `readTimeout` after it began.
 */

import { assert } from '../assert.ts';
import type { Duration, Instant } from '../time.ts';

export interface RaceConfig {
  readonly readsPending: number;
  readonly readTimeout: Duration;
}

/** 'restarted': a race with this key was running or answered; it starts again with these members. */
export type RaceBegin = 'started' | 'restarted' | 'full';
/** 'first': forward this reply; 'late': drop it (another member won); 'unknown': no race for it. */
export type RaceReply = 'first' | 'late' | 'unknown';

interface Race {
  readonly deadline: number;
  readonly members: readonly number[];
  answered: boolean;
  /** Members heard (first and late). */
  readonly heard: Set<number>;
}

export class ReadRaces {
  readonly cfg: RaceConfig;
  readonly #races = new Map<string, Race>();
  /** Replies dropped because another member answered first. */
  late = 0;

  constructor(cfg: RaceConfig) {
    assert(Number.isSafeInteger(cfg.readsPending) && cfg.readsPending >= 1, `readsPending must be a positive integer, got ${cfg.readsPending}`);
    assert(Number.isSafeInteger(cfg.readTimeout) && cfg.readTimeout > 0, `readTimeout must be a positive duration, got ${cfg.readTimeout}`);
    this.cfg = cfg;
  }

  get size(): number {
    return this.#races.size;
  }

  begin(now: Instant, key: string, members: readonly number[]): RaceBegin {
    this.#expire(now);
    const again = this.#races.delete(key);
    if (!again && this.#races.size >= this.cfg.readsPending) return 'full';
    assert(members.length > 0, 'a read needs at least one member');
    this.#races.set(key, { deadline: now + this.cfg.readTimeout, members: [...members], answered: false, heard: new Set() });
    return again ? 'restarted' : 'started';
  }

  reply(now: Instant, key: string, member: number): RaceReply {
    this.#expire(now);
    const r = this.#races.get(key);
    if (r === undefined || !r.members.includes(member) || r.heard.has(member)) return 'unknown';
    r.heard.add(member);
    if (r.heard.size === r.members.length) this.#races.delete(key); // everyone answered: nothing left to drop
    if (r.answered) {
      this.late++;
      return 'late';
    }
    r.answered = true;
    return 'first';
  }

  pollTimeout(): Instant | undefined {
    let t: number | undefined;
    for (const r of this.#races.values()) if (t === undefined || r.deadline < t) t = r.deadline;
    return t as Instant | undefined;
  }

  handleTimeout(now: Instant): void {
    this.#expire(now);
  }

  #expire(now: Instant): void {
    for (const [k, r] of this.#races) if (r.deadline <= now) this.#races.delete(k);
  }
}
