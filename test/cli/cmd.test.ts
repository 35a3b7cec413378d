/**
 * `sg cmd` against a simulated cluster: the CLI's own code path (argument parsing, key files,
 * signing, retries, reading the signed result) over a transport that carries its datagrams
 * through a simulated host to an SG node and runs virtual time until the answer comes back.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmdCommand, parseCmdWords, type CtlTransport } from '../../src/cli/cmd.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import type { Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import { buildScenario } from '../../sim/scenario.ts';

const SCENARIO = readFileSync('scenarios/control.yaml', 'utf8')
  // Only the topology, cluster and keys: no timeline, so the test drives everything.
  .replace(/^control:[\s\S]*?^workload:/m, 'workload:')
  .replace(/^expect:[\s\S]*$/m, '');

function cluster() {
  const r = loadScenario(SCENARIO, 'control.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { net } = buildScenario(r.scenario);
  net.run(500_000 as Instant); // ARP settles, gratuitous ARPs done
  return net;
}

/** A transport from host `from` of the simulated network. */
function simTransport(net: ReturnType<typeof cluster>, from: string, node: string, port: number): CtlTransport {
  const host = net.getHost(from).host;
  let reply: Uint8Array | undefined;
  const sock = host.udpBind(0, { onMessage: (p) => void (reply = p) });
  return {
    nowUs: () => host.now(),
    request: async (bytes, timeoutUs) => {
      reply = undefined;
      sock.sendTo(ip(node), port, bytes);
      const deadline = net.now + timeoutUs;
      while (reply === undefined && net.now < deadline) net.run(Math.min(deadline, net.now + 1000) as Instant);
      return reply;
    },
    close: () => sock.close(),
  };
}

function keyFile(json: object, mode = 0o600): string {
  const p = join(mkdtempSync(join(tmpdir(), 'sg-key-')), 'k.json');
  writeFileSync(p, JSON.stringify(json));
  chmodSync(p, mode);
  return p;
}

const ADMIN = { id: 1, secret: '0f1e2d3c4b5a69788796a5b4c3d2e1f0', role: 'admin' };
const RS1 = { id: 11, secret: '11111111111111111111111111111111', role: { group: 'ctr', server: 'rs1' } };

async function sgcmd(net: ReturnType<typeof cluster>, from: string, argv: string[]) {
  const io = memoryIo();
  const code = await cmdCommand(argv, io, async (addr, port) => simTransport(net, from, addr, port));
  return { code, out: io.stdout, err: io.stderr };
}

describe('sg cmd against a simulated cluster', () => {
  it('reads and sets properties with an admin key; the drain takes effect', async () => {
    const net = cluster();
    const admin = keyFile(ADMIN);
    const node = ['--node', '140.116.72.211', '--key', admin];
    expect(await sgcmd(net, 'admin', [...node, 'get', 'server', 'web/rs2', 'weight'])).toEqual({ code: 0, out: '1\n', err: '' });
    expect(await sgcmd(net, 'admin', [...node, 'set', 'server', 'web/rs2', 'weight', '0'])).toMatchObject({ code: 0 });
    expect(await sgcmd(net, 'admin', [...node, 'get', 'server', 'web/rs2', 'weight'])).toMatchObject({ code: 0, out: '0\n' });
    const sg = [...net.sgNodes.values()][0]!.node.endpoint as import('../../src/engine/sg-node.ts').SgNode;
    expect(sg.balancers[sg.groupIndex('web')]!.weight(1)).toBe(0);
    const list = await sgcmd(net, 'admin', [...node, 'list', 'group', 'web']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/rs1/);
    const json = await sgcmd(net, 'admin', [...node, '--json', 'get', 'cluster', 'links']);
    expect(JSON.parse(json.out)).toMatchObject({ status: 'ok', code: 0 });
  });

  it("slide 41's cmd_server_heartbeat_count as a one-liner, with the server's own key", async () => {
    const net = cluster();
    const rs1 = keyFile(RS1);
    const r = await sgcmd(net, 'rs1', ['--node', '192.168.1.254', '--key', rs1, 'set', 'server', 'ctr/rs1', 'heartbeat', '42']);
    expect(r).toMatchObject({ code: 0 });
    const sg = [...net.sgNodes.values()][0]!.node.endpoint as import('../../src/engine/sg-node.ts').SgNode;
    expect(sg.ctlTarget!.heartbeat(sg.groupIndex('ctr'), 0)?.count).toBe(42);
  });

  it("a server key may not touch another server: exit 1 with the node's 'forbidden'", async () => {
    const net = cluster();
    const r = await sgcmd(net, 'rs1', ['--node', '192.168.1.254', '--key', keyFile(RS1), 'set', 'server', 'ctr/rs2', 'counter', '1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/forbidden/);
  });

  it('a wrong secret gets no answer at all: exit 1 after the retries', async () => {
    const net = cluster();
    const forged = keyFile({ ...ADMIN, secret: 'deadbeefdeadbeefdeadbeefdeadbeef' });
    const r = await sgcmd(net, 'c1', ['--node', '140.116.72.211', '--key', forged, '--retries', '1', '--timeout', '200ms', 'get', 'cluster', 'links']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no answer .* after 2 tries/);
  });

  it('bad usage and key files exit 2 without sending anything', async () => {
    const net = cluster();
    const worldReadable = keyFile(ADMIN, 0o644);
    for (const argv of [
      ['get', 'cluster', 'links'],
      ['--node', '140.116.72.211', 'get', 'cluster', 'links'],
      ['--node', '140.116.72.211', '--key', worldReadable, 'get', 'cluster', 'links'],
      ['--node', 'nowhere', '--key', keyFile(ADMIN), 'get', 'cluster', 'links'],
      ['--node', '140.116.72.211', '--key', keyFile(ADMIN), 'frob', 'cluster'],
      ['--node', '140.116.72.211', '--key', keyFile(ADMIN), 'set', 'server', 'web/rs1', 'weight'],
      ['--node', '140.116.72.211', '--key', keyFile({ id: 1, secret: 'abc' }), 'get', 'cluster', 'links'],
    ]) {
      const r = await sgcmd(net, 'admin', argv);
      expect(r.code, argv.join(' ')).toBe(2);
    }
    expect((await sgcmd(net, 'admin', ['--node', '140.116.72.211', '--key', worldReadable, 'get', 'cluster', 'links'])).err).toMatch(/readable by group or others .* chmod 600/);
  });

  it('parses the command words', () => {
    expect(parseCmdWords(['set', 'server', 'web/rs1', 'weight', '0'], '10.0.0.1')).toEqual({ node: { addr: '10.0.0.1', port: 5890 }, op: 'set', cls: 'server', group: 'web', server: 'rs1', property: 'weight', data: '0' });
    expect(parseCmdWords(['get', 'cluster', 'links'], '10.0.0.1:7000')).toMatchObject({ node: { port: 7000 }, cls: 'cluster', group: '', property: 'links' });
    expect(parseCmdWords(['set', 'group', 'x'.repeat(100), 'policy', 'connections'], '10.0.0.1')).toMatch(/group/);
  });
});
