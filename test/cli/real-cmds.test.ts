/**
 * The real-mode and timeline commands' bad input: a clear message and exit 2, before anything is
 * built or bound (no root needed).
 */
import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { memoryIo } from '../../src/cli/io.ts';

async function run(...argv: string[]): Promise<{ code: number; err: string; out: string }> {
  const io = memoryIo();
  const code = await main(argv, io);
  return { code, err: io.stderr, out: io.stdout };
}

describe('real-mode and timeline commands: bad input', () => {
  it('sg daemon: missing or unknown node, missing config', async () => {
    expect(await run('daemon')).toMatchObject({ code: 2, err: expect.stringContaining('--config FILE is required') });
    expect(await run('daemon', '--config', 'scenarios/lab-basic.yaml')).toMatchObject({ code: 2, err: expect.stringContaining('--node NAME is required') });
    expect(await run('daemon', '--config', 'scenarios/lab-basic.yaml', '--node', 'nope')).toMatchObject({ code: 2, err: expect.stringContaining("no SG node 'nope' (nodes: sg1, sg2)") });
    expect(await run('daemon', '--config', 'no/such.yaml', '--node', 'sg1')).toMatchObject({ code: 2, err: expect.stringContaining('no/such.yaml') });
  });

  it('sg daemon: a configuration holding secrets must be mode 600, as key files are for sg cmd and sg hb', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-daemon-'));
    const config = join(dir, 'lab.yaml');
    copyFileSync('scenarios/lab-basic.yaml', config);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(config, mode);
      const r = await run('daemon', '--config', config, '--node', 'sg1', '--public', 'sg-no-such-if0');
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${config}: configuration holding secrets (cluster.keys, cluster.failover.key) is readable by group or others (mode ${mode.toString(8)}); chmod 600 ${config}`);
    }
    // At 600 the file passes and the daemon goes on to its interfaces (here one that does not exist).
    chmodSync(config, 0o600);
    const r = await run('daemon', '--config', config, '--node', 'sg1', '--public', 'sg-no-such-if0');
    expect(r.code).toBe(2);
    expect(r.err).not.toContain('readable by group or others');
    expect(r.err).toContain('sg-no-such-if0');
    // A configuration without secrets may be world-readable.
    const open = await run('daemon', '--config', 'scenarios/bombing.yaml', '--node', 'sg1', '--public', 'sg-no-such-if0');
    expect(open.err).not.toContain('readable by group or others');
    expect(open.err).toContain('sg-no-such-if0');
  });

  it('sg lab: missing subcommand, file or prefix; a bad prefix is refused before anything is made', async () => {
    expect(await run('lab')).toMatchObject({ code: 2, err: expect.stringContaining('missing subcommand') });
    expect(await run('lab', 'up')).toMatchObject({ code: 2, err: expect.stringContaining('needs a scenario FILE') });
    expect(await run('lab', 'down')).toMatchObject({ code: 2, err: expect.stringContaining('needs a PREFIX') });
    const bad = await run('lab', 'up', 'scenarios/lab-basic.yaml', '--prefix', 'Bad-Prefix!');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("lab prefix 'Bad-Prefix!' must be");
  });

  it('sg diff and sg viz: usage errors and unreadable files', async () => {
    expect(await run('diff', 'only-one.jsonl')).toMatchObject({ code: 2, err: expect.stringContaining('give two trace files') });
    expect(await run('diff', 'no/a.jsonl', 'no/b.jsonl')).toMatchObject({ code: 2, err: expect.stringContaining('no/a.jsonl') });
    expect(await run('diff', 'a', 'b', '--tolerance', 'soon')).toMatchObject({ code: 2, err: expect.stringContaining('--tolerance') });
    expect(await run('viz')).toMatchObject({ code: 2, err: expect.stringContaining('give one trace file') });
    expect(await run('viz', 'no/such.jsonl')).toMatchObject({ code: 2, err: expect.stringContaining('no such file') });
  });

  it('sg run --real refuses simulator-only options', async () => {
    expect(await run('run', 'scenarios/lab-basic.yaml', '--real', '--seed', '3')).toMatchObject({ code: 2, err: expect.stringContaining('--seed and --until are for the simulator') });
  });
});
