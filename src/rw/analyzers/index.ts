/**
 * The built-in analyzers by the name a group's configuration gives (`analyzer: dns`). Each
 * factory makes a fresh, un-initialised analyzer; the caller calls `init` with the group's
 * config. A user's analyzer, a module named in the configuration, is loaded outside the engine
 * (src/real/load-analyzer.ts) and wrapped by src/rw/guard.ts.
 *
 *   rpc     the simulator's RPC key-value protocol (src/wire/rpc.ts)
 *   oncrpc  ONC RPC (RFC 5531) with a program table given in the options
 *   nfs3    ONC RPC with NFSv3's table (RFC 1813: program 100003 version 3)
 *   dns     DNS (RFC 1035) with UPDATE (RFC 2136) as the write
 */

import type { AnalyzerFactory } from '../analyzer.ts';
import { DnsAnalyzer } from './dns.ts';
import { NFS3_PROGRAM, OncRpcAnalyzer } from './oncrpc.ts';
import { RpcAnalyzer } from './rpc.ts';

export const BUILTIN_ANALYZERS = {
  rpc: () => new RpcAnalyzer(),
  oncrpc: () => new OncRpcAnalyzer(),
  nfs3: () => new OncRpcAnalyzer(NFS3_PROGRAM),
  dns: () => new DnsAnalyzer(),
} as const satisfies Readonly<Record<string, AnalyzerFactory>>;

export type BuiltinAnalyzerName = keyof typeof BUILTIN_ANALYZERS;
export const BUILTIN_ANALYZER_NAMES = Object.keys(BUILTIN_ANALYZERS) as readonly BuiltinAnalyzerName[];

export function isBuiltinAnalyzer(name: string): name is BuiltinAnalyzerName {
  return Object.hasOwn(BUILTIN_ANALYZERS, name);
}

/** A fresh analyzer of a built-in name, or undefined for a name that is not one. */
export function builtinAnalyzer(name: string): ReturnType<AnalyzerFactory> | undefined {
  return isBuiltinAnalyzer(name) ? BUILTIN_ANALYZERS[name]() : undefined;
}

export { DnsAnalyzer } from './dns.ts';
export { NFS3_PROGRAM, OncRpcAnalyzer, type OncProgram } from './oncrpc.ts';
export { RpcAnalyzer } from './rpc.ts';
