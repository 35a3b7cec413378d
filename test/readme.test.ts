import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('the annotated scenario example is scenarios/readme-example.yaml, so it is replayed in CI', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /```yaml\n(name: web-crash[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const file = readFileSync('scenarios/readme-example.yaml', 'utf8').split('\n').filter((l, i) => !(i < 2 && l.startsWith('#'))).join('\n');
    expect(file).toBe(block);
  });
});
