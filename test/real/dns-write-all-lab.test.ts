/**
 * The replicated DNS zone in the lab: `scenarios/dns-write-all.yaml` built as network
 * namespaces, four knotd servers behind the VIP in read-one-write-all mode with the dns
 * analyzer (write-fanout: unicast). An nsupdate through the VIP is a write: the SG sends it to
 * every server and votes on their RCODEs, so the update appears on ns1, ns2 and ns3 (dig each
 * directly); ns4 has no update ACL, answers NOTAUTH, and is turned off at once (the daemon's
 * trace: write-turn-off, then ns4 Dead), while reads through the VIP keep working and never
 * reach it again. nsupdate retransmits (same ID) after 2 s without an answer: the SG takes a
 * retransmission of a write still being collected as that write, not a second one.
 *
 * Needs root, iproute2, knotd, dig and nsupdate; skipped elsewhere with the reason printed.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsLab } from './dns-support.ts';
import { canRunLab, traceSince, until } from './support.ts';
import { alive, LAB_READY_TIMEOUT_MS, labDown, labUp, type LabState } from '../../src/real/lab.ts';
import { onPath } from '../../src/real/tools.ts';

function whyNot(): string | undefined {
  const lab = canRunLab();
  if (lab !== undefined) return lab;
  const missing = ['knotd', 'dig', 'nsupdate'].filter((t) => !onPath(t, process.env['PATH'] ?? ''));
  return missing.length === 0 ? undefined : `${missing.join(', ')} not on PATH (apt-get install -y knot dnsutils)`;
}
const why = whyNot();
if (why !== undefined) console.warn(`real-mode DNS write-all suite skipped: ${why}`);

const VIP = '10.17.1.10';
const CLIENT = '10.17.1.100';
const SERVERS = { ns1: '10.17.2.1', ns2: '10.17.2.2', ns3: '10.17.2.3', ns4: '10.17.2.4' } as const;
type Server = keyof typeof SERVERS;
const ALL = Object.keys(SERVERS) as Server[];

describe.skipIf(why !== undefined)('real mode: a DNS zone replicated by the SG over knotd (read-one-write-all)', () => {
  let lab: LabState;

  const { digVip, digAt, nsupdate } = dnsLab(() => lab, { vip: VIP, client: CLIENT, servers: SERVERS, nsupdateArgs: ['-t', '8', '-u', '2', '-r', '2'] });

  beforeAll(async () => {
    lab = labUp('scenarios/dns-write-all.yaml');
    await until('dig through the VIP', () => digVip('www.example.test.', 5400) === '192.0.2.80', 15_000);
  }, LAB_READY_TIMEOUT_MS + 60_000);

  afterAll(() => {
    if (lab === undefined) return;
    const knots = lab.processes.filter((p) => p.name.endsWith('/dns:53'));
    labDown(lab.prefix);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`${lab.prefix}-`);
    for (const p of knots) expect(alive(p.pid), `${p.name} (pid ${p.pid}) still runs`).toBe(false);
  });

  it('an nsupdate through the VIP appears on ns1, ns2 and ns3; ns4 answers NOTAUTH and is turned off at once', async () => {
    expect(ALL.map((s) => digAt(s, 'who.example.test.'))).toEqual(ALL.map((s) => SERVERS[s]));
    const r = nsupdate(5401, 'update delete w1.example.test. A\nupdate add w1.example.test. 300 A 198.18.2.1\n');
    expect(r.status, r.out).toBe(0);
    for (const s of ['ns1', 'ns2', 'ns3'] as const) expect(digAt(s, 'w1.example.test.'), s).toBe('198.18.2.1');
    expect(digAt('ns4', 'w1.example.test.')).toBe('');
    // ns4's reply (NOTAUTH) is a failure: the daemon turns it off at once.
    await until('ns4 turned off in the daemon trace', () => traceSince(lab, 'sg1', 0).some((e) => e.kind === 'state' && e.entity === 'dns/ns4' && e.to === 'dead'), 10_000);
    const ev = traceSince(lab, 'sg1', 0);
    expect(ev.some((e) => e.kind === 'decision' && e.what === 'write-turn-off' && e.detail?.['server'] === 'ns4')).toBe(true);
    expect(ev.some((e) => e.kind === 'state' && (e.entity === 'dns/ns1' || e.entity === 'dns/ns2' || e.entity === 'dns/ns3') && e.to === 'dead')).toBe(false);
  });

  it('later updates reach the three in service, and reads keep working without ns4', () => {
    for (let i = 2; i <= 4; i++) {
      const r = nsupdate(5400 + i, `update add w${i}.example.test. 300 A 198.18.2.${i}\n`);
      expect(r.status, r.out).toBe(0);
      for (const s of ['ns1', 'ns2', 'ns3'] as const) expect(digAt(s, `w${i}.example.test.`), `w${i} on ${s}`).toBe(`198.18.2.${i}`);
      expect(digAt('ns4', `w${i}.example.test.`)).toBe('');
    }
    const who = new Set<string>();
    for (let port = 5410; port < 5420; port++) {
      expect(digVip('w1.example.test.', port), `port ${port}`).toBe('198.18.2.1');
      who.add(digVip('who.example.test.', port));
    }
    expect(who.has(SERVERS.ns4)).toBe(false);
    expect(who.size).toBeGreaterThan(0);
  });
});
