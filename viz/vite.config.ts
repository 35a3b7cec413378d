import { defineConfig } from 'vite';

// The timeline page: `sg viz` and `sg run --report` build it with this configuration.
export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: './',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 100_000_000, chunkSizeWarningLimit: 2000, modulePreload: false },
});
