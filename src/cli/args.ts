/** The shared front of every `sg` subcommand: parse options, answer --help, report bad usage. */

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, type Io } from './io.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parse `argv` with `options` (plus -h/--help). Returns the parsed values, or the exit status
 * when the command is done: 0 after printing `usage` for --help, 2 after a usage error.
 */
export function parseCommand<const O extends Options>(name: string, argv: readonly string[], options: O, usage: string, io: Io) {
  let args;
  try {
    args = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } } });
  } catch (e) {
    return usageError(name, (e as Error).message, usage, io);
  }
  if ((args.values as { help?: boolean }).help) {
    io.out(usage + '\n');
    return EXIT.ok;
  }
  return args;
}

/** Print `sg <name>: <message>` and the usage, and give the usage exit status (2). */
export function usageError(name: string, message: string, usage: string, io: Io): number {
  io.err(`sg ${name}: ${message}\n\n${usage}\n`);
  return EXIT.usage;
}
