/**
 * Health monitoring's contract (slides 33-45). Detectors watch each real server and emit fault
 * and recovery events; a fault at 1x its threshold makes the server Pending, at 2x Dead; a
 * recovery makes it Alive; the latest event decides (slide 35).
 */

import type { Duration, Instant } from '../time.ts';
import type { ServerState } from '../balance/types.ts';

export const DETECTORS = ['snoop', 'porttest', 'heartbeat', 'mcast', 'admin'] as const;
export type Detector = (typeof DETECTORS)[number];

export interface HealthConfig {
  /** Ports that matter for the server's availability; 0 is ICMP echo (slide 36). */
  readonly keyports: readonly number[];
  /**
   * Keyports that are UDP services: the port test probes them with a UDP datagram (and resolves
   * UDP silence with a 'tcp-closed' probe, slide 38). Every other nonzero keyport is probed as TCP.
   * Optional; absent means none.
   */
  readonly udpKeyports?: readonly number[];
  /** Packet snoop: a keyport is dead when > P packets went unanswered for > T (slide 36). */
  readonly snoop?: { readonly P: number; readonly T: Duration };
  /**
   * Port test: probe every keyport each `interval` (± jitter fraction), a probe unanswered after
   * `timeout` is a timeout; E consecutive failed tests make the server Pending, 2E Dead (slide 40).
   */
  readonly porttest?: { readonly interval: Duration; readonly jitter: number; readonly timeout: Duration; readonly E: number };
  /** Heartbeats through the feedback protocol: none for H makes Pending, 2H Dead (slide 42). */
  readonly heartbeat?: { readonly H: Duration };
  /** Multicast write-result mismatches: M make Pending, 2M Dead (slide 43). */
  readonly mcast?: { readonly M: number };
  /** Hysteresis: consecutive good results needed to recover (rise) and bad ones to fail (fall). */
  readonly rise: number;
  /** A recovered or new server's share ramps up over this long (0: no slow start). */
  readonly slowStart: Duration;
  /** When more than this fraction of the group is Dead, treat all as candidates (off: undefined). */
  readonly panicThreshold?: number;
}

/** What a port-test probe found (slide 38's table). */
export type ProbeOutcome =
  | 'alive' // SYN-ACK, a UDP reply, an echo reply; or (UDP silent) RST from a closed port: host up
  | 'refused' // TCP RST to the probe: the port is closed, the service is dead
  | 'unreachable' // ICMP port unreachable to a UDP probe: the service is dead
  | 'timeout'; // nothing: host or service down (UDP silence alone is ambiguous, see the monitor)

export interface ProbeRequest {
  readonly id: number;
  readonly server: number;
  /** 'tcp' SYN, 'udp' datagram, 'icmp' echo, or 'tcp-closed': a SYN to a port expected closed (UDP disambiguation). */
  readonly kind: 'tcp' | 'udp' | 'icmp' | 'tcp-closed';
  readonly port: number;
}

export interface HealthEvent {
  readonly t: Instant;
  readonly server: number;
  readonly detector: Detector;
  readonly kind: 'fault' | 'recovery';
  /** 1: the threshold was crossed once (Pending); 2: twice (Dead). */
  readonly level?: 1 | 2;
  readonly detail: string;
}

export interface StateChange {
  readonly t: Instant;
  readonly server: number;
  readonly from: ServerState;
  readonly to: ServerState;
  readonly event: HealthEvent;
}
