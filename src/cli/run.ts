/**
 * `sg run file.yaml [--seed N] [--until T] [--trace out.jsonl] [--pcap out.pcapng] [--json]`
 *
 * Runs a scenario in the simulator and prints a summary: each expectation with pass/fail and its
 * measured value beside the bound, and key metrics per workload. Exit 0 when every expectation
 * held, 1 when one failed, 2 on bad usage or a bad scenario file (nothing is run).
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario, type RunResult } from '../../sim/scenario.ts';
import { scenarioAnalyzers } from '../real/load-analyzer.ts';
import { formatDuration, type Duration, type Instant } from '../time.ts';
import { JsonlTrace } from '../trace.ts';
import { duration } from '../scenario/units.ts';
import { SCENARIO_DURATION_MAX_US } from '../scenario/limits.ts';
import { openSink, readScenario, type FileSink } from './files.ts';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';
import { formatNotRun, simWatchLine } from '../real/gaps.ts';

export const RUN_USAGE = `usage: sg run <scenario.yaml> [options]

Run a scenario in the simulator and check its expectations. With --real, run it in a lab of
network namespaces instead (sg daemon on AF_PACKET, real services and clients, real faults; needs
root): the same trace format, expectations and exit status.

options:
  --real              run in the namespace lab (src/real/run.ts) instead of the simulator
  --keep-logs         with --real: keep the lab's logs and daemon traces in /tmp/sg-lab/PREFIX
  --seed N            override the scenario's seed
  --until T           stop at simulated time T (e.g. 30s) instead of the scenario's duration
  --trace FILE        write the JSON Lines trace to FILE
  --pcap FILE         write a pcapng capture (one interface per link) to FILE
  --report FILE       write a self-contained HTML report (summary and timeline) to FILE
  --json              print the result as JSON instead of text
  -q, --quiet         print only failures
  -h, --help          this help

exit status: 0 all expectations held, 1 an expectation failed, 2 bad usage or scenario file`;

export async function runCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('run', argv, {
    seed: { type: 'string' },
    until: { type: 'string' },
    trace: { type: 'string' },
    pcap: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    real: { type: 'boolean' },
    report: { type: 'string' },
    'keep-logs': { type: 'boolean' },
  }, RUN_USAGE, io);
  if (typeof args === 'number') return args;
  const v = args.values;
  if (args.positionals.length !== 1) return usageError('run', `expected one scenario file, got ${args.positionals.length}`, RUN_USAGE, io);
  if (v.real === true) {
    if (v.seed !== undefined || v.until !== undefined) return usageError('run', '--seed and --until are for the simulator', RUN_USAGE, io);
    const file = args.positionals[0]!;
    const loaded = readScenario(file);
    if (!loaded.ok) {
      io.err(loaded.message + '\n');
      return EXIT.usage;
    }
    // Every output path must open before anything runs (exit 2, not a failure after the lab).
    const sinks = openOutputs({ trace: v.trace, pcap: v.pcap, report: v.report }, io);
    if (sinks === undefined) return EXIT.usage;
    for (const f of Object.values(sinks)) f?.close();
    const { runReal } = await import('../real/run.ts');
    // A report needs the trace: keep it in a temporary file when --trace was not given.
    const realTrace = v.trace ?? (v.report !== undefined ? join(mkdtempSync(join(tmpdir(), 'sg-real-')), 'trace.jsonl') : undefined);
    let result: RunResult & { readonly notRun?: readonly string[] };
    try {
      result = await runReal(file, { ...(realTrace !== undefined ? { trace: realTrace } : {}), ...(v.pcap !== undefined ? { pcap: v.pcap } : {}), keepLogs: v['keep-logs'] === true, log: (l) => io.err(`${l}\n`) });
    } catch (e) {
      io.err(`sg run --real: ${e instanceof Error ? e.message : String(e)}\n`);
      return EXIT.failed;
    }
    if (v.report !== undefined && realTrace !== undefined) await writeReportFile(v.report, readFileSync(realTrace, 'utf8'), file, result);
    if (v.json) io.out(JSON.stringify({ file, real: true, ...result, trace: v.trace ?? null }, null, 2) + '\n');
    else io.out(formatResult(file, result, { quiet: v.quiet ?? false, trace: v.trace, pcap: v.pcap, report: v.report }).replace(/: simulated /, ': real ') + formatNotRun(result.notRun ?? []));
    return result.passed ? EXIT.ok : EXIT.failed;
  }
  let seed: number | undefined;
  if (v.seed !== undefined) {
    seed = Number(v.seed);
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
      io.err(`sg run: --seed must be an integer in [0, 4294967295], got '${v.seed}'\n`);
      return EXIT.usage;
    }
  }
  let until: Duration | undefined;
  if (v.until !== undefined) {
    until = duration(v.until);
    if (until === undefined || until <= 0 || until > SCENARIO_DURATION_MAX_US) {
      io.err(`sg run: --until must be a duration such as 30s or 1500ms, at most ${formatDuration(SCENARIO_DURATION_MAX_US as Duration)}, got '${v.until}'\n`);
      return EXIT.usage;
    }
  }
  const file = args.positionals[0]!;
  const loaded = readScenario(file);
  if (!loaded.ok) {
    io.err(loaded.message + '\n');
    return EXIT.usage;
  }
  const sc = loaded.scenario;
  const watchNote = simWatchLine(sc);
  if (watchNote !== undefined && !v.json) io.err(`${watchNote}\n`);
  const sinks = openOutputs({ trace: v.trace, pcap: v.pcap, report: v.report }, io);
  if (sinks === undefined) return EXIT.usage;
  sinks.report?.close(); // written whole at the end; opened now so a bad path fails before the run
  const traceFile = sinks.trace;
  const reportLines: string[] | undefined = v.report !== undefined ? [] : undefined;
  const pcapFile = sinks.pcap;
  const modules = await scenarioAnalyzers(sc.cluster);
  if (!modules.ok) {
    io.err(`${file}: ${modules.error}\n`);
    return EXIT.usage;
  }
  const effectiveSeed = seed ?? sc.seed;
  const progress = io.isTTY && !v.json && !v.quiet ? new Progress(io) : undefined;
  let result: RunResult;
  try {
    result = runScenario(sc, {
      seed: effectiveSeed,
      ...(modules.makers !== undefined ? { analyzers: modules.makers } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(traceFile || reportLines
        ? {
            trace: new JsonlTrace(
              (l) => {
                traceFile?.line(l);
                reportLines?.push(l);
              },
              { seed: effectiveSeed, scenario: sc.name },
            ),
          }
        : {}),
      ...(pcapFile ? { pcap: (c: Uint8Array) => pcapFile.write(c) } : {}),
      ...(progress ? { onProgress: (now: Instant, end: Instant) => progress.update(now, end) } : {}),
    });
  } finally {
    progress?.done();
    traceFile?.close();
    pcapFile?.close();
  }
  if (v.report !== undefined && reportLines !== undefined) await writeReportFile(v.report, reportLines.join('\n') + '\n', file, result);
  if (v.json) io.out(JSON.stringify({ file, ...result, trace: v.trace ?? null, pcap: v.pcap ?? null }, null, 2) + '\n');
  else io.out(formatResult(file, result, { quiet: v.quiet ?? false, trace: v.trace, pcap: v.pcap, report: v.report }));
  return result.passed ? EXIT.ok : EXIT.failed;
}

/** Open the --trace, --pcap and --report files; undefined (after saying why) when one cannot be opened. */
function openOutputs(paths: { trace: string | undefined; pcap: string | undefined; report: string | undefined }, io: Io): { trace?: FileSink; pcap?: FileSink; report?: FileSink } | undefined {
  const out: { trace?: FileSink; pcap?: FileSink; report?: FileSink } = {};
  for (const k of ['trace', 'pcap', 'report'] as const) {
    const path = paths[k];
    if (path === undefined) continue;
    const r = openSink(path, `--${k}`);
    if (!r.ok) {
      for (const f of Object.values(out)) f?.close();
      io.err(`sg run: ${r.message}\n`);
      return undefined;
    }
    out[k] = r.sink;
  }
  return out;
}

/** A one-line progress bar on a terminal (stderr), redrawn at most 10 times a second. */
class Progress {
  #last = 0;
  constructor(readonly io: Io) {}
  update(now: Instant, end: Instant): void {
    const t = this.io.clock();
    if (t - this.#last < 100 && now < end) return;
    this.#last = t;
    const f = end > 0 ? now / end : 1;
    const width = 30;
    const full = Math.round(f * width);
    this.io.errRaw(`\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${formatDuration(now as number as Duration)} / ${formatDuration(end as number as Duration)}`);
  }
  done(): void {
    this.io.errRaw('\r\x1b[K');
  }
}

export function formatResult(file: string, r: RunResult, o: { quiet: boolean; trace?: string | undefined; pcap?: string | undefined; report?: string | undefined }): string {
  const lines: string[] = [];
  const failed = r.expectations.filter((e) => !e.pass).length;
  if (!o.quiet) lines.push(`${r.scenario} (${file}), seed ${r.seed}: simulated ${formatDuration(r.end as number as Duration)}, ${r.events} events`);
  if (r.aborted) lines.push(`  ABORTED: ${r.aborted}`);
  if (!o.quiet && r.workloads.length > 0) {
    lines.push('', 'workloads:');
    for (const w of r.workloads) {
      const other = Object.entries(w.byStatus).filter(([k, n]) => k !== 'ok' && n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
      const lat = w.p50 !== undefined ? `  p50 ${formatDuration(w.p50 as Duration)}  p99 ${formatDuration(w.p99! as Duration)}` : '';
      lines.push(`  ${w.name.padEnd(16)} ${w.ok}/${w.requests} ok${other ? ` (${other})` : ''}${lat}`);
    }
  }
  if (r.expectations.length > 0) {
    if (!o.quiet) lines.push('', 'expectations:');
    for (const e of r.expectations) {
      if (o.quiet && e.pass) continue;
      lines.push(`  ${e.pass ? 'pass' : 'FAIL'}  ${e.path} (line ${e.line}): ${e.measured}  [expected ${e.bound}]`);
      if (!e.pass) {
        lines.push(`        ${e.text}`);
        if (e.detail) lines.push(`        ${e.detail}`);
      }
    }
  }
  if (!o.quiet) {
    lines.push('');
    if (o.trace) lines.push(`trace: ${o.trace}`);
    if (o.pcap) lines.push(`capture: ${o.pcap}`);
    if (o.report) lines.push(`report: ${o.report}`);
    lines.push(r.passed ? `PASS: ${r.expectations.length} expectation(s) held` : `FAIL: ${failed} of ${r.expectations.length} expectation(s) failed${r.aborted ? ' (run aborted)' : ''}`);
  } else if (!r.passed) {
    lines.push(`FAIL ${file} seed ${r.seed}: ${failed} of ${r.expectations.length} expectation(s) failed`);
  }
  return lines.join('\n') + '\n';
}

/** The HTML report: the run's summary as a comment at the top, then the timeline with the trace. */
async function writeReportFile(out: string, trace: string, file: string, r: RunResult): Promise<void> {
  const { writeReport } = await import('./viz.ts');
  const summary = formatResult(file, r, { quiet: false }).replace(/--/g, '- -');
  const html = (await writeReport(trace, `${r.scenario}: ${r.passed ? 'PASS' : 'FAIL'}`)).replace('<body>', `<body>\n<!--\n${summary}-->\n<details class="summary"><summary>${r.passed ? 'PASS' : 'FAIL'}: ${r.scenario}</summary><pre>${summary.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'))}</pre></details>`);
  writeFileSync(out, html);
}
