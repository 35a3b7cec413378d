/**
 * `sg lab up|down`: a scenario's topology as Linux network namespaces.
 *
 * - One namespace per host and per SG node, named `<prefix>-<name>`, and one more,
 *   `<prefix>-sw`, that holds a Linux bridge per segment (`br0`, `br1`, ...). A host's interface
 *   is one end of a veth pair created directly between its namespace (as `eth0`, `eth1`, ...)
 *   and the switch namespace (as `h<host>i<iface>`, enslaved to the segment's bridge), so no
 *   interface ever appears in the root namespace and no name can collide with anyone else's.
 * - The prefix is run-unique (`sg` + 6 hex digits unless given). `down` removes exactly what the
 *   state file recorded, then any namespace still named `<prefix>-*` (a crashed `up`), and ends
 *   only the processes it started, by PID.
 * - Hosts get their addresses, routes and gateway; routers forward; checksum offload is off on
 *   every host interface (an AF_PACKET reader would otherwise see partial checksums) and IPv6 is
 *   off (its autoconfiguration chatter is not part of any scenario).
 * - SG nodes get no IP addresses at all: the engine owns them (`sg daemon` in the namespace).
 * - Services: `http` is nginx (Debian's) when installed, else the project's Node server; `bulk`
 *   (the simulator's `GET <size>` download), `tcp-echo` and `udp-echo` are the project's Node
 *   servers (`sg lab serve`); each answers with its host's name, so a client can see which
 *   server it reached. `rpc` is `sg rpc serve` (src/real/rpc.ts): its write replies carry the
 *   SG write-status IP option, set with setsockopt(IP_OPTIONS), and it joins its `group:` on
 *   the host's first address, with `--fail-writes` / `--diverge` as the service says; a
 *   `service-time:` and a `partition:` are not reproduced (it answers at once, from its own
 *   store, and says so in the lab's log). A `multicast-sink` joins its group on the host's first address and
 *   writes a JSON line per datagram to its log (`sg lab serve`).
 *   `dns` is Debian's Knot DNS, `knotd`, with a configuration and zone file written from the
 *   service's options (src/real/knot.ts); the lab waits until it answers a query for its
 *   zone's SOA (dig, in the host's namespace) before it goes on.
 *
 * Link bandwidth is carried over with `tc tbf` on the switch side of each cable; latency, jitter
 * and loss are not (netem is not in this kernel).
 */

import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIpv4 } from '../wire/addr.ts';
import { formatScenarioError, loadScenario, type Scenario } from '../scenario/load.ts';
import { monotonicUs, type StartFile } from './engine-worker.ts';
import { readDaemonStatus } from './daemon.ts';
import { SECRET_FILE_MODE } from './secrets.ts';
import { checkLabTools, labTools } from './tools.ts';
import { knotConf, knotZoneFile } from './knot.ts';

export const LAB_STATE_DIR = '/tmp/sg-lab';
/**
 * How long the lab waits for its daemons to be ready (sockets bound) before it gives up and says
 * which were not. A daemon's start costs 0.6-0.9 s of CPU from dist/ (2.3-3 s through tsx), and takes
 * many times that on a busy machine.
 */
export const LAB_READY_TIMEOUT_MS = 120_000;
/** How often the lab looks at its daemons' status files while it waits. */
const READY_POLL_MS = 20;
/**
 * How far ahead of the moment every daemon is ready their common t0 lies: time for each to see
 * its start file (it looks every 2 ms) and to be woken at t0.
 */
export const LAB_START_MARGIN_US = 200_000;
/** The `sg` entry point the lab starts its daemons, services and clients with. */
export const SG_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/sg.mjs');

export interface LabProcess {
  readonly name: string;
  readonly ns: string;
  readonly pid: number;
  /**
   * standby: a daemon started ahead of a scenario's `restart`, bound and waiting for its start
   * file; mrouter: a host's multicast router (`sg lab mrouter`, src/real/mrouter.ts), and
   * mrouter-standby one started ahead of the host's restart.
   */
  readonly kind: 'daemon' | 'service' | 'standby' | 'mrouter' | 'mrouter-standby';
  /** Daemons: the start file it waits for and the status file it keeps (`sg daemon --start-file/--status`). */
  readonly startFile?: string;
  readonly status?: string;
}

export interface LabState {
  readonly prefix: string;
  readonly scenario: string;
  /**
   * The daemons' configuration: a copy of the scenario written 0600 in `dir` (its keys are
   * secrets to `sg daemon`, src/real/secrets.ts); absent in state files of older labs.
   */
  readonly config?: string;
  readonly dir: string;
  readonly namespaces: string[];
  readonly processes: LabProcess[];
  /** CLOCK_MONOTONIC µs that is time 0 of every daemon's trace (set by `labStart`). */
  readonly t0: number;
  /** Whether the daemons write traces. */
  readonly traces?: boolean;
  /** How long the daemons took from their spawn to all being ready (ms). */
  readonly readyMs?: number;
}

export interface LabOptions {
  readonly prefix?: string;
  /** Start the SG daemons (default true). */
  readonly daemons?: boolean;
  /** The daemons write traces (default true; off for throughput benchmarks). */
  readonly traces?: boolean;
  /**
   * Give the daemons their common t0 once all are ready (default true). false: the caller does
   * with `labStart` when its own processes (clients) are ready too.
   */
  readonly start?: boolean;
  /** SG nodes to start a standby daemon for (one per name, in order): see `promoteStandby`. */
  readonly standbys?: readonly string[];
  readonly log?: (line: string) => void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, cmd: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `xs` deduplicated and joined, the first `max` named and the rest counted (a printable list). */
export function formatList(xs: readonly string[], max = 6): string {
  const u = [...new Set(xs)];
  return u.length <= max ? u.join(', ') : `${u.slice(0, max).join(', ')} and ${u.length - max} more`;
}

/**
 * The nodes' `watch:` (real mode's process watch): the lab starts its daemons with `--no-watch`,
 * since its namespaces share the machine's one process table (a name would match any process on
 * the machine, the lab's own nginx included); the scenario's watched-down/watched-up faults,
 * sent as SIGUSR1/SIGUSR2, are the watched process there, as in the simulator.
 */
export function labWatchLine(sc: Scenario): string | undefined {
  const ws = (sc.cluster?.nodes ?? []).flatMap((n) => (n.watch === undefined ? [] : [`${n.name} (${n.watch.target.kind === 'name' ? `process '${n.watch.target.name}'` : `pidfile ${n.watch.target.file}`})`]));
  if (ws.length === 0) return undefined;
  return `watch of node(s) ${formatList(ws, 4)}: not watched (the lab's daemons run with --no-watch: its namespaces share the machine's process table); watched-down/watched-up faults (SIGUSR1/SIGUSR2) stand for the process, as in the simulator`;
}

export function nsName(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

function statePath(prefix: string): string {
  return `${LAB_STATE_DIR}/${prefix}.json`;
}

function saveState(s: LabState): void {
  mkdirSync(LAB_STATE_DIR, { recursive: true });
  writeFileSync(statePath(s.prefix), JSON.stringify(s, null, 2));
}

export function loadLabState(prefix: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(prefix), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** Labs with a state file (their prefixes). */
export function labPrefixes(): string[] {
  if (!existsSync(LAB_STATE_DIR)) return [];
  return readdirSync(LAB_STATE_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
}

function loadFile(file: string): Scenario {
  const loaded = loadScenario(readFileSync(file, 'utf8'), file, { fileExists: existsSync });
  if (!loaded.ok) throw new Error(loaded.errors.map(formatScenarioError).join('\n'));
  return loaded.scenario;
}

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Start `cmd args` in namespace `ns`, detached, output to `logFile`; returns its PID. */
function startIn(ns: string, cmd: string, args: string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${ns}`);
  return child.pid; // `ip netns exec` execs the command: the same PID
}

function nginxConf(dir: string, host: string, port: number): string {
  const conf = `${dir}/nginx-${host}-${port}.conf`;
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
pid ${dir}/nginx-${host}-${port}.pid;
error_log ${dir}/nginx-${host}-${port}.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-tmp-${host};
  proxy_temp_path ${dir}/nginx-tmp-${host};
  fastcgi_temp_path ${dir}/nginx-tmp-${host};
  uwsgi_temp_path ${dir}/nginx-tmp-${host};
  scgi_temp_path ${dir}/nginx-tmp-${host};
  server {
    listen ${port} reuseport backlog=4096;
    location / { default_type text/plain; return 200 "${host}\\n"; }
    location = /bulk { default_type application/octet-stream; alias ${dir}/bulk.bin; }
  }
}
`,
  );
  mkdirSync(`${dir}/nginx-tmp-${host}`, { recursive: true });
  // A 64 MiB file for throughput runs (sparse: nothing is written to disk).
  if (!existsSync(`${dir}/bulk.bin`)) execFileSync('truncate', ['-s', '64M', `${dir}/bulk.bin`]);
  return conf;
}

/** Build the lab for `file`; on failure everything made so far is removed again. */
export function labUp(file: string, opts: LabOptions = {}): LabState {
  const log = opts.log ?? (() => {});
  const sc = loadFile(file);
  checkLabTools(labTools(sc));
  const prefix = opts.prefix ?? `sg${randomBytes(3).toString('hex')}`;
  if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix)) throw new Error(`lab prefix '${prefix}' must be 2-12 lowercase letters and digits, starting with a letter`);
  const dir = `${LAB_STATE_DIR}/${prefix}`;
  mkdirSync(dir, { recursive: true });
  const config = `${dir}/${basename(file)}`;
  rmSync(config, { force: true }); // writeFileSync's mode applies only to a new file
  writeFileSync(config, readFileSync(file), { mode: SECRET_FILE_MODE });
  const state: LabState = { prefix, scenario: resolve(file), config, dir, namespaces: [], processes: [], t0: monotonicUs(), traces: opts.traces ?? true };
  saveState(state);
  try {
    build(sc, state, opts.daemons ?? true, opts.standbys ?? [], log);
    if ((opts.daemons ?? true) && (opts.start ?? true)) labStart(state);
  } catch (e) {
    labDown(prefix);
    throw e;
  }
  return state;
}

function addNs(state: LabState, name: string): string {
  const ns = nsName(state.prefix, name);
  ip(['netns', 'add', ns]);
  state.namespaces.push(ns);
  saveState(state);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  // ping_group_range: every group may open ICMP datagram sockets (the clients' ping, icmp.ts).
  inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv4.ping_group_range=0 2147483647']);
  return ns;
}

function build(sc: Scenario, state: LabState, daemons: boolean, standbys: readonly string[], log: (l: string) => void): void {
  const sw = addNs(state, 'sw');
  const segIndex = new Map(sc.segments.map((s, i) => [s.name, i]));
  for (const [i, s] of sc.segments.entries()) {
    ip(['-n', sw, 'link', 'add', `br${i}`, 'type', 'bridge', 'mcast_snooping', s.snooping ? '1' : '0']);
    ip(['-n', sw, 'link', 'set', `br${i}`, 'up']);
  }
  let port = 0;
  const plug = (ns: string, ifname: string, segment: string, bps: number | undefined): void => {
    const seg = segIndex.get(segment);
    if (seg === undefined) throw new Error(`no segment '${segment}'`);
    const peer = `p${port++}`;
    ip(['-n', sw, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns]);
    ip(['-n', sw, 'link', 'set', peer, 'master', `br${seg}`, 'up']);
    if (bps !== undefined && bps < 10e9) {
      // The cable's line rate, as the switch sends to the host (tbf; netem is not in this kernel,
      // so latency, jitter and loss are not carried over).
      const burst = Math.max(16_384, Math.ceil(bps / 8 / 250)); // 4 ms worth
      inNs(sw, 'tc', ['qdisc', 'add', 'dev', peer, 'root', 'tbf', 'rate', `${Math.round(bps)}bit`, 'burst', String(burst), 'latency', '20ms']);
    }
    ip(['-n', ns, 'link', 'set', ifname, 'up']);
    try {
      inNs(ns, 'ethtool', ['-K', ifname, 'tx', 'off']);
    } catch {
      log(`warning: ethtool could not turn checksum offload off on ${ns}/${ifname}`);
    }
  };
  for (const h of sc.hosts) {
    const ns = addNs(state, h.name);
    h.ifaces.forEach((f, k) => {
      plug(ns, f.name, f.segment, f.link.bandwidthBps);
      for (const a of f.addrs) ip(['-n', ns, 'addr', 'add', `${formatIpv4(a.addr)}/${a.prefixLen}`, 'dev', f.name]);
    });
    if (h.router) inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    for (const r of h.routes) ip(['-n', ns, 'route', 'add', `${formatIpv4(r.dst)}/${r.prefixLen}`, ...(r.via !== undefined ? ['via', formatIpv4(r.via)] : [])]);
    if (h.gateway !== undefined) ip(['-n', ns, 'route', 'add', 'default', 'via', formatIpv4(h.gateway)]);
  }
  for (const n of sc.cluster?.nodes ?? []) {
    const ns = addNs(state, n.name);
    plug(ns, 'eth0', n.publicSegment, sc.segments[segIndex.get(n.publicSegment)!]!.link.bandwidthBps);
    plug(ns, 'eth1', n.privateSegment, sc.segments[segIndex.get(n.privateSegment)!]!.link.bandwidthBps);
  }
  // The multicast routers before the services: a member that joins reports at once, and the
  // router must be listening to hear it (it starts routing at t0, with what it heard).
  const mrouters = sc.hosts.filter((h) => h.mrouter);
  if (mrouters.length > 0) {
    buildDaemon(log);
    const restarted = new Set(sc.faults.flatMap((f) => (f.action.kind === 'restart' ? [f.action.host] : [])));
    const ps = mrouters.flatMap((h) => [spawnMrouter(state, sc, h.name, 'mrouter'), ...(restarted.has(h.name) ? [spawnMrouter(state, sc, h.name, 'mrouter-standby')] : [])]);
    waitDaemonsReady(state, ps);
    log(`lab ${state.prefix}: multicast router(s) ${mrouters.map((h) => h.name).join(', ')} listening (userspace, src/real/mrouter.ts: this kernel has no multicast routing for pimd)`);
  }
  for (const h of sc.hosts) for (const svc of h.services) startService(state, h.name, svc.name, sc, log);
  if (daemons) {
    // Time 0 of the scenario is when the SG nodes start, as in the simulator: every daemon binds
    // its sockets and waits for its start file; `labStart` writes them once all are ready, so all
    // start at the same instant whatever their process start-up took.
    buildDaemon(log);
    const spawned = monotonicUs();
    const watchLine = labWatchLine(sc);
    if (watchLine !== undefined) log(`lab ${state.prefix}: ${watchLine}`);
    const ps = (sc.cluster?.nodes ?? []).map((n) => spawnDaemon(state, n.name, 'daemon'));
    for (const name of standbys) ps.push(spawnDaemon(state, name, 'standby'));
    waitDaemonsReady(state, ps);
    (state as { readyMs?: number }).readyMs = Math.round((monotonicUs() - spawned) / 1000);
    log(`lab ${state.prefix}: ${ps.length} daemons ready in ${state.readyMs} ms`);
  }
  log(`lab ${state.prefix} up: ${state.namespaces.length} namespaces, ${state.processes.length} processes; state in ${statePath(state.prefix)}`);
}

/** Start (or restart) the service `service` of `host`; returns its PID (undefined: kind not supported here). */
export function startService(state: LabState, host: string, service: string, sc: Scenario, log: (l: string) => void = () => {}): number | undefined {
  const h = sc.hosts.find((x) => x.name === host);
  const s = h?.services.find((x) => x.name === service);
  if (h === undefined || s === undefined) throw new Error(`no service ${host}/${service}`);
  const ns = nsName(state.prefix, h.name);
  const logFile = `${state.dir}/${h.name}-${s.name.replace(/[^a-z0-9.-]/gi, '_')}.log`;
  let pid: number;
  if (s.kind === 'http' && which('nginx')) pid = startIn(ns, 'nginx', ['-c', nginxConf(state.dir, h.name, s.port), '-p', state.dir], logFile);
  else if (s.kind === 'http' || s.kind === 'bulk' || s.kind === 'tcp-echo' || s.kind === 'udp-echo') pid = startIn(ns, process.execPath, [SG_BIN, 'lab', 'serve', s.kind, String(s.port), '--name', h.name], logFile);
  else if (s.kind === 'multicast-sink') {
    // Joins on the host's first address; its log's stdout lines are JSON (mcast-joined, mcast-recv).
    const a = h.ifaces[0]?.addrs[0]?.addr;
    if (a === undefined) throw new Error(`${h.name}/${s.name}: a multicast-sink needs an interface address to join on`);
    pid = startIn(ns, process.execPath, [SG_BIN, 'lab', 'serve', s.kind, String(s.port), '--name', h.name, '--group', formatIpv4(s.group), '--iface-addr', formatIpv4(a), '--service', s.name], logFile);
  } else if (s.kind === 'rpc') {
    let join: string[] = [];
    if (s.group !== undefined) {
      const a = h.ifaces[0]?.addrs[0]?.addr;
      if (a === undefined) throw new Error(`${h.name}/${s.name}: an rpc service with a group needs an interface address to join on`);
      join = ['--group', formatIpv4(s.group), '--iface-addr', formatIpv4(a)];
    }
    if (s.serviceTime !== undefined) log(`warning: ${h.name}/${s.name}: service-time is not reproduced in the lab; sg rpc serve answers at once`);
    if (s.partition !== undefined) log(`warning: ${h.name}/${s.name}: partition is not reproduced in the lab; sg rpc serve answers every read from its own store`);
    const mode = [...(s.failWrites === true ? ['--fail-writes'] : []), ...(s.diverge === true ? ['--diverge'] : [])];
    pid = startIn(ns, process.execPath, [SG_BIN, 'rpc', 'serve', '--port', String(s.port), '--name', `${h.name}/${s.name}`, ...join, ...mode], logFile);
  } else if (s.kind === 'dns') {
    pid = startKnot(state, ns, h, s, logFile);
  } else {
    log(`warning: ${h.name}/${s.name}: service kind ${s.kind} does not run in the lab yet`);
    return undefined;
  }
  const rest = state.processes.filter((p) => p.name !== `${h.name}/${s.name}`);
  state.processes.length = 0;
  state.processes.push(...rest, { name: `${h.name}/${s.name}`, ns, pid, kind: 'service' });
  saveState(state);
  if (s.kind === 'dns') waitKnotReady(state, ns, h, s, pid, logFile);
  return pid;
}

/** How long the lab waits for a knotd to answer its first query. */
export const KNOT_READY_TIMEOUT_MS = 30_000;

type DnsServiceModel = Extract<Scenario['hosts'][number]['services'][number], { kind: 'dns' }>;

/**
 * Start knotd for `s` of host `h` in `ns` with its own directory (emptied first: every start
 * serves the zone of the options); its PID.
 */
function startKnot(state: LabState, ns: string, h: Scenario['hosts'][number], s: DnsServiceModel, logFile: string): number {
  if (s.group !== undefined) throw new Error(`${h.name}/${s.name}: knotd does not join multicast groups (group: ${formatIpv4(s.group)}); give the group write-fanout: unicast`);
  if (!which('knotd')) throw new Error(`${h.name}/${s.name}: the dns service needs knotd: apt-get install -y knot (and dnsutils for dig)`);
  const addrs = h.ifaces.flatMap((f) => f.addrs.map((a) => a.addr));
  if (addrs.length === 0) throw new Error(`${h.name}/${s.name}: a dns service needs an interface address to listen on`);
  const dir = `${state.dir}/knot-${h.name}-${s.name.replace(/[^a-z0-9.-]/gi, '_')}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/zone`, knotZoneFile(s));
  writeFileSync(`${dir}/knot.conf`, knotConf(s, dir, addrs));
  return startIn(ns, 'knotd', ['-c', `${dir}/knot.conf`], logFile);
}

/** Wait until knotd `pid` (service `s` of `h`) answers a query for its zone's SOA; throws with its log's end if it exits or the time is up. */
function waitKnotReady(state: LabState, ns: string, h: Scenario['hosts'][number], s: DnsServiceModel, pid: number, logFile: string): void {
  const addr = h.ifaces[0]!.addrs[0]!.addr;
  const since = monotonicUs();
  for (;;) {
    let answer = '';
    try {
      answer = inNs(ns, 'dig', [`@${formatIpv4(addr)}`, '-p', String(s.port), s.zone, 'SOA', '+short', '+tries=1', '+time=1']).trim();
    } catch {
      // not listening yet (dig exits 9: no servers could be reached)
    }
    if (answer !== '') return;
    if (!alive(pid)) throw new Error(`lab ${state.prefix}: knotd of ${h.name}/${s.name} exited before it answered:\n${tail(logFile, 10)}`);
    if ((monotonicUs() - since) / 1000 > KNOT_READY_TIMEOUT_MS) {
      throw new Error(`lab ${state.prefix}: knotd of ${h.name}/${s.name} (pid ${pid}) did not answer a query for ${s.zone} SOA in ${KNOT_READY_TIMEOUT_MS / 1000} s (KNOT_READY_TIMEOUT_MS):\n${tail(logFile, 10)}`);
    }
    sleepMs(READY_POLL_MS);
  }
}

/**
 * Bring dist/ (the compiled daemon, bin/dist.mjs) up to date with the sources, so the daemons
 * start from JavaScript (a fraction of tsx's start-up, which a restarted node waits for). A failed
 * build is said; the daemons then run the sources through tsx, as `sg daemon` says in their logs.
 */
export function buildDaemon(log: (l: string) => void = () => {}): void {
  try {
    execFileSync(process.execPath, [resolve(dirname(SG_BIN), 'build.mjs')], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = (e as { stderr?: string }).stderr?.trim();
    log(`warning: building dist/ failed, the daemons run through tsx (slower start): ${err || (e instanceof Error ? e.message : String(e))}`);
  }
}

/** Spawn a daemon for node `name` that binds and waits for its start file; recorded as `kind`. */
function spawnDaemon(state: LabState, name: string, kind: 'daemon' | 'standby'): LabProcess {
  const ns = nsName(state.prefix, name);
  // Instance k of the node: its own start and status files (a killed instance's status stays).
  let k = 1;
  while (existsSync(`${state.dir}/${name}.${k}.status`) || existsSync(`${state.dir}/${name}.${k}.start`) || state.processes.some((x) => x.status === `${state.dir}/${name}.${k}.status`)) k++;
  const startFile = `${state.dir}/${name}.${k}.start`;
  const status = `${state.dir}/${name}.${k}.status`;
  const trace = state.traces === false ? [] : ['--trace', `${state.dir}/${name}.jsonl`];
  const pid = startIn(ns, process.execPath, [SG_BIN, 'daemon', '--config', state.config ?? state.scenario, '--node', name, '--no-watch', ...trace, '--start-file', startFile, '--status', status], `${state.dir}/${name}.log`);
  const p: LabProcess = { name: kind === 'daemon' ? name : `${name}#${k}`, ns, pid, kind, startFile, status };
  if (kind === 'daemon') {
    const rest = state.processes.filter((x) => x.name !== name);
    state.processes.length = 0;
    state.processes.push(...rest);
  }
  state.processes.push(p);
  saveState(state);
  return p;
}

/** Spawn host `host`'s multicast router, bound and waiting for its start file (`mrouter.ts`). */
function spawnMrouter(state: LabState, sc: Scenario, host: string, kind: 'mrouter' | 'mrouter-standby'): LabProcess {
  const h = sc.hosts.find((x) => x.name === host);
  if (h === undefined || !h.mrouter) throw new Error(`no multicast router host '${host}'`);
  const ns = nsName(state.prefix, host);
  let k = 1;
  while (existsSync(`${state.dir}/${host}.mrouter.${k}.status`) || state.processes.some((x) => x.status === `${state.dir}/${host}.mrouter.${k}.status`)) k++;
  const base = `${state.dir}/${host}.mrouter.${k}`;
  const onIface = (a: number) => h.ifaces.find((f) => f.addrs.some((x) => ((a ^ x.addr) >>> (32 - x.prefixLen)) === 0 || x.prefixLen === 0));
  const spec = {
    host,
    ifaces: h.ifaces.map((f) => ({ name: f.name, addrs: f.addrs.map((a) => ({ addr: a.addr, prefixLen: a.prefixLen })) })),
    routes: h.routes.flatMap((r) => {
      const f = r.via !== undefined ? onIface(r.via) : undefined;
      return f === undefined ? [] : [{ dst: r.dst, prefixLen: r.prefixLen, iface: f.name }];
    }),
    ...(h.mrouterQueryInterval !== undefined ? { queryInterval: h.mrouterQueryInterval } : {}),
    startFile: `${base}.start`,
    status: `${base}.status`,
    trace: `${base}.jsonl`,
  };
  const pid = startIn(ns, process.execPath, [SG_BIN, 'lab', 'mrouter', JSON.stringify(spec)], `${state.dir}/${host}.mrouter.log`);
  const p: LabProcess = { name: kind === 'mrouter' ? host : `${host}#${k}`, ns, pid, kind, startFile: spec.startFile, status: spec.status };
  state.processes.push(p);
  saveState(state);
  return p;
}

/** Start host `name`'s multicast router now (its restart): its standby, else a fresh one. */
export function startMrouter(state: LabState, sc: Scenario, name: string): number {
  let p = state.processes.find((x) => x.kind === 'mrouter-standby' && x.name.startsWith(`${name}#`));
  if (p === undefined) {
    p = spawnMrouter(state, sc, name, 'mrouter-standby');
    waitDaemonsReady(state, [p]);
  }
  writeStart(p.startFile!, { t0: state.t0, at: monotonicUs() });
  const rest = state.processes.filter((x) => x !== p && !(x.kind === 'mrouter' && x.name === name));
  state.processes.length = 0;
  state.processes.push(...rest, { ...p, name, kind: 'mrouter' });
  saveState(state);
  return p.pid;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Wait (bounded by LAB_READY_TIMEOUT_MS) until every daemon in `ps` has bound its sockets; throws
 * naming the ones that died or were not ready, with the end of their logs.
 */
export function waitDaemonsReady(state: LabState, ps: readonly LabProcess[], timeoutMs = LAB_READY_TIMEOUT_MS): void {
  const since = monotonicUs();
  const logOf = (p: LabProcess) => `${state.dir}/${p.name.split('#')[0]}${p.kind.startsWith('mrouter') ? '.mrouter' : ''}.log`;
  for (;;) {
    const phases = ps.map((p) => ({ p, phase: p.status !== undefined ? readDaemonStatus(p.status)?.phase : 'bound' }));
    const failed = phases.filter((x) => x.phase === 'failed' || x.phase === 'stopped' || (x.phase === undefined && !alive(x.p.pid)));
    if (failed.length > 0) {
      throw new Error(`lab ${state.prefix}: daemon ${failed.map((x) => x.p.name).join(', ')} exited before it was ready:\n${tail(logOf(failed[0]!.p), 10)}`);
    }
    const waiting = phases.filter((x) => x.phase !== 'bound' && x.phase !== 'running');
    if (waiting.length === 0) return;
    const ms = (monotonicUs() - since) / 1000;
    if (ms > timeoutMs) {
      throw new Error(`lab ${state.prefix}: daemon ${waiting.map((x) => x.p.name).join(', ')} not ready after ${(ms / 1000).toFixed(1)} s (LAB_READY_TIMEOUT_MS); ${ps.length - waiting.length} of ${ps.length} were:\n${tail(logOf(waiting[0]!.p), 10)}`);
    }
    sleepMs(READY_POLL_MS);
  }
}

function writeStart(file: string, s: StartFile): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(s));
  renameSync(`${file}.tmp`, file); // atomic: a daemon never reads half a file
}

/**
 * Fix the common t0 (LAB_START_MARGIN_US from now) and write every waiting daemon's start file:
 * the SG nodes start together at t0. Returns t0. Standbys keep waiting.
 */
export function labStart(state: LabState): number {
  const t0 = monotonicUs() + LAB_START_MARGIN_US;
  (state as { t0: number }).t0 = t0;
  for (const p of state.processes) if ((p.kind === 'daemon' || p.kind === 'mrouter') && p.startFile !== undefined) writeStart(p.startFile, { t0, at: t0 });
  saveState(state);
  return t0;
}

/**
 * Start node `name`'s daemon now (a restart): its first standby when there is one (already bound,
 * so it starts within milliseconds), else a fresh daemon, waited for. Its trace's time 0 is the
 * lab's t0. Returns its PID.
 */
export function startDaemon(state: LabState, name: string): number {
  let p = state.processes.find((x) => x.kind === 'standby' && x.name.startsWith(`${name}#`));
  if (p === undefined) {
    p = spawnDaemon(state, name, 'standby');
    waitDaemonsReady(state, [p]);
  }
  writeStart(p.startFile!, { t0: state.t0, at: monotonicUs() });
  const rest = state.processes.filter((x) => x !== p && x.name !== name);
  state.processes.length = 0;
  state.processes.push(...rest, { ...p, name, kind: 'daemon' });
  saveState(state);
  return p.pid;
}

/** Whether `pid` runs (a zombie waiting for its parent to reap it does not). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Remove the lab `prefix`: end its recorded processes (SIGTERM, then SIGKILL after 2 s), then any
 * process still inside one of its namespaces, delete its namespaces (recorded ones and any
 * `<prefix>-*` left by a crash), its state file and (unless `keepLogs`) its directory of logs and
 * traces. Returns what it removed.
 */
export function labDown(prefix: string, log: (l: string) => void = () => {}, opts: { keepLogs?: boolean } = {}): { namespaces: string[]; processes: number } {
  if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix)) throw new Error(`bad lab prefix '${prefix}'`);
  const state = loadLabState(prefix);
  const listed = ip(['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${prefix}-`));
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...listed])].filter((n) => listed.includes(n));
  const pids = new Set((state?.processes ?? []).map((p) => p.pid));
  // Whatever else runs inside our namespaces was started there by us (or by our processes).
  for (const ns of namespaces) {
    try {
      for (const p of ip(['netns', 'pids', ns]).split('\n').filter(Boolean)) pids.add(Number(p));
    } catch {
      // namespace vanished meanwhile
    }
  }
  let ended = 0;
  for (const pid of pids) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, 'SIGTERM');
      ended++;
    } catch {
      // gone
    }
  }
  for (let i = 0; i < 40 && [...pids].some(alive); i++) sleepMs(50);
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const ns of namespaces) {
    try {
      ip(['netns', 'del', ns]);
    } catch (e) {
      log(`warning: could not delete namespace ${ns}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  rmSync(statePath(prefix), { force: true });
  if (opts.keepLogs !== true) rmSync(`${LAB_STATE_DIR}/${prefix}`, { recursive: true, force: true });
  log(`lab ${prefix} down: ${namespaces.length} namespaces deleted, ${ended} processes ended`);
  return { namespaces, processes: ended };
}

/** Run a command in one of the lab's namespaces and return its output. */
export function labExec(prefix: string, name: string, cmd: string, args: string[], timeoutMs = 10_000): string {
  return execFileSync('ip', ['netns', 'exec', nsName(prefix, name), cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}
