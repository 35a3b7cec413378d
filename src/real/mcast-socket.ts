/**
 * A real Node UDP socket (`node:dgram`) as the `McastSocket` of the service support routines
 * (src/rw/support.ts), so a service in a lab namespace sends replies that carry the SG
 * write-status IP option on the wire.
 *
 * Node has no API for IP_OPTIONS, so the option is set with `setsockopt(fd, IPPROTO_IP,
 * IP_OPTIONS, buf, len)` through koffi (src/real/libc.ts), on the socket's own descriptor;
 * clearing is the same call with length 0. The descriptor (Linux, Node 20): a dgram Socket keeps
 * its state under the module-private symbol `kStateSymbol` (its description is 'state symbol',
 * lib/internal/dgram.js); the state's `handle` is the libuv UDP wrap, whose `fd` getter is
 * uv_fileno's answer: the descriptor once the socket is bound, -1 before. (`socket._handle.fd`
 * reaches the same wrap but is deprecated, DEP0112, and warns.) `dgramFd` finds it or says it
 * cannot, so a Node whose internals moved fails loudly instead of sending replies without status.
 *
 * The membership and the multicast TTL go through dgram's own `addMembership` and
 * `setMulticastTTL` (IP_ADD_MEMBERSHIP, IP_MULTICAST_TTL). A send completes in dgram's callback,
 * after the kernel took the datagram: only then may the option be cleared (Node sends on a later
 * tick than `send` is called), which `McastSupport.reply` waits for.
 */

import type { Socket } from 'node:dgram';
import { formatIpv4, type Ipv4Addr } from '../wire/addr.ts';
import { encodeIpv4Options, type Ipv4Option } from '../wire/ipv4.ts';
import type { McastPeer, McastSocket } from '../rw/support.ts';
import { libcCore } from './libc.ts';

/** <netinet/in.h> on Linux. */
export const IPPROTO_IP = 0;
export const IP_OPTIONS = 4;

/** The descriptor of a bound dgram socket, or why it cannot be had. */
export function dgramFd(sock: Socket): { readonly ok: true; readonly fd: number } | { readonly ok: false; readonly error: string } {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  if (sym === undefined) return { ok: false, error: `this Node (${process.version}) keeps no 'state symbol' on a dgram socket: cannot reach its descriptor` };
  const state = (sock as unknown as Record<symbol, { handle?: { fd?: unknown } | null } | undefined>)[sym];
  const fd = state?.handle?.fd;
  if (typeof fd !== 'number') return { ok: false, error: `this Node (${process.version}) has no fd on a dgram socket's handle (closed?)` };
  if (fd < 0) return { ok: false, error: 'the socket has no descriptor yet (not bound)' };
  return { ok: true, fd };
}

/** setsockopt(fd, IPPROTO_IP, IP_OPTIONS, bytes, bytes.length): undefined, or the errno's text. */
export function setIpOptionsFd(fd: number, bytes: Uint8Array): string | undefined {
  const c = libcCore();
  const r = bytes.length === 0 ? c.setsockopt(fd, IPPROTO_IP, IP_OPTIONS, null as unknown as Uint8Array, 0) : c.setsockopt(fd, IPPROTO_IP, IP_OPTIONS, bytes, bytes.length);
  if (r === 0) return undefined;
  const e = c.errno();
  return `setsockopt(IP_OPTIONS, ${bytes.length} bytes): ${c.strerror(e)} (errno ${e})`;
}

/**
 * `sock` (bound) as a McastSocket; groups are joined on the interface whose address is
 * `ifaceAddr` (default: the kernel's choice, by the route to the group).
 */
export function realMcastSocket(sock: Socket, ifaceAddr?: Ipv4Addr): McastSocket {
  return {
    joinGroup(group: Ipv4Addr): string | undefined {
      try {
        if (ifaceAddr === undefined) sock.addMembership(formatIpv4(group));
        else sock.addMembership(formatIpv4(group), formatIpv4(ifaceAddr));
        return undefined;
      } catch (e) {
        return `cannot join ${formatIpv4(group)}${ifaceAddr === undefined ? '' : ` on ${formatIpv4(ifaceAddr)}`}: ${(e as Error).message}`;
      }
    },
    setMulticastTtl(ttl: number): string | undefined {
      try {
        sock.setMulticastTTL(ttl);
        return undefined;
      } catch (e) {
        return `cannot set the multicast TTL to ${ttl}: ${(e as Error).message}`;
      }
    },
    setIpOptions(options: readonly Ipv4Option[]): string | undefined {
      const fd = dgramFd(sock);
      if (!fd.ok) return fd.error;
      return setIpOptionsFd(fd.fd, encodeIpv4Options(options));
    },
    send(payload: Uint8Array, to: McastPeer, sent: (error: string | undefined) => void): void {
      try {
        sock.send(payload, to.port, formatIpv4(to.addr), (err) => sent(err === null || err === undefined ? undefined : err.message));
      } catch (e) {
        sent((e as Error).message); // closed socket: dgram throws ERR_SOCKET_DGRAM_NOT_RUNNING
      }
    },
  };
}
