/**
 * Codec benchmarks: parse a TCP frame, rewrite destination address and port with the
 * incremental checksum, emit. Two paths are measured:
 * - view: the NAT fast path. Structural checks, in-place rewrite through Ipv4View/TcpView, the
 *   same buffer goes out (emit is the identity on the bytes).
 * - value: decode every layer with all checksums verified, change the values, encode a fresh
 *   frame with full checksums (what the simulator's hosts do).
 */
import { ip, mac } from '../../src/wire/addr.ts';
import { ETHERTYPE, ethernetHeaderLength } from '../../src/wire/ethernet.ts';
import { decodeFrame, encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO, Ipv4View } from '../../src/wire/ipv4.ts';
import { TCP_FLAG, TcpView } from '../../src/wire/tcp.ts';
import { readU16 } from '../../src/wire/addr.ts';
import type { Bench } from './harness.ts';

const VIP = ip('140.116.72.114');
const REAL = [ip('192.168.1.1'), ip('192.168.1.2'), ip('192.168.1.3')] as const;

function sampleFrame(payloadLen: number): Uint8Array {
  return encodeFrame({
    eth: { dst: mac('02:00:00:00:00:01'), src: mac('02:00:00:00:00:02') },
    net: {
      kind: 'ipv4',
      ip: ipv4Header({ src: ip('140.116.72.118'), dst: VIP, protocol: IP_PROTO.tcp, identification: 0x1234 }),
      l4: {
        kind: 'tcp',
        tcp: {
          srcPort: 1029, dstPort: 23, seq: 0x01020304, ack: 0x05060708, flags: TCP_FLAG.ack | TCP_FLAG.psh,
          window: 502, urgentPointer: 0,
          options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 1, echo: 2 }],
          payload: new Uint8Array(payloadLen).fill(0x61),
        },
      },
    },
  });
}

const FRAMES = 64;
function ring(payloadLen: number): Uint8Array[] {
  return Array.from({ length: FRAMES }, () => sampleFrame(payloadLen));
}

/** One NAT-style rewrite in place; returns the new checksum so the work is observable. */
function rewriteInPlace(f: Uint8Array, dst: number, port: number): number {
  const hl = ethernetHeaderLength(f);
  if (hl === undefined || readU16(f, hl - 2) !== ETHERTYPE.ipv4) return -1;
  if (f.length < hl + 20 || f[hl]! >>> 4 !== 4) return -1;
  const ipv = new Ipv4View(f, hl);
  if (ipv.protocol !== IP_PROTO.tcp || ipv.isFragment) return -1;
  const tcp = new TcpView(f, ipv.payloadOffset);
  const oldDst = ipv.dst;
  ipv.setDst(dst as never);
  tcp.pseudoAddressChanged(oldDst, dst as never);
  tcp.setDstPort(port);
  return tcp.checksum;
}

export const codecBenches: Bench[] = [64, 1460].flatMap((payload): Bench[] => [
  {
    name: `tcp rewrite dst addr+port, view path (${payload} B payload)`,
    unit: 'frames',
    run(n) {
      const frames = ring(payload);
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const f = frames[i & (FRAMES - 1)]!;
        acc += rewriteInPlace(f, REAL[i % 3]!, 80 + (i & 1));
      }
      return acc;
    },
  },
  {
    name: `tcp decode+rewrite+encode, value path (${payload} B payload)`,
    unit: 'frames',
    run(n) {
      const frames = ring(payload);
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const d = decodeFrame(frames[i & (FRAMES - 1)]!);
        if (!d.ok || d.value.net.kind !== 'ipv4' || d.value.net.l4.kind !== 'tcp') throw new Error('bench frame did not decode');
        const { ip: h, l4 } = d.value.net;
        const out = encodeFrame({
          eth: d.value.eth,
          net: { kind: 'ipv4', ip: { ...h, dst: REAL[i % 3]! }, l4: { kind: 'tcp', tcp: { ...l4.tcp, dstPort: 80 } } },
        });
        acc += out.length;
      }
      return acc;
    },
  },
]);
