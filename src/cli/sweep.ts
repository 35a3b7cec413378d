import { EXIT, type Io } from './io.ts';
export async function sweepCommand(_argv: readonly string[], io: Io): Promise<number> {
  io.err('sg sweep: not built yet\n');
  return EXIT.usage;
}
