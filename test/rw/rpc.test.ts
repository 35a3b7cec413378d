/** The simulator's RPC analyzer (src/rw/analyzers/rpc.ts) over the codec's own bytes. */
import { describe, expect, it } from 'vitest';
import { classifyReply, classifyRequest } from '../../src/rw/analyzer.ts';
import { RpcAnalyzer } from '../../src/rw/analyzers/rpc.ts';
import { hex } from '../../src/wire/addr.ts';
import { encodeRpc, RPC_OP, RPC_STATUS } from '../../src/wire/rpc.ts';
import { bytes, ready } from './support.ts';

const PORT = 2049;
const a = ready(new RpcAnalyzer(), [PORT]);

describe('rpc analyzer', () => {
  it('init keeps the ports and refuses options and bad ports', () => {
    expect(a.isMine(PORT)).toBe(true);
    expect(a.isMine(2050)).toBe(false);
    expect(new RpcAnalyzer().init({ group: 'g', ports: [PORT], options: { x: 1 } })).toMatchObject({ ok: false, error: expect.stringContaining('no options (got x)') });
    expect(new RpcAnalyzer().init({ group: 'g', ports: [], options: {} })).toMatchObject({ ok: false });
    expect(new RpcAnalyzer().init({ group: 'g', ports: [70000], options: {} })).toMatchObject({ ok: false, error: expect.stringContaining('70000') });
  });

  it('a write is a write, a read a read, the xid the id', () => {
    expect(classifyRequest(a, bytes('01020304 01 0a0b fffffffe'), PORT)).toEqual({ kind: 'write', id: 0x01020304 });
    expect(classifyRequest(a, encodeRpc({ kind: 'request', xid: 0xffffffff, op: RPC_OP.read, key: 9, value: 0 }), PORT)).toEqual({ kind: 'read', id: 0xffffffff });
  });

  it('an unknown op is not replicated; a short request is truncated', () => {
    expect(classifyRequest(a, bytes('00000001 07 0001 00000000'), PORT)).toEqual({ kind: 'drop', reason: 'unknown-operation' });
    const req = bytes('00000001 01 0001 00000005');
    for (let n = 0; n < req.length; n++) expect(classifyRequest(a, req.subarray(0, n), PORT)).toEqual({ kind: 'drop', reason: 'truncated' });
    expect(classifyRequest(a, bytes('00000001 01 0001 00000005 ffff'), PORT)).toEqual({ kind: 'write', id: 1 }); // trailing bytes ignored
  });

  it('a reply: status 0 ok, any other failure; the value field is the return value', () => {
    const okReply = classifyReply(a, encodeRpc({ kind: 'reply', xid: 5, status: RPC_STATUS.ok, value: 123456 }), PORT);
    expect(okReply).toMatchObject({ kind: 'reply', status: 'ok', id: 5 });
    expect(okReply.kind === 'reply' && hex(okReply.value)).toBe('0001e240');
    expect(classifyReply(a, bytes('00000005 01 00000000'), PORT)).toMatchObject({ kind: 'reply', status: 'failure', id: 5 });
    expect(classifyReply(a, bytes('00000005 09 00000000'), PORT)).toMatchObject({ kind: 'reply', status: 'failure' });
    expect(classifyReply(a, bytes('00000005 00 000000'), PORT)).toEqual({ kind: 'drop', reason: 'truncated' });
  });
});
