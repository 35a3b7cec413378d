/**
 * What commands print to, so tests can run them in-process and capture their output.
 */

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Write to stderr without any newline handling (progress bars). */
  errRaw(text: string): void;
  /** Whether stderr is a terminal (progress bars only then). */
  readonly isTTY: boolean;
  /** Wall-clock milliseconds, for throttling progress output. */
  clock(): number;
}

export function processIo(): Io {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    errRaw: (t) => void process.stderr.write(t),
    isTTY: process.stderr.isTTY === true,
    clock: () => Date.now(),
  };
}

/** An Io that records everything, for tests. */
export function memoryIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
    errRaw(t: string) {
      io.stderr += t;
    },
    isTTY: false,
    clock: () => 0,
  };
  return io;
}
