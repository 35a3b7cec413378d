/**
 * A scenario's `dns` service as Knot DNS (`knotd`, Debian's package knot) in the lab: the
 * configuration file and the zone file written from the service's options, each knotd with its
 * own directory under the lab's state directory (rundir, storage, journal, control socket).
 *
 * - The zone has the simulator's SOA (`ns.<zone> hostmaster.<zone>`, serial 1, the timers of
 *   sim/dns.ts), an NS `ns.<zone>` and the service's A records, TTL 300.
 * - Dynamic updates are allowed from any address (an ACL with `action: update` for 0.0.0.0/0).
 *   With `refuse-updates` the zone has no update ACL, and knotd answers every UPDATE with
 *   NOTAUTH (RCODE 9; measured with knotd 3.2.6: an ACL with `deny: on` gives NOTAUTH too), where
 *   the simulator's server answers REFUSED: both are a failure to the dns analyzer.
 * - knotd listens on every address of the host at the service's port, writes its log to stderr
 *   (the lab's log file of the service) and writes the zone file back after each update
 *   (knotd's default `zonefile-sync: 0`).
 * - Every start begins from the options again: the directory is emptied first, so an update
 *   does not outlive a kill or a restart, as in the simulator.
 */

import { formatIpv4, type Ipv4Addr } from '../wire/addr.ts';
import { DNS_SOA_TIMERS, DNS_TTL_DEFAULT } from '../../sim/dns.ts';

export interface KnotService {
  readonly zone: string;
  readonly port: number;
  readonly records: readonly (readonly [string, Ipv4Addr])[];
  readonly refuseUpdates: boolean;
}

/** The zone file (master-file format, absolute names). */
export function knotZoneFile(s: KnotService): string {
  const o = s.zone;
  const t = DNS_SOA_TIMERS;
  const lines = [
    `$ORIGIN ${o}`,
    `$TTL ${DNS_TTL_DEFAULT}`,
    `${o} SOA ns.${o} hostmaster.${o} 1 ${t.refresh} ${t.retry} ${t.expire} ${t.minimum}`,
    `${o} NS ns.${o}`,
    ...s.records.map(([name, a]) => `${name} A ${formatIpv4(a)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** knot.conf for one knotd whose files live in `dir`, listening on `addrs` at the service's port. */
export function knotConf(s: KnotService, dir: string, addrs: readonly Ipv4Addr[]): string {
  const listen = addrs.map((a) => `${formatIpv4(a)}@${s.port}`).join(', ');
  return `# Written by sg lab (src/real/knot.ts) from the scenario's dns service.
server:
    rundir: "${dir}"
    listen: [ ${listen} ]
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "${dir}"
acl:
  - id: update-any
    address: 0.0.0.0/0
    action: update
zone:
  - domain: ${s.zone}
    file: "${dir}/zone"
${s.refuseUpdates ? '    # refuse-updates: no update ACL, so knotd answers every UPDATE with NOTAUTH\n' : '    acl: [ update-any ]\n'}`;
}
