/** MOUNT v3 (RFC 1813 appendix I): the export's root handle, EXPORT, errors; tshark decodes it all. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapngWriter } from '../../src/capture/pcapng.ts';
import { encodeHandle } from '../../src/nfs/handle.ts';
import { MNT3, MOUNT_PROC, MOUNT_PROG, MOUNT_VERS, mountReply } from '../../src/nfs/mount.ts';
import { ip, mac } from '../../src/wire/addr.ts';
import { encodeFrame, ipv4Header } from '../../src/wire/frame.ts';
import { IP_PROTO } from '../../src/wire/ipv4.ts';
import { callHeader } from '../../src/wire/oncrpc.ts';
import { XdrReader } from '../../src/wire/xdr.ts';
import { requireTshark, tsharkCheck } from '../support/tshark.ts';

const EXPORTS = ['/export'];

function reply(b: Uint8Array | undefined): { stat: number; r: XdrReader } {
  expect(b).toBeDefined();
  const r = new XdrReader(b!);
  r.u32();
  expect([r.u32(), r.u32(), r.u32(), r.u32()]).toEqual([1, 0, 0, 0]);
  return { stat: r.u32(), r };
}
const mnt = (xid: number, path: string) => callHeader(xid, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.mnt).string(path).bytes();

describe('MOUNT v3', () => {
  it('MNT gives the root handle (depth 0, the same on every server) and AUTH_SYS', () => {
    const { stat, r } = reply(mountReply(mnt(1, '/export/'), EXPORTS));
    expect(stat).toBe(0);
    expect(r.u32()).toBe(MNT3.ok);
    expect(r.opaque(64)).toEqual(encodeHandle([]));
    expect([r.u32(), r.u32()]).toEqual([1, 1]);
    expect(r.error).toBeUndefined();
  });

  it('a path that is no export is NOENT; EXPORT lists the exports; DUMP is empty', () => {
    expect(reply(mountReply(mnt(2, '/etc'), EXPORTS)).r.u32()).toBe(MNT3.noent);
    const ex = reply(mountReply(callHeader(3, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.export).bytes(), EXPORTS)).r;
    expect([ex.bool(), ex.string(1024), ex.bool(), ex.bool()]).toEqual([true, '/export', false, false]);
    expect(reply(mountReply(callHeader(4, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.dump).bytes(), EXPORTS)).r.bool()).toBe(false);
    expect(reply(mountReply(callHeader(5, MOUNT_PROG, 1, MOUNT_PROC.mnt).bytes(), EXPORTS)).stat).toBe(2); // PROG_MISMATCH
    expect(reply(mountReply(callHeader(6, MOUNT_PROG, MOUNT_VERS, 9).bytes(), EXPORTS)).stat).toBe(3);
    expect(reply(mountReply(callHeader(7, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.mnt).bytes(), EXPORTS)).stat).toBe(4); // no dirpath: GARBAGE_ARGS
    expect(reply(mountReply(mnt(8, '/' + 'x'.repeat(1100)), EXPORTS)).r.u32()).toBe(MNT3.nametoolong);
    expect(mountReply(new Uint8Array(3), EXPORTS)).toBeUndefined();
  });
});

describe.runIf(requireTshark())('tshark decodes MOUNT calls and replies, none malformed', () => {
  it('NULL, MNT (ok and NOENT), EXPORT, DUMP, UMNT', () => {
    const C = mac('02:00:00:00:00:01');
    const S = mac('02:00:00:00:00:02');
    const frame = (fromClient: boolean, payload: Uint8Array) =>
      encodeFrame({
        eth: fromClient ? { dst: S, src: C } : { dst: C, src: S },
        net: { kind: 'ipv4', ip: ipv4Header({ src: ip(fromClient ? '10.99.0.1' : '10.99.0.2'), dst: ip(fromClient ? '10.99.0.2' : '10.99.0.1'), protocol: IP_PROTO.udp }), l4: { kind: 'udp', udp: { srcPort: fromClient ? 800 : 20048, dstPort: fromClient ? 20048 : 800, payload } } },
      });
    const calls = [
      callHeader(1, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.null).bytes(),
      mnt(2, '/export'),
      mnt(3, '/nope'),
      callHeader(4, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.export).bytes(),
      callHeader(5, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.dump).bytes(),
      callHeader(6, MOUNT_PROG, MOUNT_VERS, MOUNT_PROC.umnt).string('/export').bytes(),
    ];
    const frames = calls.flatMap((c) => [frame(true, c), frame(false, mountReply(c, EXPORTS)!)]);
    const chunks: Uint8Array[] = [];
    const w = new PcapngWriter({ sink: (c) => chunks.push(c) });
    const iface = w.addInterface({ name: 'mount' });
    frames.forEach((f, i) => w.writePacket(iface, 1_000_000 + i * 1000, f));
    const path = join(mkdtempSync(join(tmpdir(), 'sg-mount-')), 'mount.pcapng');
    writeFileSync(path, Buffer.concat(chunks));
    const r = tsharkCheck(path);
    expect(r.packets).toBe(12);
    expect([r.malformed, r.badChecksums, r.expertErrors], r.summary.join('\n')).toEqual([0, 0, []]);
    expect(r.summary.filter((l) => /MOUNT/.test(l)).length, r.summary.join('\n')).toBe(12);
  });
});
