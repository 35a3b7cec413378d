/**
 * The lab's tool check (src/real/tools.ts): with a PATH that lacks a tool, one message names each
 * missing tool with its Debian package and the apt-get line; `sg lab up` says it and builds nothing.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLabTools, labTools, missingToolsMessage, onPath } from '../../src/real/tools.ts';
import { loadScenario } from '../../src/scenario/load.ts';

function scenario(file: string) {
  const r = loadScenario(readFileSync(file, 'utf8'), file);
  if (!r.ok) throw new Error(`cannot load ${file}`);
  return r.scenario;
}

/** A PATH directory holding executables named `tools` (and nothing else). */
function fakePath(tools: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sg-tools-'));
  for (const t of tools) {
    writeFileSync(join(dir, t), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, t), 0o755);
  }
  return dir;
}

describe('lab tool check', () => {
  it('names every missing tool with its Debian package and the install line', () => {
    const needed = labTools(scenario('scenarios/failover-partition.yaml'), { pcap: true });
    const path = fakePath(['ip', 'tc', 'sysctl']);
    const m = missingToolsMessage(needed, path);
    expect(m).toBeDefined();
    expect(m).toContain('ethtool (Debian package ethtool)');
    expect(m).toContain('nginx (Debian package nginx-light)');
    expect(m).toContain('nft (Debian package nftables)');
    expect(m).toContain('dumpcap (Debian package tshark)');
    expect(m).not.toContain('ip (Debian');
    expect(m).toContain('install with: apt-get install -y --no-install-recommends ethtool nginx-light nftables tshark');
    expect(() => checkLabTools(needed, path)).toThrow(/not found on PATH/);
  });

  it('asks only for what the scenario uses, and is silent when all are there', () => {
    const names = labTools(scenario('scenarios/lab-ping.yaml')).map((t) => t.tool);
    expect(names).toEqual(['ip', 'tc', 'sysctl', 'ethtool']);
    expect(missingToolsMessage(labTools(scenario('scenarios/lab-ping.yaml')), fakePath(names))).toBeUndefined();
  });

  it('does not count a directory or a file that cannot be run', () => {
    const dir = fakePath([]);
    writeFileSync(join(dir, 'nft'), 'not executable');
    expect(onPath('nft', dir)).toBe(false);
    expect(onPath('nft', fakePath(['nft']))).toBe(true);
  });

  it('stops `sg lab up` before it builds anything', async () => {
    const { labUp } = await import('../../src/real/lab.ts');
    const saved = process.env['PATH'];
    process.env['PATH'] = fakePath(['ip']);
    try {
      expect(() => labUp('scenarios/lab-ping.yaml', { prefix: 'sgtoolchk' })).toThrow(/tc \(Debian package iproute2\)[\s\S]*ethtool \(Debian package ethtool\)/);
    } finally {
      process.env['PATH'] = saved;
    }
  });
});
