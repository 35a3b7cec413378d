/**
 * The raw AF_PACKET port alone: one thread sends 64-byte frames into one end of a veth pair in
 * batches of 64 and receives them at the other end, for N frames (default 1,000,000). Needs root
 * (it makes and deletes its own namespace).
 *
 *   node --import tsx test/bench/real-rawsocket.ts [frames]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const N = Number(process.argv[2] ?? 1_000_000);
if (process.env['SG_RAW_CHILD'] === undefined) {
  const ns = `sgr${randomBytes(2).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'va', 'up']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'vb', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', new URL(import.meta.url).pathname, String(N)], { stdio: 'inherit', env: { ...process.env, SG_RAW_CHILD: '1' } });
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
} else {
  const { RawSocket, pollReadable } = await import('../../src/real/afpacket.ts');
  const a = new RawSocket('va');
  const b = new RawSocket('vb');
  const f = new Uint8Array(64);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, 1], 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  let got = 0;
  let sent = 0;
  const t0 = performance.now();
  while (got < N && performance.now() - t0 < 60_000) {
    for (let i = 0; i < 64 && sent < N; i++, sent++) a.send(f);
    a.flush();
    // Count only our frames (the kernel may send IPv6 neighbour discovery on a fresh link).
    if (pollReadable([b], 1).length) while (b.receive((x) => void (x[12] === 0x88 && x[13] === 0xb5 && got++)) > 0);
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`${got} of ${sent} frames sent and received in ${s.toFixed(2)} s by one thread: ${Math.round(got / s)} frames/s (send dropped ${a.stats.txDropped})`);
}
