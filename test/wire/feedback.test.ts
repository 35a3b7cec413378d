/**
 * The feedback protocol codec (src/wire/feedback.ts): byte-literal messages whose HMAC is checked
 * against node:crypto, then the codec properties (STYLE.md 8): parse(encode(v)) equals v,
 * arbitrary bytes never throw, every strict prefix is 'truncated', trailing bytes are refused,
 * accepted bytes have one encoding, and any flipped bit or wrong key fails verification.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CTL_CLASS, CTL_OP, CTL_STATUS, type CtlClass, type CtlCommand, type CtlOp, type CtlResult, type CtlStatus } from '../../src/ctl/types.ts';
import { fromHex, hex } from '../../src/wire/addr.ts';
import {
  emitFeedback,
  encodeCommand,
  encodeFeedback,
  encodeResult,
  FEEDBACK_COMMAND_MAX,
  FEEDBACK_COMMAND_MIN,
  FEEDBACK_DATA_MAX,
  FEEDBACK_MESSAGE_MAX,
  FEEDBACK_RESULT_MAX,
  FEEDBACK_RESULT_MIN,
  FEEDBACK_STRING_MAX,
  feedbackLength,
  feedbackProblem,
  parseFeedback,
  verifyFeedback,
  type FeedbackFrame,
  type FeedbackMessage,
} from '../../src/wire/feedback.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const KEY = utf8('feedback-test-key-32-bytes-long!');
const TIMESTAMP = 1_700_000_000_000_000; // 2023-11-14T22:13:20Z in µs = 0x00060a24_181e4000

const COMMAND: CtlCommand = {
  kind: 'command', id: 0x01020304, handle: 42, cls: 'server', op: 'set',
  group: 'web', server: 's1', property: 'weight', data: '5', keyId: 7, timestamp: TIMESTAMP,
};
const COMMAND_HEX = [
  '5347 01 01', // magic 'SG', version 1, type 1 command
  '01020304', // id
  '0000002a', // handle 42
  '03 02', // class 3 server, op 2 set
  '03 776562', // group 'web'
  '02 7331', // server 's1'
  '06 776569676874', // property 'weight'
  '0001 35', // data '5'
  '0007', // key id 7
  '00060a24 181e4000', // timestamp hi, lo
  'a9de8f97886bf2c8d3a58b46d7667400475d398c5bb8fe159dfe7e703045d596', // HMAC-SHA256
].join(' ');

const RESULT: CtlResult = { kind: 'result', id: 0x01020304, status: 'no-such-server', data: 'café', keyId: 7, timestamp: TIMESTAMP };
const RESULT_HEX = [
  '5347 01 02', // magic 'SG', version 1, type 2 result
  '01020304', // id
  '0007', // status 7 no-such-server
  '0005 636166c3a9', // data 'café' (é is c3 a9)
  '0007', // key id 7
  '00060a24 181e4000', // timestamp hi, lo
  'eef12ce73d964151642386f0aa93da06c8bccd41dae918cb0e9f4fe13413fd22', // HMAC-SHA256
].join(' ');

function frameOf(b: Uint8Array): FeedbackFrame {
  const p = parseFeedback(b);
  if (!p.ok) throw new Error(`${p.error.reason}: ${p.error.detail ?? ''}`);
  return p.value;
}

describe('feedback byte literals', () => {
  for (const [name, value, literal, encode] of [
    ['command', COMMAND, COMMAND_HEX, () => encodeCommand(COMMAND, KEY)],
    ['result', RESULT, RESULT_HEX, () => encodeResult(RESULT, KEY)],
  ] as const) {
    describe(name, () => {
      const bytes = fromHex(literal);

      it('encodes to the documented bytes', () => {
        expect(hex(encode())).toBe(hex(bytes));
        expect(feedbackLength(value)).toBe(bytes.length);
      });

      it('carries the HMAC node:crypto computes over every byte before it', () => {
        const signed = bytes.subarray(0, bytes.length - 32);
        expect(hex(bytes.subarray(bytes.length - 32))).toBe(createHmac('sha256', KEY).update(signed).digest('hex'));
      });

      it('parses back to the value, with the signed bytes and the mac located, and verifies', () => {
        const f = frameOf(bytes);
        expect(f.message).toEqual(value);
        expect(hex(f.signed)).toBe(hex(bytes.subarray(0, bytes.length - 32)));
        expect(hex(f.mac)).toBe(hex(bytes.subarray(bytes.length - 32)));
        expect(verifyFeedback(f, KEY)).toBe(true);
      });

      it('every strict prefix, fed a byte at a time, is truncated', () => {
        for (let n = 0; n < bytes.length; n++) {
          expect(parseFeedback(bytes.subarray(0, n)), `prefix of ${n} bytes`).toMatchObject({ ok: false, error: { layer: 'feedback', reason: 'truncated' } });
        }
      });

      it('a trailing byte is refused: a datagram is exact', () => {
        expect(parseFeedback(Uint8Array.of(...bytes, 0))).toMatchObject({ ok: false, error: { reason: 'bad-length' } });
      });
    });
  }
});

describe('feedback parse errors, each with its reason', () => {
  const cmd = fromHex(COMMAND_HEX);
  const res = fromHex(RESULT_HEX);
  const edited = (b: Uint8Array, at: number, ...bytes: number[]): Uint8Array => {
    const c = b.slice();
    c.set(bytes, at);
    return c;
  };
  const reasonOf = (b: Uint8Array) => {
    const p = parseFeedback(b);
    return p.ok ? 'ok' : p.error.reason;
  };

  it('bad magic, bad version', () => {
    expect(reasonOf(edited(cmd, 0, 0x53, 0x48))).toBe('bad-magic');
    expect(reasonOf(edited(cmd, 2, 2))).toBe('bad-version');
    expect(reasonOf(edited(cmd, 2, 0))).toBe('bad-version');
  });

  it('unknown type, class, op and status numbers are unsupported (closed protocol enums)', () => {
    expect(parseFeedback(edited(cmd, 3, 3))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'type 3' } });
    expect(parseFeedback(edited(cmd, 3, 0))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'type 0' } });
    expect(parseFeedback(edited(cmd, 12, 4))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'class 4' } });
    expect(parseFeedback(edited(cmd, 12, 0))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'class 0' } });
    expect(parseFeedback(edited(cmd, 13, 6))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'op 6' } });
    expect(parseFeedback(edited(res, 8, 0, 13))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'status 13' } });
    expect(parseFeedback(edited(res, 8, 1, 0))).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'status 256' } });
  });

  it('every known class, op and status number parses', () => {
    for (const n of Object.values(CTL_CLASS)) expect(reasonOf(edited(cmd, 12, n))).toBe('ok');
    for (const n of Object.values(CTL_OP)) expect(reasonOf(edited(cmd, 13, n))).toBe('ok');
    for (const n of Object.values(CTL_STATUS)) expect(reasonOf(edited(res, 8, 0, n))).toBe('ok');
  });

  it('a string or data longer than its bound is bad-length, even with the bytes present', () => {
    const longName = encodeCommand({ ...COMMAND, group: 'g'.repeat(FEEDBACK_STRING_MAX) }, KEY);
    expect(reasonOf(longName)).toBe('ok');
    expect(parseFeedback(edited(longName, 14, FEEDBACK_STRING_MAX + 1))).toMatchObject({ ok: false, error: { reason: 'bad-length', detail: 'group is 65 bytes, more than 64' } });
    expect(reasonOf(edited(cmd, 14 + 4, 0xff))).toBe('bad-length'); // server length 255
    expect(reasonOf(edited(res, 10, 0x04, 0x01))).toBe('bad-length'); // data length 1025
    expect(reasonOf(edited(res, 10, 0xff, 0xff))).toBe('bad-length');
  });

  it('a length running past the datagram is truncated', () => {
    expect(reasonOf(edited(res, 10, 0x04, 0x00))).toBe('truncated'); // data length 1024, 37 bytes left
    expect(reasonOf(edited(cmd, 14, 60))).toBe('truncated');
  });

  it('strings that are not UTF-8 are bad-length', () => {
    // data of the result is 'café' at 12..16: replace it with five bytes of broken UTF-8.
    for (const [why, bytes] of [
      ['a lone continuation byte', [0x61, 0x62, 0x63, 0x80, 0x64]],
      ['an overlong "/"', [0x61, 0x62, 0x63, 0xc0, 0xaf]],
      ['a surrogate (U+D800)', [0x61, 0x62, 0xed, 0xa0, 0x80]],
      ['a cut sequence', [0x61, 0x62, 0x63, 0x64, 0xc3]],
      ['above U+10FFFF', [0x61, 0xf4, 0x90, 0x80, 0x80]],
    ] as const) {
      expect(parseFeedback(edited(res, 12, ...bytes)), why).toMatchObject({ ok: false, error: { reason: 'bad-length', detail: 'data is not UTF-8' } });
    }
    expect(parseFeedback(edited(cmd, 15, 0xff))).toMatchObject({ ok: false, error: { reason: 'bad-length', detail: 'group is not UTF-8' } });
  });

  it('a byte-order mark is kept as a character, not stripped', () => {
    const v: CtlResult = { ...RESULT, data: '\ufeffx' };
    expect(frameOf(encodeResult(v, KEY)).message).toEqual(v);
  });

  it('timestamps up to 2^53 - 1 are carried; above, unsupported', () => {
    const max: CtlResult = { ...RESULT, timestamp: Number.MAX_SAFE_INTEGER };
    const b = encodeResult(max, KEY);
    expect(hex(b.subarray(b.length - 40, b.length - 32))).toBe('001fffffffffffff');
    expect(frameOf(b).message).toEqual(max);
    expect(frameOf(encodeResult({ ...RESULT, timestamp: 0 }, KEY)).message).toEqual({ ...RESULT, timestamp: 0 });
    const over = b.slice();
    over[over.length - 42 + 2 + 1] = 0x20; // hi = 0x00200000: 2^53
    expect(parseFeedback(over)).toMatchObject({ ok: false, error: { reason: 'unsupported', detail: 'timestamp above 2^53 - 1' } });
  });

  it('a datagram longer than the longest message is bad-length', () => {
    expect(reasonOf(new Uint8Array(FEEDBACK_MESSAGE_MAX + 1))).toBe('bad-length');
  });
});

describe('feedback sizes', () => {
  const full: CtlCommand = {
    ...COMMAND, group: 'g'.repeat(FEEDBACK_STRING_MAX), server: 's'.repeat(FEEDBACK_STRING_MAX),
    property: 'p'.repeat(FEEDBACK_STRING_MAX), data: 'd'.repeat(FEEDBACK_DATA_MAX),
  };
  const empty: CtlCommand = { ...COMMAND, group: '', server: '', property: '', data: '' };

  it('the documented bounds: commands 61-1277 bytes, results 54-1078, all in one 1500-MTU datagram', () => {
    expect([FEEDBACK_COMMAND_MIN, FEEDBACK_COMMAND_MAX, FEEDBACK_RESULT_MIN, FEEDBACK_RESULT_MAX, FEEDBACK_MESSAGE_MAX]).toEqual([61, 1277, 54, 1078, 1277]);
    expect(FEEDBACK_MESSAGE_MAX).toBeLessThanOrEqual(1500 - 20 - 8);
    expect(encodeCommand(full, KEY).length).toBe(FEEDBACK_COMMAND_MAX);
    expect(encodeCommand(empty, KEY).length).toBe(FEEDBACK_COMMAND_MIN);
    expect(encodeResult({ ...RESULT, data: 'é'.repeat(FEEDBACK_DATA_MAX / 2) }, KEY).length).toBe(FEEDBACK_RESULT_MAX);
    expect(encodeResult({ ...RESULT, data: '' }, KEY).length).toBe(FEEDBACK_RESULT_MIN);
    expect(frameOf(encodeCommand(full, KEY)).message).toEqual(full);
  });

  it('emitFeedback writes exactly feedbackLength bytes at its offset', () => {
    const buf = new Uint8Array(200).fill(0xee);
    const n = emitFeedback(COMMAND, KEY, buf, 10);
    expect(n).toBe(feedbackLength(COMMAND));
    expect(hex(buf.subarray(10, 10 + n))).toBe(hex(fromHex(COMMAND_HEX)));
    expect(buf.subarray(0, 10).every((x) => x === 0xee) && buf.subarray(10 + n).every((x) => x === 0xee)).toBe(true);
  });
});

describe('feedback encoder refuses what it cannot carry (a caller bug: check feedbackProblem first)', () => {
  const cases: [string, FeedbackMessage, RegExp][] = [
    ['a 65-byte group', { ...COMMAND, group: 'g'.repeat(65) }, /group is 65 bytes/],
    ['a server of 33 two-byte characters', { ...COMMAND, server: 'é'.repeat(33) }, /server is 66 bytes/],
    ['a property of 17 four-byte characters', { ...COMMAND, property: '😀'.repeat(17) }, /property is 68 bytes/],
    ['1025 bytes of data', { ...RESULT, data: 'x'.repeat(1025) }, /data is 1025 bytes/],
    ['a lone surrogate', { ...COMMAND, data: 'a\ud800b' }, /lone surrogate/],
    ['an id above u32', { ...COMMAND, id: 2 ** 32 }, /id .* not a u32/],
    ['a negative handle', { ...COMMAND, handle: -1 }, /handle/],
    ['a fractional key id', { ...RESULT, keyId: 1.5 }, /key id/],
    ['a key id above u16', { ...RESULT, keyId: 65536 }, /key id/],
    ['a timestamp above 2^53 - 1', { ...RESULT, timestamp: 2 ** 53 }, /timestamp/],
    ['a negative timestamp', { ...RESULT, timestamp: -1 }, /timestamp/],
    ['an unknown class', { ...COMMAND, cls: 'toString' as CtlClass }, /unknown class/],
    ['an unknown op', { ...COMMAND, op: 'frobnicate' as CtlOp }, /unknown op/],
    ['an unknown status', { ...RESULT, status: 'meh' as CtlStatus }, /unknown status/],
  ];
  for (const [name, v, why] of cases) {
    it(name, () => {
      expect(feedbackProblem(v)).toMatch(why);
      expect(() => encodeFeedback(v, KEY)).toThrow(/assertion failed/);
    });
  }
  it('the byte-literal values have no problem', () => {
    expect(feedbackProblem(COMMAND)).toBeUndefined();
    expect(feedbackProblem(RESULT)).toBeUndefined();
  });
});

// ---- properties ----

const utf8Len = (s: string): number => utf8(s).length;
/** Text within `maxBytes` of UTF-8: ASCII, any code point (BOM, NUL, astral) and multi-code-point graphemes. */
const textUpTo = (maxBytes: number): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.string({ maxLength: maxBytes }),
      fc.string({ unit: 'binary', maxLength: maxBytes / 4 }),
      fc.string({ unit: 'grapheme', maxLength: maxBytes / 8 }),
      fc.string({ unit: 'binary', minLength: maxBytes / 4, maxLength: maxBytes }),
    )
    .filter((s) => utf8Len(s) <= maxBytes);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const auth = { keyId: fc.integer({ min: 0, max: 0xffff }), timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) };

const command: fc.Arbitrary<CtlCommand> = fc.record({
  kind: fc.constant('command' as const),
  id: u32,
  handle: u32,
  cls: fc.constantFrom(...(Object.keys(CTL_CLASS) as CtlClass[])),
  op: fc.constantFrom(...(Object.keys(CTL_OP) as CtlOp[])),
  group: textUpTo(FEEDBACK_STRING_MAX),
  server: textUpTo(FEEDBACK_STRING_MAX),
  property: textUpTo(FEEDBACK_STRING_MAX),
  data: textUpTo(FEEDBACK_DATA_MAX),
  ...auth,
});
const result: fc.Arbitrary<CtlResult> = fc.record({
  kind: fc.constant('result' as const),
  id: u32,
  status: fc.constantFrom(...(Object.keys(CTL_STATUS) as CtlStatus[])),
  data: textUpTo(FEEDBACK_DATA_MAX),
  ...auth,
});
const message: fc.Arbitrary<FeedbackMessage> = fc.oneof(command, result);
const key = fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 64 }), fc.uint8Array({ minLength: 65, maxLength: 100 }));
const RUNS = { numRuns: 300 };

/** Two keys HMAC treats as the same: equal after zero-padding to the block (long keys are hashed, so compare those as they are). */
function sameHmacKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length > 64 || b.length > 64) return hex(a) === hex(b);
  const pa = new Uint8Array(64);
  const pb = new Uint8Array(64);
  pa.set(a);
  pb.set(b);
  return hex(pa) === hex(pb);
}

describe('feedback properties', () => {
  it('parse(encode(v)) equals v, verifies with its key, and the HMAC is node:crypto\'s', () => {
    fc.assert(fc.property(message, key, (v, k) => {
      expect(feedbackProblem(v)).toBeUndefined();
      const b = encodeFeedback(v, k);
      expect(b.length).toBe(feedbackLength(v));
      const f = frameOf(b);
      expect(f.message).toEqual(v);
      expect(verifyFeedback(f, k)).toBe(true);
      expect(hex(f.mac)).toBe(createHmac('sha256', k).update(f.signed).digest('hex'));
    }), RUNS);
  });

  it('arbitrary bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1400 }), (b) => {
      const p = parseFeedback(b);
      if (p.ok) verifyFeedback(p.value, KEY);
    }), { numRuns: 2000 });
  });

  it('bytes behind a valid header never throw', () => {
    const arb = fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 1300 })).map(([type, tail]) => Uint8Array.of(0x53, 0x47, 1, type, ...tail));
    fc.assert(fc.property(arb, (b) => void parseFeedback(b)), { numRuns: 2000 });
  });

  it('every strict prefix is truncated', () => {
    fc.assert(fc.property(message, (v) => {
      const b = encodeFeedback(v, KEY);
      for (let n = 0; n < b.length; n++) {
        const p = parseFeedback(b.subarray(0, n));
        expect(p.ok ? 'ok' : p.error.reason, `prefix of ${n} of ${b.length} bytes`).toBe('truncated');
      }
    }), { numRuns: 50 });
  });

  it('trailing bytes are bad-length', () => {
    fc.assert(fc.property(message, fc.uint8Array({ minLength: 1, maxLength: 40 }), (v, tail) => {
      const p = parseFeedback(Uint8Array.of(...encodeFeedback(v, KEY), ...tail));
      expect(p.ok ? 'ok' : p.error.reason).toBe('bad-length');
    }), RUNS);
  });

  it('a single flipped bit anywhere fails parsing or verification', () => {
    fc.assert(fc.property(message, key, fc.nat(), fc.integer({ min: 0, max: 7 }), (v, k, at, bit) => {
      const b = encodeFeedback(v, k);
      b[at % b.length]! ^= 1 << bit;
      const p = parseFeedback(b);
      if (p.ok) expect(verifyFeedback(p.value, k)).toBe(false);
    }), { numRuns: 1000 });
  });

  it('a wrong key fails verification', () => {
    fc.assert(fc.property(message, key, key, (v, k, other) => {
      fc.pre(!sameHmacKey(k, other));
      expect(verifyFeedback(frameOf(encodeFeedback(v, k)), other)).toBe(false);
    }), RUNS);
  });

  it('accepted bytes have one encoding: re-encoding what parsed gives the same signed bytes', () => {
    // Corrupt a valid message anywhere; whenever the result still parses, it is canonical.
    fc.assert(fc.property(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (v, edits) => {
      const b = encodeFeedback(v, KEY);
      for (const [at, byte] of edits) b[at % b.length] = byte;
      const p = parseFeedback(b);
      if (!p.ok) return;
      const again = encodeFeedback(p.value.message, KEY);
      expect(hex(again.subarray(0, again.length - 32))).toBe(hex(p.value.signed));
    }), { numRuns: 1000 });
  });
});
