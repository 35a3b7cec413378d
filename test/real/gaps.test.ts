/**
 * Real mode skips nothing silently: every element of a scenario the lab does not run is one
 * printed line (`notRunInLab`, printed by `sg run --real` at the start and beside the results).
 * Pure: no lab needed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatNotRun, notRunInLab } from '../../src/real/gaps.ts';
import { loadScenario, type Scenario } from '../../src/scenario/load.ts';

function load(file: string): Scenario {
  const r = loadScenario(readFileSync(file, 'utf8'), file);
  if (!r.ok) throw new Error(`${file} does not load`);
  return r.scenario;
}

describe('what real mode does not run is printed', () => {
  it('multicast-igmp: the sinks, the multicast stream and the mrouter run; only link latency gets a line', () => {
    const sc = load('scenarios/multicast-igmp.yaml');
    const lines = notRunInLab(sc);
    expect(lines.some((l) => l.includes('multicast'))).toBe(false);
    expect(lines.some((l) => l.includes('querier'))).toBe(false);
    expect(lines.some((l) => l.startsWith('link latency, jitter and loss of senders (latency 100us)'))).toBe(true);
    // A segment's own querier address still does not run.
    const withQ = { ...sc, segments: sc.segments.map((s, i) => (i === 0 ? { ...s, querier: 0x0a0201fe } : s)) } as unknown as Scenario;
    expect(notRunInLab(withQ).some((l) => l.startsWith('IGMP querier of segment(s) senders: not run'))).toBe(true);
  });

  it('rpc-write-all: fail-writes runs (sg rpc serve --fail-writes); a partitioned rpc service gets a line', () => {
    const sc = load('scenarios/rpc-write-all.yaml');
    const lines = notRunInLab(sc);
    expect(lines.some((l) => l.includes('fail-writes') || l.startsWith('partition'))).toBe(false);
    const parted = {
      ...sc,
      hosts: sc.hosts.map((h) => (h.name === 'rs1' ? { ...h, services: h.services.map((s) => ({ ...s, partition: { replicas: 2, keyName: 'rs1', refresh: 500_000 } })) } : h)),
    } as unknown as Scenario;
    expect(notRunInLab(parted)).toContain("partition of rs1/rpc:2049: not run (sg rpc serve answers every read from its own store; it does not read the group's members)");
  });

  it('loss, delay and clock-rate faults are named with their times', () => {
    const sc = load('scenarios/lab-basic.yaml');
    const faults = [
      { at: 2_000_000, action: { kind: 'loss', link: 'rs1.eth0', p: 0.1, duration: 1_000_000 } },
      { at: 3_000_000, action: { kind: 'delay', link: 'rs1.eth0', extra: 5000, duration: 1_000_000 } },
      { at: 4_000_000, action: { kind: 'clock-rate', host: 'sg1', rate: 1.1 } },
      { at: 4_500_000, action: { kind: 'server-state', group: 'web', server: 'rs1', state: 'dead' } },
    ] as unknown as Scenario['faults'];
    const lines = notRunInLab({ ...sc, faults: [...sc.faults, ...faults] });
    expect(lines).toContain("fault loss (1, at 2s): not applied (netem is not in this kernel); traced as a fault with detail 'not applied'");
    expect(lines).toContain("fault delay (1, at 3s): not applied (netem is not in this kernel); traced as a fault with detail 'not applied'");
    expect(lines.some((l) => l.startsWith('fault clock-rate (1, at 4s): not applied'))).toBe(true);
    // server-state is sent as a feedback command (control.ts), with lab-basic's admin key: no
    // 'not applied' line, one saying the admin's dead also holds the server.
    expect(lines.filter((l) => l.startsWith('fault server-state'))).toEqual([
      "fault server-state (1, at 4.5s): sent with an admin key (no key of the server's own), so the dead or pending state also holds the server (its own state and counter requests are forbidden, its heartbeats are not taken as recoveries) until an admin's alive",
    ]);
    // The crash at 5 s runs for real: no line for it.
    expect(lines.some((l) => l.includes('crash'))).toBe(false);
  });

  it("a server-state fault after its server host's crash is named as not sent; one with only an admin key, as also holding", () => {
    const sc = load('scenarios/lab-server-state.yaml');
    const crash = { at: 2_000_000, action: { kind: 'crash', host: 'rs2' } } as unknown as Scenario['faults'][number];
    expect(notRunInLab({ ...sc, faults: [crash, ...sc.faults] })).toEqual([
      'fault server-state web/rs2 (at 3s): not sent: the crash of rs2 at 2s killed the sender on that host; traced as a fault with that detail',
      'fault server-state web/rs2 (at 6s): not sent: the crash of rs2 at 2s killed the sender on that host; traced as a fault with that detail',
      'link latency, jitter and loss of public (latency 100us), pool (latency 50us): not applied (netem is not in this kernel; bandwidth is, with tbf)',
    ]);
    const admin = { ...sc, cluster: { ...sc.cluster!, keys: [{ name: 'ops', key: { id: 1, secret: new Uint8Array(16), role: { kind: 'admin' } } }] } } as unknown as Scenario;
    expect(notRunInLab(admin).some((l) => l.startsWith('fault server-state (1, at 3s): sent with an admin key'))).toBe(true);
    expect(notRunInLab(sc).some((l) => l.startsWith('fault server-state'))).toBe(false);
  });

  it('control.yaml: the control timeline runs in the lab (control.ts), so it has no line', () => {
    expect(notRunInLab(load('scenarios/control.yaml')).some((l) => l.includes('control'))).toBe(false);
  });

  it('formatNotRun prefixes each line so it reads beside the results', () => {
    expect(formatNotRun(['a', 'b'])).toBe('not run in real mode: a\nnot run in real mode: b\n');
    expect(formatNotRun([])).toBe('');
  });
});
