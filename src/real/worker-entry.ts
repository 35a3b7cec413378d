/**
 * Starting a TypeScript module in a worker thread, compiled (dist/) or through tsx: the SG
 * daemon's engine worker and `sg run --seeds`' sweep workers both start theirs this way.
 */

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** The ES module URL that `tsx/esm/api` resolves to from here (falls back to require's view). */
function tsxApiUrl(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  }
}

/**
 * A worker module's entry for `new Worker`: when this code runs compiled (dist/, bin/dist.mjs)
 * the compiled module beside it (`x.ts` named, `x.js` run), else `workerBootstrap(workerModule)`.
 */
export function workerEntry(workerModule: URL): URL {
  return import.meta.url.endsWith('.js') ? new URL(workerModule.href.replace(/\.ts$/, '.js')) : workerBootstrap(workerModule);
}

/** The worker's entry: register tsx in the new thread, then import the TypeScript worker. */
export function workerBootstrap(workerModule: URL): URL {
  const code = `const { register } = await import(${JSON.stringify(tsxApiUrl())});\nregister();\nawait import(${JSON.stringify(workerModule.href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
