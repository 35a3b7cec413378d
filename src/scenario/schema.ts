/**
 * The scenario file format, as a TypeBox schema: the schema is JSON Schema (shipped as
 * `schema/scenario.schema.json` for editors), and the same object validates files at load time.
 *
 * Quantities are strings with units (see units.ts). Unknown keys are errors, so a typo is caught
 * at the line where it is, not silently ignored.
 */

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  ADDRESSES_PER_INTERFACE_MAX, CLOCK_RATE_MAX, DNS_NAMES_MAX, DNS_ZONE_RECORDS_MAX, CLOCK_RATE_MIN, HOST_INTERFACES_MAX, ROUTES_MAX, COUNTER_MAX, HEALTH_COUNT_MAX, HTTP_CONCURRENCY_MAX, HTTP_QUEUE_MAX, KEY_ID_MAX, KEYPORTS_MAX, KEYS_MAX, LINK_QUEUE_FRAMES_MAX, LINKS_MAX_LIMIT,
  REPLIES_HELD_MAX, RPC_KEYS_MAX, SERVERS_MAX, SYNC_LOG_MAX, SYNC_RECORDS_MAX, TCP_BACKLOG_MAX_DEFAULT, WEIGHT_MAX, WORKLOAD_USERS_MAX, WRITES_PENDING_MAX,
} from './limits.ts';
import { GROUP_MODELS, RW_ANALYZER_NAMES, REPLIES_HELD_DEFAULT, WRITES_PENDING_DEFAULT } from '../rw/models.ts';
import { BANDWIDTH_PATTERN, DURATION_PATTERN, PERCENT_PATTERN, RATE_PATTERN, SIZE_PATTERN } from './units.ts';

const strict = { additionalProperties: false } as const;

const Duration = Type.String({ pattern: DURATION_PATTERN, description: 'A duration such as 150ms, 2s, 1.5m, 10us' });
const Rate = Type.String({ pattern: RATE_PATTERN, description: 'A rate such as 100/s or 6/m' });
const Size = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: SIZE_PATTERN })], { description: 'Bytes, or a size such as 64KiB, 10MB' });
const Bandwidth = Type.String({ pattern: BANDWIDTH_PATTERN, description: 'Bandwidth such as 100Mbit or 1Gbit' });
const Fraction = Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.String({ pattern: PERCENT_PATTERN })], { description: 'A fraction in [0, 1] or a percentage such as 99.9%' });
const Name = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,62}$', description: 'A name: letters, digits, _ . - (starting with a letter)' });
const IPV4_PATTERN = '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$';
const Ipv4 = Type.String({ pattern: IPV4_PATTERN, description: 'An IPv4 address' });
const PREFIX = '(3[0-2]|[12]?\\d)';
const Cidr = Type.String({ pattern: `^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}(/${PREFIX})?$`, description: 'An IPv4 address, optionally with /prefix (0 to 32)' });
const Endpoint = Type.String({ pattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}(:\\d{1,5})?$', description: 'address[:port]' });

export const LinkSpec = Type.Object(
  {
    latency: Type.Optional(Duration),
    bandwidth: Type.Optional(Bandwidth),
    loss: Type.Optional(Fraction),
    jitter: Type.Optional(Duration),
    queue: Type.Optional(Type.Integer({ minimum: 1, maximum: LINK_QUEUE_FRAMES_MAX, description: 'Drop-tail queue limit in frames' })),
  },
  { ...strict, description: 'Properties of a cable (both directions)' },
);

export const Segment = Type.Object(
  {
    subnet: Type.String({ pattern: `^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}/${PREFIX}$`, description: 'The segment subnet, e.g. 10.0.1.0/24' }),
    link: Type.Optional(LinkSpec),
    snooping: Type.Optional(Type.Boolean({ description: 'IGMP snooping on the segment switch' })),
    querier: Type.Optional(Ipv4),
  },
  { ...strict, description: 'A switched Ethernet segment: one switch, every interface on it cabled to it' },
);

export const Iface = Type.Object(
  {
    segment: Name,
    ip: Type.Union([Cidr, Type.Array(Cidr, { minItems: 1, maxItems: ADDRESSES_PER_INTERFACE_MAX })], { description: 'Address(es); the prefix defaults to the segment subnet' }),
    name: Type.Optional(Type.String({ description: 'Interface name (default eth0, eth1, ...)' })),
    link: Type.Optional(LinkSpec),
  },
  strict,
);

const DnsZoneName = Type.String({ pattern: '^([A-Za-z0-9_-]{1,63}\\.)+$', maxLength: 254, description: 'A DNS zone, absolute (ending in a dot): example.test.' });
const DnsOwner = Type.String({ pattern: '^(@|[A-Za-z0-9_*-]{1,63}(\\.[A-Za-z0-9_-]{1,63})*\\.?)$', maxLength: 254, description: 'An owner name: relative to the zone (www), absolute (www.example.test.), or @ for the apex' });

const ServiceTime = Type.Union([Duration, Type.Object({ exponential: Duration }, strict)], { description: 'Fixed (2ms) or { exponential: 2ms }' });

export const Service = Type.Union([
  Type.Object({ kind: Type.Literal('http'), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), name: Type.Optional(Name), 'service-time': Type.Optional(ServiceTime), concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: HTTP_CONCURRENCY_MAX })), queue: Type.Optional(Type.Integer({ minimum: 0, maximum: HTTP_QUEUE_MAX })), backlog: Type.Optional(Type.Integer({ minimum: 0, maximum: TCP_BACKLOG_MAX_DEFAULT })) }, strict),
  Type.Object({ kind: Type.Literal('bulk'), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), name: Type.Optional(Name) }, strict),
  Type.Object({ kind: Type.Literal('tcp-echo'), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), name: Type.Optional(Name) }, strict),
  Type.Object({ kind: Type.Literal('udp-echo'), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), name: Type.Optional(Name) }, strict),
  Type.Object({
    kind: Type.Literal('rpc'), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), name: Type.Optional(Name), 'service-time': Type.Optional(ServiceTime), group: Type.Optional(Ipv4),
    'fail-writes': Type.Optional(Type.Boolean({ description: 'Answer every write with status error, storing nothing (a server whose writes fail)' })),
    diverge: Type.Optional(Type.Boolean({ description: 'Store and return value + 1 for every write (a server whose results diverge)' })),
    partition: Type.Optional(Type.Object({
      replicas: Type.Integer({ minimum: 1, maximum: SERVERS_MAX, description: 'Servers that answer a read of each key' }),
      'control-key': Type.String({ description: "This server's key in cluster.keys (role { group, server }): it reads the group's members with it" }),
      node: Type.Optional(Type.String({ pattern: IPV4_PATTERN, description: "The SG node's control address (default: the host's gateway)" })),
      refresh: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'How often it asks for the members (default 500ms, 10ms to 60s)' })),
    }, { ...strict, description: 'Partitioned data (ReadFirst, slide 20): a read is answered only by the replicas servers responsible for its key, by their place in the group members; writes are stored and answered by every server' })),
    recover: Type.Optional(Type.Object({
      'control-key': Type.String({ description: "This server's key in cluster.keys (role { group, server })" }),
      node: Type.Optional(Type.String({ pattern: IPV4_PATTERN, description: "The SG node's control address (default: the host's gateway)" })),
      settle: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'How long it waits after setting read-only before it copies, for the writes in progress to end (default 250ms)' })),
    }, { ...strict, description: "Slide 45's recovery on every restart: set the group read-only, copy the store of another member, clear read-only, report itself alive; no answers until done" })),
  }, strict),
  Type.Object({ kind: Type.Literal('multicast-sink'), port: Type.Integer({ minimum: 1, maximum: 65535 }), group: Ipv4, name: Type.Optional(Name) }, strict),
  Type.Object(
    {
      kind: Type.Literal('dns'),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'UDP port (default 53)' })),
      name: Type.Optional(Name),
      zone: DnsZoneName,
      records: Type.Optional(Type.Record(DnsOwner, Type.Union([Ipv4, Type.Array(Ipv4, { minItems: 1 })]), { additionalProperties: false, maxProperties: DNS_ZONE_RECORDS_MAX, description: 'Initial A records: owner name -> address(es)' })),
      'refuse-updates': Type.Optional(Type.Boolean({ description: 'Answer every UPDATE with a failure (REFUSED in the simulator; knotd in the lab answers NOTAUTH)' })),
      group: Type.Optional(Ipv4),
      'service-time': Type.Optional(ServiceTime),
    },
    { ...strict, description: 'An authoritative DNS server of one zone with dynamic update (RFC 2136): the simulator\'s own, knotd in the lab' },
  ),
]);

export const Host = Type.Object(
  {
    ifaces: Type.Array(Iface, { minItems: 1, maxItems: HOST_INTERFACES_MAX }),
    gateway: Type.Optional(Ipv4),
    routes: Type.Optional(Type.Array(Type.Object({ dst: Cidr, via: Type.Optional(Ipv4) }, strict), { maxItems: ROUTES_MAX })),
    router: Type.Optional(Type.Boolean({ description: 'Forward datagrams between interfaces' })),
    mrouter: Type.Optional(Type.Union([
      Type.Boolean(),
      Type.Object({ 'query-interval': Type.Optional(Duration) }, strict),
    ], { description: 'Run the mrouted-like multicast router (implies router); query-interval defaults to 125 s' })),
    services: Type.Optional(Type.Array(Service)),
  },
  strict,
);

export const Request = Type.Union([
  Type.Object({ kind: Type.Literal('http'), size: Size, path: Type.Optional(Type.String()) }, strict),
  Type.Object({ kind: Type.Literal('bulk'), size: Size }, strict),
  Type.Object({
    kind: Type.Literal('rpc'), 'write-ratio': Type.Optional(Fraction), keys: Type.Optional(Type.Integer({ minimum: 1, maximum: RPC_KEYS_MAX })),
    retry: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'Resend the same request (same xid) this often until a reply or the timeout, as NFS over UDP (default: never; at least 1ms)' })),
    'record-values': Type.Optional(Type.Boolean({ description: 'Write values unique across the run and trace each request\'s rw, key and value (on by itself for the workloads of a consistent: expectation)' })),
  }, strict),
  Type.Object({ kind: Type.Literal('ping'), size: Type.Optional(Size) }, strict),
  Type.Object({ kind: Type.Literal('udp-echo'), size: Size }, strict),
  Type.Object({ kind: Type.Literal('tcp-echo'), size: Size, hold: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'Keep the connection open and idle this long after the echo came back, then close it (long-lived links)' })) }, strict),
  Type.Object({ kind: Type.Literal('multicast'), size: Size }, strict),
  Type.Object(
    {
      kind: Type.Literal('dns'),
      zone: DnsZoneName,
      names: Type.Optional(Type.Integer({ minimum: 1, maximum: DNS_NAMES_MAX, description: 'Names n0 .. n<names-1> under the zone (default 10)' })),
      'update-ratio': Type.Optional(Fraction),
      retry: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'Resend an unanswered request, same ID, this often (default: never)' })),
    },
    { ...strict, description: 'DNS queries (A) and dynamic updates (replace a name\'s A record) of names under zone' },
  ),
]);

export const Workload = Type.Object(
  {
    name: Name,
    from: Name,
    to: Endpoint,
    request: Request,
    rate: Type.Optional(Rate),
    users: Type.Optional(Type.Integer({ minimum: 1, maximum: WORKLOAD_USERS_MAX, description: 'Closed loop: users each waiting for an answer, then thinking' })),
    think: Type.Optional(ServiceTime),
    start: Type.Optional(Duration),
    stop: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
  },
  { ...strict, description: 'A client workload: open loop with `rate`, or closed loop with `users`' },
);

export const Fault = Type.Union([
  Type.Object({ at: Duration, crash: Name }, strict),
  Type.Object({ at: Duration, signal: Type.String({ description: 'an SG node: SIGHUP/SIGINT, a graceful step-down that tells the others at once' }) }, strict),
  Type.Object({ at: Duration, 'watched-down': Type.String({ description: 'an SG node: its watched service process dies (slide 6); a master steps down' }) }, strict),
  Type.Object({ at: Duration, 'watched-up': Type.String({ description: 'an SG node: its watched process runs again; the node may bid again' }) }, strict),
  Type.Object({ at: Duration, restart: Name }, strict),
  Type.Object({ at: Duration, kill: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]*/.+$', description: 'host/service' }) }, strict),
  Type.Object({ at: Duration, hang: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]*/.+$', description: 'host/service' }) }, strict),
  Type.Object({ at: Duration, start: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]*/.+$', description: 'host/service' }) }, strict),
  Type.Object({ at: Duration, 'link-down': Type.String() }, strict),
  Type.Object({ at: Duration, 'link-up': Type.String() }, strict),
  Type.Object({ at: Duration, partition: Type.Array(Type.Array(Name, { minItems: 1 }), { minItems: 2 }) }, strict),
  Type.Object({ at: Duration, heal: Type.Literal(true) }, strict),
  Type.Object({ at: Duration, loss: Type.Object({ link: Type.String(), p: Fraction, for: Duration }, strict) }, strict),
  Type.Object({ at: Duration, delay: Type.Object({ link: Type.String(), extra: Duration, for: Duration }, strict) }, strict),
  Type.Object({ at: Duration, clock: Type.Object({ host: Name, rate: Type.Optional(Type.Number({ minimum: CLOCK_RATE_MIN, maximum: CLOCK_RATE_MAX })), stall: Type.Optional(Duration) }, strict) }, strict),
  Type.Object({ at: Duration, 'server-state': Type.Object({ group: Name, server: Name, state: Type.Union([Type.Literal('alive'), Type.Literal('pending'), Type.Literal('dead')]) }, strict) }, strict),
  Type.Object({ at: Duration, counter: Type.Object({ group: Name, server: Name, value: Type.Number({ minimum: 0, maximum: COUNTER_MAX }) }, strict) }, strict),
]);

/** Which trace events an expectation looks at: `kind` plus fields that must be equal. */
export const Match = Type.Object(
  { kind: Type.String({ description: 'Trace event kind: request, state, fault, frame, drop, decision, metric, log' }) },
  { additionalProperties: Type.Union([Type.String(), Type.Number(), Type.Boolean()]), description: 'An event filter: kind plus field: value pairs' },
);

const Window = Type.Tuple([Duration, Duration], { description: '[from, to): requests started in this window' });

export const Expectation = Type.Union([
  Type.Object({ success: Type.Object({ workload: Name, between: Type.Optional(Window), min: Fraction }, strict) }, strict),
  Type.Object({ latency: Type.Object({ workload: Name, p: Type.Number({ minimum: 0, maximum: 100 }), max: Duration, between: Type.Optional(Window) }, strict) }, strict),
  Type.Object({ count: Type.Object({ match: Match, between: Type.Optional(Window), min: Type.Optional(Type.Integer({ minimum: 0 })), max: Type.Optional(Type.Integer({ minimum: 0 })) }, strict) }, strict),
  Type.Object({ value: Type.Object({ metric: Type.String(), at: Duration, min: Type.Optional(Type.Number()), max: Type.Optional(Type.Number()) }, strict) }, strict),
  Type.Object({ never: Match }, strict),
  Type.Object({ share: Type.Object({ group: Name, server: Name, between: Type.Optional(Window), min: Type.Optional(Fraction), max: Type.Optional(Fraction) }, strict) }, { ...strict, description: 'The fraction of a group\'s new links that went to one server' }),
  Type.Object({ within: Type.Object({ after: Match, then: Match, within: Duration }, strict) }, strict),
  Type.Object({ consistent: Type.Object({ workloads: Type.Array(Name, { minItems: 1, uniqueItems: true, description: 'rpc workloads whose requests form one history' }) }, strict) }, { ...strict, description: 'Per key, no read returns a value older than a write acknowledged before the read started' }),
]);

const ServerState = Type.Union([Type.Literal('alive'), Type.Literal('pending'), Type.Literal('dead')]);

export const ClusterNode = Type.Object(
  {
    public: Type.Object({ segment: Name, ip: Ipv4 }, strict),
    private: Type.Object({ segment: Name, ip: Ipv4 }, strict),
    gateway: Type.Optional(Ipv4),
    price: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'Bid price for failover: the higher wins (ties: the later node)' })),
    watch: Type.Optional(Type.Object({
      process: Type.Optional(Type.String({ description: 'A process whose /proc/PID/comm or argv[0] basename is this name' })),
      pidfile: Type.Optional(Type.String({ description: 'An absolute path: the process whose pid is written in this file' })),
      interval: Type.Optional(Duration),
    }, { ...strict, description: "Real mode only (sg daemon, slide 6): the service process the daemon watches in /proc; exactly one of process: or pidfile:, polled every interval (default 150ms). Its death is watched-down, its return watched-up; the simulator has no process table and models them with the watched-down / watched-up faults" })),
  },
  { ...strict, description: 'An SG node: public interface (holds the VIPs) and private interface (the servers\' gateway)' },
);

export const GroupHealth = Type.Object(
  {
    keyports: Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }), { minItems: 1, maxItems: KEYPORTS_MAX, uniqueItems: true, description: 'Ports that matter; 0 is ICMP echo (slide 36)' }),
    'udp-keyports': Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { maxItems: KEYPORTS_MAX, uniqueItems: true, description: 'Keyports that are UDP services: port tests send them a datagram (reply alive, ICMP port unreachable dead, silence asks the host with a SYN to a closed TCP port, slide 38); the others are probed with a TCP SYN' })),
    snoop: Type.Optional(Type.Object({ P: Type.Integer({ minimum: 0, maximum: HEALTH_COUNT_MAX }), T: Duration }, strict)),
    porttest: Type.Optional(Type.Object({ interval: Duration, jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 0.5 })), timeout: Duration, E: Type.Integer({ minimum: 0, maximum: HEALTH_COUNT_MAX }) }, strict)),
    heartbeat: Type.Optional(Type.Object({ H: Duration }, strict)),
    mcast: Type.Optional(Type.Object({ M: Type.Integer({ minimum: 0, maximum: HEALTH_COUNT_MAX }) }, strict)),
    rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    'slow-start': Type.Optional(Duration),
    panic: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Use every server when more than this fraction is Dead' })),
  },
  { ...strict, description: 'Health detection (slides 33-45): thresholds P, T, E, H, M' },
);

const AffinityScope = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,62}$', description: "Groups naming the same scope share keep-same-server: a client's link in any of them pins its new links in all (e.g. portmapper 111 and RPC 2345)" });

export const ClusterGroup = Type.Object(
  {
    health: Type.Optional(GroupHealth),
    name: Name,
    vip: Ipv4,
    port: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Literal('all')], { description: 'The VIP port (0 for ICMP echo), or all (whole server)' }),
    policy: Type.Optional(Type.Union([Type.Literal('round-robin'), Type.Literal('connections'), Type.Literal('packets'), Type.Literal('counter')])),
    weighted: Type.Optional(Type.Boolean()),
    'keep-same-server': Type.Optional(Type.Union([
      Type.Object({ mode: Type.Literal('off') }, strict),
      Type.Object({ mode: Type.Literal('client'), timeout: Duration, scope: Type.Optional(AffinityScope) }, strict),
      Type.Object({ mode: Type.Literal('subnet'), prefix: Type.Integer({ minimum: 0, maximum: 32 }), timeout: Duration, scope: Type.Optional(AffinityScope) }, strict),
    ])),
    'load-window': Type.Optional(Duration),
    'load-from-totals': Type.Optional(Type.Boolean({ description: 'Balance on totals, not recent change (shows the bombing problem of slide 30)' })),
    servers: Type.Array(Type.Object({ host: Name, port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), weight: Type.Optional(Type.Integer({ minimum: 0, maximum: WEIGHT_MAX })), state: Type.Optional(ServerState) }, strict), { minItems: 1, maxItems: SERVERS_MAX }),
    model: Type.Optional(Type.Union(GROUP_MODELS.map((m) => Type.Literal(m)), { description: 'Read/write model (slide 13): read-any (default: every link to one server), read-one-write-all or read-first-write-all (a UDP request/reply service: writes go to every server and are voted on).' })),
    analyzer: Type.Optional(Type.String({ minLength: 1, description: `A write model's packet analyzer (slide 25): ${RW_ANALYZER_NAMES.join(', ')}, or a module path ending in .ts, .js or .mjs, relative to the scenario file` })),
    'write-fanout': Type.Optional(Type.Union([Type.Literal('multicast'), Type.Literal('unicast')], { description: 'How a write reaches every server: multicast (default) to write-group, or a unicast copy to each' })),
    'write-group': Type.Optional(Type.String({ pattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$', description: 'The multicast address writes are sent to on the private segment (the servers join it); 224.0.1.0 to 239.255.255.255' })),
    'writes-pending': Type.Optional(Type.Integer({ minimum: 1, maximum: WRITES_PENDING_MAX, description: `Writes collected at once (default ${WRITES_PENDING_DEFAULT}); one more is dropped and counted` })),
    'write-timeout': Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'How long a write waits for each server\'s reply (default 200ms, 1ms to 60s); a server later than that counts as a write mismatch' })),
    'replies-held': Type.Optional(Type.Integer({ minimum: 1, maximum: REPLIES_HELD_MAX, description: `Replies held for votes in progress, all writes together (default ${REPLIES_HELD_DEFAULT}); one more is dropped and counted` })),
  },
  strict,
);

const Hex = Type.String({ pattern: '^([0-9a-fA-F]{2}){16,64}$', description: 'A secret as hex, 16 to 64 bytes' });

export const ClusterKey = Type.Object(
  {
    name: Name,
    id: Type.Integer({ minimum: 0, maximum: KEY_ID_MAX }),
    secret: Hex,
    role: Type.Union([Type.Literal('admin'), Type.Object({ group: Name, server: Name }, strict)]),
  },
  { ...strict, description: 'A feedback-protocol key: admin, or one server\'s own key' },
);

export const Cluster = Type.Object(
  {
    keys: Type.Optional(Type.Array(ClusterKey, { maxItems: KEYS_MAX })),
    multicast: Type.Optional(Type.Array(Ipv4, { description: 'Multicast write addresses of the virtual server (slide 21): the master joins them on its public interface (IGMP) and relays their datagrams to the private segment' })),
    failover: Type.Optional(Type.Object({
      group: Ipv4,
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
      heartbeat: Duration,
      'master-timeout': Duration,
      'bid-timeout': Duration,
      'hold-down': Type.Optional(Duration),
      'stall-bound': Type.Optional(Duration),
      key: Hex,
      'private-vip': Type.Optional(Ipv4),
      'node-id': Type.Optional(Type.Union([Type.Literal('index'), Type.Literal('mac')], { description: 'How a node tells itself apart in bidd/sync (slides 6-7): index (default, its position under nodes:) or mac (the low 32 bits of its private interface MAC), which lets every node have the same configuration, the same initial addresses included' })),
      'igmp-refresh': Type.Optional(Type.Boolean({ description: 'A new master reports its multicast memberships at once (default true); false waits for the next query, the slide-22 stall' })),
      scripts: Type.Optional(Type.Object({
        start: Type.Optional(Type.String({ minLength: 1 })),
        stop: Type.Optional(Type.String({ minLength: 1 })),
        continue: Type.Optional(Type.String({ minLength: 1 })),
        timeout: Type.Optional(Duration),
      }, { ...strict, description: 'Commands run on becoming master (start), leaving it (stop) and re-announcing after a split (continue); real mode runs them with SG_* environment variables, the simulator traces them' })),
      sync: Type.Optional(Type.Union([
        Type.Boolean(),
        Type.Object({
          flush: Type.Optional(Duration),
          retransmit: Type.Optional(Duration),
          'log-max': Type.Optional(Type.Integer({ minimum: SYNC_RECORDS_MAX, maximum: SYNC_LOG_MAX })),
        }, strict),
      ], { description: 'Stateful failover (slides 10-11): the master streams link-table and server-state changes to the slaves (default on; false turns it off)' })),
    }, { ...strict, description: 'Symmetric failover (bidd): the nodes elect a master over a multicast group' })),
    'control-port': Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    nodes: Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' }), ClusterNode, { additionalProperties: false }),
    groups: Type.Array(ClusterGroup, { minItems: 1 }),
    'links-max': Type.Optional(Type.Integer({ minimum: 1, maximum: LINKS_MAX_LIMIT })),
    idle: Type.Optional(Type.Object({ tcp: Type.Optional(Duration), udp: Type.Optional(Duration), icmp: Type.Optional(Duration), closing: Type.Optional(Duration), unanswered: Type.Optional(Duration) }, strict)),
  },
  { ...strict, description: 'The server group: SG nodes, VIP groups, balancing' },
);

export const ControlMessage = Type.Union([
  Type.Object(
    {
      at: Duration,
      from: Name,
      node: Ipv4,
      key: Type.Union([Name, Type.Object({ id: Type.Integer({ minimum: 0, maximum: KEY_ID_MAX }), secret: Hex }, strict)], { description: 'A key name from cluster.keys, or an explicit (e.g. forged) key' }),
      op: Type.Union([Type.Literal('get'), Type.Literal('set'), Type.Literal('add'), Type.Literal('delete'), Type.Literal('list')]),
      class: Type.Union([Type.Literal('cluster'), Type.Literal('group'), Type.Literal('server')]),
      target: Type.Optional(Type.String({ description: 'group, or group/server' })),
      property: Type.Optional(Type.String()),
      value: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
      every: Type.Optional(Duration),
      until: Type.Optional(Duration),
      'skew': Type.Optional(Duration),
    },
    { ...strict, description: 'A feedback-protocol command sent from a host (every: repeats it until until:)' },
  ),
  Type.Object({ at: Duration, from: Name, replay: Type.Integer({ minimum: 0, description: 'Resend the bytes of control[n] (its first sending) unchanged' }) }, strict),
]);

export const Scenario = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String()),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
    duration: Duration,
    real: Type.Optional(Type.Boolean({ description: 'Also run this scenario in the namespace lab' })),
    topology: Type.Object(
      {
        // additionalProperties: false makes a key that is not a valid name an error, not a pass.
        segments: Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' }), Segment, { additionalProperties: false }),
        hosts: Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' }), Host, { additionalProperties: false }),
      },
      strict,
    ),
    cluster: Type.Optional(Cluster),
    workload: Type.Optional(Type.Array(Workload)),
    faults: Type.Optional(Type.Array(Fault)),
    control: Type.Optional(Type.Array(ControlMessage)),
    expect: Type.Optional(Type.Array(Expectation)),
  },
  { ...strict, $id: 'https://sg-cluster.invalid/scenario.schema.json', title: 'SG Cluster scenario', description: 'One YAML file: topology, services, workload, faults and expectations' },
);

export type ScenarioDoc = Static<typeof Scenario>;
export type HostDoc = Static<typeof Host>;
export type SegmentDoc = Static<typeof Segment>;
export type LinkDoc = Static<typeof LinkSpec>;
export type ServiceDoc = Static<typeof Service>;
export type WorkloadDoc = Static<typeof Workload>;
export type FaultDoc = Static<typeof Fault>;
export type ExpectationDoc = Static<typeof Expectation>;
export type MatchDoc = Static<typeof Match>;
export type ClusterDoc = Static<typeof Cluster>;
export type ControlDoc = Static<typeof ControlMessage>;

/** The JSON Schema document shipped for editors (draft 2020-12 compatible). */
export function scenarioJsonSchema(): TSchema & Record<string, unknown> {
  return JSON.parse(JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...Scenario })) as TSchema & Record<string, unknown>;
}
