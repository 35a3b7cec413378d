#!/usr/bin/env node
// The `sg` command. TypeScript sources run through tsx's loader; `sg daemon` runs the compiled
// JavaScript in dist/ instead when it was built from exactly the sources in the tree
// (bin/dist.mjs: `npm run build`, npm's prepare step, or the lab builds it): Node starts it in a
// fraction of tsx's time, which is what a restarted SG node waits for. SG_NO_DIST=1: always tsx.
const argv = process.argv.slice(2);
let main;
if ((argv[0] === 'daemon' || (argv[0] === 'lab' && argv[1] === 'mrouter')) && process.env.SG_NO_DIST !== '1') {
  const { distState } = await import('./dist.mjs');
  const state = distState();
  if (state === 'fresh') ({ main } = await import('../dist/src/cli/main.js'));
  else process.stderr.write(`sg ${argv[0]}: dist/ is ${state}; running the TypeScript sources through tsx (slower start; npm run build)\n`);
}
if (main === undefined) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(argv);
