/**
 * Every scenario in scenarios/ is replayed: its expectations must hold, and its trace must hash to
 * the value in its golden file (scenarios/<name>.golden.json), so any change of behaviour shows in
 * review. After an intended change: `npm run goldens` (UPDATE_GOLDENS=1) rewrites them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../sim/scenario.ts';
import { formatScenarioError, loadScenario } from '../src/scenario/load.ts';
import { JsonlTrace } from '../src/trace.ts';

const UPDATE = process.env['UPDATE_GOLDENS'] === '1';
const files = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort();

interface Golden {
  readonly scenario: string;
  readonly seed: number;
  readonly events: number;
  readonly traceEvents: number;
  readonly traceSha256: string;
}

describe('scenarios replay', () => {
  it('there are scenarios to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  for (const f of files) {
    it(f, () => {
      const path = `scenarios/${f}`;
      const loaded = loadScenario(readFileSync(path, 'utf8'), path);
      if (!loaded.ok) throw new Error(loaded.errors.map(formatScenarioError).join('\n'));
      const hash = createHash('sha256');
      let traceEvents = 0;
      const sc = loaded.scenario;
      const r = runScenario(sc, {
        trace: new JsonlTrace((line) => {
          hash.update(line);
          hash.update('\n');
          traceEvents++;
        }, { seed: sc.seed, scenario: sc.name }),
        // Frames are part of the golden: any change in what goes on the wire shows.
        traceFrames: true,
      });
      const failed = r.expectations.filter((e) => !e.pass).map((e) => `${e.path} (line ${e.line}): ${e.measured} [expected ${e.bound}]`);
      expect(failed, `${f}: expectations failed`).toEqual([]);
      expect(r.aborted).toBeUndefined();
      const got: Golden = { scenario: sc.name, seed: sc.seed, events: r.events, traceEvents, traceSha256: hash.digest('hex') };
      const goldenPath = path.replace(/\.yaml$/, '.golden.json');
      if (UPDATE || !existsSync(goldenPath)) {
        writeFileSync(goldenPath, JSON.stringify(got, null, 2) + '\n');
        if (!UPDATE) throw new Error(`${goldenPath} was missing and has been written: review and commit it`);
        return;
      }
      const want = JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden;
      expect(got, `${f}: the trace changed; if intended, run \`npm run goldens\` and review the diff`).toEqual(want);
    });
  }
});
