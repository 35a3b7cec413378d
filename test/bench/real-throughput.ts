/**
 * Real-mode throughput through the SG node against a direct download (the seed measured
 * 83.89% for FTP through its SG). A lab (`sg lab up`) with the client's switch port shaped to
 * 100 Mbit/s by `tc tbf`; the client downloads nginx's 64 MiB /bulk with curl, once from rs1
 * through the VIP (sg daemon, NAT) and once from rs0, a server on the client's own segment (no SG
 * on the path). Same bottleneck both ways. Needs root.
 *
 *   node --import tsx test/bench/real-throughput.ts [rounds]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, nsName } from '../../src/real/lab.ts';

const ROUNDS = Number(process.argv[2] ?? 3);
const file = join(mkdtempSync(join(tmpdir(), 'sg-tput-')), 'tput.yaml');
writeFileSync(file, `name: tput
duration: 1s
topology:
  segments:
    public: { subnet: 10.40.1.0/24 }
    pool: { subnet: 10.40.2.0/24 }
  hosts:
    client: { ifaces: [{ segment: public, ip: 10.40.1.100 }] }
    rs0: { ifaces: [{ segment: public, ip: 10.40.1.50 }], services: [{ kind: http, port: 80 }] }
    rs1: { ifaces: [{ segment: pool, ip: 10.40.2.1 }], gateway: 10.40.2.254, services: [{ kind: http, port: 80 }] }
cluster:
  failover: { group: 224.1.1.1, heartbeat: 100ms, master-timeout: 300ms, bid-timeout: 100ms, key: "5eed5eed5eed5eed5eed5eed5eed5eed", private-vip: 10.40.2.254 }
  nodes:
    sg1: { public: { segment: public, ip: 10.40.1.11 }, private: { segment: pool, ip: 10.40.2.11 } }
  groups:
    - { name: web, vip: 10.40.1.10, port: 80, servers: [{ host: rs1 }] }
`);

const lab = labUp(file);
try {
  // The client's interface is the lab's first bridge port (p0): shape what the switch sends it.
  execFileSync('ip', ['netns', 'exec', nsName(lab.prefix, 'sw'), 'tc', 'qdisc', 'add', 'dev', 'p0', 'root', 'tbf', 'rate', '100mbit', 'burst', '32kb', 'latency', '50ms']);
  const curl = (url: string): number => Number(execFileSync('ip', ['netns', 'exec', nsName(lab.prefix, 'client'), 'curl', '-s', '-o', '/dev/null', '-m', '30', '-w', '%{speed_download}', url], { encoding: 'utf8' }));
  // Wait for the SG node (labUp returns at its start; then the election).
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('ip', ['netns', 'exec', nsName(lab.prefix, 'client'), 'curl', '-s', '-m', '1', 'http://10.40.1.10/'], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const via: number[] = [];
  const direct: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    direct.push(curl('http://10.40.1.50/bulk'));
    via.push(curl('http://10.40.1.10/bulk'));
  }
  const mbit = (b: number) => (b * 8) / 1e6;
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`direct (no SG):  ${direct.map((x) => mbit(x).toFixed(1)).join(', ')} Mbit/s, median ${mbit(med(direct)).toFixed(1)}`);
  console.log(`via SG (NAT):    ${via.map((x) => mbit(x).toFixed(1)).join(', ')} Mbit/s, median ${mbit(med(via)).toFixed(1)}`);
  console.log(`via SG / direct: ${((med(via) / med(direct)) * 100).toFixed(1)}% (goal >= 95%; the seed: 83.89%)`);
} finally {
  labDown(lab.prefix);
}
