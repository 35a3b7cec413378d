/** ONC RPC messages (RFC 5531): calls read, replies written, bad calls as errors. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ONC_CALL_OFF } from '../../src/rw/analyzers/oncrpc.ts';
import { OncRpcAnalyzer, NFS3_PROGRAM } from '../../src/rw/analyzers/index.ts';
import { classifyReply } from '../../src/rw/analyzer.ts';
import { ACCEPT_STAT, acceptedReply, AUTH_FLAVOR, authSys, callHeader, deniedReply, parseCall, recordMark } from '../../src/wire/oncrpc.ts';
import { XdrWriter } from '../../src/wire/xdr.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('ONC RPC calls and replies', () => {
  it('reads a call laid out as RFC 5531 draws it, AUTH_SYS credentials included', () => {
    const sys = new XdrWriter().u32(7).string('client').u32(1000).u32(100).u32(2).u32(100).u32(27).bytes();
    const w = callHeader(0x11223344, 100003, 3, 7, { flavor: AUTH_FLAVOR.sys, body: sys }).u32(0xabcdef01);
    const b = w.bytes();
    expect(hex(b.subarray(0, 24))).toBe('11223344' + '00000000' + '00000002' + '000186a3' + '00000003' + '00000007');
    const p = parseCall(b);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.value).toMatchObject({ xid: 0x11223344, prog: 100003, vers: 3, proc: 7 });
    expect(hex(p.value.args)).toBe('abcdef01');
    expect(authSys(p.value.cred)).toEqual({ stamp: 7, machine: 'client', uid: 1000, gid: 100, gids: [100, 27] });
    expect(ONC_CALL_OFF.proc).toBe(20); // the analyzer reads the same offsets
  });

  it('a reply the nfs3 analyzer reads as the server meant it', () => {
    const a = new OncRpcAnalyzer(NFS3_PROGRAM);
    a.init({ group: 'g', ports: [2049], options: {} });
    const okReply = acceptedReply(5, ACCEPT_STAT.success).u32(0).bytes(); // NFS3_OK
    expect(classifyReply(a, okReply, 2049)).toMatchObject({ kind: 'reply', status: 'ok', id: 5 });
    const nospc = acceptedReply(6, ACCEPT_STAT.success).u32(28).bytes(); // NFS3ERR_NOSPC
    expect(classifyReply(a, nospc, 2049)).toMatchObject({ kind: 'reply', status: 'failure', id: 6 });
    expect(classifyReply(a, deniedReply(7, { kind: 'rpc-mismatch' }), 2049)).toMatchObject({ kind: 'reply', status: 'failure', id: 7 });
    expect(hex(acceptedReply(8, ACCEPT_STAT.progMismatch, { low: 3, high: 3 }).bytes())).toBe('00000008' + '00000001' + '00000000' + '00000000' + '00000000' + '00000002' + '00000003' + '00000003');
  });

  it('what is not a call is an error, never a throw', () => {
    expect(parseCall(acceptedReply(1, 0).bytes())).toMatchObject({ ok: false, error: { layer: 'oncrpc', reason: 'bad-value' } });
    const v3 = callHeader(1, 100003, 3, 0).bytes();
    v3[11] = 3;
    expect(parseCall(v3)).toMatchObject({ ok: false, error: { reason: 'bad-version' } });
    expect(parseCall(callHeader(1, 1, 1, 1).bytes().subarray(0, 30))).toMatchObject({ ok: false, error: { reason: 'truncated' } });
    const big = new XdrWriter().u32(1).u32(0).u32(2).u32(1).u32(1).u32(1).u32(1).u32(401).bytes();
    expect(parseCall(big)).toMatchObject({ ok: false, error: { reason: 'bad-length' } });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      const p = parseCall(b);
      return p.ok ? p.value.args.length <= b.length : p.error.layer === 'oncrpc';
    }));
  });

  it('a TCP record mark carries the last-fragment bit and the length', () => {
    expect(hex(recordMark(0x1234))).toBe('80001234');
    expect(hex(recordMark(8, false))).toBe('00000008');
  });
});
