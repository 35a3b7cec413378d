/**
 * The seam between a simulated host's IP layer (sim/host/host.ts) and its TCP (sim/host/tcp.ts).
 * Types only: the host implements `TcpEnv`, TCP implements `TcpStack`.
 */

import type { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import type { Ipv4Addr } from '../../src/wire/addr.ts';
import type { TcpSegment } from '../../src/wire/tcp.ts';

/** What TCP needs from its host. */
export interface TcpEnv {
  now(): Instant;
  /** Run `fn` after `d`; returns a cancel function. */
  timer(d: Duration, fn: () => void): () => void;
  /** Hand a segment to IP for `dst` (the host picks the route and builds the datagram). */
  output(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void;
  /** Largest IP packet on the route to `dst` (the interface MTU), for the MSS. */
  mtuTo(dst: Ipv4Addr): number;
  /** Initial sequence numbers and any other randomness. */
  readonly rng: Rng;
  /** Trace a connection state change (CLOSED -> SYN_SENT ...). */
  onState?(conn: TcpConnInfo, from: TcpStateName, to: TcpStateName): void;
}

export const TCP_STATES = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2',
  'CLOSE_WAIT', 'CLOSING', 'LAST_ACK', 'TIME_WAIT',
] as const;
export type TcpStateName = (typeof TCP_STATES)[number];

export interface TcpConnInfo {
  readonly localAddr: Ipv4Addr;
  readonly localPort: number;
  readonly remoteAddr: Ipv4Addr;
  readonly remotePort: number;
}
