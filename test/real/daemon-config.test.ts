/**
 * `sg daemon`'s engine configuration (src/real/daemon.ts daemonConfig) probes each server at the
 * simulator's instants: its seed, which sets the port tests' first offsets and jitter, is the one
 * the simulator gives the same node. With a seed of its own (randomInt, before), the lab's
 * health-udp probed rs2/rs4 at other phases of the 1 s interval and its Pending came up to 0.6 s
 * after the simulator's (test/real/agreement.test.ts). Its link table's hash seed does not come from
 * that seed, which a client may know: each start draws one. Reads /sys/class/net/lo; needs no lab.
 */
import { copyFileSync, chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../sim/scenario.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { nodeStreams } from '../../src/engine/streams.ts';
import { daemonConfig } from '../../src/real/daemon.ts';
import { realRandomness } from '../../src/real/engine-worker.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { JsonlTrace } from '../../src/trace.ts';
import { formatIpv4, ipv4FromU32 } from '../../src/wire/addr.ts';

const FILE = 'scenarios/health-udp.yaml';
/** Long enough for every server's first port test (interval 1 s, first offset in [0, 1 s)). */
const HORIZON_US = 1_100_000;

/** node -> server address -> the instant (µs) of the node's first ARP request for it. */
type FirstArps = Map<string, Map<string, number>>;

function note(m: FirstArps, node: string, target: string, t: number): void {
  const per = m.get(node) ?? new Map<string, number>();
  if (!per.has(target)) per.set(target, t);
  m.set(node, per);
}

/** From the simulator's trace: each SG node's first ARP request per server (the first probe's). */
function simFirstArps(servers: readonly string[]): FirstArps {
  const loaded = loadScenario(readFileSync(FILE, 'utf8'), FILE);
  if (!loaded.ok) throw new Error('load');
  const m: FirstArps = new Map();
  runScenario(loaded.scenario, {
    until: HORIZON_US as Duration,
    trace: new JsonlTrace((l) => {
      const e = JSON.parse(l) as { kind: string; t: number; node?: string; dir?: string; summary?: string };
      const hit = e.kind === 'frame' && e.dir === 'tx' ? /^ARP who-has (\S+) tell/.exec(e.summary ?? '') : null;
      if (hit && servers.includes(hit[1]!) && e.t < HORIZON_US) note(m, e.node!, hit[1]!, e.t);
    }),
  });
  return m;
}

/** The daemon's engine for `node`, alone, driven by its own timers: its first ARP request per server. */
function daemonFirstArps(config: string, node: string, servers: readonly string[], into: FirstArps): void {
  const cfg = daemonConfig({ config, node, publicIface: 'lo', privateIface: 'lo' });
  const sg = new SgNode(cfg, { now: 0 as Instant });
  for (let t = sg.pollTimeout(); t !== undefined && t < HORIZON_US; t = sg.pollTimeout()) {
    sg.handleTimeout(t);
    for (let tx = sg.pollTransmit(); tx !== undefined; tx = sg.pollTransmit()) {
      const f = tx.frame;
      const arpRequest = f[12] === 0x08 && f[13] === 0x06 && f[20] === 0 && f[21] === 1;
      if (!arpRequest) continue;
      const target = formatIpv4(ipv4FromU32(((f[38]! << 24) | (f[39]! << 16) | (f[40]! << 8) | f[41]!) >>> 0));
      if (servers.includes(target)) note(into, node, target, t);
    }
  }
}

/** FILE copied to a fresh directory at mode 600 (it holds the failover key: src/real/secrets.ts). */
function privateCopy(): string {
  const config = join(mkdtempSync(join(tmpdir(), 'sg-daemon-config-')), 'health-udp.yaml');
  copyFileSync(FILE, config);
  chmodSync(config, 0o600);
  return config;
}

describe('sg daemon configuration', () => {
  it("hashes with a random seed of its own, not the simulator's, unless pinned", () => {
    const cfg = daemonConfig({ config: privateCopy(), node: 'sg1', publicIface: 'lo', privateIface: 'lo' });
    const derived = nodeStreams(cfg).hashSeed;
    // The engine worker's options (engine-worker.ts run). Each check below fails by chance with
    // odds 2^-32: two draws of node:crypto's randomInt(0, 2^32) that agree.
    const daemon = () => new SgNode(cfg, { now: 0 as Instant, ...realRandomness() });
    const a = daemon().links.hashSeed;
    const b = daemon().links.hashSeed;
    expect(a).not.toBe(b);
    expect(a).not.toBe(derived);
    expect(b).not.toBe(derived);
    // --hash-seed N pins it.
    expect(new SgNode(cfg, { now: 0 as Instant, ...realRandomness(4_000_000_000) }).links.hashSeed).toBe(4_000_000_000);
    // Incarnations come from crypto too: non-zero u32s.
    const inc = realRandomness().incarnation();
    expect(Number.isInteger(inc) && inc >= 1 && inc < 2 ** 32).toBe(true);
  });

  it("probes each server at the simulator's instants (same per-node seed): health-udp's first port tests", () => {
    const loaded = loadScenario(readFileSync(FILE, 'utf8'), FILE);
    if (!loaded.ok) throw new Error('load');
    const servers = loaded.scenario.cluster!.groups[0]!.servers.map((s) => formatIpv4(s.addr));
    const sim = simFirstArps(servers);
    const config = privateCopy();
    const real: FirstArps = new Map();
    for (const n of loaded.scenario.cluster!.nodes) daemonFirstArps(config, n.name, servers, real);
    for (const n of loaded.scenario.cluster!.nodes) {
      // Every server was probed once in the horizon, at the same microsecond in both worlds.
      expect([...(sim.get(n.name) ?? new Map()).keys()].sort(), n.name).toEqual([...servers].sort());
      expect(Object.fromEntries(real.get(n.name) ?? new Map()), n.name).toEqual(Object.fromEntries(sim.get(n.name)!));
    }
  });
});
