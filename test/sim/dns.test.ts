/**
 * The simulator's DNS server (sim/dns.ts) and the dns workload's client (sim/dns-client.ts):
 * the pure answer function on queries and updates (RFC 1035, RFC 2136: prerequisites, prescan,
 * all-or-nothing, the serial, refuse-updates, the reply's sections of 3.8), the service on a
 * simulated network (malformed datagrams dropped and counted, never answered), the client's
 * retry with the same ID, and the two DNS scenarios: read-any leaves each update on the one
 * server it reached; read-one-write-all gives every server in service the same zone.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../src/scenario/load.ts';
import { buildScenario } from '../../sim/scenario.ts';
import { DnsService, DnsZone, dnsAnswer, encodeDnsReply, DNS_UDP_REPLY_MAX } from '../../sim/dns.ts';
import { DnsClient } from '../../sim/dns-client.ts';
import { Network } from '../../sim/network.ts';
import { millis } from '../../src/time.ts';
import { ip, type Ipv4Addr } from '../../src/wire/addr.ts';
import { DNS_CLASS, DNS_FLAG, DNS_OPCODE, DNS_RCODE, DNS_TYPE, dnsFlags, dnsRcode, encodeDns, parseDns, type DnsMessage, type DnsRecord } from '../../src/wire/dns.ts';
import type { RequestStatus } from '../../src/trace.ts';

const ZONE = 'example.test.';
const zone = (): DnsZone => new DnsZone(ZONE, [['www.example.test.', ip('192.0.2.80')], ['a.b.example.test.', ip('192.0.2.9')]]);
const query = (name: string, type: number = DNS_TYPE.a, cls: number = DNS_CLASS.in): DnsMessage => ({ id: 7, flags: dnsFlags(DNS_OPCODE.query, 0, DNS_FLAG.rd), questions: [{ name, type, cls }], answers: [], authority: [], additional: [] });
const add = (name: string, a: string, ttl = 300): DnsRecord => ({ name, type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl, rdata: { kind: 'a', addr: ip(a) } });
const delSet = (name: string, type: number = DNS_TYPE.a): DnsRecord => ({ name, type, cls: DNS_CLASS.any, ttl: 0, rdata: { kind: 'unknown', bytes: new Uint8Array(0) } });
const delOne = (name: string, a: string): DnsRecord => ({ name, type: DNS_TYPE.a, cls: DNS_CLASS.none, ttl: 0, rdata: { kind: 'a', addr: ip(a) } });
const update = (updates: DnsRecord[], prereqs: DnsRecord[] = [], z = ZONE): DnsMessage => ({ id: 9, flags: dnsFlags(DNS_OPCODE.update, 0), questions: [{ name: z, type: DNS_TYPE.soa, cls: DNS_CLASS.in }], answers: prereqs, authority: updates, additional: [] });
const rcode = (m: DnsMessage): number => dnsRcode(m.flags);

describe('dns answers: queries', () => {
  it('answers A from the zone, authoritative, RD echoed, case-insensitively', () => {
    const r = dnsAnswer(zone(), query('WWW.example.TEST.'));
    expect(r.flags).toBe(dnsFlags(DNS_OPCODE.query, DNS_RCODE.noError, DNS_FLAG.qr | DNS_FLAG.aa | DNS_FLAG.rd));
    expect(r.id).toBe(7);
    expect(r.answers).toEqual([{ name: 'WWW.example.TEST.', type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl: 300, rdata: { kind: 'a', addr: ip('192.0.2.80') } }]);
    expect(r.questions).toEqual(query('WWW.example.TEST.').questions);
  });

  it('NXDOMAIN for a missing name, NOERROR without an answer for an empty non-terminal or another type; both with the SOA', () => {
    const z = zone();
    for (const [name, type, code] of [['nope.example.test.', DNS_TYPE.a, DNS_RCODE.nxDomain], ['b.example.test.', DNS_TYPE.a, DNS_RCODE.noError], ['www.example.test.', DNS_TYPE.txt, DNS_RCODE.noError]] as const) {
      const r = dnsAnswer(z, query(name, type));
      expect(rcode(r), name).toBe(code);
      expect(r.answers).toEqual([]);
      expect(r.authority.map((x) => x.type)).toEqual([DNS_TYPE.soa]);
      expect((r.flags & DNS_FLAG.aa) !== 0).toBe(true);
    }
  });

  it('answers the apex SOA and NS; REFUSED (not authoritative) outside the zone or another class', () => {
    const z = zone();
    const soa = dnsAnswer(z, query(ZONE, DNS_TYPE.soa));
    expect(soa.answers[0]?.rdata).toMatchObject({ kind: 'soa', mname: 'ns.example.test.', rname: 'hostmaster.example.test.', serial: 1 });
    expect(dnsAnswer(z, query(ZONE, DNS_TYPE.ns)).answers.map((x) => x.type)).toEqual([DNS_TYPE.ns]);
    for (const q of [query('www.other.test.'), query('test.'), query('www.example.test.', DNS_TYPE.a, 3)]) {
      const r = dnsAnswer(z, q);
      expect(rcode(r)).toBe(DNS_RCODE.refused);
      expect(r.flags & DNS_FLAG.aa).toBe(0);
    }
  });

  it('FORMERR for other than one question, NOTIMP for another opcode; both echo the questions', () => {
    expect(rcode(dnsAnswer(zone(), { ...query('www.example.test.'), questions: [] }))).toBe(DNS_RCODE.formErr);
    const st = dnsAnswer(zone(), { ...query('www.example.test.'), flags: dnsFlags(DNS_OPCODE.status, 0) });
    expect(st.flags).toBe(dnsFlags(DNS_OPCODE.status, DNS_RCODE.notImp, DNS_FLAG.qr));
    expect(st.questions).toHaveLength(1);
  });

  it('a reply over 512 bytes goes with TC and no records', () => {
    const z = new DnsZone(ZONE, Array.from({ length: 40 }, (_, i): [string, Ipv4Addr] => ['big.example.test.', (0x0a000000 + i) as Ipv4Addr]));
    const r = dnsAnswer(z, query('big.example.test.'));
    expect(r.answers).toHaveLength(40);
    const b = encodeDnsReply(r);
    expect(b.length).toBeLessThanOrEqual(DNS_UDP_REPLY_MAX);
    const p = parseDns(b);
    expect(p.ok && (p.value.flags & DNS_FLAG.tc) !== 0 && p.value.answers.length === 0).toBe(true);
  });
});

describe('dns answers: updates (RFC 2136)', () => {
  it('applies a replace (delete the RRset, add one A), bumps the serial, and replies as 3.8 says', () => {
    const z = zone();
    const r = dnsAnswer(z, update([delSet('www.example.test.'), add('www.example.test.', '198.18.0.1')]));
    expect(r).toEqual({ id: 9, flags: dnsFlags(DNS_OPCODE.update, 0, DNS_FLAG.qr), questions: [{ name: ZONE, type: DNS_TYPE.soa, cls: DNS_CLASS.in }], answers: [], authority: [], additional: [] });
    expect(z.lookup('www.example.test.')).toEqual([ip('198.18.0.1')]);
    expect(z.serial).toBe(2);
    // Identical zones give byte-identical replies: what the WriteAll vote compares.
    const z2 = zone();
    expect(encodeDns(dnsAnswer(z2, update([delSet('www.example.test.'), add('www.example.test.', '198.18.0.1')])))).toEqual(encodeDns(r));
  });

  it('deletes one record, every A of a name, and changes nothing (no serial bump) when there is nothing to do', () => {
    const z = zone();
    dnsAnswer(z, update([add('m.example.test.', '10.0.0.1'), add('m.example.test.', '10.0.0.2')]));
    expect(z.lookup('m.example.test.')).toHaveLength(2);
    dnsAnswer(z, update([delOne('m.example.test.', '10.0.0.1')]));
    expect(z.lookup('m.example.test.')).toEqual([ip('10.0.0.2')]);
    dnsAnswer(z, update([delSet('m.example.test.', DNS_TYPE.any)]));
    expect(z.lookup('m.example.test.')).toEqual([]);
    const serial = z.serial;
    expect(rcode(dnsAnswer(z, update([delSet('m.example.test.')])))).toBe(DNS_RCODE.noError);
    expect(z.serial).toBe(serial);
  });

  it('refuse-updates: REFUSED, the zone copied, nothing changed', () => {
    const z = zone();
    const r = dnsAnswer(z, update([add('x.example.test.', '10.0.0.1')]), { refuseUpdates: true });
    expect(rcode(r)).toBe(DNS_RCODE.refused);
    expect(r.questions).toHaveLength(1);
    expect([r.answers.length, r.authority.length, r.additional.length]).toEqual([0, 0, 0]);
    expect(z.lookup('x.example.test.')).toEqual([]);
    expect(z.serial).toBe(1);
  });

  it('NOTAUTH for another zone, NOTZONE for a record outside it, NOTIMP for a type it does not keep; all or nothing', () => {
    const z = zone();
    expect(rcode(dnsAnswer(z, update([add('x.other.test.', '10.0.0.1')], [], 'other.test.')))).toBe(DNS_RCODE.notAuth);
    expect(rcode(dnsAnswer(z, update([add('x.example.test.', '10.0.0.1'), add('x.other.test.', '10.0.0.1')])))).toBe(DNS_RCODE.notZone);
    const txt: DnsRecord = { name: 'x.example.test.', type: DNS_TYPE.txt, cls: DNS_CLASS.in, ttl: 300, rdata: { kind: 'unknown', bytes: Uint8Array.of(1, 0x61) } };
    expect(rcode(dnsAnswer(z, update([add('x.example.test.', '10.0.0.1'), txt])))).toBe(DNS_RCODE.notImp);
    expect(z.lookup('x.example.test.')).toEqual([]); // the first add of each was not applied
    expect(rcode(dnsAnswer(z, { ...update([]), questions: [] }))).toBe(DNS_RCODE.formErr);
    expect(rcode(dnsAnswer(z, update([{ ...delSet('x.example.test.'), ttl: 5 }])))).toBe(DNS_RCODE.formErr);
  });

  it('checks the prerequisites of 2.4.1, 2.4.3, 2.4.4 and 2.4.5', () => {
    const z = zone();
    const inUse = (n: string): DnsRecord => delSet(n, DNS_TYPE.any);
    const notInUse = (n: string): DnsRecord => ({ ...delSet(n, DNS_TYPE.any), cls: DNS_CLASS.none });
    const setExists = (n: string): DnsRecord => delSet(n);
    const setAbsent = (n: string): DnsRecord => ({ ...delSet(n), cls: DNS_CLASS.none });
    const up = [add('www.example.test.', '10.1.1.1')];
    expect(rcode(dnsAnswer(z, update(up, [inUse('nope.example.test.')])))).toBe(DNS_RCODE.nxDomain);
    expect(rcode(dnsAnswer(z, update(up, [notInUse('www.example.test.')])))).toBe(DNS_RCODE.yxDomain);
    expect(rcode(dnsAnswer(z, update(up, [setExists('nope.example.test.')])))).toBe(DNS_RCODE.nxRrset);
    expect(rcode(dnsAnswer(z, update(up, [setAbsent('www.example.test.')])))).toBe(DNS_RCODE.yxRrset);
    expect(z.lookup('www.example.test.')).toEqual([ip('192.0.2.80')]);
    expect(rcode(dnsAnswer(z, update(up, [inUse('www.example.test.'), setExists('www.example.test.'), notInUse('new.example.test.')])))).toBe(DNS_RCODE.noError);
    expect(z.lookup('www.example.test.')).toEqual([ip('192.0.2.80'), ip('10.1.1.1')]);
  });
});

describe('dns service and client on a simulated network', () => {
  function pair() {
    const net = new Network({ seed: 3 });
    const sw = net.switch('lan');
    const server = net.host('server', { ifaces: [{ ip: '10.0.0.1/24', on: sw }] });
    const client = net.host('client', { ifaces: [{ ip: '10.0.0.2/24', on: sw }] });
    const svc = net.dns(server, { zone: ZONE, records: [['www.example.test.', ip('192.0.2.80')]] });
    return { net, svc, client };
  }

  it('drops malformed datagrams and replies, counted by reason, and answers the next good query', () => {
    const { net, svc, client } = pair();
    const got: Uint8Array[] = [];
    const sock = client.host.udpBind(4000, { onMessage: (p) => got.push(p) });
    sock.sendTo(ip('10.0.0.1'), 53, encodeDns(query('www.example.test.')));
    net.run(millis(50)); // ARP resolved: the datagrams below leave at once
    sock.sendTo(ip('10.0.0.1'), 53, Uint8Array.of(1, 2, 3));
    sock.sendTo(ip('10.0.0.1'), 53, Uint8Array.of(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1));
    sock.sendTo(ip('10.0.0.1'), 53, encodeDns({ ...query('www.example.test.'), flags: DNS_FLAG.qr }));
    sock.sendTo(ip('10.0.0.1'), 53, encodeDns(query('www.example.test.')));
    net.run(millis(100));
    expect(svc.dropped).toEqual({ truncated: 1, 'bad-name': 1, 'not-a-request': 1 });
    expect(got).toHaveLength(2);
    const r = parseDns(got[1]!);
    expect(r.ok && r.value.answers[0]?.rdata).toEqual({ kind: 'a', addr: ip('192.0.2.80') });
    expect(svc.seen).toEqual({ queries: 2, updates: 0, applied: 0 });
  });

  it('the client resends an unanswered request with the same ID every retry, and takes the answer once', () => {
    const { net, svc, client } = pair();
    svc.hang();
    const rng = net.world.rngFor('test');
    const dc = new DnsClient(client.host, rng, { addr: ip('10.0.0.1'), port: 53 }, { kind: 'dns', zone: ZONE, names: 5, updateRatio: 1, retry: millis(100) });
    const outcomes: RequestStatus[] = [];
    const plan = dc.plan();
    expect(plan.op).toBe('dns-update');
    dc.send(plan, (s) => outcomes.push(s));
    net.run(millis(350));
    expect(svc.counters.requests).toBe(4); // the first send and three retries, all taken by the hung process
    svc.start();
    net.run(millis(550)); // an absolute time: the next retry reaches the restarted server
    expect(outcomes).toEqual(['ok']);
    expect(dc.inFlight).toBe(0);
    expect(svc.zone.lookup(plan.name)).toEqual([plan.addr]);
  });

  it('a killed server loses its updates: the zone of its options comes back at the next start', () => {
    const { net, svc } = pair();
    dnsAnswer(svc.zone, update([add('x.example.test.', '10.0.0.1')]));
    expect(svc.zone.lookup('x.example.test.')).toHaveLength(1);
    svc.kill();
    svc.start();
    net.run(millis(10));
    expect(svc.zone.lookup('x.example.test.')).toEqual([]);
    expect(svc.zone.lookup('www.example.test.')).toEqual([ip('192.0.2.80')]);
  });
});

describe('dns scenarios', () => {
  const run = (file: string) => {
    const loaded = loadScenario(readFileSync(file, 'utf8'), file);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const { net } = buildScenario(loaded.scenario);
    net.run(loaded.scenario.duration);
    const zoneOf = (h: string) => (net.getHost(h).services.find((s) => s instanceof DnsService) as DnsService).zone;
    return { zoneOf, dns: (h: string) => net.getHost(h).services.find((s) => s instanceof DnsService) as DnsService };
  };

  it('read-any: each update lands on the one server its client reached; the refusing server keeps its zone', () => {
    const { zoneOf, dns } = run('scenarios/dns-read-any.yaml');
    const written = (h: string) => zoneOf(h).entries().filter(([n]) => n.startsWith('n'));
    expect(written('ns1').length).toBeGreaterThan(5);
    expect(written('ns2').length).toBeGreaterThan(5);
    expect(written('ns3')).toEqual([]);
    expect(dns('ns3').counters.rejected).toBeGreaterThan(30);
    // Not replicated: ns1 and ns2 hold different addresses (each client writes its own values).
    expect(written('ns1')).not.toEqual(written('ns2'));
    expect(zoneOf('ns1').serial).toBeGreaterThan(1);
  });

  it('read-one-write-all: ns1, ns2 and ns3 end with the same zone, every update applied on each; ns4 saw one write', () => {
    const { zoneOf, dns } = run('scenarios/dns-write-all.yaml');
    // The same records (each server applies the writes of different names in its arrival order).
    // who.example.test. is each server's own address (which server answered), by design.
    const sorted = (h: string) => zoneOf(h).entries().filter(([n]) => n !== 'who.example.test.').map(([n, a]) => `${n} ${a}`).sort();
    for (const h of ['ns2', 'ns3']) {
      expect(sorted(h), h).toEqual(sorted('ns1'));
      expect(zoneOf(h).serial, h).toBe(zoneOf('ns1').serial);
      expect(dns(h).seen.updates, h).toBe(dns('ns1').seen.updates);
    }
    expect(dns('ns1').seen.updates).toBeGreaterThan(100);
    expect(dns('ns4').seen.updates).toBe(1);
    expect(zoneOf('ns4').entries().filter(([n]) => n.startsWith('n'))).toEqual([]);
  });
});


