/**
 * The port mapper (RFC 1833, program 100000 version 2), so that NFS clients find the server's
 * MOUNT and NFS ports: NULL, GETPORT and DUMP; SET and UNSET are refused (the map is fixed by the
 * server's configuration, not by other processes). Pure: a call's bytes in, a reply's bytes out.
 *
 *   GETPORT(mapping { prog, vers, prot, port }) -> port (0: not registered)
 *   DUMP() -> a list of mappings (each entry: bool more = 1, mapping), ended by bool 0
 *
 * A call for another program is PROG_UNAVAIL; for version 3 or 4 (rpcbind) PROG_MISMATCH 2..2;
 * another procedure PROC_UNAVAIL; arguments that do not parse GARBAGE_ARGS. A datagram that is
 * no call at all gets no reply (`undefined`), as RFC 5531 servers do.
 */

import { ACCEPT_STAT, acceptedReply, parseCall } from '../wire/oncrpc.ts';
import { XdrReader } from '../wire/xdr.ts';

export const PMAP_PROG = 100000;
export const PMAP_VERS = 2;
export const PMAP_PORT = 111;
export const PMAP_PROC = { null: 0, set: 1, unset: 2, getport: 3, dump: 4 } as const;
export const IPPROTO = { tcp: 6, udp: 17 } as const;

export interface Mapping {
  readonly prog: number;
  readonly vers: number;
  readonly prot: number;
  readonly port: number;
}

/** Answer a port-mapper call from `map`; undefined when the bytes are not a call. */
export function portmapReply(call: Uint8Array, map: readonly Mapping[]): Uint8Array | undefined {
  const p = parseCall(call);
  if (!p.ok) return undefined;
  const c = p.value;
  if (c.prog !== PMAP_PROG) return acceptedReply(c.xid, ACCEPT_STAT.progUnavail).bytes();
  if (c.vers !== PMAP_VERS) return acceptedReply(c.xid, ACCEPT_STAT.progMismatch, { low: PMAP_VERS, high: PMAP_VERS }).bytes();
  switch (c.proc) {
    case PMAP_PROC.null:
      return acceptedReply(c.xid, ACCEPT_STAT.success).bytes();
    case PMAP_PROC.set:
    case PMAP_PROC.unset:
      return acceptedReply(c.xid, ACCEPT_STAT.success).bool(false).bytes(); // refused: the map is fixed
    case PMAP_PROC.getport: {
      const r = new XdrReader(c.args);
      const prog = r.u32();
      const vers = r.u32();
      const prot = r.u32();
      r.u32(); // port: ignored in a query
      if (r.error !== undefined) return acceptedReply(c.xid, ACCEPT_STAT.garbageArgs).bytes();
      const m = map.find((x) => x.prog === prog && x.vers === vers && x.prot === prot);
      return acceptedReply(c.xid, ACCEPT_STAT.success).u32(m?.port ?? 0).bytes();
    }
    case PMAP_PROC.dump: {
      const w = acceptedReply(c.xid, ACCEPT_STAT.success);
      for (const m of map) w.bool(true).u32(m.prog).u32(m.vers).u32(m.prot).u32(m.port);
      return w.bool(false).bytes();
    }
    default:
      return acceptedReply(c.xid, ACCEPT_STAT.procUnavail).bytes();
  }
}
