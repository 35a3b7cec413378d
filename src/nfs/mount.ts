/**
 * The MOUNT protocol (RFC 1813 appendix I, program 100005 version 3), which gives an NFS client
 * the handle of an export's root: NULL, MNT, DUMP, UMNT, UMNTALL and EXPORT. The root's handle
 * is the path-encoded handle of depth 0 (handle.ts), the same on every server of a group. Pure:
 * a call's bytes in, a reply's bytes out.
 *
 *   MNT(dirpath<1024>) -> mountstat3; on MNT3_OK fhandle3<64> and the auth flavors (AUTH_SYS)
 *   EXPORT() -> a list of exports (dir, then no groups: every client may mount)
 *   DUMP() -> the empty list (mounts are not recorded; a stateless server has no use for them)
 *
 * A path that is not an export is MNT3ERR_NOENT; one over 1024 bytes MNT3ERR_NAMETOOLONG.
 * Another program, version or procedure is answered as RFC 5531 says (PROG_UNAVAIL,
 * PROG_MISMATCH 3..3, PROC_UNAVAIL); arguments that do not parse GARBAGE_ARGS; a datagram that
 * is no call gets no reply.
 */

import { ACCEPT_STAT, acceptedReply, AUTH_FLAVOR, parseCall } from '../wire/oncrpc.ts';
import { XdrReader } from '../wire/xdr.ts';
import { encodeHandle } from './handle.ts';

export const MOUNT_PROG = 100005;
export const MOUNT_VERS = 3;
export const MNTPATHLEN = 1024;
export const MOUNT_PROC = { null: 0, mnt: 1, dump: 2, umnt: 3, umntall: 4, export: 5 } as const;
export const MNT3 = { ok: 0, noent: 2, nametoolong: 63 } as const;

/** Answer a MOUNT call for the exports `exports` (absolute paths); undefined when the bytes are not a call. */
export function mountReply(call: Uint8Array, exports: readonly string[]): Uint8Array | undefined {
  const p = parseCall(call);
  if (!p.ok) return undefined;
  const c = p.value;
  if (c.prog !== MOUNT_PROG) return acceptedReply(c.xid, ACCEPT_STAT.progUnavail).bytes();
  if (c.vers !== MOUNT_VERS) return acceptedReply(c.xid, ACCEPT_STAT.progMismatch, { low: MOUNT_VERS, high: MOUNT_VERS }).bytes();
  switch (c.proc) {
    case MOUNT_PROC.null:
    case MOUNT_PROC.umntall:
      return acceptedReply(c.xid, ACCEPT_STAT.success).bytes();
    case MOUNT_PROC.mnt:
    case MOUNT_PROC.umnt: {
      const r = new XdrReader(c.args);
      const n = r.u32('dirpath length');
      if (r.error !== undefined) return acceptedReply(c.xid, ACCEPT_STAT.garbageArgs).bytes();
      if (n > MNTPATHLEN) return c.proc === MOUNT_PROC.mnt ? acceptedReply(c.xid, ACCEPT_STAT.success).u32(MNT3.nametoolong).bytes() : acceptedReply(c.xid, ACCEPT_STAT.success).bytes();
      const dir = new XdrReader(c.args).string(MNTPATHLEN, 'dirpath');
      if (c.proc === MOUNT_PROC.umnt) return acceptedReply(c.xid, ACCEPT_STAT.success).bytes();
      if (!exports.includes(normalise(dir))) return acceptedReply(c.xid, ACCEPT_STAT.success).u32(MNT3.noent).bytes();
      const root = encodeHandle([])!;
      return acceptedReply(c.xid, ACCEPT_STAT.success).u32(MNT3.ok).opaque(root).u32(1).u32(AUTH_FLAVOR.sys).bytes();
    }
    case MOUNT_PROC.dump:
      return acceptedReply(c.xid, ACCEPT_STAT.success).bool(false).bytes();
    case MOUNT_PROC.export: {
      const w = acceptedReply(c.xid, ACCEPT_STAT.success);
      for (const e of exports) w.bool(true).string(e).bool(false);
      return w.bool(false).bytes();
    }
    default:
      return acceptedReply(c.xid, ACCEPT_STAT.procUnavail).bytes();
  }
}

/** `/a//b/` as `/a/b` (clients send an export's path as the user typed it). */
function normalise(path: string): string {
  const parts = path.split('/').filter((x) => x !== '');
  return `/${parts.join('/')}`;
}
