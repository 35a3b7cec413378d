/**
 * The ONC RPC analyzer (src/rw/analyzers/oncrpc.ts): NFSv3 calls and replies built by hand in
 * RFC 5531 / RFC 1813 layout, the whole procedure table, auth lengths, truncation, denied and
 * unaccepted replies, and an 'oncrpc' program given in the options.
 */
import { describe, expect, it } from 'vitest';
import { classifyReply, classifyRequest, type ReplyFacts, sameValue } from '../../src/rw/analyzer.ts';
import { NFS3_PROGRAM, OncRpcAnalyzer } from '../../src/rw/analyzers/oncrpc.ts';
import { hex } from '../../src/wire/addr.ts';
import { bytes, ready } from './support.ts';

const NFS = 2049;
const nfs = ready(new OncRpcAnalyzer(NFS3_PROGRAM), [NFS]);

const u32 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
const AUTH_NONE = '00000000 00000000';
const AUTH_UNIX = `
  00000001 0000001c   # flavor AUTH_UNIX (1), body length 28
  00000000            # stamp
  00000004 686f7374   # machinename "host"
  000003e8 000003e8   # uid 1000, gid 1000
  00000001 000003e8   # gids<16>: one, 1000`;

/** An NFSv3 call of `proc` with the given credential and arguments. */
function call(xid: number, proc: number, cred = AUTH_UNIX, args = '', prog = 100003, vers = 3, rpcvers = 2): Uint8Array {
  return bytes([`${u32(xid)} 00000000 ${u32(rpcvers)} ${u32(prog)} ${u32(vers)} ${u32(proc)}`, cred, AUTH_NONE, args].join('\n'));
}

const WRITE_ARGS = `
  00000008 0102030405060708   # file: nfs_fh3 of 8 bytes
  0000000000000000            # offset
  00000004 00000002           # count 4, stable FILE_SYNC
  00000004 61626364           # data "abcd"`;

/** An accepted SUCCESS reply to `xid` whose results are `results`. */
const accepted = (xid: number, results: string, acceptStat = 0, verf = AUTH_NONE): Uint8Array => bytes([`${u32(xid)} 00000001 00000000`, verf, u32(acceptStat), results].join('\n'));
const WRITE_OK = `
  00000000                    # nfsstat3 NFS3_OK
  00000000 00000000           # wcc_data: no pre-op, no post-op attributes
  00000004 00000002           # count 4, committed FILE_SYNC
  0011223344556677            # writeverf3`;

describe('oncrpc analyzer with the NFSv3 table', () => {
  it('a WRITE with AUTH_UNIX is a write, its XID the id', () => {
    expect(classifyRequest(nfs, call(0x8a6b0c01, 7, AUTH_UNIX, WRITE_ARGS), NFS)).toEqual({ kind: 'write', id: 0x8a6b0c01 });
  });

  it('every procedure of RFC 1813 has its mode; 22 and up are unknown', () => {
    const writes = [2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 21]; // SETATTR WRITE CREATE MKDIR SYMLINK MKNOD REMOVE RMDIR RENAME LINK COMMIT
    for (let proc = 0; proc <= 21; proc++) {
      expect(classifyRequest(nfs, call(proc, proc), NFS), `procedure ${proc} ${NFS3_PROGRAM.procedures[proc]?.name}`).toEqual({ kind: writes.includes(proc) ? 'write' : 'read', id: proc });
    }
    expect(NFS3_PROGRAM.procedures.map((p) => p.name).join(' ')).toBe(
      'NULL GETATTR SETATTR LOOKUP ACCESS READLINK READ WRITE CREATE MKDIR SYMLINK MKNOD REMOVE RMDIR RENAME LINK READDIR READDIRPLUS FSSTAT FSINFO PATHCONF COMMIT',
    );
    expect(classifyRequest(nfs, call(1, 22), NFS)).toEqual({ kind: 'drop', reason: 'unknown-procedure' });
    expect(classifyRequest(nfs, call(1, 0xffffffff), NFS)).toEqual({ kind: 'drop', reason: 'unknown-procedure' });
  });

  it('another program or version, rpcvers 1, or a reply is not a request of this table', () => {
    expect(classifyRequest(nfs, call(1, 0, AUTH_NONE, '', 100005), NFS)).toEqual({ kind: 'drop', reason: 'unknown-program' }); // MOUNT
    expect(classifyRequest(nfs, call(1, 0, AUTH_NONE, '', 100003, 4), NFS)).toEqual({ kind: 'drop', reason: 'unknown-program' });
    expect(classifyRequest(nfs, call(1, 0, AUTH_NONE, '', 100003, 3, 1), NFS)).toEqual({ kind: 'drop', reason: 'bad-version' });
    expect(classifyRequest(nfs, accepted(1, WRITE_OK), NFS)).toEqual({ kind: 'drop', reason: 'not-a-request' });
    expect(classifyRequest(nfs, bytes('00000001 00000002 00000002 000186a3 00000003 00000000 00000000 00000000 00000000 00000000'), NFS)).toEqual({ kind: 'drop', reason: 'bad-value' });
  });

  it('credentials and verifiers are skipped by their length, at most 400 bytes, inside the datagram', () => {
    const body400 = '00'.repeat(400);
    expect(classifyRequest(nfs, call(1, 6, `00000006 00000190 ${body400}`), NFS)).toEqual({ kind: 'read', id: 1 }); // RPCSEC_GSS-sized
    expect(classifyRequest(nfs, call(1, 6, `00000006 00000191 ${body400}00 000000`), NFS)).toEqual({ kind: 'drop', reason: 'bad-auth' }); // 401
    expect(classifyRequest(nfs, call(1, 6, '00000001 00000005 0102030405 000000'), NFS)).toEqual({ kind: 'read', id: 1 }); // padded to 8
    expect(classifyRequest(nfs, call(1, 6, '00000001 00000005 0102030405'), NFS)).toEqual({ kind: 'drop', reason: 'bad-auth' }); // padding missing: the verifier runs out
    expect(classifyRequest(nfs, call(1, 6, '00000001 ffffffff'), NFS)).toEqual({ kind: 'drop', reason: 'bad-auth' });
  });

  it('every strict prefix of a call is dropped, never classified', () => {
    const c = call(9, 7, AUTH_UNIX, WRITE_ARGS);
    const end = c.length - bytes(WRITE_ARGS).length; // the arguments are not the analyzer's
    for (let n = 0; n < end; n++) expect(classifyRequest(nfs, c.subarray(0, n), NFS).kind, `prefix ${n}`).toBe('drop');
    for (let n = 0; n < 24; n++) expect(classifyRequest(nfs, c.subarray(0, n), NFS)).toEqual({ kind: 'drop', reason: 'truncated' });
  });

  it('a reply: NFS3_OK is ok, an nfsstat3 error, an accept_stat error or a denial a failure', () => {
    const okReply = classifyReply(nfs, accepted(0x8a6b0c01, WRITE_OK), NFS);
    expect(okReply).toEqual({ kind: 'reply', status: 'ok', id: 0x8a6b0c01, value: new Uint8Array(0) }); // NFSv3 compares nothing
    expect(classifyReply(nfs, accepted(2, '0000000d 00000000 00000000'), NFS)).toMatchObject({ status: 'failure', id: 2 }); // NFS3ERR_ACCES
    expect(classifyReply(nfs, accepted(3, '0000001c'), NFS)).toMatchObject({ status: 'failure', id: 3 }); // NFS3ERR_NOSPC
    for (let stat = 1; stat <= 5; stat++) expect(classifyReply(nfs, accepted(4, '', stat), NFS), `accept_stat ${stat}`).toMatchObject({ status: 'failure', id: 4 });
    expect(classifyReply(nfs, accepted(4, '', 6), NFS)).toEqual({ kind: 'drop', reason: 'bad-value' });
    expect(classifyReply(nfs, bytes('00000005 00000001 00000001 00000001 0000000d'), NFS)).toMatchObject({ status: 'failure', id: 5 }); // MSG_DENIED AUTH_ERROR AUTH_TOOWEAK
    expect(classifyReply(nfs, bytes('00000005 00000001 00000001 00000000 00000002 00000002'), NFS)).toMatchObject({ status: 'failure', id: 5 }); // RPC_MISMATCH 2-2
    expect(classifyReply(nfs, bytes('00000005 00000001 00000001 00000002'), NFS)).toEqual({ kind: 'drop', reason: 'bad-value' });
    expect(classifyReply(nfs, bytes('00000005 00000001 00000002'), NFS)).toEqual({ kind: 'drop', reason: 'bad-value' });
    expect(classifyReply(nfs, call(1, 0), NFS)).toEqual({ kind: 'drop', reason: 'not-a-reply' });
  });

  it('a reply cut before its status word is truncated; a long verifier is skipped', () => {
    const r = accepted(7, WRITE_OK);
    for (let n = 0; n < 28; n++) expect(classifyReply(nfs, r.subarray(0, n), NFS), `prefix ${n}`).toEqual({ kind: 'drop', reason: 'truncated' });
    expect(classifyReply(nfs, r.subarray(0, 28), NFS)).toMatchObject({ status: 'ok' });
    expect(classifyReply(nfs, accepted(7, WRITE_OK, 0, '00000006 00000006 010203040506 0000'), NFS)).toMatchObject({ status: 'ok', id: 7 });
    expect(classifyReply(nfs, accepted(7, '', 0, '00000006 00000191'), NFS)).toEqual({ kind: 'drop', reason: 'bad-auth' });
  });

  it("compare: 'results' compares accept_stat and the results, byte for byte", () => {
    const strict = ready(new OncRpcAnalyzer(NFS3_PROGRAM), [NFS], { compare: 'results' });
    const a = accepted(1, WRITE_OK);
    const b = accepted(2, WRITE_OK.replace('0011223344556677', '0011223344556678'));
    const fa: ReplyFacts = { id: 0, valueOff: 0, valueLen: 0 };
    const fb: ReplyFacts = { id: 0, valueOff: 0, valueLen: 0 };
    expect(strict.checkReply(a, NFS, fa)).toBe('ok');
    expect(hex(a.subarray(fa.valueOff, fa.valueOff + fa.valueLen))).toBe(hex(bytes(`00000000\n${WRITE_OK}`)));
    expect(strict.checkReply(b, NFS, fb)).toBe('ok');
    expect(sameValue(a, fa, b, fb)).toBe(false); // another write verifier
    expect(strict.checkReply(accepted(3, WRITE_OK), NFS, fb)).toBe('ok');
    expect(sameValue(a, fa, accepted(3, WRITE_OK), fb)).toBe(true); // the XID is not compared
    expect(new OncRpcAnalyzer(NFS3_PROGRAM).init({ group: 'g', ports: [NFS], options: { compare: 'all' } })).toMatchObject({ ok: false, error: expect.stringContaining("'results' or 'none'") });
    expect(new OncRpcAnalyzer(NFS3_PROGRAM).init({ group: 'g', ports: [NFS], options: { program: 1 } })).toMatchObject({ ok: false, error: expect.stringContaining('only options.compare') });
  });
});

describe("'oncrpc' with a program table in the options", () => {
  // A made-up key-value program 0x20000001 version 1: 0 NULL, 1 GET, 2 PUT.
  const kv = ready(new OncRpcAnalyzer(), [7000], { program: 0x20000001, version: 1, procedures: ['read', 'read', 'write'] });

  it('classifies by the given table; results without a status word: SUCCESS is ok', () => {
    expect(kv.name).toBe('oncrpc');
    expect(kv.table?.name).toBe('prog536870913v1');
    expect(classifyRequest(kv, call(1, 2, AUTH_NONE, '', 0x20000001, 1), 7000)).toEqual({ kind: 'write', id: 1 });
    expect(classifyRequest(kv, call(1, 1, AUTH_NONE, '', 0x20000001, 1), 7000)).toEqual({ kind: 'read', id: 1 });
    expect(classifyRequest(kv, call(1, 3, AUTH_NONE, '', 0x20000001, 1), 7000)).toEqual({ kind: 'drop', reason: 'unknown-procedure' });
    const r = classifyReply(kv, accepted(1, '0000002a'), 7000);
    expect(r).toMatchObject({ kind: 'reply', status: 'ok', id: 1 });
    expect(r.kind === 'reply' && hex(r.value)).toBe('000000000000002a');
  });

  it('says what is wrong with its options', () => {
    const err = (options: Record<string, never> | Record<string, unknown>): unknown => new OncRpcAnalyzer().init({ group: 'kv', ports: [7000], options: options as never });
    expect(err({})).toMatchObject({ ok: false, error: 'group kv: oncrpc needs options.program, a u32 program number' });
    expect(err({ program: 1 })).toMatchObject({ ok: false, error: expect.stringContaining('options.version') });
    expect(err({ program: 1, version: 1 })).toMatchObject({ ok: false, error: expect.stringContaining('options.procedures') });
    expect(err({ program: 1, version: 1, procedures: ['read', 'delete'] })).toMatchObject({ ok: false, error: expect.stringContaining("options.procedures[1] must be 'read' or 'write'") });
    expect(err({ program: 1, version: 1, procedures: ['read'], statusWord: 'yes' })).toMatchObject({ ok: false, error: expect.stringContaining('statusWord') });
    expect(err({ program: 1, version: 1, procedures: ['read'], colour: 'red' })).toMatchObject({ ok: false, error: expect.stringContaining('unknown colour') });
  });

  it('an analyzer never initialised takes nothing', () => {
    expect(classifyRequest(new OncRpcAnalyzer(), call(1, 0), NFS)).toEqual({ kind: 'drop', reason: 'unknown-program' });
    expect(classifyReply(new OncRpcAnalyzer(), accepted(1, ''), NFS)).toEqual({ kind: 'drop', reason: 'unknown-program' });
  });
});
