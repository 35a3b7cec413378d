/**
 * `sg lab up|down|list|serve`: the scenario's topology as network namespaces (src/real/lab.ts).
 */
import { labDown, labPrefixes, labUp, loadLabState } from '../real/lab.ts';
import { multicastSink, serve, SERVE_KINDS, stdoutLine } from '../real/serve.ts';
import { formatIpv4, isMulticastIpv4, parseIpv4Addr } from '../wire/addr.ts';
import { readScenario } from './files.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

export const LAB_USAGE = `usage: sg lab up FILE [--prefix P] [--no-daemons]
       sg lab down PREFIX | --all
       sg lab list

up     build FILE's segments (Linux bridges), hosts and SG nodes (network namespaces named
       PREFIX-NAME, veth pairs), start a multicast router for each host with mrouter: (sg lab
       mrouter), its services (nginx or the project's Node servers) and an 'sg daemon' per SG
       node; prints the prefix. Run-unique prefix unless --prefix is given.
down   remove the lab PREFIX: its processes (by PID), its namespaces (also any PREFIX-* left by a
       crashed run) and its state file; --all removes every lab with a state file.
list   the labs with a state file, their namespaces and processes.
Needs root (network namespaces). Run a command in a lab host with: ip netns exec PREFIX-HOST CMD
exit status: 0 done, 1 a step failed (what was built is removed again), 2 bad usage`;

async function readyThenT0(io: Io): Promise<number | undefined> {
  io.out('ready\n');
  let buf = '';
  for await (const chunk of process.stdin) {
    buf += String(chunk);
    if (buf.includes('\n')) break;
  }
  const t0 = Number(buf.split('\n')[0]);
  return Number.isSafeInteger(t0) ? t0 : undefined;
}

const MCAST_SINK_USAGE = 'usage: sg lab serve multicast-sink PORT --name HOST --group GROUP --iface-addr ADDR --service NAME';

/**
 * `sg lab serve multicast-sink`: joins GROUP on the interface whose address is ADDR; one JSON line
 * per datagram on stdout (src/real/serve.ts multicastSink), its log on stderr. Runs to SIGTERM;
 * a failed bind or join is exit 1.
 */
async function serveMulticastSink(argv: readonly string[], io: Io): Promise<number> {
  const usage = (msg: string) => usageError('lab', `serve multicast-sink: ${msg}`, `${MCAST_SINK_USAGE}\n\n${LAB_USAGE}`, io);
  const args = parseCommand('lab', argv, { name: { type: 'string' }, group: { type: 'string' }, 'iface-addr': { type: 'string' }, service: { type: 'string' } }, `${MCAST_SINK_USAGE}\n\n${LAB_USAGE}`, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const [port, ...extra] = args.positionals;
  if (port === undefined) return usage('missing PORT');
  if (extra.length > 0) return usage(`unexpected argument '${extra[0]}'`);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return usage(`PORT must be an integer 1..65535, got '${port}'`);
  for (const k of ['name', 'group', 'iface-addr', 'service'] as const) if (v[k] === undefined || v[k] === '') return usage(`--${k} is required`);
  const group = parseIpv4Addr(v.group!);
  if (group === undefined || !isMulticastIpv4(group)) return usage(`--group must be a multicast IPv4 address (224.0.0.0/4), got '${v.group}'`);
  const iface = parseIpv4Addr(v['iface-addr']!);
  if (iface === undefined) return usage(`--iface-addr must be an IPv4 address, got '${v['iface-addr']}'`);
  const log = (l: string) => io.err(`${l}\n`);
  let failed: Error | undefined;
  let wake = () => {};
  const stopped = new Promise<void>((res) => (wake = res));
  const onTerm = () => wake();
  process.once('SIGTERM', onTerm);
  const sink = multicastSink({ port: Number(port), name: v.name!, service: v.service!, group: formatIpv4(group), ifaceAddr: formatIpv4(iface) }, stdoutLine, log, (e) => {
    failed = e;
    wake();
  });
  await stopped;
  process.off('SIGTERM', onTerm);
  sink.close();
  if (failed !== undefined) {
    io.err(`sg lab serve multicast-sink ${v.service}: ${failed.message}\n`);
    return EXIT.failed;
  }
  log(`multicast-sink ${v.service}: ${sink.counts.received} datagrams recorded, ${sink.counts.short} shorter than 12 bytes ignored`);
  return EXIT.ok;
}

export async function labCommand(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'client') {
    const { parseClientSpec, runClient, openClient } = await import('../real/client.ts');
    const spec = rest[0];
    if (spec === undefined || rest.length !== 1) return usageError('lab', 'usage: sg lab client SPEC-JSON', LAB_USAGE, io);
    const parsed = parseClientSpec(spec);
    if (!parsed.ok) return usageError('lab', `client: bad SPEC-JSON: ${parsed.message}`, LAB_USAGE, io);
    let opened: ReturnType<typeof openClient>;
    try {
      opened = openClient(parsed.spec);
    } catch (e) {
      io.err(`sg lab client ${parsed.spec.workload.name}: ${(e as Error).message}\n`);
      return EXIT.failed;
    }
    // Without a t0: say 'ready' once loaded and take t0 from the first line of stdin (sg run --real
    // fixes it when every daemon and client is ready).
    const t0 = parsed.spec.t0 ?? (await readyThenT0(io));
    if (t0 === undefined) return usageError('lab', 'sg lab client: no t0 (microseconds) on stdin', LAB_USAGE, io);
    await runClient({ ...parsed.spec, t0 }, (line) => io.out(`${line}\n`), opened);
    return EXIT.ok;
  }
  if (sub === 'control') {
    // A host's sender of the control timeline (src/real/control.ts), started by sg run --real.
    const { senderMain } = await import('../real/control.ts');
    if (rest.length !== 1) return usageError('lab', 'usage: sg lab control SPEC-JSON', LAB_USAGE, io);
    const problem = await senderMain(rest[0]!, (line) => io.out(`${line}\n`));
    if (problem !== undefined) return usageError('lab', `control: ${problem}`, LAB_USAGE, io);
    return EXIT.ok;
  }
  if (sub === 'mrouter') {
    // The lab's multicast router in a host's namespace (src/real/mrouter.ts), started by the lab.
    const { parseMrouterSpec, runMrouter } = await import('../real/mrouter.ts');
    if (rest.length !== 1) return usageError('lab', 'usage: sg lab mrouter SPEC-JSON', LAB_USAGE, io);
    const parsed = parseMrouterSpec(rest[0]!);
    if (!parsed.ok) return usageError('lab', `mrouter: bad SPEC-JSON: ${parsed.message}`, LAB_USAGE, io);
    runMrouter(parsed.spec);
  }
  if (sub === 'serve' && rest[0] === 'multicast-sink') return serveMulticastSink(rest.slice(1), io);
  if (sub === 'serve') {
    const [kind, port, flag, name] = rest;
    if (kind === undefined || port === undefined || flag !== '--name' || name === undefined) return usageError('lab', 'usage: sg lab serve KIND PORT --name HOST', LAB_USAGE, io);
    if (!(SERVE_KINDS as readonly string[]).includes(kind)) return usageError('lab', `serve: unknown kind '${kind}' (${SERVE_KINDS.join(', ')})`, LAB_USAGE, io);
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return usageError('lab', `serve: PORT must be an integer 1..65535, got '${port}'`, LAB_USAGE, io);
    serve(kind, Number(port), name, (l) => io.err(`${l}\n`));
    await new Promise<void>((res) => process.once('SIGTERM', () => res()));
    return EXIT.ok;
  }
  const args = parseCommand('lab', rest, { prefix: { type: 'string' }, 'no-daemons': { type: 'boolean' }, all: { type: 'boolean' } }, LAB_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string) => usageError('lab', msg, LAB_USAGE, io);
  const log = (l: string) => io.err(`${l}\n`);
  try {
    switch (sub) {
      case 'up': {
        const [file] = args.positionals;
        if (file === undefined) return usage('sg lab up needs a scenario FILE');
        if (v.prefix !== undefined && !/^[a-z][a-z0-9]{1,11}$/.test(v.prefix)) return usage(`lab prefix '${v.prefix}' must be 2-12 lowercase letters and digits, starting with a letter`);
        // A missing or broken file is bad input (exit 2), not a failed step.
        const loaded = readScenario(file);
        if (!loaded.ok) {
          io.err(`${loaded.message}\n`);
          return EXIT.usage;
        }
        const st = labUp(file, { ...(v.prefix !== undefined ? { prefix: v.prefix } : {}), daemons: v['no-daemons'] !== true, log });
        io.out(`${st.prefix}\n`);
        return EXIT.ok;
      }
      case 'down': {
        const prefixes = v.all === true ? labPrefixes() : args.positionals.slice(0, 1);
        if (prefixes.length === 0 && v.all !== true) return usage('sg lab down needs a PREFIX (or --all)');
        for (const p of prefixes) labDown(p, log);
        return EXIT.ok;
      }
      case 'list': {
        for (const p of labPrefixes()) {
          const s = loadLabState(p);
          io.out(`${p}  ${s?.scenario ?? '?'}  ${s?.namespaces.length ?? 0} namespaces  ${s?.processes.map((x) => `${x.name}:${x.pid}`).join(' ') ?? ''}\n`);
        }
        return EXIT.ok;
      }
      default:
        return usage(sub === undefined ? 'missing subcommand (up, down, list)' : `unknown subcommand '${sub}'`);
    }
  } catch (e) {
    io.err(`sg lab ${sub}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
