/** An SG node's configuration: its interfaces and addresses, the VIP groups, and the limits. */

import type { IfaceName } from '../port.ts';
import type { Duration } from '../time.ts';
import type { Ipv4Addr, MacAddr } from '../wire/addr.ts';
import type { GroupConfig } from '../balance/types.ts';
import type { CtlKey } from '../ctl/types.ts';
import type { HealthConfig } from '../health/types.ts';

export interface SgIfaceConfig {
  readonly name: IfaceName;
  readonly mac: MacAddr;
  /** The node's own address on this interface. */
  readonly addr: Ipv4Addr;
  readonly prefixLen: number;
}

export interface IdleTimeouts {
  /** TCP link with traffic both ways. */
  readonly tcp: Duration;
  /** TCP link after a FIN or RST. */
  readonly tcpClosing: Duration;
  /** A link that never saw a reply (a SYN to a dead server, a UDP probe). */
  readonly unanswered: Duration;
  readonly udp: Duration;
  readonly icmp: Duration;
}

export const IDLE_DEFAULTS: IdleTimeouts = {
  tcp: 900_000_000 as Duration, // 15 min, as IPVS
  tcpClosing: 10_000_000 as Duration,
  unanswered: 10_000_000 as Duration,
  udp: 30_000_000 as Duration,
  icmp: 10_000_000 as Duration,
};

export interface SgNodeConfig {
  readonly name: string;
  /** Faces the clients; holds the VIPs. */
  readonly public: SgIfaceConfig;
  /** Faces the real servers; its address is their default gateway. */
  readonly private: SgIfaceConfig;
  /** Next hop for clients not on the public subnet. */
  readonly gateway?: Ipv4Addr;
  readonly groups: readonly GroupConfig[];
  /** Links the table holds at most; a new link beyond it is dropped and counted. */
  readonly linksMax: number;
  readonly idle: IdleTimeouts;
  /** Gratuitous ARPs for each VIP when the node starts serving (spaced by garpInterval). */
  readonly garpCount: number;
  readonly garpInterval: Duration;
  /** Health monitoring per group (index as `groups`); undefined: the group's states change only by admin. */
  readonly health?: readonly (HealthConfig | undefined)[];
  /** The node's generator: its random streams (port-test jitter, IGMP delays, hash seed) are named splits of it (`streams.ts`). */
  readonly seed?: number;
  /**
   * Symmetric failover (bidd, slides 6-11): nodes with the same configuration elect a master by
   * bidding over a multicast group; only the master owns the VIPs and the servers' gateway
   * address (`privateVip`), announcing them with gratuitous ARPs when it takes over.
   */
  readonly failover?: {
    readonly group: Ipv4Addr;
    readonly port: number;
    readonly node: number;
    readonly price: number;
    readonly heartbeatInterval: Duration;
    readonly masterTimeout: Duration;
    readonly bidTimeout: Duration;
    readonly holdDown: Duration;
    readonly stallBound: Duration;
    readonly key: { readonly id: number; readonly secret: Uint8Array };
    /** The real servers' gateway, owned by the master (slide 6: one private address for all nodes). */
    readonly privateVip?: Ipv4Addr;
    /**
     * Stateful failover (slides 10-11): stream link-table and server-state changes to the slaves
     * on UDP `port + 1` of the group (`src/failover/sync.ts`); undefined turns it off.
     */
    readonly sync?: { readonly flushDelay: Duration; readonly retransmit: Duration; readonly logMax: number };
    /** Commands run on transitions (slide 9); real mode runs them (`src/real/scripts.ts`), the simulator traces them. */
    readonly scripts?: FailoverScripts;
    /** A new master reports its multicast memberships at once (default true); false waits for a query (slide 22's stall). */
    readonly igmpRefresh?: boolean;
  };
  /**
   * Multicast write addresses of the virtual server (slide 21): the serving node joins them on
   * its public interface with IGMP and relays their UDP datagrams to the private segment.
   */
  readonly multicast?: readonly Ipv4Addr[];
  /** SGctrld: the feedback protocol on UDP `port` of the node's addresses, with these keys. */
  readonly ctl?: { readonly port: number; readonly keys: readonly CtlKey[] };
}

export const SG_DEFAULTS = {
  linksMax: 1_000_000,
  idle: IDLE_DEFAULTS,
  garpCount: 3,
  garpInterval: 1_000_000 as Duration,
} as const;

/** The start/stop/continue commands of slide 9 and how long each may run. */
export interface FailoverScripts {
  readonly start?: string;
  readonly stop?: string;
  readonly continue?: string;
  readonly timeout: Duration;
}

/** One script to run, handed to the caller's `onScript` (exactly once per transition, in order). */
export interface ScriptCall {
  readonly which: 'start' | 'stop' | 'continue';
  /** The command configured for it, if any. */
  readonly command: string | undefined;
  readonly timeout: Duration;
  /** The environment the command gets: SG_SCRIPT, SG_STATE, SG_NODE, SG_NAME, SG_GROUP, SG_EPOCH, SG_VIPS, SG_PRIVATE_VIP. */
  readonly env: Readonly<Record<string, string>>;
}
