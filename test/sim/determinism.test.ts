/**
 * Determinism is a feature: the same scenario and seed give byte-identical traces and captures,
 * in two separate processes; and the mixed capture is clean in Wireshark's eyes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPcapng } from '../../src/capture/pcapng-read.ts';
import { requireTshark, tsharkCheck } from '../support/tshark.ts';
import { runMixed } from './mixed.ts';

const tshark = requireTshark();

function inChildProcess(seed: number): { trace: string; pcap: string; events: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/sim/mixed.ts', String(seed)], { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim()) as { trace: string; pcap: string; events: number };
}

describe('determinism', () => {
  it('two separate processes with the same seed produce byte-identical traces and captures', () => {
    const a = inChildProcess(42);
    const b = inChildProcess(42);
    expect(a.events).toBeGreaterThan(3_000);
    expect(b).toEqual(a);
    // And the seed matters: another seed gives another run.
    const c = inChildProcess(43);
    expect(c.trace).not.toBe(a.trace);
  });

  it('the mixed run carries ARP, ICMP, UDP, TCP and IGMP, and every packet points at its trace event', () => {
    const r = runMixed(7);
    const cap = readPcapng(r.pcap);
    expect(cap.ok).toBe(true);
    if (!cap.ok) return;
    expect(cap.value.packets.length).toBeGreaterThan(1000);
    const summaries = r.trace.split('\n').filter((l) => l.includes('"kind":"frame"') && l.includes('"dir":"tx"'));
    for (const kind of ['ARP who-has', 'ICMP', 'UDP', 'TCP', 'IGMP']) expect(summaries.some((l) => l.includes(kind)), kind).toBe(true);
    const ids = new Set(summaries.map((l) => Number(/"id":(\d+)/.exec(l)![1])));
    for (const p of cap.value.packets) expect(ids.has(Number(/^event (\d+)$/.exec(p.comment ?? '')?.[1]))).toBe(true);
  });

  it.runIf(tshark)('tshark reads the mixed capture with zero malformed packets and zero bad checksums', () => {
    const r = runMixed(7);
    const dir = mkdtempSync(join(tmpdir(), 'sg-mixed-'));
    const path = join(dir, 'mixed.pcapng');
    writeFileSync(path, r.pcap);
    const rep = tsharkCheck(path);
    expect(rep.packets).toBeGreaterThan(1000);
    expect(rep.malformed, rep.summary.slice(0, 20).join('\n')).toBe(0);
    expect(rep.badChecksums).toBe(0);
    expect(rep.expertErrors).toEqual([]);
    for (const proto of [' ARP ', ' ICMP ', ' UDP ', ' TCP ', ' IGMPv2 ']) expect(rep.summary.some((l) => l.includes(proto)), proto).toBe(true);
  });
});
