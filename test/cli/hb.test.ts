/** `sg hb` against a real UDP socket on loopback: signed heartbeats while the process lives. */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findProcess, hbCommand, processAlive } from '../../src/cli/hb.ts';
import { memoryIo } from '../../src/cli/io.ts';
import { parseFeedback, verifyFeedback } from '../../src/wire/feedback.ts';

const SECRET = '11111111111111111111111111111111';

function keyFile(mode = 0o600): string {
  const p = join(mkdtempSync(join(tmpdir(), 'sg-hb-')), 'rs1.json');
  writeFileSync(p, JSON.stringify({ id: 11, secret: SECRET, role: { group: 'web', server: 'rs1' } }));
  chmodSync(p, mode);
  return p;
}

describe('sg hb', () => {
  it('sends N signed heartbeats with increasing counts while the process is alive', async () => {
    const sock = createSocket('udp4');
    const got: Uint8Array[] = [];
    sock.on('message', (m) => got.push(new Uint8Array(m)));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const io = memoryIo();
    const code = await hbCommand(['--node', `127.0.0.1:${port}`, '--key', keyFile(), '--server', 'web/rs1', '--pid', String(process.pid), '--interval', '20ms', '--count', '3'], io);
    await new Promise((r) => setTimeout(r, 100));
    sock.close();
    expect(code).toBe(0);
    expect(got).toHaveLength(3);
    const secret = Uint8Array.from(SECRET.match(/../g)!.map((h) => parseInt(h, 16)));
    const counts = got.map((b) => {
      const p = parseFeedback(b);
      if (!p.ok || p.value.message.kind !== 'command') throw new Error('not a command');
      expect(verifyFeedback(p.value, secret)).toBe(true);
      expect(p.value.message).toMatchObject({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'heartbeat', keyId: 11 });
      return Number(p.value.message.data);
    });
    expect(counts).toEqual([1, 2, 3]);
  });

  it('stops with exit 1 when the watched process dies', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 150)']);
    await new Promise((r) => setTimeout(r, 30));
    const io = memoryIo();
    const code = await hbCommand(['--node', '127.0.0.1:9', '--key', keyFile(), '--server', 'web/rs1', '--pid', String(child.pid), '--interval', '50ms'], io);
    expect(code).toBe(1);
    expect(io.stderr).toMatch(/is gone; heartbeats stop/);
    expect(processAlive(child.pid!)).toBe(false);
  });

  it('refuses a key file readable by group or others, as sg cmd and sg daemon do (exit 2, the fix named)', async () => {
    const key = keyFile(0o640);
    const io = memoryIo();
    expect(await hbCommand(['--node', '127.0.0.1:9', '--key', key, '--server', 'web/rs1', '--pid', String(process.pid), '--count', '1'], io)).toBe(2);
    expect(io.stderr).toContain(`${key}: key file is readable by group or others (mode 640); chmod 600 ${key}`);
  });

  it('finds a process by name and refuses bad usage', async () => {
    expect(findProcess('node')).toBeGreaterThan(0);
    for (const argv of [[], ['--node', '127.0.0.1', '--key', keyFile(), '--server', 'web', '--pid', '1'], ['--node', '127.0.0.1', '--key', keyFile(), '--server', 'web/rs1']]) {
      expect(await hbCommand(argv, memoryIo())).toBe(2);
    }
  });

  it('a --pid that is not a process id is bad usage (exit 2), not a vanished process (exit 1)', async () => {
    for (const pid of ['abc', '0', '1.5', '12abc', '99999999999', '-5', '']) {
      const io = memoryIo();
      expect(await hbCommand(['--node', '127.0.0.1:9', '--key', keyFile(), '--server', 'web/rs1', `--pid=${pid}`, '--count', '1'], io), pid).toBe(2);
      expect(io.stderr).toContain('--pid must be a process id');
    }
  });
});
