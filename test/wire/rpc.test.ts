/**
 * The RPC codec (src/wire/rpc.ts): byte-literal requests and replies, every strict prefix
 * truncated, trailing bytes ignored, then the properties (STYLE.md 8): arbitrary bytes never
 * throw, parse(emit(v)) equals v, and emit writes exactly rpcLength(v) bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, hex } from '../../src/wire/addr.ts';
import { emitRpc, encodeRpc, parseRpc, RPC_OP, RPC_REPLY_LEN, RPC_REQUEST_LEN, RPC_STATUS, rpcLength, rpcProblem, type RpcMessage, type RpcReply, type RpcRequest } from '../../src/wire/rpc.ts';
import { i32, u16, u32, u8 } from './arbitraries.ts';

const WRITE: RpcRequest = { kind: 'request', xid: 0x01020304, op: RPC_OP.write, key: 0x0a0b, value: -2 };
const WRITE_HEX = '01020304 01 0a0b fffffffe'; // xid, op 1 write, key, value -2
const READ: RpcRequest = { kind: 'request', xid: 7, op: RPC_OP.read, key: 99, value: 0 };
const READ_HEX = '00000007 00 0063 00000000';
const REPLY: RpcReply = { kind: 'reply', xid: 0xfffffffe, status: RPC_STATUS.ok, value: 123456 };
const REPLY_HEX = 'fffffffe 00 0001e240'; // xid, status 0 ok, value 123456
const ERROR_REPLY: RpcReply = { kind: 'reply', xid: 1, status: RPC_STATUS.error, value: 0x7fffffff };
const ERROR_REPLY_HEX = '00000001 01 7fffffff';

describe('rpc byte literals', () => {
  for (const [name, value, literal] of [
    ['write request', WRITE, WRITE_HEX],
    ['read request', READ, READ_HEX],
    ['ok reply', REPLY, REPLY_HEX],
    ['error reply', ERROR_REPLY, ERROR_REPLY_HEX],
  ] as const) {
    describe(name, () => {
      const bytes = fromHex(literal);
      it('encodes to the documented bytes', () => {
        expect(hex(encodeRpc(value))).toBe(hex(bytes));
        expect(rpcLength(value)).toBe(bytes.length);
      });
      it('parses whole back to the value', () => {
        expect(parseRpc(bytes, value.kind)).toEqual({ ok: true, value });
      });
      it('every strict prefix, fed a byte at a time, is truncated', () => {
        for (let n = 0; n < bytes.length; n++) {
          expect(parseRpc(bytes.subarray(0, n), value.kind), `prefix of ${n} bytes`).toMatchObject({ ok: false, error: { layer: 'rpc', reason: 'truncated' } });
        }
      });
      it('trailing bytes are ignored', () => {
        expect(parseRpc(Uint8Array.of(...bytes, 0xff, 0x00, 0x55), value.kind)).toEqual({ ok: true, value });
      });
    });
  }

  it('a request is 11 bytes and a reply 9', () => {
    expect([RPC_REQUEST_LEN, RPC_REPLY_LEN]).toEqual([11, 9]);
  });

  it('an unknown op or status survives a round trip as its number', () => {
    const req: RpcRequest = { ...READ, op: 0xee };
    const rep: RpcReply = { ...REPLY, status: 0x42 };
    expect(parseRpc(encodeRpc(req), 'request')).toEqual({ ok: true, value: req });
    expect(parseRpc(encodeRpc(rep), 'reply')).toEqual({ ok: true, value: rep });
  });

  it('parses at an offset into a larger buffer (a UDP payload view)', () => {
    const whole = fromHex(`aabbcc ${WRITE_HEX}`);
    expect(parseRpc(whole.subarray(3), 'request')).toEqual({ ok: true, value: WRITE });
  });

  it('the encoder refuses a value that does not fit, and says why', () => {
    expect(rpcProblem({ ...WRITE, key: 0x10000 })).toMatch(/key/);
    expect(rpcProblem({ ...WRITE, value: 0x80000000 })).toMatch(/i32/);
    expect(rpcProblem({ ...REPLY, status: 256 })).toMatch(/status/);
    expect(rpcProblem({ ...REPLY, xid: -1 })).toMatch(/xid/);
    expect(() => encodeRpc({ ...WRITE, op: 1.5 })).toThrow(/op/);
    expect(() => emitRpc(WRITE, new Uint8Array(10))).toThrow(/room/);
  });
});

const request: fc.Arbitrary<RpcRequest> = fc.record({ kind: fc.constant('request' as const), xid: u32, op: u8, key: u16, value: i32 });
const reply: fc.Arbitrary<RpcReply> = fc.record({ kind: fc.constant('reply' as const), xid: u32, status: u8, value: i32 });
const message: fc.Arbitrary<RpcMessage> = fc.oneof(request, reply);

describe('rpc properties', () => {
  it('arbitrary bytes never throw, as request or reply', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.constantFrom('request' as const, 'reply' as const), (b, kind) => {
      const p = parseRpc(b, kind);
      expect(p.ok).toBe(b.length >= (kind === 'request' ? RPC_REQUEST_LEN : RPC_REPLY_LEN));
    }), { numRuns: 2000 });
  });

  it('parse(emit(v)) equals v, fed whole and with trailing bytes', () => {
    fc.assert(fc.property(message, fc.uint8Array({ maxLength: 16 }), (v, tail) => {
      const b = encodeRpc(v);
      expect(parseRpc(b, v.kind)).toEqual({ ok: true, value: v });
      expect(parseRpc(Uint8Array.of(...b, ...tail), v.kind)).toEqual({ ok: true, value: v });
    }), { numRuns: 500 });
  });

  it('emit writes exactly rpcLength(v) bytes at its offset and nothing else', () => {
    fc.assert(fc.property(message, fc.integer({ min: 0, max: 8 }), (v, off) => {
      const buf = new Uint8Array(off + rpcLength(v) + 4).fill(0xa5);
      expect(emitRpc(v, buf, off)).toBe(rpcLength(v));
      expect([...buf.subarray(0, off), ...buf.subarray(off + rpcLength(v))].every((x) => x === 0xa5)).toBe(true);
      expect(hex(buf.subarray(off, off + rpcLength(v)))).toBe(hex(encodeRpc(v)));
    }), { numRuns: 300 });
  });
});
