/**
 * `sg run FILE --real`: the scenario in the namespace lab instead of the simulator. The lab is
 * built (`lab.ts`), the SG nodes run as `sg daemon`s, each workload runs as a real client in its
 * host's namespace (`client.ts`), the scenario's `control:` timeline is sent from its hosts'
 * namespaces (`control.ts`), and the faults are applied with real means at their times
 * (`REAL_FAULTS` in faults.ts, each entry saying how; the README's "Real mode" has the table).
 *
 * Whatever of the scenario does not run here (loss, delay and clock-rate faults, link latency,
 * service times, ...: `notRunInLab` in gaps.ts) is printed at the start and returned as `notRun`,
 * which `sg run --real` prints beside the results.
 *
 * The daemons' traces, the clients' request events and the faults are merged in time order (one
 * clock: CLOCK_MONOTONIC since the lab's t0) into the simulator's trace format, the same
 * expectations are evaluated over it, and the exit status is the simulator's.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { RunResult, WorkloadSummary } from '../scenario/result.ts';
import { Evaluator } from '../scenario/expect.ts';
import { faultTarget, faultWhat } from '../scenario/faults.ts';
import { formatScenarioError, loadScenario, type Scenario } from '../scenario/load.ts';
import { formatTraceRecord, TRACE_FORMAT, TRACE_VERSION, type TraceEvent, type TraceEventInput } from '../trace.ts';
import type { Instant } from '../time.ts';
import { alive, LAB_READY_TIMEOUT_MS, labDown, labStart, labUp, nsName, SG_BIN, type LabState } from './lab.ts';
import { monotonicUs } from './engine-worker.ts';
import { readDaemonStatus } from './daemon.ts';
import { checkLabTools, labTools } from './tools.ts';
import { notRunInLab } from './gaps.ts';
import { controlSenders, feedbackFaultUnsent } from './control.ts';
import { applyFault } from './faults.ts';

export interface RealRunOptions {
  readonly trace?: string;
  /** Capture every segment's bridge with dumpcap (pcapng, one interface per segment). */
  readonly pcap?: string;
  readonly prefix?: string;
  /** Keep the lab's logs and traces (in /tmp/sg-lab/PREFIX) after the run. */
  readonly keepLogs?: boolean;
  readonly log?: (line: string) => void;
}

/**
 * What the lab measured of its own timing in one run: how far it was from the simulator's ideal
 * (everything at its instant). The sim-vs-real tolerance is derived from it (`agreementTolerance`).
 */
export interface LabTiming {
  /** From spawning the daemons to all having bound their sockets (ms): the machine's start-up cost. */
  readonly readyMs: number;
  /** Each daemon instance (node#k): how late after its scheduled instant its engine started (µs). */
  readonly startLateUs: Record<string, number>;
  /** The worst timer lateness any daemon saw (deadline to handling, µs): its scheduling delay. */
  readonly timerLateMaxUs: number;
  /** The worst lateness of a fault (applied after its time, µs). */
  readonly faultLateMaxUs: number;
  /** The worst lateness of a client's first request (started after the workload's start, µs). */
  readonly clientLateMaxUs: number;
}

export interface RealRunResult extends RunResult {
  readonly timing: LabTiming;
  /** What of the scenario did not run in the lab, one line each (gaps.ts). */
  readonly notRun: readonly string[];
}

/**
 * What the lab and the simulator may differ by, before load: the election's, health checks' and
 * round-robin's timing is the same code, but real frames, processes and sockets are not simulated
 * ones (sg diff's default).
 */
export const AGREEMENT_BASE_US = 250_000;

/**
 * The tolerance for `sg diff` between the simulator's trace and this run's: the base plus what the
 * run measured: the worst start skew between its daemons, the worst fault lateness, and twice the
 * worst timer lateness (a decision waits on a chain of timers: listen then bid, or the health
 * checks' interval then their timeout).
 */
export function agreementTolerance(t: LabTiming): number {
  const late = Object.values(t.startLateUs);
  const skew = late.length > 0 ? Math.max(...late) : 0;
  return AGREEMENT_BASE_US + skew + t.faultLateMaxUs + 2 * t.timerLateMaxUs;
}

export function formatTiming(t: LabTiming): string {
  const ms = (us: number) => `${(us / 1000).toFixed(1)} ms`;
  const starts = Object.entries(t.startLateUs).map(([n, us]) => `${n} ${ms(us)}`).join(', ');
  return `daemons ready in ${t.readyMs} ms; engine start late by: ${starts || '(none)'}; worst timer lateness ${ms(t.timerLateMaxUs)}; worst fault lateness ${ms(t.faultLateMaxUs)}; worst client start lateness ${ms(t.clientLateMaxUs)}; tolerance ${ms(agreementTolerance(t))}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/**
 * Wait until `clock()` (µs) reaches `at`. setTimeout rounds to milliseconds and can fire up to a
 * millisecond early against CLOCK_MONOTONIC; a fault at 0 s was traced at -387 µs, before t0.
 */
async function sleepUntil(clock: () => number, at: number): Promise<void> {
  while (clock() < at) await sleep(Math.max(1, (at - clock()) / 1000));
}

/** Poll `cond` every `everyMs` until it holds; false when `timeoutMs` passed first. */
async function until(cond: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const since = performance.now();
  while (!cond()) {
    if (performance.now() - since > timeoutMs) return false;
    await sleep(everyMs);
  }
  return true;
}

/** How long runReal waits for dumpcap to open its file and for the daemons to exit at the end. */
const CAPTURE_READY_TIMEOUT_MS = 30_000;
const DAEMON_EXIT_TIMEOUT_MS = 10_000;

/** `sg ARGS` in namespace NS, its stdout handed to `onLine` a line at a time (stdin a pipe). */
function spawnLines(ns: string, args: string[], onLine: (line: string) => void): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', ns, process.execPath, SG_BIN, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  c.stdout!.setEncoding('utf8');
  c.stdout!.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  });
  return c;
}

export async function runReal(file: string, opts: RealRunOptions = {}): Promise<RealRunResult> {
  const log = opts.log ?? (() => {});
  const loaded = loadScenario(readFileSync(file, 'utf8'), file, { fileExists: existsSync });
  if (!loaded.ok) throw new Error(loaded.errors.map(formatScenarioError).join('\n'));
  const sc = loaded.scenario;
  // Every program the run will start, before anything is built (--pcap: dumpcap too).
  checkLabTools(labTools(sc, { pcap: opts.pcap !== undefined }));
  const notRun = notRunInLab(sc);
  for (const l of notRun) log(`not run in real mode: ${l}`);
  const senders = controlSenders(sc); // throws (before any lab) on a counter or server-state fault it cannot sign
  const nodes = new Set((sc.cluster?.nodes ?? []).map((n) => n.name));
  // A restarted node's daemon is started ahead (a standby, bound and waiting), so the restart
  // takes milliseconds, as in the simulator, and not a Node start-up.
  const standbys = sc.faults.flatMap((f) => (f.action.kind === 'restart' && nodes.has(f.action.host) ? [f.action.host] : []));
  const lab = labUp(file, { ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}), log, start: false, standbys });
  const events: TraceEventInput[] = [];
  const now = () => monotonicUs() - lab.t0;
  const clients: ChildProcess[] = [];
  let capture: ChildProcess | undefined;
  let faultLateMax = 0;
  let nft: NftShell | undefined;
  let timing: LabTiming = { readyMs: 0, startLateUs: {}, timerLateMaxUs: 0, faultLateMaxUs: 0, clientLateMaxUs: 0 };
  let clientLateMax = 0;
  try {
    if (opts.pcap !== undefined) {
      const pcap = opts.pcap;
      const ifs = sc.segments.flatMap((_, i) => ['-i', `br${i}`]);
      capture = spawn('ip', ['netns', 'exec', nsName(lab.prefix, 'sw'), 'dumpcap', '-q', ...ifs, '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      capture.stderr!.on('data', (d) => (err += String(d)));
      // Ready when it has written its file's header (it captures from then on).
      const size = () => {
        try {
          return statSync(pcap).size;
        } catch {
          return 0;
        }
      };
      if (!(await until(() => size() > 0 || capture!.exitCode !== null, CAPTURE_READY_TIMEOUT_MS)) || size() === 0) throw new Error(`dumpcap did not start capturing within ${CAPTURE_READY_TIMEOUT_MS} ms: ${err.trim()}`);
    }
    // Partitions and heals go through one nft started ahead: a rule change takes milliseconds,
    // not an nft process start (seconds on a busy machine).
    if (sc.faults.some((f) => f.action.kind === 'partition' || f.action.kind === 'heal')) nft = await NftShell.start(nsName(lab.prefix, 'sw'), LAB_READY_TIMEOUT_MS);
    // Clients: each says 'ready' once loaded, then waits for t0 on its stdin.
    const lines: string[] = [];
    const ready = new Set<number>();
    for (const [k, w] of sc.workloads.entries()) {
      const spec = JSON.stringify({ workload: w, seed: sc.seed });
      clients.push(
        spawnLines(nsName(lab.prefix, w.from), ['lab', 'client', spec], (p) => {
          if (p === 'ready') ready.add(k);
          else if (p !== '') lines.push(p);
        }),
      );
    }
    // The control timeline and counter faults: a sender per host (control.ts), ready like a client.
    for (const [j, spec] of senders.entries()) {
      const k = sc.workloads.length + j;
      clients.push(
        spawnLines(nsName(lab.prefix, spec.host), ['lab', 'control', JSON.stringify(spec)], (p) => {
          if (p === 'ready') ready.add(k);
          else if (p.startsWith('{"kind":"ctl-sent"')) {
            // The bytes of a replayed message: to the sender that replays them.
            const of = (JSON.parse(p) as { index: number }).index;
            senders.forEach((s, i) => s.entries.some((e) => e.kind === 'replay' && e.of === of) && clients[sc.workloads.length + i]?.stdin?.write(`${p}\n`));
          } else if (p !== '') lines.push(p);
        }),
      );
    }
    if (senders.length > 0) log(`lab ${lab.prefix}: control timeline, counter and server-state faults sent from ${senders.map((s) => s.host).join(', ')}`);
    const since = performance.now();
    if (!(await until(() => ready.size === clients.length || clients.some((c) => c.exitCode !== null), LAB_READY_TIMEOUT_MS)) || ready.size < clients.length) {
      const missing = [...sc.workloads.map((w) => w.name), ...senders.map((x) => `control sender on ${x.host}`)].filter((_, k) => !ready.has(k));
      throw new Error(`client(s) ${missing.join(', ')} not ready after ${((performance.now() - since) / 1000).toFixed(1)} s (exited or LAB_READY_TIMEOUT_MS)`);
    }
    log(`lab ${lab.prefix}: ${clients.length} clients ready in ${Math.round(performance.now() - since)} ms`);
    // Everything is loaded: the common t0, for the daemons (start files) and the clients.
    const t0 = labStart(lab);
    clients.forEach((c, k) => (k < sc.workloads.length ? c.stdin!.end(`${t0}\n`) : c.stdin!.write(`${t0}\n`)));
    // Faults at their times.
    const stopped = new Set<number>();
    for (const f of [...sc.faults].sort((a, b) => a.at - b.at)) {
      await sleepUntil(now, f.at);
      const t = now() as Instant;
      const applied = feedbackFaultUnsent(sc, sc.faults.indexOf(f)) ?? (await applyFault({ lab, sc, stopped, log, nft }, f.action));
      // Late by the wait's wake-up and by applying it (a process start, for the few done by one).
      faultLateMax = Math.max(faultLateMax, now() - f.at);
      events.push({ kind: 'fault', t, what: faultWhat(f.action), target: faultTarget(f.action), ...(applied === true ? {} : { detail: applied }) } as TraceEventInput);
    }
    await sleepUntil(now, sc.duration);
    for (const c of clients) if (c.exitCode === null) c.kill('SIGTERM');
    for (const line of lines) {
      const ev = JSON.parse(line) as TraceEventInput & { late?: number };
      if (ev.kind === 'client-start' as string) {
        clientLateMax = Math.max(clientLateMax, ev.late ?? 0);
        continue;
      }
      events.push(ev);
    }
  } finally {
    nft?.close();
    for (const c of clients) if (c.exitCode === null) c.kill('SIGKILL');
    // Stop the daemons first so their traces are complete, then read them.
    const daemons = lab.processes.filter((p) => p.kind !== 'service');
    for (const p of daemons) {
      try {
        process.kill(p.pid, 'SIGCONT');
        process.kill(p.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    if (!(await until(() => daemons.every((p) => !alive(p.pid)), DAEMON_EXIT_TIMEOUT_MS))) log(`warning: daemon(s) ${daemons.filter((p) => alive(p.pid)).map((p) => p.name).join(', ')} still running ${DAEMON_EXIT_TIMEOUT_MS} ms after SIGTERM`);
    if (capture !== undefined && capture.exitCode === null) {
      const exited = new Promise((res) => capture!.on('exit', res));
      capture.kill('SIGINT');
      await Promise.race([exited, sleep(3000)]);
    }
    for (const n of sc.cluster?.nodes ?? []) {
      let text = '';
      try {
        text = readFileSync(`${lab.dir}/${n.name}.jsonl`, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const ev = JSON.parse(line) as { kind: string; id?: number };
        if (ev.kind === 'header') continue;
        delete ev.id;
        events.push(ev as TraceEventInput);
      }
    }
    events.push(...labFileEvents(lab));
    timing = collectTiming(lab, faultLateMax, clientLateMax);
    labDown(lab.prefix, log, { keepLogs: opts.keepLogs === true });
  }
  // Merge in time order (stable: daemons' events keep their own order), evaluate, write.
  const end = sc.duration as number as Instant;
  const merged = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.t - b.e.t || a.i - b.i).map((x) => x.e).filter((e) => e.t <= end);
  const evaluator = new Evaluator(realExpectations(sc, timing));
  const out: string[] = [formatTraceRecord({ kind: 'header', format: TRACE_FORMAT, version: TRACE_VERSION, scenario: sc.name, startedAt: new Date().toISOString() })];
  merged.forEach((e, k) => {
    const ev = { ...e, id: k + 1 } as TraceEvent;
    evaluator.observe(ev);
    out.push(formatTraceRecord(ev));
  });
  if (opts.trace !== undefined) writeFileSync(opts.trace, out.join('\n') + '\n');
  const expectations = evaluator.finish(end);
  log(`lab timing: ${formatTiming(timing)}`);
  return { scenario: sc.name, seed: sc.seed, end, events: merged.length, expectations, passed: expectations.every((e) => e.pass), workloads: summaries(sc, merged), timing, notRun };
}

/**
 * The scenario's expectations as judged on a lab run: the built-in one-master safety allows two
 * heartbeats for two masters to converge; in the lab each of those heartbeats' timers can fire up to
 * the measured worst timer lateness late, and a heal is stamped when it was begun, up to the worst
 * fault lateness before it took effect: both are added (the bound printed says so).
 */
export function realExpectations(sc: Scenario, timing: LabTiming): Scenario['expectations'] {
  return sc.expectations.map((e) => (e.model.kind === 'safety-one-master' ? { ...e, model: { ...e.model, graceUs: e.model.graceUs + 2 * timing.timerLateMaxUs + timing.faultLateMaxUs } } : e));
}

/** The daemons' own measurements (their status files) and the run's. */
function collectTiming(lab: LabState, faultLateMaxUs: number, clientLateMaxUs: number): LabTiming {
  const startLateUs: Record<string, number> = {};
  let timerLateMaxUs = 0;
  for (const p of lab.processes) {
    if (p.status === undefined) continue;
    for (let k = 1; ; k++) {
      const st = readDaemonStatus(p.status.replace(/\.\d+\.status$/, `.${k}.status`));
      if (st === undefined) break;
      if (st.startLateUs !== undefined) startLateUs[`${st.node}#${k}`] = st.startLateUs;
      timerLateMaxUs = Math.max(timerLateMaxUs, st.timerLateMaxUs ?? 0);
    }
  }
  return { readyMs: lab.readyMs ?? 0, startLateUs, timerLateMaxUs, faultLateMaxUs, clientLateMaxUs };
}

function summaries(sc: Scenario, events: readonly TraceEventInput[]): WorkloadSummary[] {
  return sc.workloads.map((w) => {
    const reqs = events.filter((e): e is Extract<TraceEventInput, { kind: 'request' }> => e.kind === 'request' && e.service === w.name);
    const byStatus: Record<string, number> = {};
    for (const r of reqs) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    const lat = reqs.filter((r) => r.status === 'ok').map((r) => r.latency).sort((a, b) => a - b);
    const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
    return { name: w.name, requests: reqs.length, ok: byStatus['ok'] ?? 0, byStatus, ...(lat.length > 0 ? { p50: pct(50)!, p99: pct(99)! } : {}) };
  });
}

/**
 * The events the lab's processes write to files: the multicast routers' traces (`mrouter.ts`,
 * already on the lab's clock) and the multicast sinks' receptions (`sg lab serve multicast-sink`
 * prints CLOCK_MONOTONIC µs: made request events on the lab's clock, as the simulator's sink
 * records them).
 */
function labFileEvents(lab: LabState): TraceEventInput[] {
  const out: TraceEventInput[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(lab.dir);
  } catch {
    return out;
  }
  for (const f of files.sort()) {
    const trace = /\.mrouter\.\d+\.jsonl$/.test(f);
    if (!trace && !f.endsWith('.log')) continue;
    let text = '';
    try {
      text = readFileSync(`${lab.dir}/${f}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (trace && line.startsWith('{')) out.push(JSON.parse(line) as TraceEventInput);
      else if (line.startsWith('{"kind":"mcast-recv"')) {
        const r = JSON.parse(line) as { tm: number; sent: number | null; node: string; service: string; bytes: number };
        const t = r.tm - lab.t0;
        const start = typeof r.sent === 'number' && r.sent <= r.tm ? r.sent - lab.t0 : t;
        out.push({ kind: 'request', t, node: r.node, service: r.service, op: 'mcast-recv', status: 'ok', start, latency: t - start } as TraceEventInput);
      }
    }
  }
  return out;
}

/**
 * One `nft -i` in the switch namespace, started ahead of the faults: `run` writes commands and
 * resolves when nft has done them (a marker table listed after them), with what it wrote to stderr.
 */
class NftShell {
  #out = '';
  #err = '';
  readonly #wake = new Set<() => void>();
  private constructor(private readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stderr!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      this.#out += d;
      for (const w of this.#wake) w();
    });
    proc.stderr!.on('data', (d: string) => (this.#err += d));
    proc.on('exit', () => {
      for (const w of this.#wake) w();
    });
  }

  static async start(ns: string, timeoutMs: number): Promise<NftShell> {
    const sh = new NftShell(spawn('ip', ['netns', 'exec', ns, 'nft', '-i'], { stdio: ['pipe', 'pipe', 'pipe'] }));
    sh.proc.stdin!.write('add table bridge sgmark\n');
    const t = setTimeout(() => sh.proc.kill('SIGKILL'), timeoutMs);
    const err = await sh.run([]);
    clearTimeout(t);
    if (sh.proc.exitCode !== null || sh.proc.signalCode !== null) throw new Error(`nft -i in ${ns} did not start within ${timeoutMs} ms: ${err}`);
    return sh;
  }

  /** Run the commands; resolves with nft's error output for them ('' when none). */
  run(cmds: readonly string[]): Promise<string> {
    const mark = 'table bridge sgmark';
    this.#out = '';
    this.#err = '';
    this.proc.stdin!.write([...cmds, 'list table bridge sgmark'].join('\n') + '\n');
    return new Promise((res) => {
      const check = () => {
        if (this.#out.includes(mark) || this.proc.exitCode !== null || this.proc.signalCode !== null) {
          this.#wake.delete(check);
          res(this.#err.trim());
        }
      };
      this.#wake.add(check);
      check();
    });
  }

  close(): void {
    this.proc.stdin!.end();
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
  }
}
