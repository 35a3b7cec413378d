/**
 * What the real-mode RPC tests share: `sg rpc` in a namespace, and the UDP datagrams of a capture
 * as tshark dissects them, with the SG write-status option's bytes (tshark 4.0 has no named
 * fields for option 0x9e: its item reads "Unknown (0x9e) (8 bytes)", the bytes as its value).
 */
import { execFileSync } from 'node:child_process';
import { SG_BIN } from '../../src/real/lab.ts';

/** `sg rpc ARGS` in namespace `ns`: exit status and output (never throws). */
export function rpc(ns: string, args: string[], timeoutMs = 60_000): { code: number; out: string; err: string } {
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, SG_BIN, 'rpc', ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status?: number | null; stdout?: string; stderr?: string };
    return { code: x.status ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

/** One UDP datagram tshark saw: addresses and ports, IP header length, the 0x9e option's bytes (hex) and the RPC xid. */
export interface SeenDatagram {
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly hdrLen: number;
  readonly option: string | undefined;
  readonly xid: number;
}

/** The UDP datagrams in `pcap` that match display filter `filter`; `ports` are decoded as plain data (2049 would be NFS). */
export function tsharkUdp(pcap: string, filter: string, ports: readonly number[]): SeenDatagram[] {
  const decode = ports.flatMap((p) => ['-d', `udp.port==${p},data`]);
  const pdml = execFileSync('tshark', ['-r', pcap, '-T', 'pdml', ...decode, '-Y', filter], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
  const out: SeenDatagram[] = [];
  for (const pkt of pdml.split('<packet>').slice(1)) {
    const ipProto = /<proto name="ip"[\s\S]*?<\/proto>/.exec(pkt)?.[0] ?? '';
    const field = (name: string) => new RegExp(`name="${name.replace('.', '\\.')}"[^>]*show="([^"]*)"`).exec(ipProto)?.[1] ?? '';
    const option = /show="Unknown \(0x9e\) \(8 bytes\)"[^>]*value="([0-9a-f]+)"/.exec(ipProto)?.[1] ?? /name="ip.opt.type"[^>]*show="158"[\s\S]*?value="(9e08[0-9a-f]{12})"/.exec(ipProto)?.[1];
    const srcPort = Number(/name="udp.srcport"[^>]*show="(\d+)"/.exec(pkt)?.[1]);
    const data = /name="data.data"[^>]*value="([0-9a-f]+)"/.exec(pkt)?.[1] ?? '';
    out.push({ src: field('ip.src'), srcPort, dst: field('ip.dst'), hdrLen: Number(field('ip.hdr_len')), option, xid: data.length >= 8 ? Number.parseInt(data.slice(0, 8), 16) : -1 });
  }
  return out;
}

/** The option 0x9e, length 8, status (u16) and return value (i32), as hex. */
export function optionHex(status: number, retval: number): string {
  const b = Buffer.alloc(8);
  b[0] = 0x9e;
  b[1] = 8;
  b.writeUInt16BE(status, 2);
  b.writeInt32BE(retval, 4);
  return b.toString('hex');
}
