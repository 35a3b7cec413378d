/** A scenario's JSON Lines trace, run in the simulator (for the timeline tests). */
import { readFileSync } from 'node:fs';
import { runScenario } from '../../sim/scenario.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import { JsonlTrace } from '../../src/trace.ts';

export function scenarioTrace(file: string): string {
  const r = loadScenario(readFileSync(file, 'utf8'), file);
  if (!r.ok) throw new Error('load');
  const lines: string[] = [];
  runScenario(r.scenario, { trace: new JsonlTrace((l) => lines.push(l), { scenario: r.scenario.name, seed: r.scenario.seed }) });
  return lines.join('\n') + '\n';
}
