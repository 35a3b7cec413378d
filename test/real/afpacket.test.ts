/**
 * The raw port across a link down and up (src/real/afpacket.ts). When its interface goes down,
 * Linux leaves ENETDOWN pending on a packet socket and the next call returns it once: the first
 * frame sent after the link came back was dropped (a restarted multicast router's first query was
 * lost so), and a receive threw. Runs in a namespace of its own with a veth pair; needs root.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunLab } from './support.ts';

const why = canRunLab();
const NS = `sgaf${randomBytes(3).toString('hex')}`;

/** Run `code` (an ES module body with RawSocket in scope) in the namespace; its JSON output. */
function inNs(code: string): Record<string, unknown> {
  const body = `import { RawSocket, pollReadable } from './src/real/afpacket.ts';\nimport { execFileSync as x } from 'node:child_process';\n${code}`;
  const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', '--input-type=module', '-e', body], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

const FRAME = `const frame = new Uint8Array(60); frame.fill(0xff, 0, 6); frame.set([2, 0, 0, 0, 0, 1], 6); frame[12] = 0x88; frame[13] = 0xb5; frame[14] = 0x42;`;
const SEEN = `const seen = (s) => { let got = 0; const t = Date.now(); while (got === 0 && Date.now() - t < 2000) { pollReadable([s], 50); s.receive((f) => { if (f[12] === 0x88 && f[13] === 0xb5 && f[14] === 0x42) got++; }); } return got; };`;

describe.skipIf(why !== undefined)(`raw socket across a link down and up${why ? ` (not run: ${why})` : ''}`, () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'va', 'up']);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'vb', 'up']);
  });
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('the first frame sent after the link is back goes out', () => {
    const r = inNs(`${FRAME}${SEEN}
const a = new RawSocket('va'); const b = new RawSocket('vb', { promiscuous: true });
x('ip', ['link', 'set', 'va', 'down']); x('ip', ['link', 'set', 'va', 'up']);
a.send(frame); a.flush();
console.log(JSON.stringify({ received: seen(b), txDropped: a.stats.txDropped, txFrames: a.stats.txFrames }));`);
    expect(r).toEqual({ received: 1, txDropped: 0, txFrames: 1 });
  });

  it('a receive after the link is back does not throw, and frames arrive again', () => {
    const r = inNs(`${FRAME}${SEEN}
const a = new RawSocket('va', { promiscuous: true }); const b = new RawSocket('vb');
x('ip', ['link', 'set', 'va', 'down']); x('ip', ['link', 'set', 'va', 'up']);
let first;
try { first = a.receive(() => {}); } catch (e) { first = String(e.message); }
b.send(frame); b.flush();
console.log(JSON.stringify({ first, received: seen(a) }));`);
    expect(r).toEqual({ first: 0, received: 1 });
  });
});
