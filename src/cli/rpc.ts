/**
 * `sg rpc serve|read|write`: the RPC key-value service on a real socket, its write replies marked
 * with the SG write-status IP option (src/real/rpc.ts), and a client for it.
 *
 *   sg rpc serve --port 2049 --group 239.1.1.1 --iface-addr 10.0.1.11 --name s1
 *   sg rpc write --to 10.0.0.100:2049 --key 7 --value 42
 *   sg rpc read --to 10.0.0.100:2049 --key 7
 *   sg rpc write --to 10.0.0.100:2049 --key 7 --value 42 --count 200
 */

import { formatIpv4, isMulticastIpv4, parseIpv4Addr, type Ipv4Addr } from '../wire/addr.ts';
import { RPC_STATUS } from '../wire/rpc.ts';
import { RPC_RETRANSMIT_MS_DEFAULT, RPC_TIMEOUT_MS_DEFAULT, rpcCall, rpcServe, type RpcCallOptions } from '../real/rpc.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

/** Requests per `--count` run at most. */
export const RPC_COUNT_MAX = 1_000_000;

export const RPC_USAGE = `usage: sg rpc serve [--port P] [--group GROUP [--iface-addr ADDR]] [--fail-writes] [--diverge] [--name NAME]
       sg rpc read  --to ADDR:PORT --key K [--retransmit-ms N] [--timeout-ms N] [--xid X | --count C]
       sg rpc write --to ADDR:PORT --key K --value V [--retransmit-ms N] [--timeout-ms N] [--xid X | --count C]

serve  the simulator's RPC key-value service on UDP port P (default 2049) of every address;
       write replies carry the SG write-status IP option (type 158: status 0 success, 1
       failure, and the value stored). Joins the multicast GROUP (on the interface with address
       ADDR) for WriteAll. --fail-writes answers every write with failure; --diverge stores
       value + 1 (a replica that disagrees). Runs to SIGTERM or SIGINT; a malformed request is
       ignored and counted.
read   send a read of key K (0..65535) and print the reply;
write  send a write of value V (an i32; a negative one as --value=-V) to key K and print the
       reply. Both retransmit the same request (same xid) every N ms (default ${RPC_RETRANSMIT_MS_DEFAULT}) until a
       reply or the timeout (default ${RPC_TIMEOUT_MS_DEFAULT} ms).
       The reply line: reply xid=X status=ok|error value=V from=ADDR:PORT tries=N ms=T
       --count C (1..${RPC_COUNT_MAX}) sends C requests one after the other, each with its own
       xid, from one process, and prints one line instead: count=C ok=K error=E timeout=T
       values=VxN,... p50=MS p99=MS max=MS rate=R/s (latency over the replies, nearest rank;
       rate: replies with status ok per second of the whole run)
exit status: serve 0 stopped, 1 bind or join failed; read/write 0 status ok, 1 status error or
no reply in time; 2 bad usage`;

/** The p-th percentile of `sorted` (ascending, not empty), nearest rank. */
function nearestRank(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function parseIntArg(text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined || !/^-?\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

async function serveCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('rpc', argv, { port: { type: 'string' }, group: { type: 'string' }, 'iface-addr': { type: 'string' }, 'fail-writes': { type: 'boolean' }, diverge: { type: 'boolean' }, name: { type: 'string' } }, RPC_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string) => usageError('rpc', `serve: ${msg}`, RPC_USAGE, io);
  if (args.positionals.length > 0) return usage(`unexpected argument '${args.positionals[0]}'`);
  const port = v.port === undefined ? 2049 : parseIntArg(v.port, 1, 65535);
  if (port === undefined) return usage(`--port must be an integer 1..65535, got '${v.port}'`);
  let group: Ipv4Addr | undefined;
  if (v.group !== undefined) {
    group = parseIpv4Addr(v.group);
    if (group === undefined || !isMulticastIpv4(group)) return usage(`--group must be a multicast IPv4 address (224.0.0.0/4), got '${v.group}'`);
  }
  let ifaceAddr: Ipv4Addr | undefined;
  if (v['iface-addr'] !== undefined) {
    if (group === undefined) return usage('--iface-addr needs --group');
    ifaceAddr = parseIpv4Addr(v['iface-addr']);
    if (ifaceAddr === undefined) return usage(`--iface-addr must be an IPv4 address, got '${v['iface-addr']}'`);
  }
  const name = v.name ?? `rpc:${port}`;
  const log = (l: string) => io.err(`${l}\n`);
  let failed: Error | undefined;
  let wake = () => {};
  const stopped = new Promise<void>((res) => (wake = res));
  const onSignal = () => wake();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const h = rpcServe(
    { port, name, ...(group !== undefined ? { group } : {}), ...(ifaceAddr !== undefined ? { ifaceAddr } : {}), ...(v['fail-writes'] === true ? { failWrites: true } : {}), ...(v.diverge === true ? { diverge: true } : {}) },
    log,
    (e) => {
      failed = e;
      wake();
    },
  );
  await stopped;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  h.close();
  if (failed !== undefined) {
    io.err(`sg rpc serve ${name}: ${failed.message}\n`);
    return EXIT.failed;
  }
  const s = h.server;
  const sup = h.support;
  log(
    `rpc ${name}: ${h.counters.requests} requests (${s.reads} reads, ${s.writes} writes, ${s.writeFailures} failed, ${s.badOps} bad ops), ${h.counters.malformed} malformed ignored; ` +
      `${sup.replies} replies sent (${sup.writeReplies} with the write status), ${sup.sendErrors} send errors, ${sup.optionErrors} not sent (option not set), ${sup.queueFull} dropped (queue full)`,
  );
  return EXIT.ok;
}

async function callCommand(op: 'read' | 'write', argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('rpc', argv, { to: { type: 'string' }, key: { type: 'string' }, value: { type: 'string' }, 'retransmit-ms': { type: 'string' }, 'timeout-ms': { type: 'string' }, xid: { type: 'string' }, count: { type: 'string' } }, RPC_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string) => usageError('rpc', `${op}: ${msg}`, RPC_USAGE, io);
  if (args.positionals.length > 0) return usage(`unexpected argument '${args.positionals[0]}'`);
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(v.to ?? '');
  const to = m === null ? undefined : parseIpv4Addr(m[1]!);
  const port = m === null ? undefined : parseIntArg(m[2], 1, 65535);
  if (to === undefined || port === undefined) return usage(v.to === undefined ? '--to ADDR:PORT is required' : `--to must be ADDR:PORT, got '${v.to}'`);
  const key = parseIntArg(v.key, 0, 0xffff);
  if (key === undefined) return usage(v.key === undefined ? '--key is required' : `--key must be an integer 0..65535, got '${v.key}'`);
  let value = 0;
  if (op === 'write') {
    const x = parseIntArg(v.value, -0x80000000, 0x7fffffff);
    if (x === undefined) return usage(v.value === undefined ? '--value is required for a write' : `--value must be an i32, got '${v.value}'`);
    value = x;
  } else if (v.value !== undefined) return usage('--value is for a write');
  const retransmitMs = v['retransmit-ms'] === undefined ? RPC_RETRANSMIT_MS_DEFAULT : parseIntArg(v['retransmit-ms'], 1, 60_000);
  if (retransmitMs === undefined) return usage(`--retransmit-ms must be an integer 1..60000, got '${v['retransmit-ms']}'`);
  const timeoutMs = v['timeout-ms'] === undefined ? RPC_TIMEOUT_MS_DEFAULT : parseIntArg(v['timeout-ms'], 1, 3_600_000);
  if (timeoutMs === undefined) return usage(`--timeout-ms must be an integer 1..3600000, got '${v['timeout-ms']}'`);
  const xid = v.xid === undefined ? undefined : parseIntArg(v.xid, 0, 0xffffffff);
  if (v.xid !== undefined && xid === undefined) return usage(`--xid must be an integer 0..4294967295, got '${v.xid}'`);
  if (v.count !== undefined) {
    const count = parseIntArg(v.count, 1, RPC_COUNT_MAX);
    if (count === undefined) return usage(`--count must be an integer 1..${RPC_COUNT_MAX}, got '${v.count}'`);
    if (xid !== undefined) return usage('--xid is for one request; --count gives each its own');
    return countCommand({ to, port, op, key, value, retransmitMs, timeoutMs }, count, io);
  }
  const r = await rpcCall({ to, port, op, key, value, retransmitMs, timeoutMs, ...(xid !== undefined ? { xid } : {}) });
  switch (r.kind) {
    case 'reply': {
      const status = r.reply.status === RPC_STATUS.ok ? 'ok' : r.reply.status === RPC_STATUS.error ? 'error' : String(r.reply.status);
      io.out(`reply xid=${r.reply.xid} status=${status} value=${r.reply.value} from=${r.from} tries=${r.tries} ms=${r.ms.toFixed(1)}\n`);
      return r.reply.status === RPC_STATUS.ok ? EXIT.ok : EXIT.failed;
    }
    case 'timeout':
      io.err(`sg rpc ${op}: no reply from ${formatIpv4(to)}:${port} in ${timeoutMs} ms (xid ${r.xid}, ${r.tries} sends, ${r.ignored} other datagrams ignored)\n`);
      return EXIT.failed;
    case 'error':
      io.err(`sg rpc ${op}: ${r.message}\n`);
      return EXIT.failed;
  }
}

/** `--count`: `count` calls in sequence, one summary line. */
async function countCommand(o: Omit<RpcCallOptions, 'xid'>, count: number, io: Io): Promise<number> {
  const ms: number[] = [];
  const values = new Map<number, number>();
  let ok = 0;
  let error = 0;
  let timeout = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const r = await rpcCall(o);
    if (r.kind === 'error') {
      io.err(`sg rpc ${o.op}: ${r.message} (after ${i} of ${count})\n`);
      return EXIT.failed;
    }
    if (r.kind === 'timeout') {
      timeout++;
      continue;
    }
    ms.push(r.ms);
    values.set(r.reply.value, (values.get(r.reply.value) ?? 0) + 1);
    if (r.reply.status === RPC_STATUS.ok) ok++;
    else error++;
  }
  const wallS = (performance.now() - t0) / 1000;
  ms.sort((a, b) => a - b);
  const lat = ms.length === 0 ? 'p50=- p99=- max=-' : `p50=${nearestRank(ms, 50).toFixed(3)}ms p99=${nearestRank(ms, 99).toFixed(3)}ms max=${ms[ms.length - 1]!.toFixed(3)}ms`;
  const vals = [...values].map(([v, n]) => `${v}x${n}`).join(',');
  io.out(`count=${count} ok=${ok} error=${error} timeout=${timeout} values=${vals === '' ? '-' : vals} ${lat} rate=${(ok / wallS).toFixed(1)}/s\n`);
  return ok === count ? EXIT.ok : EXIT.failed;
}

export async function rpcCommand(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve':
      return serveCommand(rest, io);
    case 'read':
    case 'write':
      return callCommand(sub, rest, io);
    case '--help':
    case '-h':
      io.out(`${RPC_USAGE}\n`);
      return EXIT.ok;
    default:
      return usageError('rpc', sub === undefined ? 'missing subcommand (serve, read, write)' : `unknown subcommand '${sub}'`, RPC_USAGE, io);
  }
}
