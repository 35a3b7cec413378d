/**
 * WriteAll's vote: who answers the client, who is turned off, who is counted as a mismatch, and
 * what a retransmission gets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WriteVotes, type VoteAction } from '../../src/rw/vote.ts';
import type { Duration, Instant } from '../../src/time.ts';

const T = (us: number) => us as Instant;
const cfg = { writesPending: 4, writeTimeout: 200_000 as Duration };

function drain<R>(v: WriteVotes<R>): VoteAction<R>[] {
  const out: VoteAction<R>[] = [];
  for (let a = v.pollAction(); a !== undefined; a = v.pollAction()) out.push(a);
  return out;
}

const ok = (member: number, value: string) => ({ member, ok: true, value, reply: `${member}:${value}` });
const failure = (member: number) => ({ member, ok: false, value: '', reply: `${member}:fail` });

describe('WriteVotes', () => {
  it('answers at a strict majority, then counts the member outside it as a value mismatch', () => {
    const v = new WriteVotes<string>(cfg);
    expect(v.begin(T(0), 'c1/1', [0, 1, 2])).toEqual({ kind: 'started' });
    v.reply(T(10), 'c1/1', ok(0, 'v7'));
    expect(drain(v)).toEqual([]); // 1 of 3 is no majority
    v.reply(T(20), 'c1/1', ok(2, 'v7'));
    expect(drain(v)).toEqual([{ kind: 'answer', key: 'c1/1', reply: '0:v7', copies: 2 }]);
    v.reply(T(30), 'c1/1', ok(1, 'v8'));
    expect(drain(v)).toEqual([{ kind: 'mismatch', key: 'c1/1', member: 1, why: 'value' }]);
  });

  it('turns off a member that replies failure at once, and answers with the others', () => {
    const v = new WriteVotes<string>(cfg);
    v.begin(T(0), 'k', [0, 1, 2]);
    v.reply(T(5), 'k', failure(1));
    expect(drain(v)).toEqual([{ kind: 'turn-off', key: 'k', member: 1 }]);
    v.reply(T(6), 'k', ok(0, 'a'));
    v.reply(T(7), 'k', ok(2, 'b'));
    // No majority among 3 (1 + 1): all replied, so the largest group (the first to reach it) wins.
    expect(drain(v)).toEqual([{ kind: 'answer', key: 'k', reply: '0:a', copies: 1 }, { kind: 'mismatch', key: 'k', member: 2, why: 'value' }]);
  });

  it('a member that never replies is a timeout mismatch; the client is answered at the timeout without it', () => {
    const v = new WriteVotes<string>(cfg);
    v.begin(T(0), 'k', [0, 1, 2, 3]);
    v.reply(T(1), 'k', ok(0, 'x'));
    v.reply(T(2), 'k', ok(1, 'x'));
    expect(drain(v)).toEqual([]); // 2 of 4 is not a strict majority
    expect(v.pollTimeout()).toBe(200_000);
    v.handleTimeout(T(200_000));
    expect(drain(v)).toEqual([
      { kind: 'answer', key: 'k', reply: '0:x', copies: 2 },
      { kind: 'mismatch', key: 'k', member: 2, why: 'timeout' },
      { kind: 'mismatch', key: 'k', member: 3, why: 'timeout' },
    ]);
    expect(v.reply(T(200_001), 'k', ok(2, 'x'))).toBe('unexpected'); // too late
  });

  it('a retransmission is not written twice: collecting, then the same answer again, then a new write', () => {
    const v = new WriteVotes<string>(cfg);
    v.begin(T(0), 'k', [0, 1]);
    expect(v.begin(T(1), 'k', [0, 1])).toEqual({ kind: 'collecting' });
    v.reply(T(2), 'k', ok(0, 'y'));
    v.reply(T(3), 'k', ok(1, 'y'));
    drain(v);
    expect(v.begin(T(100_000), 'k', [0, 1])).toEqual({ kind: 'answered', reply: '0:y' });
    expect(v.begin(T(400_001), 'k', [0, 1])).toEqual({ kind: 'started' }); // kept one timeout past its deadline
  });

  it('holds at most repliesHeld replies over open writes, and lets them go when a write closes', () => {
    const v = new WriteVotes<string>({ ...cfg, repliesHeld: 2 });
    v.begin(T(0), 'a', [0, 1, 2]);
    v.begin(T(0), 'b', [0, 1]);
    expect(v.reply(T(1), 'a', ok(0, 'x'))).toBe('taken');
    expect(v.reply(T(1), 'b', ok(0, 'y'))).toBe('taken');
    expect(v.reply(T(2), 'a', ok(1, 'x'))).toBe('full'); // refused: member 1 of 'a' will time out
    expect(v.held).toBe(2);
    v.handleTimeout(T(200_000));
    expect(v.held).toBe(0);
    expect(drain(v).filter((x) => x.kind === 'mismatch').map((x) => x.key)).toEqual(['a', 'a', 'b']);
  });

  it('with no reply at all the client gets nothing, and its retransmission is a new write', () => {
    const v = new WriteVotes<string>(cfg);
    v.begin(T(0), 'k', [0]);
    v.handleTimeout(T(200_000));
    expect(drain(v)).toEqual([{ kind: 'unanswered', key: 'k' }, { kind: 'mismatch', key: 'k', member: 0, why: 'timeout' }]);
    expect(v.begin(T(200_001), 'k', [0])).toEqual({ kind: 'started' });
  });

  it('only failures: the client gets the first failure; members outside the write are not heard', () => {
    const v = new WriteVotes<string>(cfg);
    v.begin(T(0), 'k', [0, 1]);
    expect(v.reply(T(1), 'k', ok(5, 'z'))).toBe('unexpected');
    v.reply(T(1), 'k', failure(0));
    v.reply(T(2), 'k', failure(1));
    expect(drain(v)).toEqual([{ kind: 'turn-off', key: 'k', member: 0 }, { kind: 'turn-off', key: 'k', member: 1 }, { kind: 'answer', key: 'k', reply: '0:fail', copies: 0 }]);
  });

  it('holds at most writesPending writes', () => {
    const v = new WriteVotes<string>(cfg);
    for (let i = 0; i < 4; i++) expect(v.begin(T(0), `k${i}`, [0]).kind).toBe('started');
    expect(v.begin(T(0), 'k4', [0])).toEqual({ kind: 'full' });
    expect(v.size).toBe(4);
  });

  it('property: the answer is a value of a largest successful group; every member is answered for exactly once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.record({ member: fc.nat(6), ok: fc.boolean(), value: fc.constantFrom('a', 'b', 'c'), at: fc.nat(300_000) }), { maxLength: 12 }), (n, replies) => {
        const v = new WriteVotes<string>(cfg);
        const members = Array.from({ length: n }, (_, i) => i);
        v.begin(T(0), 'k', members);
        const heard = new Map<number, { ok: boolean; value: string }>();
        for (const r of [...replies].sort((a, b) => a.at - b.at)) {
          if (r.at >= 200_000) break;
          if (v.reply(T(r.at), 'k', { member: r.member, ok: r.ok, value: r.value, reply: r.value }) === 'taken') heard.set(r.member, r);
        }
        v.handleTimeout(T(200_000));
        const acts = drain(v);
        const answers = acts.filter((a) => a.kind === 'answer' || a.kind === 'unanswered');
        expect(answers).toHaveLength(1);
        const counts = new Map<string, number>();
        for (const h of heard.values()) if (h.ok) counts.set(h.value, (counts.get(h.value) ?? 0) + 1);
        const max = Math.max(0, ...counts.values());
        const a = answers[0]!;
        if (max > 0) expect(a.kind === 'answer' && counts.get(a.reply)).toBe(max);
        // Each member: replied (ok or failure) or a timeout mismatch, never both.
        for (const m of members) {
          const timeouts = acts.filter((x) => x.kind === 'mismatch' && x.member === m && x.why === 'timeout').length;
          expect(timeouts).toBe(heard.has(m) ? 0 : 1);
        }
      }),
    );
  });
});
