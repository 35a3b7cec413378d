/**
 * The lab's multicast sink and client in network namespaces: test/fixtures/real/lab-mcast.yaml
 * built with `sg lab up` (a sender and two sinks on one bridge, no SG node), the sinks started by
 * the lab (`sg lab serve multicast-sink`), the workload run with `sg lab client` in the sender's
 * namespace as `sg run --real` runs it (ready, then t0 on stdin). Every datagram sent is recorded
 * once by each sink (nothing is lost on a local bridge), with its send time before its receipt,
 * the sink's host and service name, and the workload's size. Needs root and iproute2, like
 * lab.test.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { labDown, labUp, LAB_READY_TIMEOUT_MS, nsName, SG_BIN, type LabState } from '../../src/real/lab.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import type { McastLine } from '../../src/real/serve.ts';
import { canRunLab, until } from './support.ts';

const why = canRunLab();
if (why !== undefined) console.warn(`lab multicast test skipped: ${why}`);

const FILE = 'test/fixtures/real/lab-mcast.yaml';
const SINKS = [
  { host: 'm1', service: 'sink' },
  { host: 'm2', service: 'sink2' },
];

/** The JSON lines of a sink's log (its stdout; the rest of the log is its stderr). */
function sinkLines(lab: LabState, host: string, service: string): McastLine[] {
  let text = '';
  try {
    text = readFileSync(`${lab.dir}/${host}-${service}.log`, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.startsWith('{') && l.endsWith('}')).map((l) => JSON.parse(l) as McastLine);
}

describe.skipIf(why !== undefined)('lab multicast sink and client', () => {
  let lab: LabState | undefined;
  afterAll(() => {
    if (lab === undefined) return;
    labDown(lab.prefix);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`${lab.prefix}-`);
  });

  it('each sink records every datagram sent, once, with its send time, host and service', async () => {
    const loaded = loadScenario(readFileSync(FILE, 'utf8'), FILE);
    if (!loaded.ok) throw new Error(`${FILE} does not load`);
    const w = loaded.scenario.workloads[0]!;
    lab = labUp(FILE, { daemons: false });
    const l = lab;
    for (const s of SINKS) await until(`${s.host}/${s.service} to join`, () => sinkLines(l, s.host, s.service).some((x) => x.kind === 'mcast-joined'), LAB_READY_TIMEOUT_MS);
    // The client as sg run --real starts it: 'ready' once loaded, then t0 on stdin.
    const client = spawn('ip', ['netns', 'exec', nsName(l.prefix, w.from), process.execPath, SG_BIN, 'lab', 'client', JSON.stringify({ workload: w, seed: 1 })], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    client.stdout.setEncoding('utf8');
    client.stdout.on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((res) => client.on('exit', (c) => res(c)));
    await until('the client to be ready', () => out.startsWith('ready\n') || client.exitCode !== null, LAB_READY_TIMEOUT_MS);
    const t0 = monotonicUs();
    client.stdin.end(`${t0}\n`);
    expect(await exited).toBe(0);
    const reqs = out.split('\n').slice(1).filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as { kind: string; op?: string; status?: string }).filter((e) => e.kind === 'request');
    expect(reqs.length).toBeGreaterThanOrEqual(50); // Poisson 100/s for 1 s
    expect(reqs.every((e) => e.op === 'multicast' && e.status === 'ok')).toBe(true);
    const lat: number[] = [];
    for (const s of SINKS) {
      const recv = () => sinkLines(l, s.host, s.service).filter((x) => x.kind === 'mcast-recv');
      await until(`${s.host}/${s.service}: ${reqs.length} datagrams`, () => recv().length >= reqs.length, 10_000).catch(() => {});
      const got = recv();
      expect(got.length, `${s.host}/${s.service}`).toBe(reqs.length);
      const sent = new Set<number>();
      for (const x of got) {
        if (x.kind !== 'mcast-recv') continue;
        expect(x).toMatchObject({ node: s.host, service: s.service, bytes: 200 });
        expect(x.sent).not.toBeNull();
        expect(x.sent!).toBeGreaterThanOrEqual(t0);
        expect(x.sent!).toBeLessThanOrEqual(x.tm);
        sent.add(x.sent!);
        lat.push(x.tm - x.sent!);
      }
      expect(sent.size, 'one line per datagram').toBe(got.length);
    }
    lat.sort((a, b) => a - b);
    console.log(`lab multicast: ${reqs.length} datagrams sent, each received by both sinks; send-to-receipt p50 ${lat[lat.length >> 1]} µs, max ${lat[lat.length - 1]} µs`);
  }, 2 * LAB_READY_TIMEOUT_MS + 30_000);
});
