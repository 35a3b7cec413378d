/**
 * The simulator's UDP socket (sim/host/udp.ts) as the `McastSocket` of the service support
 * routines (src/rw/support.ts): a join on the socket's multicast interface, the socket-level IP
 * options, and a send that has completed when `sendTo` returns (a datagram waiting for ARP has
 * left the socket with its options already taken).
 */

import type { Ipv4Addr } from '../src/wire/addr.ts';
import type { Ipv4Option } from '../src/wire/ipv4.ts';
import type { McastPeer, McastSocket } from '../src/rw/support.ts';
import type { UdpSocket } from './host/udp.ts';

/** A failed simulated setsockopt's text (the socket's thrown EINVAL, say). */
function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function simMcastSocket(sock: UdpSocket): McastSocket {
  return {
    joinGroup(group: Ipv4Addr): string | undefined {
      if (sock.closed) return 'EBADF: socket closed';
      try {
        sock.joinGroup(group);
        return undefined;
      } catch (e) {
        return why(e);
      }
    },
    setMulticastTtl(ttl: number): string | undefined {
      try {
        sock.setMulticastTtl(ttl);
        return undefined;
      } catch (e) {
        return why(e);
      }
    },
    setIpOptions(options: readonly Ipv4Option[]): string | undefined {
      try {
        sock.setIpOptions(options);
        return undefined;
      } catch (e) {
        return why(e);
      }
    },
    send(payload: Uint8Array, to: McastPeer, sent: (error: string | undefined) => void): void {
      const r = sock.sendTo(to.addr, to.port, payload);
      sent(r === 'sent' || r === 'queued' ? undefined : r);
    },
  };
}
