/** What the real-mode DNS tests share: dig through the VIP or at one server, nsupdate through the VIP. */
import { spawnSync } from 'node:child_process';
import { nsName, type LabState } from '../../src/real/lab.ts';
import { sh } from './support.ts';

export interface DnsLab {
  /** dig from the client through the VIP, from source port `port`: the +short answer ('' on failure). */
  digVip(name: string, port: number): string;
  /** dig against one server directly, from its own namespace. */
  digAt(server: string, name: string): string;
  /** nsupdate from the client through the VIP, from source port `port`; `retries` resends of the same ID. */
  nsupdate(port: number, lines: string): { status: number | null; out: string };
}

export function dnsLab(lab: () => LabState, o: { readonly vip: string; readonly client: string; readonly servers: Readonly<Record<string, string>>; readonly nsupdateArgs: readonly string[] }): DnsLab {
  return {
    digVip(name, port) {
      try {
        return sh(nsName(lab().prefix, 'client'), 'dig', [`@${o.vip}`, '-b', `${o.client}#${port}`, name, 'A', '+short', '+tries=1', '+time=2']).trim();
      } catch {
        return '';
      }
    },
    digAt: (server, name) => sh(nsName(lab().prefix, server), 'dig', [`@${o.servers[server]}`, name, 'A', '+short', '+tries=1', '+time=2']).trim(),
    nsupdate(port, lines) {
      const r = spawnSync('ip', ['netns', 'exec', nsName(lab().prefix, 'client'), 'nsupdate', ...o.nsupdateArgs], {
        input: `server ${o.vip} 53\nlocal ${o.client} ${port}\nzone example.test.\n${lines}send\n`,
        encoding: 'utf8',
        timeout: 20_000,
      });
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    },
  };
}
