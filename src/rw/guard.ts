/**
 * A user's analyzer is code the node did not write: its module is checked for the shape of
 * `Analyzer` when it is loaded (`analyzerProblems`), and every call to it goes through
 * `GuardedAnalyzer`, which turns a throw or an answer outside the API into a counted reason
 * ('analyzer-threw', 'analyzer-broke-contract'), so a buggy analyzer costs its packets, never
 * the node. The built-in analyzers are not wrapped: their bugs are ours, and crash (STYLE.md 2).
 *
 * What the guard cannot check: that the analyzer does not write into the payload, or keep it.
 */

import {
  RW_ID_STRING_MAX,
  isAnalyzerReason,
  isReplyStatus,
  isRwMode,
  type Analyzer,
  type AnalyzerConfig,
  type AnalyzerInit,
  type ReplyFacts,
  type ReplyVerdict,
  type RequestFacts,
  type RequestVerdict,
  type RwId,
} from './analyzer.ts';

const MEMBERS = [
  ['name', 'string'],
  ['init', 'function'],
  ['isMine', 'function'],
  ['checkRequest', 'function'],
  ['checkReply', 'function'],
] as const;

/** What `x` lacks to be an `Analyzer`, one line per member ('' when nothing). */
export function analyzerProblems(x: unknown): string[] {
  if (typeof x !== 'object' || x === null) return [`not an object (${x === null ? 'null' : typeof x})`];
  const o = x as Record<string, unknown>;
  const out: string[] = [];
  for (const [member, type] of MEMBERS) {
    const t = typeof o[member];
    if (t !== type) out.push(t === 'undefined' ? `missing ${member} (a ${type})` : `${member} is a ${t}, not a ${type}`);
  }
  if (typeof o['name'] === 'string' && o['name'].length === 0) out.push('name is empty');
  return out;
}

export function isRwId(v: unknown): v is RwId {
  return typeof v === 'number' ? Number.isSafeInteger(v) && v >= 0 : typeof v === 'string' && v.length <= RW_ID_STRING_MAX;
}

/** The sentinel a call's facts are reset to: not an id, so an analyzer that sets none is caught. */
const NO_ID = -1;

/** Wraps a user's analyzer (after `analyzerProblems` found nothing). */
export class GuardedAnalyzer implements Analyzer {
  readonly name: string;
  /** Calls that threw, and the last thing thrown (for the operator's diagnosis). */
  threw = 0;
  lastThrown: unknown = undefined;
  /** Answers outside the API. */
  broke = 0;

  constructor(readonly inner: Analyzer) {
    this.name = inner.name;
  }

  init(config: AnalyzerConfig): AnalyzerInit {
    let r: unknown;
    try {
      r = this.inner.init(config);
    } catch (e) {
      return { ok: false, error: `analyzer ${this.name}: init threw: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === true) return { ok: true };
    if (typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === false) {
      const err = (r as { error?: unknown }).error;
      return { ok: false, error: `analyzer ${this.name}: ${typeof err === 'string' ? err : 'init failed (no error message)'}` };
    }
    return { ok: false, error: `analyzer ${this.name}: init returned ${JSON.stringify(r) ?? String(r)}, not { ok: true } or { ok: false, error }` };
  }

  isMine(port: number): boolean {
    try {
      return this.inner.isMine(port) === true;
    } catch (e) {
      this.#threw(e);
      return false;
    }
  }

  checkRequest(payload: Uint8Array, port: number, out: RequestFacts): RequestVerdict {
    out.id = NO_ID;
    let v: unknown;
    try {
      v = this.inner.checkRequest(payload, port, out);
    } catch (e) {
      this.#threw(e);
      return 'analyzer-threw';
    }
    if (typeof v === 'string' && isRwMode(v)) return isRwId(out.id) ? v : this.#broke();
    return typeof v === 'string' && isAnalyzerReason(v) ? v : this.#broke();
  }

  checkReply(payload: Uint8Array, port: number, out: ReplyFacts): ReplyVerdict {
    out.id = NO_ID;
    out.valueOff = 0;
    out.valueLen = 0;
    let v: unknown;
    try {
      v = this.inner.checkReply(payload, port, out);
    } catch (e) {
      this.#threw(e);
      return 'analyzer-threw';
    }
    if (typeof v === 'string' && isReplyStatus(v)) {
      const { valueOff: off, valueLen: len } = out;
      const inside = Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= payload.length;
      return isRwId(out.id) && inside ? v : this.#broke();
    }
    return typeof v === 'string' && isAnalyzerReason(v) ? v : this.#broke();
  }

  refuse(request: Uint8Array, port: number): Uint8Array | undefined {
    const f = this.inner.refuse;
    if (f === undefined) return undefined;
    let r: unknown;
    try {
      r = f.call(this.inner, request, port);
    } catch (e) {
      this.#threw(e);
      return undefined;
    }
    if (r === undefined) return undefined;
    if (r instanceof Uint8Array && r.length <= 65_507) return r;
    this.broke++;
    return undefined;
  }

  #threw(e: unknown): void {
    this.threw++;
    this.lastThrown = e;
  }

  #broke(): 'analyzer-broke-contract' {
    this.broke++;
    return 'analyzer-broke-contract';
  }
}
