/**
 * The largest (and smallest) value of every numeric field of the scenario format, in one list.
 * Each is the limit the engine or simulator itself asserts, exported from where that limit is
 * defined, so the schema (schema.ts), the loader (load.ts) and the engine share one number: a
 * file beyond a limit is a load error at its line (exit 2), never an assertion in the run.
 *
 * Quantities with units (durations, rates, sizes, bandwidth) are checked by the loader in base
 * units; integers by the schema (`minimum`/`maximum`, also shipped to editors).
 */

import { MICROS_PER_S } from '../time.ts';

export { DURATION_MAX_US } from '../time.ts';
export { LINKS_MAX_LIMIT } from '../nat/linktable.ts';
export { WEIGHT_MAX, SERVERS_MAX } from '../balance/balancer.ts';
export { HEALTH_COUNT_MAX, KEYPORTS_MAX } from '../health/monitor.ts';
export { KEYS_MAX, KEY_ID_MAX } from '../ctl/ctld.ts';
export { COUNTER_MAX } from '../ctl/properties.ts';
export { SYNC_LOG_MAX } from '../failover/sync.ts';
export { SYNC_RECORDS_MAX } from '../wire/sync.ts';
export { LINK_BANDWIDTH_MAX_BPS, LINK_DELAY_MAX_US, LINK_JITTER_MAX_US, LINK_QUEUE_FRAMES_MAX } from '../../sim/net/link.ts';
export { HTTP_BODY_MAX, HTTP_CONCURRENCY_MAX, HTTP_QUEUE_MAX, RPC_KEYS_MAX, RPC_REFRESH_MAX_US, RPC_REFRESH_MIN_US } from '../../sim/services.ts';
export { RPC_RETRY_MIN_US, TCP_ECHO_SIZE_MAX, WORKLOAD_RATE_MAX_PER_S, WORKLOAD_RATE_MIN_PER_S, WORKLOAD_USERS_MAX } from '../../sim/workload.ts';
export { DNS_ZONE_RECORDS_MAX } from '../../sim/dns.ts';
export { DNS_NAMES_MAX } from '../../sim/dns-client.ts';
export { TCP_BACKLOG_MAX_DEFAULT } from '../../sim/host/tcp.ts';
export { UDP_PAYLOAD_MAX } from '../../sim/host/udp.ts';
export { ADDRESSES_PER_INTERFACE_MAX, CLOCK_RATE_MAX, CLOCK_RATE_MIN, HOST_INTERFACES_MAX, PING_SIZE_MAX } from '../../sim/host/host.ts';
export { ROUTES_MAX } from '../../sim/host/route.ts';
export { SWITCH_PORTS_MAX } from '../../sim/net/switch.ts';
export { REPLIES_HELD_MAX, WRITE_TIMEOUT_MAX_US, WRITE_TIMEOUT_MIN_US, WRITES_PENDING_MAX } from '../rw/models.ts';

/**
 * Longest scenario (`duration:`, and `sg run --until`): 24 hours of simulated time. The run is
 * also bounded by its event budget (SCENARIO_EVENTS_MAX in sim/scenario.ts).
 */
export const SCENARIO_DURATION_MAX_US = 24 * 3600 * MICROS_PER_S;
