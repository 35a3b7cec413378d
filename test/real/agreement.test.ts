/**
 * Sim-vs-real agreement: every scenario marked `real: true` runs in the simulator and in
 * the namespace lab (`sg run --real`); its expectations hold in both, and the decisions agree
 * (`sg diff`: the order of masters, server state transitions, each node's link targets under the
 * deterministic policy). The daemons start together once all are ready (however slow the
 * machine), and the time tolerance is derived from what the run measured of its own lateness
 * (`agreementTolerance`), printed with any failure. Needs root and iproute2, like lab.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../sim/scenario.ts';
import { LAB_READY_TIMEOUT_MS } from '../../src/real/lab.ts';
import { agreementTolerance, formatTiming, runReal } from '../../src/real/run.ts';
import { diffTraces, formatDiff, readTrace, type DiffEvent } from '../../src/scenario/diff.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { JsonlTrace } from '../../src/trace.ts';
import { formatIpv4 } from '../../src/wire/addr.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function labPossible(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A deadline, not a wait: the lab's own bounded waits (daemons, then clients: LAB_READY_TIMEOUT_MS
 * each), the scenario's duration, and room for the simulator run, building the lab and tshark on
 * a machine whose every process start takes seconds.
 */
function realTestTimeout(file: string): number {
  const r = loadScenario(readFileSync(file, 'utf8'), file);
  return 2 * LAB_READY_TIMEOUT_MS + (r.ok ? r.scenario.duration / 1000 : 60_000) + 120_000;
}

const marked = readdirSync('scenarios')
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => `scenarios/${f}`)
  .filter((f) => {
    const r = loadScenario(readFileSync(f, 'utf8'), f);
    return r.ok && r.scenario.real;
  });

describe.skipIf(!labPossible())('sim-vs-real agreement', () => {
  it('there is at least one scenario marked real: true', () => {
    expect(marked.length).toBeGreaterThanOrEqual(1);
  });

  for (const file of marked) {
    it(`${file}: expectations hold in both worlds and the decisions agree`, async () => {
      const loaded = loadScenario(readFileSync(file, 'utf8'), file);
      if (!loaded.ok) throw new Error('load');
      const simEvents: DiffEvent[] = [];
      const sim = runScenario(loaded.scenario, { trace: new JsonlTrace((l) => { const e = JSON.parse(l) as DiffEvent; if (e.kind !== 'header') simEvents.push(e); }), traceFrames: false });
      expect(sim.passed).toBe(true);
      const dir = mkdtempSync(join(tmpdir(), 'sg-real-'));
      const out = join(dir, 'real.jsonl');
      const pcap = join(dir, 'real.pcapng');
      const labLog: string[] = [];
      const real = await runReal(file, { trace: out, pcap, log: (l) => labLog.push(l) });
      const timing = `${formatTiming(real.timing)}\n${labLog.join('\n')}`;
      for (const e of real.expectations) expect(e.pass, `${e.path}: ${e.measured} [expected ${e.bound}]; lab timing: ${timing}`).toBe(true);
      const realTrace = readTrace(readFileSync(out, 'utf8'));
      expect(realTrace.ok ? '' : `${out}:${realTrace.line}: ${realTrace.message}`).toBe('');
      // The lab shares 2 cores with the rest of the test run: the tolerance is what this run measured.
      const checks = diffTraces(simEvents, realTrace.ok ? realTrace.events : [], agreementTolerance(real.timing));
      expect(checks.every((c) => c.agree), `${formatDiff(checks, 'sim', 'real')}lab timing: ${timing}`).toBe(true);
      // The lab's capture (dumpcap on every segment's bridge) opens in tshark without errors and
      const frames = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
      expect(frames).toBeGreaterThan(100);
      expect(execFileSync('tshark', ['-r', pcap, '-Y', '_ws.malformed || _ws.expert.severity >= error'], { encoding: 'utf8' }).trim()).toBe('');
      // shows the takeover's gratuitous ARPs (a scenario without SG nodes: the multicast
      // router's IGMP queries, decoded as such).
      const c = loaded.scenario.cluster;
      if (c !== undefined && c.groups.length > 0) expect(execFileSync('tshark', ['-r', pcap, '-Y', 'arp.isgratuitous'], { encoding: 'utf8' })).toContain(`ARP Announcement for ${formatIpv4(c.groups[0]!.vip)}`);
      else expect(execFileSync('tshark', ['-r', pcap, '-Y', 'igmp.type == 0x11'], { encoding: 'utf8' })).toContain('Membership Query');
    }, realTestTimeout(file));
  }
});
