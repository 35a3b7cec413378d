/**
 * The programs the lab runs, checked on PATH before `sg lab up` / `sg run --real` build anything:
 * one message names every missing tool with its Debian package (and the apt-get line), instead of
 * an ENOENT from the first spawn half-way through building the lab.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Scenario } from '../scenario/load.ts';

export interface LabTool {
  readonly tool: string;
  /** The Debian package that has it. */
  readonly pkg: string;
  /** What the lab uses it for (in the message). */
  readonly why: string;
}

const IP: LabTool = { tool: 'ip', pkg: 'iproute2', why: 'namespaces, veths, bridges, addresses, routes' };
const TC: LabTool = { tool: 'tc', pkg: 'iproute2', why: 'line rates on the switch ports' };
const SYSCTL: LabTool = { tool: 'sysctl', pkg: 'procps', why: 'forwarding, IPv6 off, ping_group_range per namespace' };
const ETHTOOL: LabTool = { tool: 'ethtool', pkg: 'ethtool', why: 'checksum offload off on the veths' };
const NGINX: LabTool = { tool: 'nginx', pkg: 'nginx-light', why: 'the http services on the real servers' };
const KNOTD: LabTool = { tool: 'knotd', pkg: 'knot', why: 'the dns services on the real servers (Knot DNS)' };
const DIG: LabTool = { tool: 'dig', pkg: 'dnsutils', why: 'the lab asks each knotd for its zone\'s SOA until it answers (its readiness)' };
const NFT: LabTool = { tool: 'nft', pkg: 'nftables', why: 'partition and heal faults' };
const DUMPCAP: LabTool = { tool: 'dumpcap', pkg: 'tshark', why: '--pcap capture on the bridges' };

/** The tools a lab for `sc` needs (`pcap`: sg run --real --pcap). */
export function labTools(sc: Scenario, opts: { readonly pcap?: boolean } = {}): LabTool[] {
  const t = [IP, TC, SYSCTL, ETHTOOL];
  if (sc.hosts.some((h) => h.services.some((s) => s.kind === 'http'))) t.push(NGINX);
  if (sc.hosts.some((h) => h.services.some((s) => s.kind === 'dns'))) t.push(KNOTD, DIG);
  if (sc.faults.some((f) => f.action.kind === 'partition' || f.action.kind === 'heal')) t.push(NFT);
  if (opts.pcap === true) t.push(DUMPCAP);
  return t;
}

/** Whether `tool` is an executable file in one of PATH's directories. */
export function onPath(tool: string, path: string): boolean {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const f = join(dir, tool);
    try {
      if (!statSync(f).isFile()) continue;
      accessSync(f, constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** The message for the tools of `needed` not on `path` (undefined: all there). */
export function missingToolsMessage(needed: readonly LabTool[], path = process.env['PATH'] ?? ''): string | undefined {
  const missing = needed.filter((t) => !onPath(t.tool, path));
  if (missing.length === 0) return undefined;
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  const lines = missing.map((t) => `  ${t.tool} (Debian package ${t.pkg}): ${t.why}`);
  return `the lab needs ${missing.length === 1 ? 'a tool' : 'tools'} not found on PATH:\n${lines.join('\n')}\ninstall with: apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

/** Throw the message when a tool the lab needs is missing. */
export function checkLabTools(needed: readonly LabTool[], path?: string): void {
  const m = missingToolsMessage(needed, path);
  if (m !== undefined) throw new Error(m);
}
