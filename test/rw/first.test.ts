/** ReadFirst's race: the earliest reply is forwarded, later ones dropped and counted. */
import { describe, expect, it } from 'vitest';
import { ReadRaces } from '../../src/rw/first.ts';
import type { Duration, Instant } from '../../src/time.ts';

const T = (us: number) => us as Instant;
const cfg = { readsPending: 2, readTimeout: 100_000 as Duration };

describe('ReadRaces', () => {
  it('forwards the first reply and drops the others', () => {
    const r = new ReadRaces(cfg);
    expect(r.begin(T(0), 'c/1', [0, 1, 2])).toBe('started');
    expect(r.reply(T(5), 'c/1', 2)).toBe('first');
    expect(r.reply(T(6), 'c/1', 0)).toBe('late');
    expect(r.reply(T(6), 'c/1', 0)).toBe('unknown'); // a duplicate
    expect(r.reply(T(7), 'c/1', 1)).toBe('late');
    expect(r.late).toBe(2);
    expect(r.size).toBe(0); // all heard: the race is over
  });

  it('a retransmission restarts its race; a full table refuses; a race ends at its timeout', () => {
    const r = new ReadRaces(cfg);
    r.begin(T(0), 'a', [0, 1]);
    expect(r.reply(T(1), 'a', 0)).toBe('first');
    expect(r.begin(T(1), 'a', [0, 1])).toBe('restarted'); // the answer may have been lost: race again
    expect(r.reply(T(1), 'a', 1)).toBe('first');
    expect(r.begin(T(1), 'a', [0, 1])).toBe('restarted');
    r.begin(T(2), 'b', [0]);
    expect(r.begin(T(3), 'c', [0])).toBe('full');
    expect(r.pollTimeout()).toBe(100_001);
    r.handleTimeout(T(100_001));
    expect(r.size).toBe(1);
    expect(r.reply(T(100_001), 'a', 0)).toBe('unknown');
    expect(r.begin(T(100_003), 'c', [0])).toBe('started');
  });

  it('a member outside the read is not heard', () => {
    const r = new ReadRaces(cfg);
    r.begin(T(0), 'a', [0, 1]);
    expect(r.reply(T(1), 'a', 7)).toBe('unknown');
    expect(r.reply(T(2), 'a', 1)).toBe('first');
  });
});
