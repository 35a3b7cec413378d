/**
 * WriteAll's write latency and rate in real mode: `scenarios/rpc-write-all.yaml` built as a lab
 * with all three `sg rpc serve` healthy (rs3's `fail-writes` dropped) and one more group beside
 * the replicated one, `plain`: a read-any UDP NAT group with rs1 alone at its own VIP. One client
 * process issues N sequential writes (`sg rpc write --count N`: each waits for its reply) per
 * setup:
 * - **WriteAll**: client -> VIP 10.18.1.10 -> the SG's fan-out (multicast to write-group, or with
 *   `unicast` a copy to each of the three) and vote -> the client;
 * - **via SG, no vote**: client -> plain's VIP 10.18.1.20 -> NAT to rs1 -> the client: the same
 *   path and SG node without the fan-out and the vote;
 * - **direct**: c0, on the pool, -> rs1 (no SG, one segment).
 * Setups alternate within each round; the figures are the median over rounds of each round's
 * p50, p99 and writes/s. The daemon writes no trace (as in the other throughput benchmarks).
 * Needs root.
 *
 *   node --import tsx test/bench/rw-rpc-lab.ts [writes per setup and round = 2000] [rounds = 3] [multicast|unicast|both = both]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { LAB_STATE_DIR, labDown, labUp, nsName, SG_BIN, type LabState } from '../../src/real/lab.ts';

const N = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
const FANOUTS = (process.argv[4] ?? 'both') === 'both' ? (['multicast', 'unicast'] as const) : ([process.argv[4] as 'multicast' | 'unicast'] as const);
/** How long one `sg rpc write --count N` may take at most (a hang guard). */
const RUN_TIMEOUT_MS = 600_000;
/** Readiness: how long to wait for the lab's services and the SG node to answer. */
const READY_TIMEOUT_MS = 120_000;
const READY_POLL_MS = 100;

const VIP = '10.18.1.10';
const PLAIN_VIP = '10.18.1.20';
const RS1 = '10.18.2.1';
const PORT = 2049;

type Group = Record<string, unknown>;
type Host = { services?: Record<string, unknown>[] };

/** The scenario with every server healthy, the given fan-out and the `plain` group beside it. */
function scenarioText(fanout: 'multicast' | 'unicast'): string {
  const sc = parse(readFileSync('scenarios/rpc-write-all.yaml', 'utf8')) as { topology: { hosts: Record<string, Host> }; cluster: { groups: Group[] }; workload?: unknown; expect?: unknown };
  for (const h of Object.values(sc.topology.hosts)) for (const s of h.services ?? []) delete s['fail-writes'];
  const store = sc.cluster.groups[0]!;
  if (fanout === 'unicast') {
    delete store['write-group'];
    store['write-fanout'] = 'unicast';
  }
  sc.cluster.groups.push({ name: 'plain', vip: PLAIN_VIP, port: PORT, health: store['health'], servers: [{ host: 'rs1' }] });
  delete sc.workload;
  delete sc.expect;
  return stringify(sc);
}

interface Run {
  readonly p50: number;
  readonly p99: number;
  readonly rate: number;
}

/** `sg rpc ARGS` in `ns`: its stdout (throws on a non-zero exit). */
function rpc(ns: string, args: string[], timeout = RUN_TIMEOUT_MS): string {
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, SG_BIN, 'rpc', ...args], { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
}

function writes(ns: string, to: string, key: number): Run {
  const out = rpc(ns, ['write', '--to', `${to}:${PORT}`, '--key', String(key), '--value', '42', '--count', String(N)]);
  const m = /ok=(\d+) .* p50=([\d.]+)ms p99=([\d.]+)ms .* rate=([\d.]+)\/s/.exec(out);
  if (m === null || Number(m[1]) !== N) throw new Error(`unexpected: ${out}`);
  return { p50: Number(m[2]), p99: Number(m[3]), rate: Number(m[4]) };
}

async function ready(what: string, cond: () => boolean): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > READY_TIMEOUT_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
}

const ok = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

const med = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const SETUPS = ['write-all', 'via-sg', 'direct'] as const;
type Setup = (typeof SETUPS)[number];

async function measure(fanout: 'multicast' | 'unicast'): Promise<Record<Setup, Run[]>> {
  const file = join(mkdtempSync(join(tmpdir(), 'sg-rwlab-')), 'rpc-write-all.yaml');
  writeFileSync(file, scenarioText(fanout));
  let lab: LabState | undefined;
  try {
    lab = labUp(file, { traces: false });
    const client = nsName(lab.prefix, 'client');
    const c0 = nsName(lab.prefix, 'c0');
    await ready('rs1 to answer c0', () => ok(() => rpc(c0, ['read', '--to', `${RS1}:${PORT}`, '--key', '0', '--timeout-ms', '2000'], 60_000)));
    await ready('a write through the VIP', () => ok(() => rpc(client, ['write', '--to', `${VIP}:${PORT}`, '--key', '0', '--value', '1', '--timeout-ms', '2000'], 60_000)));
    await ready('a write through the plain VIP', () => ok(() => rpc(client, ['write', '--to', `${PLAIN_VIP}:${PORT}`, '--key', '0', '--value', '1', '--timeout-ms', '2000'], 60_000)));
    const runs: Record<Setup, Run[]> = { 'write-all': [], 'via-sg': [], direct: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < SETUPS.length; k++) {
        const s = SETUPS[(r + k) % SETUPS.length]!;
        const run = s === 'write-all' ? writes(client, VIP, 1) : s === 'via-sg' ? writes(client, PLAIN_VIP, 2) : writes(c0, RS1, 3);
        runs[s].push(run);
        console.log(`  ${fanout} round ${r + 1} ${s}: p50 ${run.p50.toFixed(3)} ms, p99 ${run.p99.toFixed(3)} ms, ${run.rate.toFixed(0)} writes/s`);
      }
    }
    labDown(lab.prefix, () => {}, { keepLogs: true });
    // Each service logs its counters when it stops: rs2 and rs3 get only WriteAll's writes.
    const dir = `${LAB_STATE_DIR}/${lab.prefix}`;
    const expected = ROUNDS * N;
    for (const h of ['rs2', 'rs3']) {
      const text = readdirSync(dir).filter((f) => f.startsWith(`${h}-`) && f.endsWith('.log')).map((f) => readFileSync(`${dir}/${f}`, 'utf8')).join('');
      const w = Number(/(\d+) writes, (\d+) failed/.exec(text)?.[1]);
      if (!(w >= expected)) throw new Error(`${h} saw ${w} writes, expected at least ${expected} (WriteAll's): ${text}`);
      console.log(`  ${h} stored ${w} writes (WriteAll's ${expected} and the readiness check's)`);
    }
    rmSync(dir, { recursive: true, force: true });
    lab = undefined;
    return runs;
  } finally {
    if (lab !== undefined) labDown(lab.prefix);
  }
}

const LABEL: Record<Setup, string> = { 'write-all': 'WriteAll, 3 servers', 'via-sg': 'via SG, read-any NAT to rs1 (no vote)', direct: 'direct, c0 -> rs1 (no SG)' };
console.log(`${N} sequential writes per setup and round, ${ROUNDS} rounds, one client process each`);
for (const fanout of FANOUTS) {
  const runs = await measure(fanout);
  const rate = (s: Setup) => med(runs[s].map((x) => x.rate));
  for (const s of SETUPS) {
    const label = s === 'write-all' ? `${LABEL[s]}, ${fanout}` : LABEL[s];
    console.log(
      `${label.padEnd(44)} p50 ${med(runs[s].map((x) => x.p50)).toFixed(3)} ms  p99 ${med(runs[s].map((x) => x.p99)).toFixed(3)} ms  ${rate(s).toFixed(0)} writes/s  ` +
        `(${((rate(s) / rate('via-sg')) * 100).toFixed(1)}% of via SG, ${((rate(s) / rate('direct')) * 100).toFixed(1)}% of direct)`,
    );
  }
}
