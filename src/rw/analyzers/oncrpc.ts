/**
 * The ONC RPC analyzer (RFC 5531, over UDP: one message per datagram, no record marking), with
 * a table of one program's procedures saying which ones write. NFSv3 (RFC 1813) ships as a
 * table, `NFS3_PROGRAM`; the registry's 'nfs3' is this analyzer with it.
 *
 *   Call                                   Reply
 *     0  xid       u32                       0  xid          u32  the call's xid
 *     4  msg_type  u32  0 CALL               4  msg_type     u32  1 REPLY
 *     8  rpcvers   u32  2                    8  reply_stat   u32  0 MSG_ACCEPTED, 1 MSG_DENIED
 *    12  prog      u32                      accepted:
 *    16  vers      u32                        12  verf (flavor u32, length u32, body padded to 4)
 *    20  proc      u32                         .  accept_stat u32  0 SUCCESS .. 5 SYSTEM_ERR
 *    24  cred (flavor u32, length u32,         .  results (SUCCESS only)
 *        body padded to 4)                  denied:
 *     .  verf (the same)                      12  reject_stat u32  0 RPC_MISMATCH, 1 AUTH_ERROR
 *     .  procedure arguments                   .  mismatch_info or auth_stat
 *
 * Rules:
 * - Id: the XID. A call's program and version must be the table's ('unknown-program'), its
 *   procedure one the table holds ('unknown-procedure'); the table says read or write.
 * - A credential's or verifier's body is at most 400 bytes (RFC 5531 `opaque_auth`,
 *   `body<400>`) and must fit in the datagram with its padding ('bad-auth'); the analyzer skips
 *   it by its length and looks at nothing inside it.
 * - Status: MSG_DENIED or an accept_stat other than SUCCESS is 'failure'. A SUCCESS is 'ok',
 *   unless the program's results start with a status word (`statusWord`: NFSv3's nfsstat3,
 *   0 NFS3_OK), which then decides. An accept_stat or reply_stat outside RFC 5531's values is
 *   'bad-value'.
 * - Return value (`compare`): 'results' compares the reply body after the verifier, that is
 *   accept_stat and the procedure's results, byte for byte; 'none' compares nothing, so every
 *   successful reply agrees and only the status votes. NFSv3's table says 'none': its results
 *   carry per-server facts (post-operation attributes with times and file ids, the write
 *   verifier of the server's boot), so two correct replicas never answer byte-identically. A
 *   service whose results are deterministic sets `compare: 'results'`.
 * - A reply does not name its program: the analyzer reads it with its one table.
 *
 * Options, 'oncrpc': `{ program, version, procedures: ['read' | 'write', ...] (index =
 * procedure number), statusWord?: boolean (false), compare?: 'results' | 'none' ('results') }`.
 * 'nfs3': `{ compare?: 'results' | 'none' }` over NFS3_PROGRAM.
 */

import { readU32, writeU32 } from '../../wire/addr.ts';
import type { Analyzer, AnalyzerConfig, AnalyzerInit, AnalyzerOption, ReplyFacts, ReplyVerdict, RequestFacts, RequestVerdict, RwMode } from '../analyzer.ts';
import { checkPorts } from './common.ts';

export const ONC_RPC_VERSION = 2;
export const ONC_MSG = { call: 0, reply: 1 } as const;
export const ONC_REPLY_STAT = { accepted: 0, denied: 1 } as const;
/** accept_stat: 0 SUCCESS, 1 PROG_UNAVAIL, 2 PROG_MISMATCH, 3 PROC_UNAVAIL, 4 GARBAGE_ARGS, 5 SYSTEM_ERR. */
export const ONC_ACCEPT_STAT_MAX = 5;
/** reject_stat: 0 RPC_MISMATCH, 1 AUTH_ERROR. */
export const ONC_REJECT_STAT_MAX = 1;
/** The status word of a refused write in read-only mode: NFSv3's NFS3ERR_ROFS (RFC 1813). */
export const ONC_READ_ONLY_STATUS = 30;
/** The longest opaque_auth body (RFC 5531 section 8.2). */
export const ONC_AUTH_BODY_MAX = 400;

/** Offsets of a call's fixed fields (the credential follows at `cred`). */
export const ONC_CALL_OFF = { xid: 0, msgType: 4, rpcvers: 8, prog: 12, vers: 16, proc: 20, cred: 24 } as const;
/** Offsets of a reply's fixed fields (an accepted reply's verifier is at `verf`). */
export const ONC_REPLY_OFF = { xid: 0, msgType: 4, replyStat: 8, verf: 12, rejectStat: 12 } as const;

export type OncCompare = 'results' | 'none';

export interface OncProcedure {
  readonly name: string;
  readonly mode: RwMode;
}

/** One program version's table. */
export interface OncProgram {
  readonly name: string;
  readonly program: number;
  readonly version: number;
  /** Index = procedure number; a number past the end is 'unknown-procedure'. */
  readonly procedures: readonly OncProcedure[];
  /** The results of a SUCCESS start with a u32 status, 0 meaning success (NFSv3's nfsstat3). */
  readonly statusWord: boolean;
  readonly compare: OncCompare;
}

const r = (name: string): OncProcedure => ({ name, mode: 'read' });
const w = (name: string): OncProcedure => ({ name, mode: 'write' });

/** NFS version 3 (RFC 1813 section 3): program 100003, version 3, procedures 0-21. */
export const NFS3_PROGRAM: OncProgram = {
  name: 'nfs3',
  program: 100003,
  version: 3,
  procedures: [
    r('NULL'), r('GETATTR'), w('SETATTR'), r('LOOKUP'), r('ACCESS'), r('READLINK'), r('READ'), w('WRITE'),
    w('CREATE'), w('MKDIR'), w('SYMLINK'), w('MKNOD'), w('REMOVE'), w('RMDIR'), w('RENAME'), w('LINK'),
    r('READDIR'), r('READDIRPLUS'), r('FSSTAT'), r('FSINFO'), r('PATHCONF'), w('COMMIT'),
  ],
  statusWord: true,
  compare: 'none',
};

/** The offset just past an opaque_auth at `off`, or -1 when it is truncated or too long. */
function skipAuth(b: Uint8Array, off: number): number {
  if (b.length - off < 8) return -1;
  const len = readU32(b, off + 4);
  if (len > ONC_AUTH_BODY_MAX) return -1;
  const end = off + 8 + ((len + 3) & ~3);
  return end <= b.length ? end : -1;
}

export class OncRpcAnalyzer implements Analyzer {
  readonly name: string;
  #ports: ReadonlySet<number> = new Set();
  #table: OncProgram | undefined;
  readonly #fixed: OncProgram | undefined;

  /** With `table`, the analyzer serves that program and its options are only `compare`. */
  constructor(table?: OncProgram) {
    this.#fixed = table;
    this.name = table?.name ?? 'oncrpc';
  }

  /** The program table in use (after `init`). */
  get table(): OncProgram | undefined {
    return this.#table;
  }

  init(config: AnalyzerConfig): AnalyzerInit {
    const bad = checkPorts(config);
    if (bad !== undefined) return { ok: false, error: bad };
    const t = this.#fixed === undefined ? programFromOptions(config) : withCompare(this.#fixed, config);
    if (typeof t === 'string') return { ok: false, error: t };
    this.#table = t;
    this.#ports = new Set(config.ports);
    return { ok: true };
  }

  isMine(port: number): boolean {
    return this.#ports.has(port);
  }

  checkRequest(b: Uint8Array, _port: number, out: RequestFacts): RequestVerdict {
    const t = this.#table;
    if (t === undefined) return 'unknown-program'; // not initialised: nothing is this analyzer's
    if (b.length < ONC_CALL_OFF.cred) return 'truncated';
    const msgType = readU32(b, ONC_CALL_OFF.msgType);
    if (msgType === ONC_MSG.reply) return 'not-a-request';
    if (msgType !== ONC_MSG.call) return 'bad-value';
    if (readU32(b, ONC_CALL_OFF.rpcvers) !== ONC_RPC_VERSION) return 'bad-version';
    if (readU32(b, ONC_CALL_OFF.prog) !== t.program || readU32(b, ONC_CALL_OFF.vers) !== t.version) return 'unknown-program';
    const proc = t.procedures[readU32(b, ONC_CALL_OFF.proc)];
    if (proc === undefined) return 'unknown-procedure';
    const afterCred = skipAuth(b, ONC_CALL_OFF.cred);
    if (afterCred < 0 || skipAuth(b, afterCred) < 0) return b.length - ONC_CALL_OFF.cred < 16 ? 'truncated' : 'bad-auth';
    out.id = readU32(b, ONC_CALL_OFF.xid);
    return proc.mode;
  }

  checkReply(b: Uint8Array, _port: number, out: ReplyFacts): ReplyVerdict {
    const t = this.#table;
    if (t === undefined) return 'unknown-program';
    if (b.length < ONC_REPLY_OFF.verf) return 'truncated';
    const msgType = readU32(b, ONC_REPLY_OFF.msgType);
    if (msgType === ONC_MSG.call) return 'not-a-reply';
    if (msgType !== ONC_MSG.reply) return 'bad-value';
    const replyStat = readU32(b, ONC_REPLY_OFF.replyStat);
    if (replyStat === ONC_REPLY_STAT.denied) {
      if (b.length < ONC_REPLY_OFF.rejectStat + 4) return 'truncated';
      if (readU32(b, ONC_REPLY_OFF.rejectStat) > ONC_REJECT_STAT_MAX) return 'bad-value';
      return this.#answer(b, out, b.length, 'failure');
    }
    if (replyStat !== ONC_REPLY_STAT.accepted) return 'bad-value';
    const afterVerf = skipAuth(b, ONC_REPLY_OFF.verf);
    if (afterVerf < 0) return b.length - ONC_REPLY_OFF.verf < 8 ? 'truncated' : 'bad-auth';
    if (b.length - afterVerf < 4) return 'truncated';
    const acceptStat = readU32(b, afterVerf);
    if (acceptStat > ONC_ACCEPT_STAT_MAX) return 'bad-value';
    if (acceptStat !== 0) return this.#answer(b, out, afterVerf, 'failure');
    if (!t.statusWord) return this.#answer(b, out, afterVerf, 'ok');
    if (b.length - afterVerf < 8) return 'truncated';
    return this.#answer(b, out, afterVerf, readU32(b, afterVerf + 4) === 0 ? 'ok' : 'failure');
  }

  /**
   * Read-only mode: an accepted reply with a null verifier; for a program with a status word
   * (NFSv3) SUCCESS with status `ONC_READ_ONLY_STATUS` (NFS3ERR_ROFS, 30) and 16 zero bytes,
   * which read as every write procedure's failure body (wcc_data is two false booleans;
   * RENAME's two wcc_data are the longest; a decoder leaves bytes past its structure unread);
   * else accept_stat SYSTEM_ERR.
   */
  refuse(b: Uint8Array): Uint8Array | undefined {
    const t = this.#table;
    if (t === undefined || b.length < 4) return undefined;
    const out = new Uint8Array(t.statusWord ? 48 : 24);
    out.set(b.subarray(0, 4), 0); // xid
    writeU32(out, ONC_REPLY_OFF.msgType, ONC_MSG.reply);
    writeU32(out, ONC_REPLY_OFF.replyStat, ONC_REPLY_STAT.accepted);
    // verifier: AUTH_NONE, length 0 (bytes 12-19 stay 0)
    if (t.statusWord) writeU32(out, 24, ONC_READ_ONLY_STATUS);
    else writeU32(out, 20, ONC_ACCEPT_STAT_MAX); // SYSTEM_ERR
    return out;
  }

  /** Fill the facts of a reply whose body after the verifier starts at `bodyOff`. */
  #answer(b: Uint8Array, out: ReplyFacts, bodyOff: number, status: 'ok' | 'failure'): ReplyVerdict {
    out.id = readU32(b, ONC_REPLY_OFF.xid);
    const compared = this.#table!.compare === 'results' && status === 'ok';
    out.valueOff = compared ? bodyOff : b.length;
    out.valueLen = compared ? b.length - bodyOff : 0;
    return status;
  }
}

// ---- options ----

type Options = AnalyzerConfig['options'];

function isU32(v: AnalyzerOption | undefined): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function compareOption(o: Options, group: string, dflt: OncCompare): OncCompare | string {
  const c = o['compare'];
  if (c === undefined) return dflt;
  return c === 'results' || c === 'none' ? c : `group ${group}: options.compare must be 'results' or 'none' (got ${JSON.stringify(c)})`;
}

function withCompare(t: OncProgram, config: AnalyzerConfig): OncProgram | string {
  const extra = Object.keys(config.options).filter((k) => k !== 'compare');
  if (extra.length > 0) return `group ${config.group}: the ${t.name} analyzer takes only options.compare (got ${extra.join(', ')})`;
  const compare = compareOption(config.options, config.group, t.compare);
  if (compare !== 'results' && compare !== 'none') return compare;
  return { ...t, compare };
}

/** The longest procedure table an 'oncrpc' option may give. */
export const ONC_PROCEDURES_MAX = 1024;

function programFromOptions(config: AnalyzerConfig): OncProgram | string {
  const o = config.options;
  const g = `group ${config.group}: oncrpc`;
  const known = new Set(['program', 'version', 'procedures', 'statusWord', 'compare', 'name']);
  const extra = Object.keys(o).filter((k) => !known.has(k));
  if (extra.length > 0) return `${g} options: unknown ${extra.join(', ')} (known: ${[...known].join(', ')})`;
  const program = o['program'];
  const version = o['version'];
  if (!isU32(program)) return `${g} needs options.program, a u32 program number`;
  if (!isU32(version)) return `${g} needs options.version, a u32 version number`;
  const procs = o['procedures'];
  if (!Array.isArray(procs) || procs.length === 0 || procs.length > ONC_PROCEDURES_MAX) return `${g} needs options.procedures, a list of 1-${ONC_PROCEDURES_MAX} of 'read' | 'write' (index = procedure number)`;
  const procedures: OncProcedure[] = [];
  for (const [i, m] of (procs as readonly AnalyzerOption[]).entries()) {
    if (m !== 'read' && m !== 'write') return `${g} options.procedures[${i}] must be 'read' or 'write' (got ${JSON.stringify(m)})`;
    procedures.push({ name: `proc${i}`, mode: m });
  }
  const sw = o['statusWord'] ?? false;
  if (typeof sw !== 'boolean') return `${g} options.statusWord must be true or false`;
  const compare = compareOption(o, config.group, 'results');
  if (compare !== 'results' && compare !== 'none') return compare;
  const name = o['name'] ?? `prog${program}v${version}`;
  if (typeof name !== 'string') return `${g} options.name must be a string`;
  return { name, program, version, procedures, statusWord: sw, compare };
}
