/** File helpers for the command line: buffered synchronous writers and scenario loading. */

import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { loadScenario, formatScenarioError, type Scenario } from '../scenario/load.ts';

/** Bytes buffered before a write(2); large enough that tracing costs little. */
export const WRITE_BUFFER_BYTES = 1 << 20;

/** Appends bytes or text to a file through a buffer; `close()` flushes. */
export class FileSink {
  readonly #fd: number;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #closed = false;
  bytes = 0;
  static readonly #enc = new TextEncoder();

  constructor(readonly path: string) {
    this.#fd = openSync(path, 'w');
  }

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    this.bytes += chunk.length;
    if (this.#size >= WRITE_BUFFER_BYTES) this.flush();
  }

  line(text: string): void {
    this.write(FileSink.#enc.encode(text + '\n'));
  }

  flush(): void {
    if (this.#size === 0) return;
    const buf = Buffer.concat(this.#chunks, this.#size);
    let off = 0;
    while (off < buf.length) off += writeSync(this.#fd, buf, off);
    this.#chunks = [];
    this.#size = 0;
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    closeSync(this.#fd);
    this.#closed = true;
  }
}

/** Open `path` for writing; a path that cannot be opened is a message, not a throw. */
export function openSink(path: string, what: string): { readonly ok: true; readonly sink: FileSink } | { readonly ok: false; readonly message: string } {
  try {
    return { ok: true, sink: new FileSink(path) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, message: `${what} ${path}: cannot open for writing: ${err.code ?? err.message}` };
  }
}

export type ScenarioFile = { readonly ok: true; readonly scenario: Scenario } | { readonly ok: false; readonly message: string };

/** Read and load a scenario file; every error formatted as `file:line:col: path: message`. */
export function readScenario(path: string): ScenarioFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, message: `${path}: cannot read: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}` };
  }
  const r = loadScenario(text, path, { fileExists: existsSync });
  if (!r.ok) return { ok: false, message: r.errors.map(formatScenarioError).join('\n') };
  return { ok: true, scenario: r.scenario };
}
