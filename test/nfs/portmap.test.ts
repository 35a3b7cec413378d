/** The port mapper (RFC 1833 v2): GETPORT and DUMP from a fixed map; other programs, versions and procedures refused as RFC 5531 says. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapngWriter } from '../../src/capture/pcapng.ts';
import { ip, mac } from '../../src/wire/addr.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { requireTshark, tsharkCheck } from '../support/tshark.ts';
import { IPPROTO, PMAP_PORT, PMAP_PROC, PMAP_PROG, PMAP_VERS, portmapReply, type Mapping } from '../../src/nfs/portmap.ts';
import { callHeader } from '../../src/wire/oncrpc.ts';
import { XdrReader } from '../../src/wire/xdr.ts';

const MAP: Mapping[] = [
  { prog: 100003, vers: 3, prot: IPPROTO.udp, port: 2049 },
  { prog: 100005, vers: 3, prot: IPPROTO.udp, port: 20048 },
];

/** A reply's xid, accept_stat, and a reader at its results. */
function reply(b: Uint8Array | undefined): { xid: number; stat: number; r: XdrReader } {
  expect(b).toBeDefined();
  const r = new XdrReader(b!);
  const xid = r.u32();
  expect([r.u32(), r.u32(), r.u32(), r.u32()]).toEqual([1, 0, 0, 0]); // REPLY, MSG_ACCEPTED, AUTH_NONE verifier
  return { xid, stat: r.u32(), r };
}

describe('the port mapper', () => {
  it('GETPORT finds a mapping, or answers 0', () => {
    const ask = (prog: number, vers: number, prot: number) => reply(portmapReply(callHeader(9, PMAP_PROG, PMAP_VERS, PMAP_PROC.getport).u32(prog).u32(vers).u32(prot).u32(0).bytes(), MAP));
    const nfs = ask(100003, 3, IPPROTO.udp);
    expect([nfs.xid, nfs.stat, nfs.r.u32()]).toEqual([9, 0, 2049]);
    expect(ask(100003, 3, IPPROTO.tcp).r.u32()).toBe(0);
    expect(ask(100003, 2, IPPROTO.udp).r.u32()).toBe(0);
  });

  it('DUMP lists every mapping', () => {
    const { stat, r } = reply(portmapReply(callHeader(1, PMAP_PROG, PMAP_VERS, PMAP_PROC.dump).bytes(), MAP));
    expect(stat).toBe(0);
    const seen: Mapping[] = [];
    while (r.bool()) seen.push({ prog: r.u32(), vers: r.u32(), prot: r.u32(), port: r.u32() });
    expect(seen).toEqual(MAP);
    expect(r.error).toBeUndefined();
  });

  it('refuses what it does not serve, and answers no non-call', () => {
    expect(reply(portmapReply(callHeader(1, 100003, 3, 0).bytes(), MAP)).stat).toBe(1); // PROG_UNAVAIL
    const v3 = reply(portmapReply(callHeader(1, PMAP_PROG, 3, 3).bytes(), MAP));
    expect([v3.stat, v3.r.u32(), v3.r.u32()]).toEqual([2, 2, 2]); // PROG_MISMATCH, versions 2 to 2
    expect(reply(portmapReply(callHeader(1, PMAP_PROG, PMAP_VERS, 9).bytes(), MAP)).stat).toBe(3); // PROC_UNAVAIL
    expect(reply(portmapReply(callHeader(1, PMAP_PROG, PMAP_VERS, PMAP_PROC.getport).u32(1).bytes(), MAP)).stat).toBe(4); // GARBAGE_ARGS
    const set = reply(portmapReply(callHeader(1, PMAP_PROG, PMAP_VERS, PMAP_PROC.set).u32(1).u32(1).u32(17).u32(99).bytes(), MAP));
    expect([set.stat, set.r.bool()]).toEqual([0, false]);
    expect(portmapReply(new Uint8Array(7), MAP)).toBeUndefined();
  });
});

describe.runIf(requireTshark())('tshark decodes the port mapper\'s calls and replies (Portmap v2), none malformed', () => {
  it('GETPORT, DUMP, NULL and a PROG_MISMATCH, both ways', () => {
    const C = mac('02:00:00:00:00:01');
    const S = mac('02:00:00:00:00:02');
    const cIp = ip('10.99.0.1');
    const sIp = ip('10.99.0.2');
    const frame = (from: 'c' | 's', payload: Uint8Array) =>
      encodeFrame({
        eth: from === 'c' ? { dst: S, src: C } : { dst: C, src: S },
        net: { kind: 'ipv4', ip: ipv4Header({ src: from === 'c' ? cIp : sIp, dst: from === 'c' ? sIp : cIp, protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: from === 'c' ? 700 : PMAP_PORT, dstPort: from === 'c' ? PMAP_PORT : 700, payload } } },
      });
    const calls = [
      callHeader(1, PMAP_PROG, PMAP_VERS, PMAP_PROC.getport).u32(100003).u32(3).u32(IPPROTO.udp).u32(0).bytes(),
      callHeader(2, PMAP_PROG, PMAP_VERS, PMAP_PROC.dump).bytes(),
      callHeader(3, PMAP_PROG, PMAP_VERS, PMAP_PROC.null).bytes(),
      callHeader(4, PMAP_PROG, 3, PMAP_PROC.null).bytes(), // rpcbind v3: PROG_MISMATCH 2..2
    ];
    const frames = calls.flatMap((c) => [frame('c', c), frame('s', portmapReply(c, MAP)!)]);
    const chunks: Uint8Array[] = [];
    const w = new PcapngWriter({ sink: (c) => chunks.push(c) });
    const iface = w.addInterface({ name: 'portmap' });
    frames.forEach((f, i) => w.writePacket(iface, 1_000_000 + i * 1000, f));
    const path = join(mkdtempSync(join(tmpdir(), 'sg-portmap-')), 'portmap.pcapng');
    writeFileSync(path, Buffer.concat(chunks));
    const r = tsharkCheck(path);
    expect(r.packets).toBe(8);
    expect([r.malformed, r.badChecksums, r.expertErrors]).toEqual([0, 0, []]);
    expect(r.summary.filter((l) => /Portmap/.test(l)).length, r.summary.join('\n')).toBe(8);
    expect(r.summary.some((l) => /GETPORT Reply.*Port:2049|V2 GETPORT Reply/.test(l)), r.summary.join('\n')).toBe(true);
  });
});
