/**
 * The real RPC service in network namespaces, judged on the wire by tshark:
 * test/fixtures/real/lab-rpc.yaml built with `sg lab up` (no SG node), which starts the `rpc`
 * service as `sg rpc serve` joined to its group; the test adds a second service with
 * --fail-writes in the same host (its own process, ended by PID), captures on the client's
 * interface and sends with `sg rpc read|write` from the client's namespace.
 *
 * Write replies must carry IP option 158 (0x9e, 8 bytes) with status 0 and the stored value, or
 * status 1 for the failing service, also when the write went to the group; a read reply carries
 * no option at all (a 20-byte header). tshark 4.0 (Debian 12) names no fields for an option type
 * it does not know (`ip.opt.type` stays empty): it shows "Unknown (0x9e) (8 bytes)" with the
 * option's bytes, which the test reads from tshark's PDML, beside `ip.hdr_len`. Needs root,
 * iproute2 and tshark; skipped with a printed reason otherwise.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { labUp, LAB_READY_TIMEOUT_MS, nsName, SG_BIN, type LabState } from '../../src/real/lab.ts';
import { hasTshark } from '../support/tshark.ts';
import { optionHex, rpc, tsharkUdp, type SeenDatagram } from './rpc-support.ts';
import { canRunLab, tearDownLab, until } from './support.ts';

const why = canRunLab() ?? (hasTshark() ? undefined : 'no tshark (apt-get install -y tshark)');
if (why !== undefined) console.warn(`lab rpc test skipped: ${why}`);

const FILE = 'test/fixtures/real/lab-rpc.yaml';
const SERVER = '10.10.8.11';
const GROUP = '239.7.8.1';
const FAILING_PORT = 2050;

/** The UDP datagrams from `src` in `pcap` (2049 and the failing port decoded as data). */
function tsharkReplies(pcap: string, src: string): SeenDatagram[] {
  return tsharkUdp(pcap, `ip.src == ${src} && udp`, [2049, FAILING_PORT]);
}


describe.skipIf(why !== undefined)('the RPC service in the lab, on the wire', () => {
  let lab: LabState | undefined;
  const ours: ChildProcess[] = [];
  afterAll(() => tearDownLab(lab, ours));

  it('write replies carry option 158 with the status and the stored value; read replies carry none', async () => {
    lab = labUp(FILE, { daemons: false });
    const l = lab;
    const c = nsName(l.prefix, 'c');
    const s1 = nsName(l.prefix, 's1');
    const failing = spawn('ip', ['netns', 'exec', s1, process.execPath, SG_BIN, 'rpc', 'serve', '--port', String(FAILING_PORT), '--fail-writes', '--name', 's1/failing'], { stdio: ['ignore', 'ignore', 'pipe'] });
    ours.push(failing);
    let failingLog = '';
    failing.stderr!.setEncoding('utf8');
    failing.stderr!.on('data', (d: string) => (failingLog += d));
    // Ready when they answer (the lab's service is started by labUp; both run through tsx).
    await until('the lab rpc service to answer', () => rpc(c, ['read', '--to', `${SERVER}:2049`, '--key', '0', '--timeout-ms', '2000']).code === 0, LAB_READY_TIMEOUT_MS);
    await until('the failing rpc service to answer', () => rpc(c, ['read', '--to', `${SERVER}:${FAILING_PORT}`, '--key', '0', '--timeout-ms', '2000']).code === 0 || failing.exitCode !== null, LAB_READY_TIMEOUT_MS);
    expect(failing.exitCode, failingLog).toBeNull();

    const pcap = `${l.dir}/c-rpc.pcapng`;
    const tshark = spawn('ip', ['netns', 'exec', c, 'tshark', '-i', 'eth0', '-f', 'udp', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    ours.push(tshark);
    let tsharkErr = '';
    tshark.stderr!.setEncoding('utf8');
    tshark.stderr!.on('data', (d: string) => (tsharkErr += d));
    await until('tshark to capture', () => tsharkErr.includes('Capturing on') || tshark.exitCode !== null, 60_000);
    expect(tshark.exitCode, tsharkErr).toBeNull();

    const write = rpc(c, ['write', '--to', `${SERVER}:2049`, '--key', '7', '--value', '42', '--xid', '1001']);
    expect(write.out, write.err).toMatch(/^reply xid=1001 status=ok value=42 /);
    const read = rpc(c, ['read', '--to', `${SERVER}:2049`, '--key', '7', '--xid', '1002']);
    expect(read.out, read.err).toMatch(/^reply xid=1002 status=ok value=42 /);
    // To the group the service joined: the reply comes from its own address, with the option.
    const mcast = rpc(c, ['write', '--to', `${GROUP}:2049`, '--key', '8', '--value=-5', '--xid', '1003']);
    expect(mcast.out, mcast.err).toMatch(/^reply xid=1003 status=ok value=-5 from=10\.10\.8\.11:2049 /);
    const failed = rpc(c, ['write', '--to', `${SERVER}:${FAILING_PORT}`, '--key', '7', '--value', '9', '--xid', '1004']);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/^reply xid=1004 status=error value=0 /);

    // Stop the capture (SIGINT: tshark writes out what it has) once it holds the four replies.
    const exited = new Promise<void>((res) => tshark.on('exit', () => res()));
    await until('tshark to see the replies', () => {
      try {
        return tsharkReplies(pcap, SERVER).filter((r) => r.xid >= 1001 && r.xid <= 1004).length >= 4;
      } catch {
        return false; // the file's first block is not written yet
      }
    }, 60_000);
    tshark.kill('SIGINT');
    await exited;

    const seen = tsharkReplies(pcap, SERVER).filter((r) => r.xid >= 1001 && r.xid <= 1004);
    const byXid = new Map(seen.map((r) => [r.xid, r]));
    expect(byXid.get(1001)).toEqual({ src: SERVER, srcPort: 2049, dst: expect.any(String), hdrLen: 28, option: optionHex(0, 42), xid: 1001 });
    expect(byXid.get(1002)).toEqual({ src: SERVER, srcPort: 2049, dst: expect.any(String), hdrLen: 20, option: undefined, xid: 1002 });
    expect(byXid.get(1003)).toEqual({ src: SERVER, srcPort: 2049, dst: expect.any(String), hdrLen: 28, option: optionHex(0, -5), xid: 1003 });
    expect(byXid.get(1004)).toEqual({ src: SERVER, srcPort: FAILING_PORT, dst: expect.any(String), hdrLen: 28, option: optionHex(1, 0), xid: 1004 });
    // And tshark finds nothing malformed in them.
    expect(execFileSync('tshark', ['-r', pcap, '-Y', '_ws.malformed || _ws.expert.severity >= error'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()).toBe('');
  });
});
