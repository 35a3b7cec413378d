import { EXIT, type Io } from './io.ts';
export async function fuzzCommand(_argv: readonly string[], io: Io): Promise<number> {
  io.err('sg fuzz: not built yet\n');
  return EXIT.usage;
}
