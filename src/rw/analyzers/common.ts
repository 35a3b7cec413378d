/** What the built-in analyzers share: the checks of `init`'s config. */

import type { AnalyzerConfig, AnalyzerInit } from '../analyzer.ts';

/** Why the group's ports are unusable, or undefined. */
export function checkPorts(config: AnalyzerConfig): string | undefined {
  if (config.ports.length === 0) return `group ${config.group}: the analyzer needs at least one port`;
  for (const p of config.ports) if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) return `group ${config.group}: port ${String(p)} is not 1-65535`;
  return undefined;
}

/** An error naming the options of an analyzer that takes none, or undefined. */
export function noOptions(config: AnalyzerConfig): string | undefined {
  const keys = Object.keys(config.options);
  return keys.length === 0 ? undefined : `group ${config.group}: this analyzer takes no options (got ${keys.join(', ')})`;
}

/** The `init` and `isMine` of an analyzer that takes no options and serves the group's ports. */
export class OnGroupPorts {
  #ports: ReadonlySet<number> = new Set();

  init(config: AnalyzerConfig): AnalyzerInit {
    const bad = checkPorts(config) ?? noOptions(config);
    if (bad !== undefined) return { ok: false, error: bad };
    this.#ports = new Set(config.ports);
    return { ok: true };
  }

  isMine(port: number): boolean {
    return this.#ports.has(port);
  }
}
