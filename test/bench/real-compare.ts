/**
 * SG against its peers in one lab: new TCP connections per second through the SG node
 * (NAT) and through haproxy (mode tcp, Debian's), and takeover time after SIGKILL of the master
 * for SG (bidd, 100 ms heartbeats) and keepalived (VRRPv3, 100 ms adverts; its VRRP child is
 * killed, not the parent, to simulate a crash). Needs root and Debian's haproxy, keepalived, wrk.
 *
 *   node --import tsx test/bench/real-compare.ts [seconds] [notrace]
 *
 * Connections/s: wrk from the client with `Connection: close`, so every request is a new TCP
 * connection, 2 threads and 50 connections, against two nginx servers; client, proxy, servers
 * and wrk share the machine's 2 cores. Takeover: SG's from the kill to the new master's state
 * change in its trace; keepalived's from the kill to its notify_master script's timestamp.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, nsName, type LabState } from '../../src/real/lab.ts';
import { monotonicUs } from '../../src/real/engine-worker.ts';

const SECONDS = Number(process.argv[2] ?? 5);
/** `notrace`: the daemons write no trace (the connection rate without tracing; no takeover part). */
const NOTRACE = process.argv[3] === 'notrace';
/** The SG nodes' bid timeout (SG_BID_TIMEOUT, default 100ms): the takeover is master timeout + this. */
const BID = process.env['SG_BID_TIMEOUT'] ?? '100ms';
const dir = mkdtempSync(join(tmpdir(), 'sg-cmp-'));
const file = join(dir, 'cmp.yaml');
writeFileSync(file, `name: compare
duration: 1s
topology:
  segments:
    public: { subnet: 10.50.1.0/24 }
    pool: { subnet: 10.50.2.0/24 }
  hosts:
    client: { ifaces: [{ segment: public, ip: 10.50.1.100 }] }
    hap: { ifaces: [{ segment: public, ip: 10.50.1.20 }, { segment: pool, ip: 10.50.2.20 }] }
    ka1: { ifaces: [{ segment: public, ip: 10.50.1.41 }] }
    ka2: { ifaces: [{ segment: public, ip: 10.50.1.42 }] }
    rs1: { ifaces: [{ segment: pool, ip: 10.50.2.1 }], gateway: 10.50.2.254, services: [{ kind: http, port: 80 }] }
    rs2: { ifaces: [{ segment: pool, ip: 10.50.2.2 }], gateway: 10.50.2.254, services: [{ kind: http, port: 80 }] }
cluster:
  failover: { group: 224.1.1.1, heartbeat: 100ms, master-timeout: 300ms, bid-timeout: ${BID}, key: "5eed5eed5eed5eed5eed5eed5eed5eed", private-vip: 10.50.2.254 }
  nodes:
    sg1: { public: { segment: public, ip: 10.50.1.11 }, private: { segment: pool, ip: 10.50.2.11 }, price: 200 }
    sg2: { public: { segment: public, ip: 10.50.1.12 }, private: { segment: pool, ip: 10.50.2.12 }, price: 100 }
  groups:
    - { name: web, vip: 10.50.1.10, port: 80, policy: round-robin, servers: [{ host: rs1 }, { host: rs2 }] }
`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inNs = (lab: LabState, host: string, cmd: string, args: string[], timeout = 60_000) =>
  execFileSync('ip', ['netns', 'exec', nsName(lab.prefix, host), cmd, ...args], { encoding: 'utf8', timeout });

function wrk(lab: LabState, url: string): number {
  const out = inNs(lab, 'client', 'wrk', ['-t2', '-c50', `-d${SECONDS}s`, '-H', 'Connection: close', url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Non-2xx|Socket errors: .*/.exec(out)?.[0];
  if (errors) console.log(`  (${url}: ${errors})`);
  return m ? Number(m[1]) : NaN;
}

function masterAt(lab: LabState, node: string, after: number): number | undefined {
  for (const line of readFileSync(`${lab.dir}/${node}.jsonl`, 'utf8').split('\n')) {
    if (!line.includes('"machine":"bidd"') || !line.includes('"to":"master"')) continue;
    const t = (JSON.parse(line) as { t: number }).t;
    if (t > after) return t;
  }
  return undefined;
}

function keepalivedConf(ka: string, prio: number, notify: string): string {
  const conf = join(dir, `${ka}.conf`);
  writeFileSync(conf, `global_defs { script_user root
  enable_script_security }
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${prio}
  version 3
  advert_int 0.1
  nopreempt
  virtual_ipaddress { 10.50.1.30/24 }
  notify_master "${notify} ${ka}"
}
`);
  return conf;
}

/** Ends the run early (after the connection rate), through the `finally` that removes the lab. */
class Done extends Error {}

const lab = labUp(file, { log: () => {}, traces: !NOTRACE });
try {
  for (let i = 0; i < 100; i++) {
    try {
      inNs(lab, 'client', 'curl', ['-s', '-m', '1', 'http://10.50.1.10/']);
      break;
    } catch {
      await sleep(200);
    }
  }
  // haproxy in its namespace.
  const hapConf = join(dir, 'haproxy.cfg');
  writeFileSync(hapConf, `global
  maxconn 8000
  pidfile ${dir}/haproxy.pid
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend fe
  bind 10.50.1.20:80
  default_backend be
backend be
  balance roundrobin
  server rs1 10.50.2.1:80
  server rs2 10.50.2.2:80
`);
  const hapLog = openSync(join(dir, 'haproxy.log'), 'a');
  const hap = spawn('ip', ['netns', 'exec', nsName(lab.prefix, 'hap'), 'haproxy', '-f', hapConf, '-db'], { stdio: ['ignore', hapLog, hapLog] });
  await sleep(1000);
  const viaSg = wrk(lab, 'http://10.50.1.10/');
  const viaHap = wrk(lab, 'http://10.50.1.20/');
  hap.kill('SIGTERM');
  console.log(`new TCP connections/s (wrk -t2 -c50, Connection: close, ${SECONDS} s${NOTRACE ? ', daemons not tracing' : ''}): SG ${viaSg.toFixed(0)}, haproxy ${viaHap.toFixed(0)} (SG/haproxy ${((viaSg / viaHap) * 100).toFixed(0)}%)`);
  if (NOTRACE) throw new Done();

  // Takeover: SG.
  const sg1 = lab.processes.find((p) => p.name === 'sg1')!;
  const killAt = monotonicUs() - lab.t0;
  process.kill(sg1.pid, 'SIGKILL');
  await sleep(1500);
  const sgT = masterAt(lab, 'sg2', killAt);
  // Takeover: keepalived.
  const notify = join(dir, 'notify.sh');
  writeFileSync(notify, `#!/bin/sh\necho "$1 $(cat /proc/uptime | cut -d' ' -f1) $(date +%s%N)" >> ${dir}/notify.log\n`, { mode: 0o755 });
  const kas = ['ka1', 'ka2'].map((ka, i) =>
    spawn('ip', ['netns', 'exec', nsName(lab.prefix, ka), 'keepalived', '-n', '-l', '-P', '-f', keepalivedConf(ka, 200 - i * 100, notify), '-p', join(dir, `${ka}.pid`), '-r', join(dir, `${ka}-vrrp.pid`)], { stdio: 'ignore' }),
  );
  const readNotify = () => {
    try {
      return readFileSync(join(dir, 'notify.log'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
    } catch {
      return [];
    }
  };
  for (let i = 0; i < 100 && readNotify().length === 0; i++) await sleep(100);
  const first = readNotify()[0]?.[0];
  const masterKa = first ?? 'ka1';
  const vrrpPid = Number(readFileSync(join(dir, `${masterKa}-vrrp.pid`), 'utf8').trim());
  const kaKill = process.hrtime.bigint();
  process.kill(vrrpPid, 'SIGKILL');
  for (let i = 0; i < 50 && readNotify().length < 2; i++) await sleep(100);
  const second = readNotify()[1];
  const kaT = second !== undefined ? Number(BigInt(second[2]!) - (BigInt(Date.now()) * 1_000_000n - (process.hrtime.bigint() - kaKill))) / 1000 : undefined;
  for (const k of kas) k.kill('SIGTERM');
  console.log(`takeover after SIGKILL of the master, 100 ms interval (SG bid timeout ${BID}): SG ${sgT !== undefined ? `${((sgT - killAt) / 1000).toFixed(1)} ms` : 'none'}, keepalived ${kaT !== undefined ? `${(kaT / 1000).toFixed(1)} ms` : 'none'} (${masterKa} killed, ${second?.[0] ?? '?'} took over)`);
} catch (e) {
  if (!(e instanceof Done)) throw e;
} finally {
  labDown(lab.prefix);
}
