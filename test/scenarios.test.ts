/**
 * Every scenario in scenarios/ is replayed: its expectations must hold, and its golden
 * (scenarios/<name>.golden.json: the trace's hash and its decision summary) must match, so any
 * change of behaviour shows in review and the failure says which decisions moved. After an
 * intended change: `npm run goldens` (UPDATE_GOLDENS=1) rewrites them and prints what moved.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatScenarioError, loadScenario } from '../src/scenario/load.ts';
import { formatGolden, goldenMismatch, runGolden } from './support/golden.ts';

const UPDATE = process.env['UPDATE_GOLDENS'] === '1';
const files = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort();

describe('scenarios replay', () => {
  it('there are scenarios to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  for (const f of files) {
    it(f, () => {
      const path = `scenarios/${f}`;
      const loaded = loadScenario(readFileSync(path, 'utf8'), path);
      if (!loaded.ok) throw new Error(loaded.errors.map(formatScenarioError).join('\n'));
      const { golden: got, failed, aborted } = runGolden(loaded.scenario);
      expect(failed, `${f}: expectations failed`).toEqual([]);
      expect(aborted).toBeUndefined();
      const goldenPath = path.replace(/\.yaml$/, '.golden.json');
      const want: unknown = existsSync(goldenPath) ? JSON.parse(readFileSync(goldenPath, 'utf8')) : undefined;
      const mismatch = want === undefined ? undefined : goldenMismatch(want, got);
      if (UPDATE || want === undefined) {
        if (mismatch !== undefined) console.log(`${goldenPath} rewritten:\n${mismatch}`);
        writeFileSync(goldenPath, formatGolden(got));
        if (!UPDATE) throw new Error(`${goldenPath} was missing and has been written: review and commit it`);
        return;
      }
      if (mismatch !== undefined) throw new Error(`${f}: the trace changed; if intended, run \`npm run goldens\` and review the diff\n${mismatch}`);
      expect(got).toEqual(want);
    });
  }
});
