/**
 * The link table's contract (slide 29). A link is one flow through the virtual server:
 * (protocol, client address:port, VIP:port) on the public side, mapped to (real server
 * address:port) on the private side. ICMP echo uses the echo identifier as both ports.
 */

import type { Instant } from '../time.ts';
import type { Ipv4Addr } from '../wire/addr.ts';

/** IP protocol numbers the NAT handles (IP_PROTO.tcp/udp/icmp). */
export type NatProto = 6 | 17 | 1;

export const LINK_STATES = ['new', 'active', 'closing'] as const;
/**
 * new: created by the client's first packet, no reply seen yet (may be remapped);
 * active: a reply was seen (never moved again);
 * closing: a FIN or RST was seen (expires after the closing timeout).
 */
export type LinkState = (typeof LINK_STATES)[number];

/** Index of a link in the table (stable while the link lives; reused after it is removed). */
export type LinkId = number & { readonly __brand: 'LinkId' };

export interface ClientKey {
  readonly proto: NatProto;
  readonly clientAddr: Ipv4Addr;
  readonly clientPort: number;
  readonly vip: Ipv4Addr;
  readonly vport: number;
}

export interface ServerKey {
  readonly proto: NatProto;
  readonly serverAddr: Ipv4Addr;
  readonly serverPort: number;
  readonly clientAddr: Ipv4Addr;
  readonly clientPort: number;
}

export interface LinkInfo extends ClientKey {
  readonly id: LinkId;
  readonly serverAddr: Ipv4Addr;
  readonly serverPort: number;
  readonly state: LinkState;
  readonly created: Instant;
  readonly lastSeen: Instant;
  /** Index of the group (in the engine's config) this link belongs to. */
  readonly group: number;
  /** Index of the server within its group. */
  readonly server: number;
  readonly packetsIn: number;
  readonly packetsOut: number;
  /** TCP: FIN seen from the client / from the server. */
  readonly finClient: boolean;
  readonly finServer: boolean;
}
