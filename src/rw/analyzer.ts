/**
 * The packet analyzer API (slide 25): what the SG node asks of a UDP request/reply protocol so
 * that it can replicate writes (WriteAll) and vote on their replies. The seed's four C calls
 * become the four members of `Analyzer`:
 *
 *   mcast_init_xxxx()                     -> init(config)
 *   mcast_check_port_xxxx(port)           -> isMine(port)
 *   mcast_check_request_xxxx(ip, id, rw)  -> checkRequest(payload, port, out)
 *   mcast_check_reply_xxxx(ip, id)        -> checkReply(payload, port, out)
 *
 * Choices, each a rule every analyzer keeps:
 * - **The UDP payload, not the IP packet.** The node has parsed Ethernet, IPv4 and UDP already;
 *   an analyzer gets the payload (a `subarray` of the frame, never to be kept or written) and the
 *   server-side port: the destination port of a request, the source port of a reply.
 * - **No allocation per packet.** The caller owns one `RequestFacts` and one `ReplyFacts` and
 *   reuses them; the analyzer fills them and returns a string of a closed union. The return
 *   value a reply carries is a byte range of the payload (`valueOff`, `valueLen`), not a copy.
 * - **Bad input is data** (STYLE.md 2). A datagram the analyzer does not accept returns one of
 *   `ANALYZER_REASONS`; the node counts and drops it. An analyzer never throws on any bytes (a
 *   user's analyzer that does is caught by `guardAnalyzer`, src/rw/guard.ts).
 * - **The id is unique per client, not globally.** Protocol ids (an ONC RPC XID, a DNS ID) are
 *   chosen by each client, so two clients may well use the same one. The engine keys a pending
 *   write by (client address, client port, id); an analyzer need only make the id unique among
 *   one client socket's requests in flight, and a reply's id must equal its request's id.
 *   A retransmission of a request carries the same id, which is how the node tells it from a new
 *   write (and, after a takeover, how the new master completes it).
 * - **Status where the protocol carries it.** A reply's verdict is 'ok' or 'failure' when the
 *   bytes say so (an RCODE, an accept_stat, an nfsstat3), or 'unstated' when they do not; then
 *   the SG write-status IP option (src/wire/sgopt.ts) decides, and without one the reply counts
 *   as a success. When both are there the IP option wins: the service set it on purpose.
 */

/** Read or write: a read goes to one server (ReadOne) or all (ReadFirst); a write to all. */
export type RwMode = 'read' | 'write';

/** A reply's status as its own bytes tell it ('unstated': the protocol does not say). */
export type ReplyStatus = 'ok' | 'failure' | 'unstated';

/**
 * Why an analyzer does not accept a datagram: a closed vocabulary, counted per reason. Add to
 * the end; never rename one (counters and traces use them).
 */
export const ANALYZER_REASONS = [
  'truncated', // shorter than the fixed header, or than a length or count field needs
  'not-a-request', // a reply where a request was expected (ONC RPC msg_type 1, DNS QR=1)
  'not-a-reply', // a request where a reply was expected
  'bad-version', // a protocol version this analyzer does not speak (ONC RPC rpcvers != 2)
  'bad-value', // a field outside its enum or range (msg_type, reply_stat, a DNS count)
  'bad-auth', // an ONC RPC credential or verifier longer than 400 bytes or past the datagram
  'bad-name', // a DNS name with a bad label, a pointer where none may be, or over 255 bytes
  'unknown-program', // an ONC RPC program or version the analyzer's table does not hold
  'unknown-procedure', // a procedure the program's table does not hold
  'unknown-operation', // an operation that is neither a read nor a write (a DNS NOTIFY, an RPC op 7)
  'analyzer-threw', // a user's analyzer threw (src/rw/guard.ts caught it)
  'analyzer-broke-contract', // a user's analyzer returned something outside this API
] as const;
export type AnalyzerReason = (typeof ANALYZER_REASONS)[number];

/** What `checkRequest` returns: the request's mode, or why it is dropped. */
export type RequestVerdict = RwMode | AnalyzerReason;
/** What `checkReply` returns: the reply's status, or why it is dropped. */
export type ReplyVerdict = ReplyStatus | AnalyzerReason;

/**
 * A request's or reply's id: a non-negative safe integer (every built-in: an XID, a DNS ID) or
 * a string of at most `RW_ID_STRING_MAX` characters (a user protocol with textual ids). Two ids
 * are the same id when `===`. Unique per client socket only (see above).
 */
export type RwId = number | string;
export const RW_ID_STRING_MAX = 64;

/** Filled by `checkRequest` when it returns 'read' or 'write'. Owned and reused by the caller. */
export interface RequestFacts {
  id: RwId;
}

/** Filled by `checkReply` when it returns a status. Owned and reused by the caller. */
export interface ReplyFacts {
  /** The id of the request this reply answers. */
  id: RwId;
  /**
   * The reply's return value, the bytes WriteAll groups successful replies by (slide 18):
   * `payload[valueOff, valueOff + valueLen)`. Two replies agree when these bytes are equal. Each
   * analyzer documents what the range covers; `valueLen` 0 makes every success agree.
   */
  valueOff: number;
  valueLen: number;
}

/** A JSON-like value from the configuration (an analyzer's `options`). */
export type AnalyzerOption = string | number | boolean | null | readonly AnalyzerOption[] | { readonly [k: string]: AnalyzerOption };

/** What `init` is given: the group's service and the analyzer's own options. */
export interface AnalyzerConfig {
  /** The group's name (for messages). */
  readonly group: string;
  /** The group's service ports on the VIP (UDP), 1-65535. */
  readonly ports: readonly number[];
  /** The analyzer's options from the group's configuration; `{}` when none. */
  readonly options: { readonly [k: string]: AnalyzerOption };
}

/** `init`'s answer: ready, or a configuration error naming the option at fault. */
export type AnalyzerInit = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** A packet analyzer (slide 25). One instance serves one group; `init` is called once, first. */
export interface Analyzer {
  /** A short name for messages and counters ('dns', 'nfs3', a user module's own). */
  readonly name: string;
  /** Set up from the group's configuration; an error is the group's configuration error. */
  init(config: AnalyzerConfig): AnalyzerInit;
  /** Whether a datagram to (a request) or from (a reply) this server port is this service's. */
  isMine(port: number): boolean;
  /**
   * Validate a request's structure; on 'read' or 'write' `out.id` is its id. Never throws; on a
   * reason `out` is left in any state.
   */
  checkRequest(payload: Uint8Array, port: number, out: RequestFacts): RequestVerdict;
  /**
   * Validate a reply's structure; on a status `out.id` is the id it answers and `out.valueOff`,
   * `out.valueLen` its return value (within `payload`). Never throws.
   */
  checkReply(payload: Uint8Array, port: number, out: ReplyFacts): ReplyVerdict;
  /**
   * Optional, for the group's read-only mode (slide 45): the payload of the reply the service
   * itself would give to refuse `request`, a write `checkRequest` accepted (the simulator's RPC:
   * status error; DNS: RCODE REFUSED; NFSv3: NFS3ERR_ROFS). Undefined, or no such member: the
   * node drops the write and counts it, and the client's retransmission waits for the mode to
   * end. Called on the cold path only (it may allocate). Never throws.
   */
  refuse?(request: Uint8Array, port: number): Uint8Array | undefined;
}

/** Makes a fresh, un-initialised analyzer (one per group). */
export type AnalyzerFactory = () => Analyzer;

const REASON_SET: ReadonlySet<string> = new Set(ANALYZER_REASONS);
export function isAnalyzerReason(v: string): v is AnalyzerReason {
  return REASON_SET.has(v);
}
export function isRwMode(v: string): v is RwMode {
  return v === 'read' || v === 'write';
}
export function isReplyStatus(v: string): v is ReplyStatus {
  return v === 'ok' || v === 'failure' || v === 'unstated';
}

/** `isMine` from a list of ports: the usual case, for an analyzer to keep in `init`. */
export function portSet(ports: readonly number[]): (port: number) => boolean {
  const set = new Set(ports);
  return (port) => set.has(port);
}

// ---- allocating conveniences, for tests, tools and cold paths (the node uses the facts) ----

export type RequestCheck = { readonly kind: RwMode; readonly id: RwId } | { readonly kind: 'drop'; readonly reason: AnalyzerReason };
export type ReplyCheck =
  | { readonly kind: 'reply'; readonly status: ReplyStatus; readonly id: RwId; readonly value: Uint8Array }
  | { readonly kind: 'drop'; readonly reason: AnalyzerReason };

/** `checkRequest` as a value. */
export function classifyRequest(a: Analyzer, payload: Uint8Array, port: number): RequestCheck {
  const out: RequestFacts = { id: 0 };
  const v = a.checkRequest(payload, port, out);
  return isRwMode(v) ? { kind: v, id: out.id } : { kind: 'drop', reason: v };
}

/** `checkReply` as a value; `value` is a subarray of `payload`. */
export function classifyReply(a: Analyzer, payload: Uint8Array, port: number): ReplyCheck {
  const out: ReplyFacts = { id: 0, valueOff: 0, valueLen: 0 };
  const v = a.checkReply(payload, port, out);
  return isReplyStatus(v) ? { kind: 'reply', status: v, id: out.id, value: payload.subarray(out.valueOff, out.valueOff + out.valueLen) } : { kind: 'drop', reason: v };
}

/** Whether two replies' return values agree (WriteAll's grouping). */
export function sameValue(a: Uint8Array, aFacts: ReplyFacts, b: Uint8Array, bFacts: ReplyFacts): boolean {
  if (aFacts.valueLen !== bFacts.valueLen) return false;
  for (let i = 0; i < aFacts.valueLen; i++) if (a[aFacts.valueOff + i] !== b[bFacts.valueOff + i]) return false;
  return true;
}
