/**
 * `sg hb`: the SGhb agent of slides 41-42, run on a real server. It watches one process (by pid
 * or by name) and, while the process exists and answers signal 0, sends a signed heartbeat to the
 * SG node every interval with the server's own key. When the process is gone the heartbeats stop,
 * and the node's heartbeat detector makes the server Pending after H and Dead after 2H.
 *
 *   sg hb --node 192.168.1.254 --key rs1.key --server web/rs1 --name nginx --interval 1s
 *
 * In the simulator the same heartbeats come from a scenario's `control:` timeline (`every:`).
 */

import { readdirSync, readFileSync } from 'node:fs';
import { CtlSession, requestProblem } from '../ctl/client.ts';
import { CTL_PORT_DEFAULT } from '../ctl/types.ts';
import { duration } from '../scenario/units.ts';
import { readKeyFile } from './cmd.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

export const HB_USAGE = `usage: sg hb --node ADDR[:PORT] --key FILE --server GROUP/SERVER (--pid N | --name NAME) [--interval T] [--count N]

Send a signed heartbeat to an SG node every interval while a process is alive (slide 41's SGhb).
  --pid N        watch this process id
  --name NAME    watch the first process whose name (/proc/PID/comm) is NAME
  --interval T   heartbeat interval (default 1s)
  --count N      stop after N heartbeats (default: run until the process dies or SIGTERM)
exit status: 0 stopped by --count or SIGTERM, 1 the watched process died or vanished, 2 bad usage`;

/** Largest process id Linux hands out (pid_max is at most 2^22). */
export const PID_MAX = 4_194_304;

/** Whether a process exists and answers signal 0 (EPERM also means it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the first process named `name`, from /proc. */
export function findProcess(name: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name) return Number(d);
    } catch {
      // raced with its exit
    }
  }
  return undefined;
}

export async function hbCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('hb', argv, {
    node: { type: 'string' },
    key: { type: 'string' },
    server: { type: 'string' },
    pid: { type: 'string' },
    name: { type: 'string' },
    interval: { type: 'string' },
    count: { type: 'string' },
  }, HB_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const usage = (msg: string) => usageError('hb', msg, HB_USAGE, io);
  if (args.positionals.length > 0) return usage(`unexpected argument '${args.positionals[0]}'`);
  const m = /^([^:]+)(?::(\d+))?$/.exec(v.node ?? '');
  if (!m) return usage('--node ADDR[:PORT] is required');
  const port = m[2] !== undefined ? Number(m[2]) : CTL_PORT_DEFAULT;
  if (v.key === undefined) return usage('--key FILE is required');
  const key = readKeyFile(v.key);
  if (!key.ok) return usage(key.message);
  const [group, server] = (v.server ?? '').split('/');
  if (!group || !server) return usage('--server GROUP/SERVER is required');
  if ((v.pid === undefined) === (v.name === undefined)) return usage('give exactly one of --pid or --name');
  const interval = duration(v.interval ?? '1s');
  if (interval === undefined || interval <= 0) return usage(`--interval must be a duration such as 1s`);
  const count = v.count !== undefined ? Number(v.count) : Number.POSITIVE_INFINITY;
  if (!(count > 0)) return usage('--count must be positive');
  if (v.pid !== undefined && !(/^\d{1,10}$/.test(v.pid) && Number(v.pid) >= 1 && Number(v.pid) <= PID_MAX)) return usage(`--pid must be a process id 1..${PID_MAX}, got '${v.pid}'`);
  const problem = requestProblem({ cls: 'server', op: 'set', group, server, property: 'heartbeat', data: '0' });
  if (problem) return usage(problem);
  const pid = v.pid !== undefined ? Number(v.pid) : findProcess(v.name!);
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) {
    io.err(`sg hb: no process ${v.pid !== undefined ? `with pid ${v.pid}` : `named ${v.name}`}\n`);
    return EXIT.failed;
  }
  const dgram = await import('node:dgram');
  const { randomInt } = await import('node:crypto');
  const sock = dgram.createSocket('udp4');
  const session = new CtlSession(key.key, randomInt(1, 0xffffffff));
  let sent = 0;
  let stop = false;
  const onTerm = () => void (stop = true);
  process.once('SIGTERM', onTerm);
  try {
    while (!stop && sent < count) {
      if (!processAlive(pid)) {
        io.err(`sg hb: process ${pid} is gone; heartbeats stop\n`);
        return EXIT.failed;
      }
      sent++;
      const bytes = session.heartbeat(group, server, sent, Date.now() * 1000);
      await new Promise<void>((resolve) => sock.send(bytes, port, m[1]!, () => resolve()));
      if (sent < count) await new Promise((r) => setTimeout(r, interval / 1000));
    }
    return EXIT.ok;
  } finally {
    process.removeListener('SIGTERM', onTerm);
    sock.close();
  }
}
