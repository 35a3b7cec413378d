/**
 * The RPC key-value service and client on real sockets (`sg rpc serve|read|write`): the
 * simulator's protocol (src/wire/rpc.ts) and store (src/rw/rpc-server.ts), with write replies
 * marked through the service support routines (src/rw/support.ts) on a real socket
 * (src/real/mcast-socket.ts), so the SG node in a lab votes on real replies.
 *
 * - `rpcServe` binds 0.0.0.0:port (reuseAddr, as the simulator's service), joins `group` when
 *   given, and answers every request at once. A datagram that is not a request (shorter than 11
 *   bytes) is ignored and counted (`malformed`).
 * - `rpcCall` sends one request and waits for the reply with its xid, retransmitting the same
 *   bytes (same xid: the SG node tells a retransmission from a new write by it) every
 *   `retransmitMs` until `timeoutMs`. Replies with another xid, or too short, are counted and
 *   ignored.
 */

import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { formatIpv4, parseIpv4Addr, type Ipv4Addr } from '../wire/addr.ts';
import { encodeRpc, parseRpc, RPC_OP, type RpcReply } from '../wire/rpc.ts';
import { RpcServer, type RpcServerCounters } from '../rw/rpc-server.ts';
import { McastSupport, type McastSupportCounters } from '../rw/support.ts';
import { realMcastSocket } from './mcast-socket.ts';

export interface RpcServeOptions {
  /** UDP port (0: the kernel picks; `port()` says which). */
  readonly port: number;
  /** Multicast group to join (the SG group's write address), on `ifaceAddr`. */
  readonly group?: Ipv4Addr;
  /** The interface address to join on (default: by the route to the group). */
  readonly ifaceAddr?: Ipv4Addr;
  /** Answer every write with failure. */
  readonly failWrites?: boolean;
  /** Store value + 1: a divergent replica. */
  readonly diverge?: boolean;
  /** For the log lines. */
  readonly name: string;
}

export interface RpcServeCounters {
  /** Requests parsed and answered. */
  requests: number;
  /** Datagrams that were not a request. */
  malformed: number;
}

export interface RpcServeHandle {
  readonly close: () => void;
  /** The bound port. */
  readonly port: () => number;
  readonly counters: RpcServeCounters;
  readonly server: RpcServerCounters;
  readonly support: McastSupportCounters;
  /** Resolves once bound (and joined): the service answers from then on. */
  readonly ready: Promise<void>;
}

/** Start the service; `onError` gets a bind or join failure (the service is then closed). */
export function rpcServe(o: RpcServeOptions, log: (l: string) => void, onError: (e: Error) => void): RpcServeHandle {
  const server = new RpcServer({ ...(o.failWrites === true ? { failWrites: true } : {}), ...(o.diverge === true ? { diverge: true } : {}) });
  const counters: RpcServeCounters = { requests: 0, malformed: 0 };
  const s: Socket = createSocket({ type: 'udp4', reuseAddr: true });
  const support = new McastSupport(realMcastSocket(s, o.ifaceAddr));
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      s.close();
    } catch {
      // closed already
    }
  };
  s.on('message', (m, r) => {
    const parsed = parseRpc(m, 'request');
    if (!parsed.ok) {
      counters.malformed++;
      return;
    }
    const from = parseIpv4Addr(r.address);
    if (from === undefined) {
      counters.malformed++; // not from an IPv4 peer (cannot happen on a udp4 socket)
      return;
    }
    counters.requests++;
    const { reply, writeStatus } = server.handle(parsed.value, `${r.address}:${r.port}`);
    support.reply(encodeRpc(reply), { addr: from, port: r.port }, writeStatus);
  });
  const ready = new Promise<void>((resolve) => {
    s.on('error', (e) => {
      close();
      onError(e);
    });
    s.bind(o.port, '0.0.0.0', () => {
      if (o.group !== undefined) {
        const e = support.joinGroup(o.group);
        if (e !== undefined) {
          close();
          onError(new Error(e));
          return;
        }
      }
      const mode = [o.failWrites === true ? 'every write fails' : '', o.diverge === true ? 'writes store value + 1' : ''].filter((x) => x !== '').join(', ');
      log(`rpc ${o.name} on :${s.address().port}${o.group !== undefined ? `, joined ${formatIpv4(o.group)}${o.ifaceAddr !== undefined ? ` on ${formatIpv4(o.ifaceAddr)}` : ''}` : ''}${mode !== '' ? ` (${mode})` : ''}`);
      resolve();
    });
  });
  return { close, port: () => s.address().port, counters, server: server.counters, support: support.counters, ready };
}

/** The client's retransmission interval and overall deadline by default. */
export const RPC_RETRANSMIT_MS_DEFAULT = 200;
export const RPC_TIMEOUT_MS_DEFAULT = 2000;
/** Retransmissions per call at most, whatever the timeout. */
export const RPC_TRIES_MAX = 1000;

export interface RpcCallOptions {
  readonly to: Ipv4Addr;
  readonly port: number;
  readonly op: 'read' | 'write';
  readonly key: number;
  /** The value to write (0 for a read). */
  readonly value?: number;
  /** Default: random. */
  readonly xid?: number;
  readonly retransmitMs?: number;
  readonly timeoutMs?: number;
}

export type RpcCallResult =
  | { readonly kind: 'reply'; readonly reply: RpcReply; readonly from: string; readonly tries: number; readonly ms: number; readonly ignored: number }
  | { readonly kind: 'timeout'; readonly xid: number; readonly tries: number; readonly ms: number; readonly ignored: number }
  | { readonly kind: 'error'; readonly message: string };

/** One request, retransmitted until its reply or the timeout. Never rejects. */
export function rpcCall(o: RpcCallOptions): Promise<RpcCallResult> {
  const xid = o.xid ?? randomInt(0, 0x100000000);
  const retransmitMs = o.retransmitMs ?? RPC_RETRANSMIT_MS_DEFAULT;
  const timeoutMs = o.timeoutMs ?? RPC_TIMEOUT_MS_DEFAULT;
  const req = encodeRpc({ kind: 'request', xid, op: o.op === 'write' ? RPC_OP.write : RPC_OP.read, key: o.key, value: o.op === 'write' ? (o.value ?? 0) : 0 });
  const s = createSocket('udp4');
  const t0 = performance.now();
  let tries = 0;
  let ignored = 0;
  return new Promise<RpcCallResult>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const finish = (r: RpcCallResult) => {
      if (timer !== undefined) clearInterval(timer);
      if (deadline !== undefined) clearTimeout(deadline);
      try {
        s.close();
      } catch {
        // closed already
      }
      resolve(r);
    };
    const send = () => {
      if (tries >= RPC_TRIES_MAX) return;
      tries++;
      s.send(req, o.port, formatIpv4(o.to), () => {});
    };
    s.on('error', (e) => finish({ kind: 'error', message: e.message }));
    s.on('message', (m, r) => {
      const p = parseRpc(m, 'reply');
      if (!p.ok || p.value.xid !== xid) {
        ignored++;
        return;
      }
      finish({ kind: 'reply', reply: p.value, from: `${r.address}:${r.port}`, tries, ms: performance.now() - t0, ignored });
    });
    s.bind(0, () => {
      send();
      timer = setInterval(send, retransmitMs);
      deadline = setTimeout(() => finish({ kind: 'timeout', xid, tries, ms: performance.now() - t0, ignored }), timeoutMs);
    });
  });
}
