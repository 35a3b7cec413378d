/**
 * An example user analyzer: a tiny line protocol over UDP, one ASCII line per datagram.
 *
 *   request   <id> GET <key>\n             a read
 *             <id> SET <key> <value>\n     a write
 *   reply     <id> OK <value>\n            success; <value> is the return value compared
 *             <id> ERR <text>\n            failure
 *
 * <id> is 1-9 decimal digits, chosen by the client (unique among its requests in flight). The
 * final newline is optional. Name it in a group's configuration by its path
 * (`analyzer: ./examples/analyzers/line.ts`); src/real/load-analyzer.ts loads it.
 *
 * What every analyzer does, shown here: `init` keeps the group's ports and refuses options it
 * does not know; `checkRequest`/`checkReply` read the bytes in place, fill the caller's facts and
 * return a mode, a status or a reason from ANALYZER_REASONS, and never throw.
 */

import type { Analyzer, AnalyzerConfig, AnalyzerInit, ReplyFacts, ReplyVerdict, RequestFacts, RequestVerdict } from '../../src/rw/analyzer.ts';

const SPACE = 0x20;
const NEWLINE = 0x0a;
const ID_DIGITS_MAX = 9;

/** Whether `b` holds the ASCII `word` followed by a space at `off`. */
function wordAt(b: Uint8Array, off: number, word: string): boolean {
  if (off + word.length >= b.length) return false;
  for (let i = 0; i < word.length; i++) if (b[off + i] !== word.charCodeAt(i)) return false;
  return b[off + word.length] === SPACE;
}

/** The end of the line (its newline, or the end of the datagram). */
function lineEnd(b: Uint8Array): number {
  const nl = b.indexOf(NEWLINE);
  return nl < 0 ? b.length : nl;
}

/** Read the id at the start of `b` and the offset after its space into `scratch`; false when there is none. */
function readId(b: Uint8Array, scratch: { id: number; next: number }): boolean {
  let id = 0;
  let i = 0;
  while (i < b.length && i <= ID_DIGITS_MAX && b[i]! >= 0x30 && b[i]! <= 0x39) id = id * 10 + (b[i++]! - 0x30);
  if (i === 0 || i > ID_DIGITS_MAX || b[i] !== SPACE) return false;
  scratch.id = id;
  scratch.next = i + 1;
  return true;
}

function createLineAnalyzer(): Analyzer {
  let ports = new Set<number>();
  const scratch = { id: 0, next: 0 };
  return {
    name: 'line',
    init(config: AnalyzerConfig): AnalyzerInit {
      const unknown = Object.keys(config.options);
      if (unknown.length > 0) return { ok: false, error: `the line analyzer takes no options (got ${unknown.join(', ')})` };
      ports = new Set(config.ports);
      return { ok: true };
    },
    isMine: (port) => ports.has(port),
    checkRequest(b: Uint8Array, _port: number, out: RequestFacts): RequestVerdict {
      if (!readId(b, scratch)) return 'bad-value';
      const end = lineEnd(b);
      let mode: 'read' | 'write';
      if (wordAt(b, scratch.next, 'GET')) mode = 'read';
      else if (wordAt(b, scratch.next, 'SET')) mode = 'write';
      else return 'unknown-operation';
      if (scratch.next + 4 >= end) return 'truncated'; // no key
      out.id = scratch.id;
      return mode;
    },
    checkReply(b: Uint8Array, _port: number, out: ReplyFacts): ReplyVerdict {
      if (!readId(b, scratch)) return 'bad-value';
      const end = lineEnd(b);
      out.id = scratch.id;
      if (wordAt(b, scratch.next, 'OK')) {
        out.valueOff = scratch.next + 3;
        out.valueLen = Math.max(0, end - out.valueOff);
        return 'ok';
      }
      if (wordAt(b, scratch.next, 'ERR')) {
        out.valueOff = end;
        out.valueLen = 0;
        return 'failure';
      }
      return 'not-a-reply';
    },
  };
}

/** A factory: each group naming this module gets its own analyzer. */
export default createLineAnalyzer;
