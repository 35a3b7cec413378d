/**
 * The DNS lab in read-any mode: `scenarios/dns-read-any.yaml` built as network namespaces, three
 * knotd servers (Debian's Knot DNS) behind the VIP, real dig queries and nsupdate updates from
 * the client namespace. In read-any mode a client's link (its address and source port) goes to
 * one server, so an update lands on that server only: each client command here uses a fixed
 * source port, `who.example.test.` through the VIP says which server the port's link reaches,
 * and dig against each server directly shows where the update landed. ns3 refuses updates
 * (no update ACL): knotd answers NOTAUTH and the zone does not change.
 *
 * Needs root, iproute2, knotd, dig and nsupdate; skipped elsewhere with the reason printed.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsLab } from './dns-support.ts';
import { canRunLab, sh, until } from './support.ts';
import { alive, LAB_READY_TIMEOUT_MS, labDown, labUp, nsName, type LabState } from '../../src/real/lab.ts';
import { onPath } from '../../src/real/tools.ts';

const TOOLS = ['knotd', 'dig', 'nsupdate'];
function whyNot(): string | undefined {
  const lab = canRunLab();
  if (lab !== undefined) return lab;
  const missing = TOOLS.filter((t) => !onPath(t, process.env['PATH'] ?? ''));
  return missing.length === 0 ? undefined : `${missing.join(', ')} not on PATH (apt-get install -y knot dnsutils)`;
}
const why = whyNot();
if (why !== undefined) console.warn(`real-mode DNS suite skipped: ${why}`);

const SCENARIO = 'scenarios/dns-read-any.yaml';
const VIP = '10.16.1.10';
const CLIENT = '10.16.1.100';
const SERVERS = { ns1: '10.16.2.1', ns2: '10.16.2.2', ns3: '10.16.2.3' } as const;
type Server = keyof typeof SERVERS;

describe.skipIf(why !== undefined)('real mode: knotd behind the VIP in read-any mode', () => {
  let lab: LabState;
  /** Which server each client source port's link reaches. */
  const linkOf = new Map<number, Server>();

  const { digVip, digAt, nsupdate } = dnsLab(() => lab, { vip: VIP, client: CLIENT, servers: SERVERS, nsupdateArgs: ['-t', '3', '-r', '0'] });
  const serverAt = (addr: string): Server => {
    const s = (Object.keys(SERVERS) as Server[]).find((k) => SERVERS[k] === addr);
    if (s === undefined) throw new Error(`who.example.test. answered ${JSON.stringify(addr)}`);
    return s;
  };

  beforeAll(async () => {
    // labUp returns once every knotd answers its zone's SOA and the daemon is ready.
    lab = labUp(SCENARIO);
    await until('dig through the VIP', () => digVip('www.example.test.', 5300) === '192.0.2.80', 15_000);
    // Round robin: the first new links from ports 5301.. reach every server.
    for (let port = 5301; port <= 5306; port++) linkOf.set(port, serverAt(digVip('who.example.test.', port)));
  }, LAB_READY_TIMEOUT_MS + 60_000);

  afterAll(() => {
    if (lab === undefined) return;
    const knots = lab.processes.filter((p) => p.name.endsWith('/dns:53'));
    labDown(lab.prefix);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`${lab.prefix}-`);
    for (const p of knots) expect(alive(p.pid), `${p.name} (pid ${p.pid}) still runs`).toBe(false);
  });

  it('runs one knotd per dns service, each answering its own zone directly', () => {
    const knots = lab.processes.filter((p) => p.name.endsWith('/dns:53'));
    expect(knots.map((p) => p.name).sort()).toEqual(['ns1/dns:53', 'ns2/dns:53', 'ns3/dns:53']);
    for (const s of Object.keys(SERVERS) as Server[]) {
      expect(digAt(s, 'www.example.test.')).toBe('192.0.2.80');
      expect(digAt(s, 'who.example.test.')).toBe(SERVERS[s]);
    }
  });

  it('answers queries through the VIP, the links spread over all three servers by round robin', () => {
    expect(new Set(linkOf.values())).toEqual(new Set(['ns1', 'ns2', 'ns3']));
    for (const [port, s] of linkOf) expect(digVip('who.example.test.', port), `port ${port}`).toBe(SERVERS[s]);
    const r = sh(nsName(lab.prefix, 'client'), 'dig', [`@${VIP}`, '-b', `${CLIENT}#5301`, 'nope.example.test.', 'A', '+tries=1', '+time=2']);
    expect(r).toMatch(/status: NXDOMAIN/);
  });

  it('an nsupdate through the VIP lands on the server of its link only, and a query on that link sees it', () => {
    for (const target of ['ns1', 'ns2'] as const) {
      const port = [...linkOf].find(([, s]) => s === target)![0];
      const name = `up-${target}.example.test.`;
      const r = nsupdate(port, `update delete ${name} A\nupdate add ${name} 300 A 198.18.1.${target === 'ns1' ? 1 : 2}\n`);
      expect(r.status, r.out).toBe(0);
      const want = `198.18.1.${target === 'ns1' ? 1 : 2}`;
      for (const s of Object.keys(SERVERS) as Server[]) expect(digAt(s, name), `${name} on ${s}`).toBe(s === target ? want : '');
      expect(digVip(name, port)).toBe(want);
    }
  });

  it('the server with refuse-updates answers NOTAUTH and keeps its zone', () => {
    const port = [...linkOf].find(([, s]) => s === 'ns3')![0];
    const r = nsupdate(port, 'update add up-ns3.example.test. 300 A 198.18.1.3\n');
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/NOTAUTH/);
    for (const s of Object.keys(SERVERS) as Server[]) expect(digAt(s, 'up-ns3.example.test.'), s).toBe('');
    expect(digVip('www.example.test.', port)).toBe('192.0.2.80');
  });
});
