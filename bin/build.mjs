#!/usr/bin/env node
// `npm run build` (also npm's prepare step, and the lab before it starts daemons): compile
// src/ and sim/ into dist/ unless dist/ already matches the sources. --force: build anyway.
// --prepare (npm's prepare step): a failed build is said but does not fail `npm install`;
// `sg daemon` then runs through tsx and says so, and `npm test`'s type-check fails.
import { build, distState } from './dist.mjs';

const force = process.argv.includes('--force');
const before = distState();
try {
  const did = build(undefined, { force });
  console.error(did === 'fresh' ? 'sg build: dist/ is up to date' : `sg build: dist/ built (it was ${before})`);
} catch (e) {
  console.error(`sg build: tsc failed, dist/ left as it was (${before}): ${e instanceof Error ? e.message : String(e)}`);
  if (!process.argv.includes('--prepare')) process.exitCode = 1;
}
