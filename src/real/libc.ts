/**
 * The libc calls every raw-socket module here needs (`afpacket.ts`, `icmp.ts`), loaded once per
 * thread through koffi; each module declares its own extra calls on `lib`.
 */

import koffi from 'koffi';

export interface LibcCore {
  readonly lib: ReturnType<typeof koffi.load>;
  socket: (domain: number, type: number, proto: number) => number;
  bind: (fd: number, addr: Uint8Array, len: number) => number;
  setsockopt: (fd: number, level: number, name: number, val: Uint8Array, len: number) => number;
  close: (fd: number) => number;
  errno: () => number;
  strerror: (e: number) => string;
}

let core: LibcCore | undefined;

export function libcCore(): LibcCore {
  if (core !== undefined) return core;
  const lib = koffi.load('libc.so.6');
  const errnoLocation = lib.func('int *__errno_location(void)');
  core = {
    lib,
    socket: lib.func('int socket(int, int, int)'),
    bind: lib.func('int bind(int, void *, uint32_t)'),
    setsockopt: lib.func('int setsockopt(int, int, int, void *, uint32_t)'),
    close: lib.func('int close(int)'),
    errno: () => koffi.decode(errnoLocation(), 'int') as number,
    strerror: lib.func('const char *strerror(int)'),
  };
  return core;
}
