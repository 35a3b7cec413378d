/**
 * The freshness gate and sender (src/failover/fresh.ts) as pure objects: the handshake rules one
 * by one, then a fast-check property over random schedules of sends, losses, replays of anything
 * ever sent, and restarts of either side: a receiver process never acts on a datagram twice, never
 * on one older than one it acted on in the same incarnation, and never on a datagram sent before
 * the receiver process started unless the sender named it as its latest when it answered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHALLENGE_RETRY_US, FRESH_PEERS_MAX, FreshGate, FreshSender, NonceSource, RESPONSE_INTERVAL_US, SEQ_MAX } from '../../src/failover/fresh.ts';
import type { Instant } from '../../src/time.ts';

const at = (us: number) => us as Instant;

function gate(inc = 0x1111): FreshGate<string> {
  return new FreshGate<string>('bidd', new NonceSource(() => inc));
}

describe('FreshGate', () => {
  it('an unknown incarnation is challenged, held, and released when the answer names it as the latest', () => {
    const g = gate();
    const a = g.admit(at(0), 2, 0xaaaa, 7, 'hb7');
    expect(a).toMatchObject({ kind: 'unverified', challenge: { hi: 0x1111, lo: 1 } });
    const nonce = a.kind === 'unverified' ? a.challenge! : { hi: 0, lo: 0 };
    expect(g.answer(2, nonce, 0xaaaa, 7)).toEqual({ kind: 'adopted', inc: 0xaaaa, seq: 7, previous: undefined, released: 'hb7' });
    expect(g.admit(at(10), 2, 0xaaaa, 7, 'again')).toEqual({ kind: 'replay' });
    expect(g.admit(at(10), 2, 0xaaaa, 8, 'hb8')).toEqual({ kind: 'accept' });
    expect(g.answer(2, nonce, 0xaaaa, 8)).toEqual({ kind: 'unexpected' }); // answered once only
  });

  it('a held datagram older than the named latest is not released; the next one counts', () => {
    const g = gate();
    const a = g.admit(at(0), 2, 0xaaaa, 3, 'old');
    const nonce = a.kind === 'unverified' ? a.challenge! : { hi: 0, lo: 0 };
    expect(g.answer(2, nonce, 0xaaaa, 900)).toMatchObject({ kind: 'adopted', released: undefined });
    expect(g.admit(at(1), 2, 0xaaaa, 4, 'old')).toEqual({ kind: 'replay' });
    expect(g.admit(at(1), 2, 0xaaaa, 901, 'new')).toEqual({ kind: 'accept' });
  });

  it('challenges at most once per retry interval per peer, with a new nonce each time', () => {
    const g = gate();
    const first = g.admit(at(0), 2, 5, 1, 'a');
    expect(g.admit(at(CHALLENGE_RETRY_US - 1), 2, 5, 2, 'b')).toEqual({ kind: 'unverified' });
    const second = g.admit(at(CHALLENGE_RETRY_US), 2, 5, 3, 'c');
    expect(first.kind === 'unverified' && second.kind === 'unverified' && first.challenge!.lo !== second.challenge!.lo).toBe(true);
    // The old nonce no longer counts.
    expect(g.answer(2, first.kind === 'unverified' ? first.challenge! : { hi: 0, lo: 0 }, 5, 3)).toEqual({ kind: 'unexpected' });
  });

  it('a datagram of another incarnation than the believed one is unverified, not accepted', () => {
    const g = gate();
    const a = g.admit(at(0), 2, 5, 1, 'a');
    g.answer(2, a.kind === 'unverified' ? a.challenge! : { hi: 0, lo: 0 }, 5, 1);
    expect(g.admit(at(1), 2, 6, 100, 'other')).toMatchObject({ kind: 'unverified' });
    expect(g.peer(2)).toEqual({ inc: 5, last: 1 });
  });

  it('tracks at most FRESH_PEERS_MAX peers', () => {
    const g = gate();
    for (let n = 0; n < FRESH_PEERS_MAX; n++) expect(g.admit(at(0), n, 1, 1, 'x').kind).toBe('unverified');
    expect(g.admit(at(0), FRESH_PEERS_MAX, 1, 1, 'x')).toEqual({ kind: 'full' });
  });
});

describe('FreshSender', () => {
  it('counts per stream from 1, answers each challenger at most once per interval, and draws a new incarnation at exhaustion', () => {
    const draws = [0, 7, 7, 9];
    const s = new FreshSender(() => draws.shift() ?? 11, 1000);
    expect(s.incarnation).toBe(7); // 0 is never an incarnation
    expect(s.next('bidd')).toEqual({ inc: 7, seq: 1 });
    expect(s.next('sync')).toEqual({ inc: 7, seq: 1 });
    expect(s.last('bidd')).toBe(1);
    expect(s.mayAnswer(at(0), 'bidd', 2)).toBe(true);
    expect(s.mayAnswer(at(RESPONSE_INTERVAL_US - 1), 'bidd', 2)).toBe(false);
    expect(s.mayAnswer(at(RESPONSE_INTERVAL_US - 1), 'sync', 2)).toBe(true);
    expect(s.mayAnswer(at(RESPONSE_INTERVAL_US), 'bidd', 2)).toBe(true);
    for (let k = s.last('bidd'); k < 1000; k++) s.next('bidd');
    expect(s.last('bidd')).toBe(1000);
    expect(new FreshSender(() => 1).seqMax).toBe(SEQ_MAX);
    expect(s.next('bidd')).toEqual({ inc: 9, seq: 1 }); // 7 again is refused: a new one
    expect(s.last('sync')).toBe(0);
  });
});

// ---- the property ----

type Step =
  | { kind: 'send'; lost: boolean }
  | { kind: 'replay'; pick: number }
  | { kind: 'answer'; lost: boolean }
  | { kind: 'sender-restart' }
  | { kind: 'receiver-restart' }
  | { kind: 'wait' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), lost: fc.boolean() }),
  fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('answer' as const), lost: fc.boolean() }),
  fc.constant({ kind: 'sender-restart' as const }),
  fc.constant({ kind: 'receiver-restart' as const }),
  fc.constant({ kind: 'wait' as const }),
);

interface Sent {
  readonly id: number;
  readonly inc: number;
  readonly seq: number;
  readonly at: number;
}

describe('freshness property', () => {
  it('no datagram acted on twice, none out of order, none from before the receiver started unless named latest', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), fc.integer({ min: 1, max: 0x7fffffff }), (steps, seed) => {
        let incs = seed;
        const drawInc = () => (incs = (Math.imul(incs, 1103515245) + 12345) >>> 0) || 1;
        let sender = new FreshSender(drawInc);
        let now = 0;
        let recvInc = 0x100;
        let receiver = new FreshGate<Sent>('bidd', new NonceSource(() => recvInc));
        let receiverStart = 0;
        let acted = new Set<number>();
        let lastActed = new Map<number, number>();
        let challenge: { hi: number; lo: number } | undefined;
        const log: Sent[] = [];
        const act = (m: Sent, released: boolean) => {
          expect(acted.has(m.id), `datagram ${m.id} acted on twice`).toBe(false);
          acted.add(m.id);
          expect(m.seq).toBeGreaterThan(lastActed.get(m.inc) ?? 0);
          lastActed.set(m.inc, m.seq);
          if (m.at < receiverStart) expect(released, 'a datagram older than the receiver accepted without an answer').toBe(true);
        };
        const deliver = (m: Sent) => {
          const a = receiver.admit(at(now), 2, m.inc, m.seq, m);
          if (a.kind === 'accept') act(m, false);
          if (a.kind === 'unverified' && a.challenge !== undefined) challenge = a.challenge;
        };
        for (const st of steps) {
          now += 7_000;
          switch (st.kind) {
            case 'send': {
              const n = sender.next('bidd');
              const m = { id: log.length, ...n, at: now };
              log.push(m);
              if (!st.lost) deliver(m);
              break;
            }
            case 'replay':
              if (log.length > 0) deliver(log[st.pick % log.length]!);
              break;
            case 'answer':
              if (challenge !== undefined && !st.lost) {
                const latest = sender.last('bidd');
                const r = receiver.answer(2, challenge, sender.incarnation, latest);
                if (r.kind === 'adopted' && r.released !== undefined) {
                  expect(r.released.inc).toBe(sender.incarnation);
                  expect(r.released.seq).toBe(latest);
                  act(r.released, true);
                }
                challenge = undefined;
              }
              break;
            case 'sender-restart':
              sender = new FreshSender(drawInc);
              break;
            case 'receiver-restart':
              recvInc++;
              receiver = new FreshGate<Sent>('bidd', new NonceSource(() => recvInc));
              receiverStart = now;
              acted = new Set();
              lastActed = new Map();
              challenge = undefined;
              break;
            case 'wait':
              now += 100_000;
              break;
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
