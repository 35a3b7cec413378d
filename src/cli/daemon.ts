/**
 * `sg daemon`: run one SG node on real interfaces (src/real/daemon.ts).
 */
import { runDaemon } from '../real/daemon.ts';
import type { WatchTarget } from '../real/procwatch.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

export const DAEMON_USAGE = `usage: sg daemon --config FILE --node NAME [--public IFACE] [--private IFACE] [--trace FILE] [--t0 US]
       [--watch-process NAME | --watch-pidfile FILE] [--no-watch] [--hash-seed N]

Run the SG node NAME of the cluster in FILE (a scenario file; only its cluster: section, seed and
segments are used) on real interfaces, through AF_PACKET raw sockets. A FILE holding secrets
(cluster.keys, cluster.failover.key) must be mode 600, as key files are. The node owns its
addresses itself: give the interfaces no IP addresses (the kernel would answer ARP for them too).
Its port tests' schedule (first offsets, jitter) comes from FILE's seed and NAME, as the simulator's
node's does, so both probe at the same instants; its link table's hash seed and its incarnations
are drawn from node:crypto at each start. Needs CAP_NET_RAW (root).
  --public IFACE    the public interface (default eth0)
  --private IFACE   the private interface, towards the real servers (default eth1)
  --trace FILE      write the JSON Lines trace (the simulator's format) to FILE
  --t0 US           CLOCK_MONOTONIC microseconds that are time 0 of the trace (default: now)
  --start-file FILE synchronised start: bind the sockets, then wait for FILE to appear (JSON
                    {"t0": US, "at": US}, CLOCK_MONOTONIC microseconds) and start the engine at
                    'at' with 't0' as time 0 of the trace (instead of --t0)
  --status FILE     keep FILE (JSON) up to date: phase bound / running / stopped / failed, when
                    the engine started and how late, the worst timer lateness seen
  --watch-process NAME  watch the service process NAME (slide 6): poll /proc every 150 ms for a
                    process whose /proc/PID/comm or argv[0] basename is NAME and is not a zombie;
                    when none is, the node steps down / does not bid (as SIGUSR1), and bids
                    again when one runs (as SIGUSR2)
  --watch-pidfile FILE  the same for the process whose pid is in FILE (a missing or bad FILE
                    counts as not running)
                    Without either flag the daemon watches what FILE's cluster.nodes.NAME.watch
                    says ({ process: NAME } or { pidfile: PATH }, interval: default 150ms); a flag
                    overrides the file's watch, interval included (150 ms)
  --no-watch        do not watch the process of FILE's cluster.nodes.NAME.watch (the lab's
                    daemons; a --watch-* flag still watches); SIGUSR1/SIGUSR2 still work
  --hash-seed N     pin the link table's hash seed to N (0..4294967295) instead of a random one,
                    e.g. so that two runs hash alike; a client who knows it can aim its flows at
                    one bucket
signals: SIGHUP steps down gracefully (the others take over at once) and stays out;
         SIGINT/SIGTERM step down and exit; SIGUSR1/SIGUSR2: the watched process died / runs again.
exit status: 0 stopped by a signal, 1 the data plane failed, 2 bad usage or configuration`;

export async function daemonCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('daemon', argv, {
    config: { type: 'string' },
    node: { type: 'string' },
    public: { type: 'string' },
    private: { type: 'string' },
    trace: { type: 'string' },
    t0: { type: 'string' },
    'start-file': { type: 'string' },
    status: { type: 'string' },
    'watch-process': { type: 'string' },
    'watch-pidfile': { type: 'string' },
    'no-watch': { type: 'boolean' },
    'hash-seed': { type: 'string' },
  }, DAEMON_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string) => usageError('daemon', msg, DAEMON_USAGE, io);
  if (args.positionals.length > 0) return usage(`unexpected argument '${args.positionals[0]}'`);
  if (v.config === undefined) return usage('--config FILE is required');
  if (v.node === undefined) return usage('--node NAME is required');
  const t0 = v.t0 !== undefined ? Number(v.t0) : undefined;
  if (t0 !== undefined && !Number.isSafeInteger(t0)) return usage('--t0 must be an integer (microseconds)');
  if (t0 !== undefined && v['start-file'] !== undefined) return usage('give --t0 or --start-file, not both');
  if (v['watch-process'] !== undefined && v['watch-pidfile'] !== undefined) return usage('give --watch-process or --watch-pidfile, not both');
  if (v['watch-process'] === '') return usage('--watch-process needs a process name');
  if (v['watch-pidfile'] === '') return usage('--watch-pidfile needs a file');
  const hashSeed = v['hash-seed'] !== undefined ? Number(v['hash-seed']) : undefined;
  if (hashSeed !== undefined && !(/^\d{1,10}$/.test(v['hash-seed']!) && hashSeed <= 0xffffffff)) return usage('--hash-seed must be an integer 0..4294967295');
  const watch: WatchTarget | undefined =
    v['watch-process'] !== undefined ? { kind: 'name', name: v['watch-process'] } : v['watch-pidfile'] !== undefined ? { kind: 'pidfile', file: v['watch-pidfile'] } : undefined;
  let d: ReturnType<typeof runDaemon>;
  try {
    d = runDaemon({
      config: v.config,
      node: v.node,
      ...(v.public !== undefined ? { publicIface: v.public } : {}),
      ...(v.private !== undefined ? { privateIface: v.private } : {}),
      ...(v.trace !== undefined ? { trace: v.trace } : {}),
      ...(t0 !== undefined ? { t0 } : {}),
      ...(v['start-file'] !== undefined ? { startFile: v['start-file'] } : {}),
      ...(v.status !== undefined ? { status: v.status } : {}),
      ...(watch !== undefined ? { watch } : {}),
      ...(v['no-watch'] === true ? { noWatch: true } : {}),
      ...(hashSeed !== undefined ? { hashSeed } : {}),
      log: (l) => io.err(`${l}\n`),
    });
  } catch (e) {
    io.err(`sg daemon: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.usage;
  }
  return d.done;
}
