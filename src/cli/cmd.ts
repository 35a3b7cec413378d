/**
 * `sg cmd`: the seed's sgcmd (slide 27) for administrators and shell scripts.
 *
 *   sg cmd --node 140.116.72.211 --key admin.key set server web/rs1 weight 0
 *   sg cmd --node 140.116.72.211 --key rs1.key set server web/rs1 heartbeat 42
 *   sg cmd --node 140.116.72.211 --key admin.key get cluster links
 *   sg cmd --node 140.116.72.211 --key admin.key list group web
 *
 * Keys come from files only (never the command line, where `ps` and shell history see them), and
 * a key file readable by group or others is refused, as ssh does. Exit status: 0 the node
 * answered ok; 1 it answered with an error status, or did not answer; 2 bad usage or key file.
 */

import { readFileSync } from 'node:fs';
import { secretFileProblem } from '../real/secrets.ts';
import { CtlSession, readResult, requestProblem } from '../ctl/client.ts';
import { CTL_CLASS, CTL_OP, CTL_PORT_DEFAULT, CTL_STATUS, type CtlClass, type CtlKey, type CtlOp, type CtlResult } from '../ctl/types.ts';
import { parseIpv4Addr } from '../wire/addr.ts';
import { duration } from '../scenario/units.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

export const CMD_USAGE = `usage: sg cmd --node ADDR[:PORT] --key FILE [options] <op> <class> [<group>[/<server>]] [<property> [<value>]]

Send one feedback-protocol command to an SG node and print its answer.

  op      get | set | add | delete | list
  class   cluster | group | server
examples:
  sg cmd --node 10.0.0.1 --key admin.key set server web/rs1 weight 0      drain rs1
  sg cmd --node 10.0.0.1 --key rs1.key set server web/rs1 heartbeat 42    slide 41's cmd_server_heartbeat_count
  sg cmd --node 10.0.0.1 --key rs1.key set server web/rs1 counter 17      the external counter of slide 28
  sg cmd --node 10.0.0.1 --key admin.key get cluster links
  sg cmd --node 10.0.0.1 --key admin.key list group web

options:
  --node ADDR[:PORT]  the node's address (port ${CTL_PORT_DEFAULT} by default)
  --key FILE          key file: {"id": N, "secret": "<hex, 32+ digits>", "role": "admin"}
                      (mode 600: a file readable by group or others is refused)
  --timeout T         wait this long for the answer (default 2s)
  --retries N         resend this many times on no answer (default 2; each resend is a new,
                      freshly timestamped command, so it is never taken for a replay)
  --json              print the answer as JSON
exit status: 0 answered ok, 1 answered with an error or no answer, 2 bad usage or key file`;

/** How `sg cmd` reaches a node: UDP in real mode, a simulated host in tests. */
export interface CtlTransport {
  /** Send `bytes` to the node and resolve with the first datagram back, or undefined after `timeoutUs`. */
  request(bytes: Uint8Array, timeoutUs: number): Promise<Uint8Array | undefined>;
  /** The sender's clock in µs (timestamps must be close to the node's clock). */
  nowUs(): number;
  close(): void;
}

export type KeyFile = { readonly ok: true; readonly key: CtlKey } | { readonly ok: false; readonly message: string };

/** Parse a key's JSON text; `where` names it in errors. */
export function parseKey(text: string, where: string): KeyFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, message: `${where}: not JSON` };
  }
  const o = v as { id?: unknown; secret?: unknown; role?: unknown };
  if (typeof o !== 'object' || o === null) return { ok: false, message: `${where}: expected an object {"id", "secret", "role"}` };
  if (typeof o.id !== 'number' || !Number.isInteger(o.id) || o.id < 0 || o.id > 0xffff) return { ok: false, message: `${where}: id must be an integer in [0, 65535]` };
  if (typeof o.secret !== 'string' || !/^([0-9a-fA-F]{2}){16,}$/.test(o.secret)) return { ok: false, message: `${where}: secret must be at least 32 hex digits (16 bytes)` };
  const secret = new Uint8Array(o.secret.length / 2);
  for (let i = 0; i < secret.length; i++) secret[i] = parseInt(o.secret.slice(2 * i, 2 * i + 2), 16);
  let role: CtlKey['role'];
  if (o.role === undefined || o.role === 'admin') role = { kind: 'admin' };
  else if (typeof o.role === 'object' && o.role !== null && typeof (o.role as { group?: unknown }).group === 'string' && typeof (o.role as { server?: unknown }).server === 'string') {
    const r = o.role as { group: string; server: string };
    role = { kind: 'server', group: r.group, server: r.server };
  } else return { ok: false, message: `${where}: role must be "admin" or {"group": "...", "server": "..."}` };
  return { ok: true, key: { id: o.id, secret, role } };
}

/** Read a key file, refusing one that group or others may read (src/real/secrets.ts: the daemon's configuration follows the same rule). */
export function readKeyFile(path: string): KeyFile {
  const problem = secretFileProblem(path, 'key file');
  if (problem !== undefined) return { ok: false, message: problem };
  return parseKey(readFileSync(path, 'utf8'), path);
}

export interface CmdRequest {
  readonly node: { readonly addr: string; readonly port: number };
  readonly op: CtlOp;
  readonly cls: CtlClass;
  readonly group: string;
  readonly server: string;
  readonly property: string;
  readonly data: string;
}

/** Parse the positional words and --node; a string is a usage error. */
export function parseCmdWords(words: readonly string[], node: string | undefined): CmdRequest | string {
  if (node === undefined) return '--node is required';
  const m = /^([^:]+)(?::(\d+))?$/.exec(node);
  if (!m || parseIpv4Addr(m[1]!) === undefined) return `--node must be ADDR[:PORT], got '${node}'`;
  const port = m[2] !== undefined ? Number(m[2]) : CTL_PORT_DEFAULT;
  if (!(port >= 1 && port <= 65535)) return `--node port out of range: ${port}`;
  const [op, cls, target, property, ...value] = words;
  if (op === undefined || !(op in CTL_OP)) return `op must be one of ${Object.keys(CTL_OP).join(', ')}${op ? `, got '${op}'` : ''}`;
  if (cls === undefined || !(cls in CTL_CLASS)) return `class must be one of ${Object.keys(CTL_CLASS).join(', ')}${cls ? `, got '${cls}'` : ''}`;
  let group = '';
  let server = '';
  let prop = property;
  let rest = value;
  if (cls === 'cluster') {
    // `get cluster links`: no target word.
    prop = target;
    rest = property !== undefined ? [property, ...value] : [];
  } else {
    if (target === undefined) return `${cls} commands name a ${cls === 'server' ? 'group/server' : 'group'}`;
    const slash = target.indexOf('/');
    group = slash < 0 ? target : target.slice(0, slash);
    server = slash < 0 ? '' : target.slice(slash + 1);
    if (cls === 'server' && server === '') return `server commands name group/server, got '${target}'`;
  }
  const data = rest.join(' ');
  if (op === 'set' && (prop === undefined || data === '')) return 'set needs a property and a value';
  if ((op === 'get' || op === 'set') && prop === undefined) return `${op} needs a property`;
  const problem = requestProblem({ cls: cls as CtlClass, op: op as CtlOp, group, server, property: prop ?? '', data });
  if (problem !== undefined) return problem;
  return { node: { addr: m[1]!, port }, op: op as CtlOp, cls: cls as CtlClass, group, server, property: prop ?? '', data };
}

export interface CmdOutcome {
  readonly exit: number;
  readonly result?: CtlResult;
}

/** Run one command over a transport; prints the answer. */
export async function runCmd(req: CmdRequest, key: CtlKey, transport: CtlTransport, io: Io, opts: { json: boolean; timeoutUs: number; retries: number }): Promise<CmdOutcome> {
  const { randomInt } = await import('node:crypto');
  const session = new CtlSession(key, randomInt(1, 0xffffffff));
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    const { bytes, command } = session.command({ cls: req.cls, op: req.op, group: req.group, server: req.server, property: req.property, data: req.data }, transport.nowUs());
    const reply = await transport.request(bytes, opts.timeoutUs);
    if (reply === undefined) continue;
    const r = readResult(reply, key, command.id, command.timestamp);
    if (!r.ok) {
      io.err(`sg cmd: ${r.reason}\n`);
      return { exit: EXIT.failed };
    }
    const res = r.result;
    if (opts.json) io.out(JSON.stringify({ status: res.status, code: CTL_STATUS[res.status], data: res.data }) + '\n');
    else if (res.status === 'ok') {
      if (res.data !== '') io.out(res.data + '\n');
    } else io.err(`sg cmd: ${res.status}${res.data ? `: ${res.data}` : ''}\n`);
    return { exit: res.status === 'ok' ? EXIT.ok : EXIT.failed, result: res };
  }
  io.err(`sg cmd: no answer from ${req.node.addr}:${req.node.port} after ${opts.retries + 1} tries (unauthenticated or rate-limited requests get no answer)\n`);
  return { exit: EXIT.failed };
}

/** A UDP transport for real nodes. */
async function udpTransport(addr: string, port: number): Promise<CtlTransport> {
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, resolve));
  const t0 = Date.now() * 1000;
  const h0 = process.hrtime.bigint();
  return {
    nowUs: () => t0 + Number((process.hrtime.bigint() - h0) / 1000n),
    request: (bytes, timeoutUs) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          sock.removeListener('message', onMessage);
          resolve(undefined);
        }, Math.ceil(timeoutUs / 1000));
        const onMessage = (msg: Buffer) => {
          clearTimeout(timer);
          sock.removeListener('message', onMessage);
          resolve(new Uint8Array(msg));
        };
        sock.on('message', onMessage);
        sock.send(bytes, port, addr);
      }),
    close: () => sock.close(),
  };
}

export async function cmdCommand(argv: readonly string[], io: Io, makeTransport: (addr: string, port: number) => Promise<CtlTransport> = udpTransport): Promise<number> {
  const args = parseCommand('cmd', argv, {
    node: { type: 'string' },
    key: { type: 'string' },
    timeout: { type: 'string' },
    retries: { type: 'string' },
    json: { type: 'boolean' },
  }, CMD_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  const req = parseCmdWords(args.positionals, v.node);
  if (typeof req === 'string') return usageError('cmd', req, CMD_USAGE, io);
  if (v.key === undefined) {
    io.err('sg cmd: --key FILE is required (keys are never given on the command line)\n');
    return EXIT.usage;
  }
  const key = readKeyFile(v.key);
  if (!key.ok) {
    io.err(`sg cmd: ${key.message}\n`);
    return EXIT.usage;
  }
  const timeoutUs = v.timeout !== undefined ? duration(v.timeout) : 2_000_000;
  if (timeoutUs === undefined || timeoutUs <= 0) {
    io.err(`sg cmd: --timeout must be a duration such as 2s, got '${v.timeout}'\n`);
    return EXIT.usage;
  }
  const retries = v.retries !== undefined ? Number(v.retries) : 2;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
    io.err(`sg cmd: --retries must be an integer in [0, 10]\n`);
    return EXIT.usage;
  }
  const transport = await makeTransport(req.node.addr, req.node.port);
  try {
    return (await runCmd(req, key.key, transport, io, { json: v.json ?? false, timeoutUs, retries })).exit;
  } finally {
    transport.close();
  }
}
