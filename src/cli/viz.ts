/**
 * `sg viz trace.jsonl`: build the timeline page (viz/, Vite) once, serve it and the trace on
 * localhost, and print the URL. `writeReport` makes the self-contained HTML report that
 * `sg run --report` writes: the built page with its script and styles inlined and the trace
 * embedded, one file that opens anywhere (CI keeps it as an artifact).
 */
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommand, usageError } from './args.ts';
import { EXIT, type Io } from './io.ts';

const VIZ = resolve(fileURLToPath(new URL('../../viz', import.meta.url)));
const DIST = join(VIZ, 'dist');

export const VIZ_USAGE = `usage: sg viz TRACE.jsonl [--port N] [--host ADDR]

Serve the timeline page and TRACE on localhost and print the URL to open. The page also opens
traces by file picker or drag and drop. Sim and real traces both work.
  --port N     listen on N (default 0: any free port)
  --host ADDR  listen on ADDR (default 127.0.0.1)
exit status: 0 stopped by SIGINT/SIGTERM, 2 bad usage or unreadable trace`;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, f.name);
    if (f.isDirectory()) out.push(...sources(p));
    else out.push(p);
  }
  return out;
}

/**
 * What the page is built from: viz/'s files and, followed through relative imports, the shared
 * modules outside it (src/trace.ts, whose vocabulary the model reads, and what it imports).
 */
function buildInputs(): string[] {
  const seen = new Set<string>();
  const todo = [join(VIZ, 'index.html'), join(VIZ, 'vite.config.ts'), ...sources(join(VIZ, 'src'))];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (!f.endsWith('.ts')) continue;
    for (const m of readFileSync(f, 'utf8').matchAll(/\bfrom\s+'(\.[^']+)'/g)) todo.push(resolve(dirname(f), m[1]!));
  }
  return [...seen].sort();
}

/**
 * Build viz/ with Vite into viz/dist/<hash of its inputs>, unless that build exists. The build
 * goes to a temporary directory first and is renamed into place, so concurrent callers (two
 * test workers, a report while `sg viz` runs) never see half a build.
 */
export async function buildViz(): Promise<string> {
  const h = createHash('sha256');
  for (const f of buildInputs()) {
    h.update(relative(VIZ, f));
    h.update(readFileSync(f));
  }
  const out = join(DIST, h.digest('hex').slice(0, 16));
  if (existsSync(join(out, 'index.html'))) return out;
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  const { build } = await import('vite');
  await build({ configFile: join(VIZ, 'vite.config.ts'), logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
  try {
    renameSync(tmp, out);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process finished the same build first
  }
  return out;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.jsonl': 'application/x-ndjson', '.svg': 'image/svg+xml' };

export async function vizCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseCommand('viz', argv, { port: { type: 'string' }, host: { type: 'string' } }, VIZ_USAGE, io);
  if (typeof args === 'number') return args;
  const [trace] = args.positionals;
  if (trace === undefined || args.positionals.length !== 1) return usageError('viz', 'give one trace file', VIZ_USAGE, io);
  if (!existsSync(trace)) {
    io.err(`sg viz: ${trace}: no such file\n`);
    return EXIT.usage;
  }
  const port = Number(args.values.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return usageError('viz', '--port must be 0..65535', VIZ_USAGE, io);
  const host = args.values.host ?? '127.0.0.1';
  const dist = await buildViz();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/trace.jsonl') {
      res.writeHead(200, { 'content-type': TYPES['.jsonl']! });
      res.end(readFileSync(trace));
      return;
    }
    const file = resolve(dist, `.${path === '/' ? '/index.html' : path}`);
    // Inside the build directory only (no ../ escapes).
    if (!file.startsWith(dist) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  const addr = server.address();
  const p = typeof addr === 'object' && addr !== null ? addr.port : port;
  io.out(`http://${host}:${p}/?trace=trace.jsonl\n`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  server.close();
  return EXIT.ok;
}

/** The self-contained report: the built page, its assets inlined, `trace` embedded. */
export async function writeReport(trace: string, title: string): Promise<string> {
  const dist = await buildViz();
  let html = readFileSync(join(dist, 'index.html'), 'utf8');
  html = html.replace(/<script type="module" crossorigin src="\.\/([^"]+)"><\/script>/, (_m, f: string) => `<script type="module">${readFileSync(join(dist, f), 'utf8').replace(/<\/script/gi, '<\\/script')}</script>`);
  html = html.replace(/<link rel="stylesheet" crossorigin href="\.\/([^"]+)">/, (_m, f: string) => `<style>${readFileSync(join(dist, f), 'utf8')}</style>`);
  html = html.replace(/<title>[^<]*<\/title>/, `<title>${title.replace(/[<&]/g, '')}</title>`);
  const embedded = `<script id="sg-trace" type="application/x-ndjson">${trace.replace(/<\/script/gi, '<\\/script')}</script>`;
  return html.replace('</body>', `${embedded}\n</body>`);
}
