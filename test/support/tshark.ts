/**
 * tshark as an independent judge of our captures: does Wireshark read the file, and does it
 * find malformed packets, bad checksums or expert errors in it?
 *
 * Tests gate on `requireTshark()`:
 *
 *     const tshark = requireTshark();
 *     it.runIf(tshark)('capture passes tshark', () => { ... tsharkCheck(path) ... });
 *
 * Locally without tshark the test is skipped (with one message saying why). With `CI` set the
 * test runs anyway and fails in `tsharkCheck`, because CI installs tshark and a silent skip there
 * would hide that the check never ran. `TSHARK` overrides the binary (default `tshark` on PATH).
 */

import { spawnSync } from 'node:child_process';

export interface TsharkReport {
  /** Packets tshark dissected. */
  readonly packets: number;
  /** Packets carrying a `_ws.malformed` item (a dissector hit the end of the data, or worse). */
  readonly malformed: number;
  /** Packets where any of `CHECKSUM_STATUS_FIELDS` says Bad. */
  readonly badChecksums: number;
  /** Expert items of severity Error, as `frame N: message`. */
  readonly expertErrors: string[];
  /** tshark's one-line-per-packet summary, for failure messages. */
  readonly summary: string[];
}

/** Checksum verification is off by default for these; the check turns it on. */
export const CHECKSUM_PREFS = ['ip.check_checksum:TRUE', 'tcp.check_checksum:TRUE', 'udp.check_checksum:TRUE'] as const;

/** `*.checksum.status` fields: 0 Bad, 1 Good, 2 Unverified, 3 Not present, 4 Illegal. */
export const CHECKSUM_STATUS_FIELDS = [
  'ip.checksum.status',
  'tcp.checksum.status',
  'udp.checksum.status',
  'icmp.checksum.status',
  'igmp.checksum.status',
] as const;

/** `_ws.expert.severity` value of PI_ERROR. */
const EXPERT_SEVERITY_ERROR = 0x00800000;
const TSHARK_TIMEOUT_MS = 60_000;
const TSHARK_OUTPUT_BYTES_MAX = 256 * 1024 * 1024;
/** Field and occurrence separators that cannot appear in tshark's field text. */
const FIELD_SEPARATOR = '\x1e';
const OCCURRENCE_SEPARATOR = '\x1f';

function tsharkBinary(): string {
  return process.env['TSHARK'] ?? 'tshark';
}

let available: boolean | undefined;

/** Whether `tshark -v` runs. Cached after the first call. */
export function hasTshark(): boolean {
  if (available === undefined) {
    const r = spawnSync(tsharkBinary(), ['-v'], { encoding: 'utf8', timeout: TSHARK_TIMEOUT_MS });
    available = r.error === undefined && r.status === 0;
  }
  return available;
}

function inCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

let skipNoticeShown = false;

/**
 * Whether tshark tests should run: true when tshark is installed, and also when it is missing
 * under CI (the test then fails in `tsharkCheck` with a message saying tshark is required).
 * False only locally without tshark, after printing once why those tests are skipped.
 */
export function requireTshark(): boolean {
  if (hasTshark() || inCi()) return true;
  if (!skipNoticeShown) {
    skipNoticeShown = true;
    console.warn(`tshark not found (${tsharkBinary()}): skipping tshark interop tests; install it (apt-get install tshark) to run them`);
  }
  return false;
}

function runTshark(args: readonly string[]): string {
  if (!hasTshark()) {
    throw new Error(
      `tshark is required but '${tsharkBinary()}' does not run` +
        (inCi() ? ' (CI is set: the CI image must install tshark)' : ''),
    );
  }
  const r = spawnSync(tsharkBinary(), args, {
    encoding: 'utf8',
    timeout: TSHARK_TIMEOUT_MS,
    maxBuffer: TSHARK_OUTPUT_BYTES_MAX,
  });
  if (r.error !== undefined) throw new Error(`tshark ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`tshark ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

function isBadChecksum(status: string): boolean {
  // Numeric in tshark 4.0; accept the value-string spelling in case a version prints that.
  return status === '0' || status.toLowerCase() === 'bad';
}

function isErrorSeverity(severity: string): boolean {
  return Number(severity) === EXPERT_SEVERITY_ERROR || severity.toLowerCase() === 'error';
}

/**
 * Runs tshark over a capture file with IP, TCP and UDP checksum validation on. Throws when
 * tshark is missing or cannot read the file (a damaged file is a failed check, loudly).
 */
export function tsharkCheck(path: string): TsharkReport {
  const prefs = CHECKSUM_PREFS.flatMap((p) => ['-o', p]);
  const base = ['-n', '-r', path, ...prefs];
  const summary = runTshark(base).split('\n').map((l) => l.trim()).filter((l) => l !== '');

  const fields = ['frame.number', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message', ...CHECKSUM_STATUS_FIELDS];
  const out = runTshark([
    ...base,
    '-T', 'fields',
    '-E', 'occurrence=a',
    '-E', `aggregator=${OCCURRENCE_SEPARATOR}`,
    '-E', `separator=${FIELD_SEPARATOR}`,
    ...fields.flatMap((f) => ['-e', f]),
  ]);

  let packets = 0;
  let malformed = 0;
  let badChecksums = 0;
  const expertErrors: string[] = [];
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const cols = line.split(FIELD_SEPARATOR);
    const [frame = '?', malformedText = '', severities = '', messages = ''] = cols;
    packets++;
    if (malformedText !== '') malformed++;
    const statuses = cols.slice(4).flatMap((c) => (c === '' ? [] : c.split(OCCURRENCE_SEPARATOR)));
    if (statuses.some(isBadChecksum)) badChecksums++;
    const sev = severities === '' ? [] : severities.split(OCCURRENCE_SEPARATOR);
    const msg = messages === '' ? [] : messages.split(OCCURRENCE_SEPARATOR);
    sev.forEach((s, i) => {
      if (isErrorSeverity(s)) expertErrors.push(`frame ${frame}: ${msg[i] ?? '(no message)'}`);
    });
  }
  return { packets, malformed, badChecksums, expertErrors, summary };
}

/**
 * Rewrites a capture with tshark in another file format (`tshark -F`), e.g. 'pcap', 'nsecpcap'
 * or 'pcapng': a second, independent writer for reader tests.
 */
export function tsharkConvert(inPath: string, outPath: string, format: 'pcap' | 'nsecpcap' | 'pcapng'): void {
  runTshark(['-n', '-r', inPath, '-F', format, '-w', outPath]);
}
