/**
 * TCP for simulated hosts (RFC 9293, with RFC 5681 congestion control, RFC 6582 NewReno partial
 * acknowledgements, RFC 6298 retransmission timer, RFC 5961 RST/SYN challenge ACKs, RFC 1122
 * delayed ACK and silly-window avoidance, RFC 7323 window scaling). Faithful where the project's
 * scenarios look: listen backlogs that fill under a SYN flood, connections that sit in FIN_WAIT_1
 * holding their send buffer (slide 46), RST from ports nobody listens on, RTO backoff towards a
 * peer that vanished, and bulk transfers that fill a bottleneck with a Reno sawtooth.
 *
 * Shape (BSD): `input()` is tcp_input, one routine per connection decides what to send
 * (`#output`, BSD's tcp_output: SYN, data, FIN, pure ACKs and window updates, fast/partial-ACK
 * retransmission of the head, zero-window probes), timers live in a `TimerTable` per connection,
 * and every state change goes through the transition table `TCP_TRANSITIONS` (STYLE 6).
 *
 * Application callbacks never run inside protocol processing: events are queued and dispatched
 * once the segment (or timer, or call) has been processed, then connections with something to
 * send run `#output`. So a callback may call `send`, `close` or `abort` on any connection, and
 * the ACK for received data is sent after the application has read it (its window is then fresh).
 *
 * Where stacks differ (delayed ACK, Nagle, congestion control, backlog, zero-window probes,
 * giving up, TIME_WAIT) it mostly does as Linux does; the choices are listed at `TcpOptions`.
 */

import type { Rng } from '../../src/rng.ts';
import { millis, seconds, ZERO_DURATION, type Duration, type Instant } from '../../src/time.ts';
import { TimerTable } from '../../src/timers.ts';
import { IPV4_ANY, type Ipv4Addr } from '../../src/wire/addr.ts';
import { assert, assertNever } from '../../src/assert.ts';
import { TCP_FLAG, type TcpOption, type TcpSegment } from '../../src/wire/tcp.ts';
import type { TcpConnInfo, TcpEnv, TcpStateName } from './tcp-api.ts';

// ---------------------------------------------------------------------------------------------
// Limits and defaults (STYLE 7)

/** IPv4 (20) + TCP (20) header bytes: MSS = MTU - 40. */
export const TCP_IP_HEADERS_BYTES = 40;
/** MSS assumed when the peer's SYN carries no MSS option (RFC 9293 3.7.1). */
export const TCP_DEFAULT_PEER_MSS = 536;
/** Smallest send MSS we use whatever the peer says (Linux TCP_MIN_SND_MSS). */
export const TCP_MSS_MIN = 48;
/** Largest window shift (RFC 7323 2.3). */
export const TCP_WINDOW_SHIFT_MAX = 14;
/** The 16-bit window field. */
export const TCP_WINDOW_FIELD_MAX = 0xffff;
/** Duplicate ACKs that trigger fast retransmit (RFC 5681). */
export const TCP_DUPACK_THRESHOLD = 3;
/** "Arbitrarily high" initial ssthresh (Linux TCP_INFINITE_SSTHRESH). */
export const TCP_SSTHRESH_INITIAL = 0x7fffffff;
/** cwnd never grows past this (bytes); keeps arithmetic small and exact. */
export const TCP_CWND_MAX = 1 << 30;
/** Exponential backoff stops doubling after this many doublings (the RTO is capped anyway). */
export const TCP_BACKOFF_SHIFT_MAX = 16;
/** RFC 6298 clock granularity G. */
export const TCP_RTO_GRANULARITY = millis(1);
/** Segments one `#output` call may send; the windows bound it long before this. */
export const TCP_OUTPUT_SEGMENTS_PER_CALL_MAX = 4096;
/** Queued application events plus outputs one settle may run before we call it a livelock. */
export const TCP_SETTLE_STEPS_MAX = 1_000_000;
/**
 * Smallest send buffer allocated; it then doubles as needed (up to `sendBufferMax`) and is freed
 * whenever everything in it has been acknowledged.
 */
const SEND_BUFFER_ALLOC_MIN_BYTES = 256;

export type TcpCongestionControl = 'reno' | 'newreno';

/**
 * The stack's choices (the tunable ones are options below):
 * - Delayed ACK: ACK at once when two full-sized segments are unacknowledged (counted in bytes,
 *   2 * MSS), when a segment is out of order or fills a hole, or carries a FIN; otherwise after
 *   `delayedAckTimeout` (40 ms, Linux's minimum). 0 disables delayed ACKs.
 * - Options honoured: MSS (MSS = mtuTo(peer) - 40; 536 when the peer sends none) and window
 *   scaling (offered when `windowScaling`; used only when both SYNs carry it). SACK-permitted,
 *   SACK and timestamps are parsed by the codec but neither sent nor used.
 * - Nagle on by default, with Minshall's refinement as in Linux: a short segment waits only while
 *   an earlier short segment is unacknowledged (and never when it is the last data before a FIN).
 * - Congestion control: NewReno by default (`'reno'` gives plain RFC 5681 Reno: a partial ACK
 *   ends fast recovery). Initial window 10 * MSS, 1 MSS after a retransmitted SYN (RFC 5681 3.1).
 *   cwnd grows only while the sender is using at least half of it (Linux's cwnd-limited test),
 *   and falls back to the initial window after an RTO without sending (RFC 5681 4.1).
 * - Listen backlog counts half-open (SYN_RECEIVED) plus completed but unaccepted connections; a
 *   SYN that finds it full is dropped silently (Linux without syncookies). A listener with
 *   `onAccept` accepts each connection as its handshake completes; without it they wait in the
 *   accept queue for `accept()`, their data buffered (and their window shrinking) meanwhile.
 * - Zero-window probes are Linux's: an empty segment with SEQ = SND.UNA - 1 that the peer must
 *   ACK. Unanswered probes count toward `retriesMax`; answered ones reset it, so a peer that
 *   keeps its window shut holds a closing connection in FIN_WAIT_1 forever (the BSD behaviour
 *   slide 46 warns about).
 * - The RTO gives up after `retriesMax` retransmissions (SYN: `synRetriesMax`, SYN-ACK:
 *   `synAckRetriesMax`) and reports 'timeout' without sending a RST (Linux).
 * - FIN_WAIT_2 ends after `finWait2Timeout` without a segment from the peer (Linux's
 *   tcp_fin_timeout); TIME_WAIT lasts 2 * MSL; an acceptable new SYN ends TIME_WAIT early
 *   (RFC 1122 4.2.2.13); a RST in TIME_WAIT closes it (Linux default, not RFC 1337).
 * - `onClosed` fires once per connection the application knows, when it is over for the
 *   application: on entering TIME_WAIT or CLOSED. TIME_WAIT stays in `connections()` until 2*MSL.
 */
export interface TcpOptions {
  /** Bytes a connection's send buffer holds (unsent plus unacknowledged). Default 64 KiB. */
  readonly sendBufferMax?: number;
  /** Bytes of in-order data a connection holds for the application; the advertised window. Default 64 KiB. */
  readonly recvBufferMax?: number;
  /** Out-of-order segments a connection keeps for reassembly. Default 256. */
  readonly reassemblySegmentsMax?: number;
  /** TCBs per stack (all states, half-open and TIME_WAIT included). Default 65536. */
  readonly connectionsMax?: number;
  /** Listening sockets per stack. Default 1024. */
  readonly listenersMax?: number;
  /** Largest backlog `listen` accepts (Linux somaxconn). Default 4096. */
  readonly backlogMax?: number;
  /** Maximum segment lifetime; TIME_WAIT lasts 2 * MSL. Default 30 s. */
  readonly msl?: Duration;
  /** FIN_WAIT_2 ends after this long without a segment from the peer. Default 60 s. */
  readonly finWait2Timeout?: Duration;
  /** RTO before any RTT sample (RFC 6298: 1 s). */
  readonly rtoInitial?: Duration;
  /** Lower bound of the RTO. Default 200 ms (Linux). */
  readonly rtoMin?: Duration;
  /** Upper bound of the RTO and of the persist interval. Default 120 s (Linux). */
  readonly rtoMax?: Duration;
  /** SYN retransmissions before connect gives up with 'timeout'. Default 6 (Linux). */
  readonly synRetriesMax?: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped. Default 5 (Linux). */
  readonly synAckRetriesMax?: number;
  /** Retransmissions (and unanswered zero-window probes) before giving up with 'timeout'. Default 15 (Linux). */
  readonly retriesMax?: number;
  /** Initial congestion window in segments. Default 10 (RFC 6928, Linux). */
  readonly initialCwndSegments?: number;
  /** Delayed-ACK timeout; 0 ACKs every segment. Default 40 ms. */
  readonly delayedAckTimeout?: Duration;
  /** Nagle's algorithm (RFC 896). Default true. */
  readonly nagle?: boolean;
  /** Default 'newreno'. */
  readonly congestionControl?: TcpCongestionControl;
  /** Offer the window-scale option (RFC 7323). Default true. */
  readonly windowScaling?: boolean;
  /** Ephemeral port range for `connect` without a local port (IANA: 49152-65535). */
  readonly ephemeralPortMin?: number;
  readonly ephemeralPortMax?: number;
}

export type TcpConfig = { readonly [K in keyof TcpOptions]-?: Exclude<TcpOptions[K], undefined> };

/** Largest listen backlog by default (Linux somaxconn): what a scenario's `backlog` may ask for. */
export const TCP_BACKLOG_MAX_DEFAULT = 4096;

export const TCP_DEFAULTS: TcpConfig = {
  sendBufferMax: 64 * 1024,
  recvBufferMax: 64 * 1024,
  reassemblySegmentsMax: 256,
  connectionsMax: 65_536,
  listenersMax: 1024,
  backlogMax: TCP_BACKLOG_MAX_DEFAULT,
  msl: seconds(30),
  finWait2Timeout: seconds(60),
  rtoInitial: seconds(1),
  rtoMin: millis(200),
  rtoMax: seconds(120),
  synRetriesMax: 6,
  synAckRetriesMax: 5,
  retriesMax: 15,
  initialCwndSegments: 10,
  delayedAckTimeout: millis(40),
  nagle: true,
  congestionControl: 'newreno',
  windowScaling: true,
  ephemeralPortMin: 49152,
  ephemeralPortMax: 65535,
};

function resolveConfig(opts: TcpOptions): TcpConfig {
  const c: TcpConfig = { ...TCP_DEFAULTS, ...(opts as Partial<TcpConfig>) };
  const posInt = (v: number, name: string): void =>
    assert(Number.isSafeInteger(v) && v > 0, `tcp option ${name} must be a positive integer, got ${v}`);
  const nonNegInt = (v: number, name: string): void =>
    assert(Number.isSafeInteger(v) && v >= 0, `tcp option ${name} must be a non-negative integer, got ${v}`);
  posInt(c.sendBufferMax, 'sendBufferMax');
  posInt(c.recvBufferMax, 'recvBufferMax');
  assert(c.recvBufferMax <= TCP_WINDOW_FIELD_MAX * 2 ** TCP_WINDOW_SHIFT_MAX, 'recvBufferMax beyond the largest scaled window');
  posInt(c.reassemblySegmentsMax, 'reassemblySegmentsMax');
  posInt(c.connectionsMax, 'connectionsMax');
  posInt(c.listenersMax, 'listenersMax');
  posInt(c.backlogMax, 'backlogMax');
  posInt(c.msl, 'msl');
  posInt(c.finWait2Timeout, 'finWait2Timeout');
  posInt(c.rtoInitial, 'rtoInitial');
  posInt(c.rtoMin, 'rtoMin');
  posInt(c.rtoMax, 'rtoMax');
  assert(c.rtoMin <= c.rtoMax, 'rtoMin must not exceed rtoMax');
  nonNegInt(c.synRetriesMax, 'synRetriesMax');
  nonNegInt(c.synAckRetriesMax, 'synAckRetriesMax');
  nonNegInt(c.retriesMax, 'retriesMax');
  posInt(c.initialCwndSegments, 'initialCwndSegments');
  nonNegInt(c.delayedAckTimeout, 'delayedAckTimeout');
  assert(
    Number.isSafeInteger(c.ephemeralPortMin) && Number.isSafeInteger(c.ephemeralPortMax) &&
      c.ephemeralPortMin >= 1 && c.ephemeralPortMin <= c.ephemeralPortMax && c.ephemeralPortMax <= 65535,
    `bad ephemeral port range ${c.ephemeralPortMin}-${c.ephemeralPortMax}`,
  );
  return c;
}

// ---------------------------------------------------------------------------------------------
// Public types

/** Why a connection ended, as the application sees it. */
export type TcpCloseReason = 'normal' | 'reset' | 'timeout' | 'refused';

/** Application callbacks. They run after protocol processing, never inside it. */
export interface TcpHandlers {
  /** Active open completed (passive opens are announced by the listener's `onAccept`). */
  onEstablished?(conn: TcpConnection): void;
  /**
   * In-order bytes from the peer. Held in the receive buffer (shrinking the window) while paused
   * or not yet accepted; without this handler they are read and dropped.
   */
  onData?(bytes: Uint8Array, conn: TcpConnection): void;
  /** After a short `send`, at least half of the send buffer is free again. */
  onSendSpace?(conn: TcpConnection): void;
  /** The peer's FIN arrived, after all its data was delivered: no more `onData`. */
  onPeerClosed?(conn: TcpConnection): void;
  /** The connection is over for the application (exactly once; the last callback). */
  onClosed?(reason: TcpCloseReason, conn: TcpConnection): void;
}

export interface TcpConnStats {
  /** Data bytes sent for the first time. */
  readonly bytesSent: number;
  readonly bytesRetransmitted: number;
  /** Data bytes the peer acknowledged. */
  readonly bytesAcked: number;
  /** In-order data bytes received. */
  readonly bytesReceived: number;
  readonly segmentsSent: number;
  readonly segmentsReceived: number;
  /** Segments retransmitted, for any reason (RTO, fast retransmit, partial ACK, SYN, FIN). */
  readonly retransmissions: number;
  /** Fast retransmits (each starts a fast recovery). */
  readonly fastRetransmits: number;
  /** Retransmission timer expirations. */
  readonly timeouts: number;
  readonly dupAcksReceived: number;
  readonly srtt: Duration | undefined;
  readonly rttvar: Duration | undefined;
  /** The current RTO, backoff included. */
  readonly rto: Duration;
  readonly cwnd: number;
  readonly ssthresh: number;
  /** Send MSS. */
  readonly mss: number;
  /** The peer's window (bytes, scaled). */
  readonly sndWnd: number;
  /** The window we last advertised (bytes). */
  readonly rcvWnd: number;
  readonly inFastRecovery: boolean;
  /** Bytes in the send buffer (unsent plus unacknowledged). */
  readonly sendQueued: number;
  /** Bytes received but not yet delivered, plus out-of-order bytes held for reassembly. */
  readonly recvQueued: number;
}

export interface TcpConnection extends TcpConnInfo {
  readonly state: TcpStateName;
  readonly stats: TcpConnStats;
  /** Free bytes in the send buffer. */
  readonly sendSpace: number;
  /** Copy up to `sendSpace` bytes into the send buffer; returns how many were taken. */
  send(bytes: Uint8Array): number;
  /** Graceful close: FIN after the queued data. Data from the peer still arrives (half-close). */
  close(): void;
  /** Send a RST (when synchronized) and forget the connection; `onClosed('reset')` follows. */
  abort(): void;
  /** Stop delivering data: it stays in the receive buffer and the advertised window shrinks. */
  pause(): void;
  resume(): void;
  setHandlers(handlers: TcpHandlers): void;
}

export interface ListenOptions {
  /** Half-open plus completed-but-unaccepted connections allowed at once. */
  readonly backlog: number;
  /** Accept each connection as its handshake completes. Without it, pull with `accept()`. */
  readonly onAccept?: (conn: TcpConnection) => void;
}

export interface TcpListener {
  readonly localAddr: Ipv4Addr | 'any';
  readonly localPort: number;
  readonly backlog: number;
  /** Half-open plus queued connections (what the backlog bounds). */
  readonly pending: number;
  /** Completed connections waiting for `accept()`. */
  readonly acceptQueueLength: number;
  readonly synsReceived: number;
  /** SYNs dropped because the backlog was full. */
  readonly overflows: number;
  readonly accepted: number;
  /** Take the oldest completed connection, giving it its handlers. */
  accept(handlers?: TcpHandlers): TcpConnection | undefined;
  /** Stop listening: half-open connections are dropped, queued ones reset. */
  close(): void;
}

export interface ConnectOptions {
  readonly localAddr: Ipv4Addr;
  /** Default: an ephemeral port chosen deterministically (no 4-tuple reused while its TCB lives). */
  readonly localPort?: number;
  readonly remoteAddr: Ipv4Addr;
  readonly remotePort: number;
  readonly handlers?: TcpHandlers;
}

/** Stable reason codes of dropped segments. Add to the end; never rename. */
export const TCP_DROP_REASONS = [
  'bad-port', // source or destination port 0
  'no-listener', // no connection and no listener: answered with RST (unless it was a RST)
  'listen-rst', // RST to a listener: ignored
  'listen-ack', // ACK to a listener with no matching connection: answered with RST
  'listen-no-syn', // neither SYN, ACK nor RST to a listener
  'backlog-full', // SYN while the listener's backlog is full: silently dropped
  'connections-max', // SYN while the stack holds connectionsMax TCBs
  'bad-ack', // unacceptable ACK in SYN_SENT or SYN_RECEIVED: answered with RST
  'syn-sent-junk', // neither SYN nor RST (or a RST with a bad ACK) in SYN_SENT
  'out-of-window', // sequence number not acceptable: ACKed (unless RST) and dropped
  'rst-challenged', // RST in window but not at RCV.NXT: challenge ACK (RFC 5961 3.2)
  'syn-challenged', // SYN in a synchronized state: challenge ACK (RFC 5961 4.2)
  'no-ack', // no ACK bit in a synchronized state
  'ack-unsent', // acknowledges data never sent: ACKed and dropped
  'reassembly-full', // out-of-order segment with the reassembly queue full
  'after-fin', // data beyond the peer's FIN
] as const;
export type TcpDropReason = (typeof TCP_DROP_REASONS)[number];

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  resetsSent: number;
  resetsReceived: number;
  /** connect() calls that sent a SYN. */
  activeOpens: number;
  /** SYNs that made a half-open connection on a listener. */
  passiveOpens: number;
  /** Handshakes completed (either side). */
  established: number;
  /** connect() calls refused locally (no ephemeral port, 4-tuple in use, connectionsMax). */
  connectFailures: number;
  /** SYNs dropped at a full backlog (Linux ListenOverflows/ListenDrops). */
  listenOverflows: number;
  /** Half-open connections dropped after their SYN-ACK retries. */
  synAckTimeouts: number;
  retransmissions: number;
  fastRetransmits: number;
  /** RTO expirations. */
  timeouts: number;
  /** Connections that gave up: 'timeout'. */
  connectionTimeouts: number;
  readonly drops: Record<TcpDropReason, number>;
}

function newCounters(): TcpCounters {
  const drops = {} as Record<TcpDropReason, number>;
  for (const r of TCP_DROP_REASONS) drops[r] = 0;
  return {
    segmentsIn: 0, segmentsOut: 0, resetsSent: 0, resetsReceived: 0, activeOpens: 0, passiveOpens: 0,
    established: 0, connectFailures: 0, listenOverflows: 0, synAckTimeouts: 0, retransmissions: 0,
    fastRetransmits: 0, timeouts: 0, connectionTimeouts: 0, drops,
  };
}

// ---------------------------------------------------------------------------------------------
// The state machine as data (STYLE 6). RST, abort and giving up go to CLOSED from any state and
// are not listed per state.

export type TcpEventName =
  | 'connect' // application active open
  | 'syn' // SYN received: on a listener, or in SYN_SENT (simultaneous open)
  | 'syn-ack' // SYN,ACK acknowledging our SYN in SYN_SENT
  | 'ack-of-syn' // ACK of our SYN in SYN_RECEIVED
  | 'close' // application close
  | 'fin' // the peer's FIN reached RCV.NXT
  | 'ack-of-fin' // our FIN acknowledged
  | 'time-wait-expired'; // 2 * MSL passed

export const TCP_TRANSITIONS = {
  CLOSED: { connect: 'SYN_SENT' },
  LISTEN: { syn: 'SYN_RECEIVED' },
  SYN_SENT: { 'syn-ack': 'ESTABLISHED', syn: 'SYN_RECEIVED', close: 'CLOSED' },
  // close() in SYN_RECEIVED queues the FIN until ESTABLISHED (RFC 9293 3.10.4).
  SYN_RECEIVED: { 'ack-of-syn': 'ESTABLISHED' },
  ESTABLISHED: { close: 'FIN_WAIT_1', fin: 'CLOSE_WAIT' },
  FIN_WAIT_1: { 'ack-of-fin': 'FIN_WAIT_2', fin: 'CLOSING' },
  FIN_WAIT_2: { fin: 'TIME_WAIT' },
  CLOSE_WAIT: { close: 'LAST_ACK' },
  CLOSING: { 'ack-of-fin': 'TIME_WAIT' },
  LAST_ACK: { 'ack-of-fin': 'CLOSED' },
  TIME_WAIT: { 'time-wait-expired': 'CLOSED' },
} as const satisfies { readonly [S in TcpStateName]: Partial<Record<TcpEventName, TcpStateName>> };

/** The next state for `event` in `state`, or undefined when the table has no such edge. */
export function tcpTransition(state: TcpStateName, event: TcpEventName): TcpStateName | undefined {
  const row: Partial<Record<TcpEventName, TcpStateName>> = TCP_TRANSITIONS[state];
  return row[event];
}

/** Flags `#output` puts on a segment in each state (BSD tcp_outflags); SYN and FIN only when due. */
const OUTPUT_FLAGS: { readonly [S in TcpStateName]: number } = {
  CLOSED: 0,
  LISTEN: 0,
  SYN_SENT: TCP_FLAG.syn,
  SYN_RECEIVED: TCP_FLAG.syn | TCP_FLAG.ack,
  ESTABLISHED: TCP_FLAG.ack,
  CLOSE_WAIT: TCP_FLAG.ack,
  FIN_WAIT_1: TCP_FLAG.fin | TCP_FLAG.ack,
  FIN_WAIT_2: TCP_FLAG.ack,
  CLOSING: TCP_FLAG.fin | TCP_FLAG.ack,
  LAST_ACK: TCP_FLAG.fin | TCP_FLAG.ack,
  TIME_WAIT: TCP_FLAG.ack,
};

/** States that may send data from the send buffer. */
const DATA_SEND_STATES: ReadonlySet<TcpStateName> = new Set(['ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1', 'CLOSING', 'LAST_ACK']);
/** States whose application may still queue data with `send`. */
const APP_SEND_STATES: ReadonlySet<TcpStateName> = new Set(['SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED', 'CLOSE_WAIT']);
/** States that accept data from the peer (its FIN not yet received). */
const RECEIVE_STATES: ReadonlySet<TcpStateName> = new Set(['ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2']);
/** States in which an abort sends a RST (RFC 9293 3.10.5). */
const ABORT_RST_STATES: ReadonlySet<TcpStateName> = new Set(['SYN_RECEIVED', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT']);

const TCP_TIMER_NAMES = ['retransmit', 'persist', 'delayedAck', 'finWait2', 'timeWait'] as const;
type TcpTimerName = (typeof TCP_TIMER_NAMES)[number];

// ---------------------------------------------------------------------------------------------
// Sequence-number arithmetic (mod 2^32)

const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
/** a - b as a signed 32-bit distance. */
const seqDiff = (a: number, b: number): number => (a - b) | 0;
const seqLt = (a: number, b: number): boolean => seqDiff(a, b) < 0;
const seqLe = (a: number, b: number): boolean => seqDiff(a, b) <= 0;
const seqGt = (a: number, b: number): boolean => seqDiff(a, b) > 0;
const seqGe = (a: number, b: number): boolean => seqDiff(a, b) >= 0;

const EMPTY = new Uint8Array(0);

function connKey(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): string {
  return `${localAddr}:${localPort}:${remoteAddr}:${remotePort}`;
}

// ---------------------------------------------------------------------------------------------
// Buffers

/** The send buffer: a ring of bytes that grows by doubling up to `max`, freed when empty. */
class ByteRing {
  readonly max: number;
  #buf: Uint8Array = EMPTY;
  #head = 0;
  #len = 0;

  constructor(max: number) {
    this.max = max;
  }
  get length(): number {
    return this.#len;
  }
  get free(): number {
    return this.max - this.#len;
  }
  /** Bytes allocated for the ring (0 while it is empty). */
  get capacity(): number {
    return this.#buf.length;
  }
  /** Append up to `free` bytes; returns how many. */
  push(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, this.free);
    if (n === 0) return 0;
    this.#reserve(this.#len + n);
    const cap = this.#buf.length;
    const tail = (this.#head + this.#len) % cap;
    const first = Math.min(n, cap - tail);
    this.#buf.set(bytes.subarray(0, first), tail);
    if (first < n) this.#buf.set(bytes.subarray(first, n), 0);
    this.#len += n;
    return n;
  }
  /** A copy of `n` bytes starting `off` bytes into the buffer. */
  copy(off: number, n: number): Uint8Array {
    assert(off >= 0 && n >= 0 && off + n <= this.#len, `send buffer copy ${off}+${n} beyond ${this.#len}`);
    const out = new Uint8Array(n);
    const cap = this.#buf.length;
    const start = (this.#head + off) % cap;
    const first = Math.min(n, cap - start);
    out.set(this.#buf.subarray(start, start + first), 0);
    if (first < n) out.set(this.#buf.subarray(0, n - first), first);
    return out;
  }
  drop(n: number): void {
    assert(n >= 0 && n <= this.#len, `send buffer drop ${n} of ${this.#len}`);
    if (n === 0) return;
    this.#len -= n;
    if (this.#len === 0) {
      // An idle connection holds no buffer: a million open links must not each keep kilobytes.
      this.#buf = EMPTY;
      this.#head = 0;
    } else this.#head = (this.#head + n) % this.#buf.length;
  }
  clear(): void {
    this.#buf = EMPTY;
    this.#head = 0;
    this.#len = 0;
  }
  #reserve(need: number): void {
    if (need <= this.#buf.length) return;
    const cap = Math.min(this.max, Math.max(need, this.#buf.length * 2, SEND_BUFFER_ALLOC_MIN_BYTES));
    const next = new Uint8Array(cap);
    if (this.#len > 0) next.set(this.copy(0, this.#len), 0);
    this.#buf = next;
    this.#head = 0;
  }
}

interface OooSegment {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

/** Out-of-order segments, sorted by sequence number, never overlapping, at most `max` of them. */
class Reassembly {
  readonly max: number;
  readonly #segs: OooSegment[] = [];
  #bytes = 0;

  constructor(max: number) {
    this.max = max;
  }
  get size(): number {
    return this.#segs.length;
  }
  get bytes(): number {
    return this.#bytes;
  }
  /**
   * Keep the parts of [seq, seq + data.length) not already held (all beyond `rcvNxt`); `fin`
   * marks a FIN right after the data. False (nothing kept) when that would exceed `max`.
   */
  insert(seq: number, data: Uint8Array, fin: boolean): boolean {
    const end = seqAdd(seq, data.length);
    const pieces: OooSegment[] = [];
    let cur = seq;
    for (const s of this.#segs) {
      const sEnd = seqAdd(s.seq, s.data.length);
      if (seqLe(sEnd, cur)) continue;
      if (seqGe(s.seq, end)) break;
      if (seqLt(cur, s.seq)) pieces.push({ seq: cur, data: data.subarray(seqDiff(cur, seq), seqDiff(s.seq, seq)), fin: false });
      cur = sEnd;
    }
    if (seqLt(cur, end)) pieces.push({ seq: cur, data: data.subarray(seqDiff(cur, seq)), fin });
    else if (fin) {
      // The data is all held already: mark the FIN on whatever ends where it sits.
      const ending = this.#segs.find((s) => seqAdd(s.seq, s.data.length) === end);
      if (ending !== undefined) ending.fin = true;
      else if (data.length === 0) pieces.push({ seq, data: EMPTY, fin: true });
    }
    if (this.#segs.length + pieces.length > this.max) return false;
    for (const p of pieces) {
      const copy: OooSegment = { seq: p.seq, data: p.data.slice(), fin: p.fin };
      const at = this.#segs.findIndex((s) => seqGt(s.seq, p.seq));
      if (at < 0) this.#segs.push(copy);
      else this.#segs.splice(at, 0, copy);
      this.#bytes += copy.data.length;
    }
    return true;
  }
  /** Remove what `rcvNxt` now reaches: the bytes from `rcvNxt` on, in order, and whether a FIN follows them. */
  take(rcvNxt: number): { chunks: Uint8Array[]; fin: boolean } {
    const chunks: Uint8Array[] = [];
    let next = rcvNxt;
    let fin = false;
    while (this.#segs.length > 0) {
      const s = this.#segs[0] as OooSegment;
      if (seqGt(s.seq, next)) break;
      this.#segs.shift();
      this.#bytes -= s.data.length;
      const sEnd = seqAdd(s.seq, s.data.length);
      if (seqGt(sEnd, next)) {
        chunks.push(s.data.subarray(seqDiff(next, s.seq)));
        next = sEnd;
      }
      if (s.fin && sEnd === next) {
        fin = true;
        this.clear();
        break;
      }
    }
    return { chunks, fin };
  }
  clear(): void {
    this.#segs.length = 0;
    this.#bytes = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// The connection (TCB)

/** What a connection handle calls back into its stack for. */
interface TcbOps {
  send(c: Tcb, bytes: Uint8Array): number;
  close(c: Tcb): void;
  abort(c: Tcb): void;
  setPaused(c: Tcb, paused: boolean): void;
  setHandlers(c: Tcb, handlers: TcpHandlers): void;
}

class Tcb implements TcpConnection {
  readonly localAddr: Ipv4Addr;
  readonly localPort: number;
  readonly remoteAddr: Ipv4Addr;
  readonly remotePort: number;
  readonly key: string;
  readonly #ops: TcbOps;
  readonly #cfg: TcpConfig;

  state: TcpStateName = 'CLOSED';
  /** Made by a listener (until accepted, it is not the application's). */
  readonly passive: boolean;
  /** The listener whose backlog this connection counts against, until accepted. */
  listener: Listener | undefined;
  /** The application knows this connection (active, or accepted). */
  appVisible: boolean;
  handlers: TcpHandlers;
  paused = false;
  /** A short send happened: `onSendSpace` is owed. */
  wantSpace = false;
  /** The application aborted or has seen `onClosed`: no more callbacks. */
  appGone = false;
  closedReported = false;
  /** A normal close waits until the application has read everything (and seen the FIN). */
  closeDeferred = false;
  /** A 'readable' event is queued. */
  readableQueued = false;

  // Send sequence space (RFC 9293 3.3.1); sndMax is the highest sequence number sent (BSD).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  sndShift = 0;
  rcvShift = 0;
  /** Shift we offer in our SYN (when window scaling is on). */
  readonly rcvShiftOffer: number;
  peerWindowShift: number | undefined;
  /** Our MSS (what we advertise) and the send MSS. */
  ourMss = TCP_DEFAULT_PEER_MSS;
  smss = TCP_DEFAULT_PEER_MSS;
  readonly sendBuf: ByteRing;
  /** Sequence number of sendBuf's first byte. */
  bufSeq = 0;
  /** close() was called: a FIN follows the buffered data. */
  finQueued = false;
  /** End of the last sub-MSS segment sent (Minshall's Nagle, as Linux's snd_sml). */
  sndSml = 0;

  // Receive sequence space
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we advertised: never moves left. */
  rcvAdv = 0;
  readonly recvChunks: Uint8Array[] = [];
  recvBytes = 0;
  readonly reasm: Reassembly;
  finReceived = false;
  peerClosedReported = false;
  ackNow = false;
  ackPendingBytes = 0;

  // RTT and RTO (RFC 6298), in µs
  srtt: number | undefined;
  rttvar: number | undefined;
  rtoBase: number;
  backoff = 0;
  /** Consecutive retransmission timeouts (or unanswered probes) without progress. */
  retries = 0;
  synRetransmitted = false;
  timing = false;
  timedSeq = 0;
  timedAt = 0;

  // Congestion control (RFC 5681, 6582)
  cwnd = 0;
  ssthresh = TCP_SSTHRESH_INITIAL;
  dupAcks = 0;
  inRecovery = false;
  recover = 0;
  /** `#output` retransmits one segment at SND.UNA first (fast retransmit, partial ACK). */
  rexmtHead = false;
  /** `#output` sends a zero-window probe first. */
  probe = false;
  /** When data was last sent (µs), for the restart window after idle. */
  lastDataSentAt = 0;
  probesOut = 0;
  persistBackoff = 0;

  readonly timers = new TimerTable<TcpTimerName>(TCP_TIMER_NAMES);
  wakeAt: Instant | undefined;
  wakeCancel: (() => void) | undefined;

  // Statistics
  bytesSent = 0;
  bytesRetransmitted = 0;
  bytesAcked = 0;
  bytesReceived = 0;
  segmentsSent = 0;
  segmentsReceived = 0;
  retransmissions = 0;
  fastRetransmits = 0;
  timeouts = 0;
  dupAcksReceived = 0;

  constructor(
    ops: TcbOps,
    cfg: TcpConfig,
    info: TcpConnInfo,
    passive: boolean,
    handlers: TcpHandlers,
  ) {
    this.#ops = ops;
    this.#cfg = cfg;
    this.localAddr = info.localAddr;
    this.localPort = info.localPort;
    this.remoteAddr = info.remoteAddr;
    this.remotePort = info.remotePort;
    this.key = connKey(info.localAddr, info.localPort, info.remoteAddr, info.remotePort);
    this.passive = passive;
    this.appVisible = !passive;
    this.handlers = handlers;
    this.sendBuf = new ByteRing(cfg.sendBufferMax);
    this.reasm = new Reassembly(cfg.reassemblySegmentsMax);
    this.rtoBase = cfg.rtoInitial;
    let shift = 0;
    while (shift < TCP_WINDOW_SHIFT_MAX && cfg.recvBufferMax / 2 ** shift > TCP_WINDOW_FIELD_MAX) shift++;
    this.rcvShiftOffer = shift;
  }

  /** The RTO with backoff, bounded by rtoMax. */
  get rtoNow(): number {
    return Math.min(this.rtoBase * 2 ** this.backoff, this.#cfg.rtoMax);
  }
  /** Sequence number of our FIN (meaningful once `finQueued`). */
  get finSeq(): number {
    return seqAdd(this.bufSeq, this.sendBuf.length);
  }
  get finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }
  /** Bytes sent and not yet acknowledged (SYN and FIN included). */
  get flight(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }

  get sendSpace(): number {
    return APP_SEND_STATES.has(this.state) && !this.finQueued ? this.sendBuf.free : 0;
  }

  get stats(): TcpConnStats {
    return {
      bytesSent: this.bytesSent,
      bytesRetransmitted: this.bytesRetransmitted,
      bytesAcked: this.bytesAcked,
      bytesReceived: this.bytesReceived,
      segmentsSent: this.segmentsSent,
      segmentsReceived: this.segmentsReceived,
      retransmissions: this.retransmissions,
      fastRetransmits: this.fastRetransmits,
      timeouts: this.timeouts,
      dupAcksReceived: this.dupAcksReceived,
      srtt: this.srtt === undefined ? undefined : (Math.round(this.srtt) as Duration),
      rttvar: this.rttvar === undefined ? undefined : (Math.round(this.rttvar) as Duration),
      rto: this.rtoNow as Duration,
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      mss: this.smss,
      sndWnd: this.sndWnd,
      rcvWnd: Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt)),
      inFastRecovery: this.inRecovery,
      sendQueued: this.sendBuf.length,
      recvQueued: this.recvBytes + this.reasm.bytes,
    };
  }

  send(bytes: Uint8Array): number {
    return this.#ops.send(this, bytes);
  }
  close(): void {
    this.#ops.close(this);
  }
  abort(): void {
    this.#ops.abort(this);
  }
  pause(): void {
    this.#ops.setPaused(this, true);
  }
  resume(): void {
    this.#ops.setPaused(this, false);
  }
  setHandlers(handlers: TcpHandlers): void {
    this.#ops.setHandlers(this, handlers);
  }
}

// ---------------------------------------------------------------------------------------------
// Listener

interface ListenerOps {
  accept(l: Listener, handlers: TcpHandlers | undefined): TcpConnection | undefined;
  close(l: Listener): void;
}

class Listener implements TcpListener {
  readonly localAddr: Ipv4Addr | 'any';
  readonly localPort: number;
  readonly backlog: number;
  readonly onAccept: ((conn: TcpConnection) => void) | undefined;
  readonly key: string;
  readonly #ops: ListenerOps;
  /** Half-open and unaccepted connections, oldest first. */
  readonly children = new Set<Tcb>();
  readonly queue: Tcb[] = [];
  closed = false;
  synsReceived = 0;
  overflows = 0;
  accepted = 0;

  constructor(ops: ListenerOps, addr: Ipv4Addr | 'any', port: number, opts: ListenOptions) {
    this.#ops = ops;
    this.localAddr = addr;
    this.localPort = port;
    this.backlog = opts.backlog;
    this.onAccept = opts.onAccept;
    this.key = listenerKey(addr, port);
  }
  get pending(): number {
    return this.children.size;
  }
  get acceptQueueLength(): number {
    return this.queue.length;
  }
  accept(handlers?: TcpHandlers): TcpConnection | undefined {
    return this.#ops.accept(this, handlers);
  }
  close(): void {
    this.#ops.close(this);
  }
}

/** Not yet deleted (a function, so a check after a call is not narrowed away). */
function isOpen(c: Tcb): boolean {
  return c.state !== 'CLOSED';
}

function listenerKey(addr: Ipv4Addr | 'any', port: number): string {
  return `${addr === 'any' ? 'any' : addr}:${port}`;
}

/** Options of a received SYN that we honour. */
interface SynOptions {
  readonly mss: number | undefined;
  readonly windowShift: number | undefined;
}

function synOptions(seg: TcpSegment): SynOptions {
  let mss: number | undefined;
  let windowShift: number | undefined;
  for (const o of seg.options) {
    if (o.kind === 'mss') mss = o.value;
    else if (o.kind === 'window-scale') windowShift = Math.min(o.shift, TCP_WINDOW_SHIFT_MAX);
  }
  return { mss, windowShift };
}

type AppEvent =
  | { readonly kind: 'accept'; readonly conn: Tcb; readonly listener: Listener }
  | { readonly kind: 'established'; readonly conn: Tcb }
  | { readonly kind: 'readable'; readonly conn: Tcb }
  | { readonly kind: 'send-space'; readonly conn: Tcb }
  | { readonly kind: 'closed'; readonly conn: Tcb; readonly reason: TcpCloseReason };

interface Inbound {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly seg: TcpSegment;
}

// ---------------------------------------------------------------------------------------------
// The stack

export class TcpStack {
  readonly config: TcpConfig;
  readonly #env: TcpEnv;
  readonly #rng: Rng;
  readonly #conns = new Map<string, Tcb>();
  readonly #listeners = new Map<string, Listener>();
  readonly #counters = newCounters();
  readonly #tcbOps: TcbOps;
  readonly #listenerOps: ListenerOps;

  // Deferred work: segments that arrived while we were busy, application events, connections
  // with something to send. Drained in this order by `#settle`.
  readonly #inbox: Inbound[] = [];
  #events: AppEvent[] = [];
  #eventHead = 0;
  readonly #dirty = new Set<Tcb>();
  #settling = false;
  #portCursor: number | undefined;

  constructor(env: TcpEnv, opts: TcpOptions = {}) {
    this.#env = env;
    this.#rng = env.rng;
    this.config = resolveConfig(opts);
    this.#tcbOps = {
      send: (c, bytes) => this.#appSend(c, bytes),
      close: (c) => this.#appClose(c),
      abort: (c) => this.#appAbort(c),
      setPaused: (c, paused) => this.#appSetPaused(c, paused),
      setHandlers: (c, handlers) => this.#appSetHandlers(c, handlers),
    };
    this.#listenerOps = {
      accept: (l, handlers) => this.#appAccept(l, handlers),
      close: (l) => this.#closeListener(l),
    };
  }

  get counters(): Readonly<TcpCounters> {
    return this.#counters;
  }

  /** Every TCB (half-open and TIME_WAIT included), oldest first. */
  connections(): TcpConnection[] {
    return [...this.#conns.values()];
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  listeners(): TcpListener[] {
    return [...this.#listeners.values()];
  }

  /** Bytes held in send, receive and reassembly buffers over all connections (slide 46's mbufs). */
  bytesHeld(): number {
    let n = 0;
    for (const c of this.#conns.values()) n += c.sendBuf.length + c.recvBytes + c.reasm.bytes;
    return n;
  }

  /** Bytes allocated for send buffers over all connections (an idle connection holds none). */
  sendBufferBytesAllocated(): number {
    let n = 0;
    for (const c of this.#conns.values()) n += c.sendBuf.capacity;
    return n;
  }

  /** Host crash: forget every connection and listener without a segment or a callback. */
  reset(): void {
    for (const c of this.#conns.values()) {
      c.wakeCancel?.();
      c.wakeCancel = undefined;
      c.wakeAt = undefined;
      c.timers.clearAll();
      c.state = 'CLOSED';
      c.appGone = true;
    }
    this.#conns.clear();
    for (const l of this.#listeners.values()) {
      l.closed = true;
      l.children.clear();
      l.queue.length = 0;
    }
    this.#listeners.clear();
    this.#inbox.length = 0;
    this.#events = [];
    this.#eventHead = 0;
    this.#dirty.clear();
  }

  listen(addr: Ipv4Addr | 'any', port: number, opts: ListenOptions): TcpListener {
    assert(Number.isSafeInteger(port) && port > 0 && port <= 65535, `listen port ${port} out of range`);
    assert(
      Number.isSafeInteger(opts.backlog) && opts.backlog >= 0 && opts.backlog <= this.config.backlogMax,
      `backlog ${opts.backlog} out of range 0..${this.config.backlogMax}`,
    );
    const a = addr === IPV4_ANY ? 'any' : addr;
    const key = listenerKey(a, port);
    assert(!this.#listeners.has(key), `already listening on ${key}`);
    assert(this.#listeners.size < this.config.listenersMax, `more than listenersMax (${this.config.listenersMax}) listeners`);
    const l = new Listener(this.#listenerOps, a, port, opts);
    this.#listeners.set(key, l);
    const info: TcpConnInfo = { localAddr: a === 'any' ? IPV4_ANY : a, localPort: port, remoteAddr: IPV4_ANY, remotePort: 0 };
    this.#env.onState?.(info, 'CLOSED', 'LISTEN');
    return l;
  }

  connect(opts: ConnectOptions): TcpConnection {
    const handlers = opts.handlers ?? {};
    assert(Number.isSafeInteger(opts.remotePort) && opts.remotePort > 0 && opts.remotePort <= 65535, `bad remote port ${opts.remotePort}`);
    let localPort = opts.localPort;
    if (localPort === undefined) localPort = this.#ephemeralPort(opts.localAddr, opts.remoteAddr, opts.remotePort);
    else assert(Number.isSafeInteger(localPort) && localPort > 0 && localPort <= 65535, `bad local port ${localPort}`);
    const info: TcpConnInfo = {
      localAddr: opts.localAddr,
      localPort: localPort ?? 0,
      remoteAddr: opts.remoteAddr,
      remotePort: opts.remotePort,
    };
    const c = new Tcb(this.#tcbOps, this.config, info, false, handlers);
    if (
      localPort === undefined ||
      this.#conns.has(c.key) ||
      this.#conns.size >= this.config.connectionsMax
    ) {
      // EADDRNOTAVAIL / EADDRINUSE / out of memory: reported asynchronously, like a refusal.
      this.#counters.connectFailures++;
      this.#env.timer(ZERO_DURATION, () => {
        this.#reportClosed(c, 'refused');
        this.#settle();
      });
      return c;
    }
    this.#counters.activeOpens++;
    this.#initSend(c, this.#rng.u32());
    c.ourMss = this.#ourMss(c.remoteAddr);
    this.#conns.set(c.key, c);
    this.#transition(c, 'connect');
    this.#dirty.add(c);
    this.#settle();
    return c;
  }

  /** A TCP segment for one of the host's addresses (checksum already verified). */
  input(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void {
    this.#inbox.push({ src, dst, seg });
    this.#settle();
  }

  // -------------------------------------------------------------------------------------------
  // Deferred work

  /**
   * Drain segments, application events and outputs until nothing is left. Re-entrant calls
   * (from a callback, or a host that loops a segment back synchronously) return at once; the
   * outer loop picks their work up.
   */
  #settle(): void {
    if (this.#settling) return;
    this.#settling = true;
    try {
      for (let step = 0; ; step++) {
        assert(step < TCP_SETTLE_STEPS_MAX, `tcp settle did not converge in ${TCP_SETTLE_STEPS_MAX} steps`);
        const inbound = this.#inbox.shift();
        if (inbound !== undefined) {
          this.#segmentIn(inbound.src, inbound.dst, inbound.seg);
          continue;
        }
        if (this.#eventHead < this.#events.length) {
          const ev = this.#events[this.#eventHead++] as AppEvent;
          if (this.#eventHead === this.#events.length) {
            this.#events = [];
            this.#eventHead = 0;
          }
          this.#dispatch(ev);
          continue;
        }
        const first = this.#dirty.values().next();
        if (!first.done) {
          this.#dirty.delete(first.value);
          this.#output(first.value);
          continue;
        }
        break;
      }
    } finally {
      this.#settling = false;
    }
  }

  #queue(ev: AppEvent): void {
    this.#events.push(ev);
  }

  #queueReadable(c: Tcb): void {
    if (c.readableQueued) return;
    c.readableQueued = true;
    this.#queue({ kind: 'readable', conn: c });
  }

  #dispatch(ev: AppEvent): void {
    const c = ev.conn;
    switch (ev.kind) {
      case 'accept':
        if (!c.appGone) ev.listener.onAccept?.(c);
        return;
      case 'established':
        if (!c.appGone) c.handlers.onEstablished?.(c);
        return;
      case 'readable':
        c.readableQueued = false;
        this.#deliver(c);
        return;
      case 'send-space':
        if (!c.appGone && c.sendSpace >= this.config.sendBufferMax / 2) c.handlers.onSendSpace?.(c);
        return;
      case 'closed':
        c.appGone = true;
        c.handlers.onClosed?.(ev.reason, c);
        return;
      default:
        assertNever(ev, 'tcp app event');
    }
  }

  /**
   * Hand buffered in-order data to the application (without an `onData` handler it is read and
   * dropped), then the peer's FIN once the data is gone, then a deferred normal close.
   */
  #deliver(c: Tcb): void {
    if (c.appGone || !c.appVisible) return;
    let delivered = false;
    while (c.recvChunks.length > 0 && !c.paused && !c.appGone) {
      const chunk = c.recvChunks.shift() as Uint8Array;
      c.recvBytes -= chunk.length;
      delivered = true;
      c.handlers.onData?.(chunk, c);
    }
    if (delivered) this.#dirty.add(c); // the window opened: maybe a window update
    if (c.appGone || c.recvChunks.length > 0) return;
    if (c.finReceived && !c.peerClosedReported) {
      c.peerClosedReported = true;
      c.handlers.onPeerClosed?.(c);
    }
    if (c.closeDeferred && !c.appGone && (c.peerClosedReported || !c.finReceived)) {
      c.closeDeferred = false;
      this.#queue({ kind: 'closed', conn: c, reason: 'normal' });
    }
  }

  /**
   * Queue `onClosed` for a connection the application knows, once. A normal close comes after
   * the application has read the data still buffered (like a socket: read, then EOF, then close).
   */
  #reportClosed(c: Tcb, reason: TcpCloseReason): void {
    if (!c.appVisible || c.closedReported) return;
    c.closedReported = true;
    if (reason === 'normal' && (c.recvChunks.length > 0 || (c.finReceived && !c.peerClosedReported))) {
      c.closeDeferred = true;
      this.#queueReadable(c);
      return;
    }
    this.#queue({ kind: 'closed', conn: c, reason });
  }

  // -------------------------------------------------------------------------------------------
  // State changes and timers

  #setState(c: Tcb, to: TcpStateName): void {
    const from = c.state;
    if (from === to) return;
    c.state = to;
    this.#env.onState?.(c, from, to);
  }

  #transition(c: Tcb, event: TcpEventName): void {
    const to = tcpTransition(c.state, event);
    assert(to !== undefined, `tcp: no transition from ${c.state} on ${event}`);
    this.#setState(c, to);
    if (to === 'TIME_WAIT') this.#enterTimeWait(c);
    else if (to === 'FIN_WAIT_2') this.#setTimer(c, 'finWait2', this.config.finWait2Timeout);
  }

  #setTimer(c: Tcb, name: TcpTimerName, d: Duration | number): void {
    c.timers.set(name, (this.#env.now() + d) as Instant);
    this.#dirty.add(c);
  }

  #clearTimer(c: Tcb, name: TcpTimerName): void {
    c.timers.clear(name);
  }

  /** Keep one host timer per connection, at (or before) its earliest deadline. */
  #rearm(c: Tcb): void {
    const next = c.timers.next();
    if (next === undefined) {
      c.wakeCancel?.();
      c.wakeCancel = undefined;
      c.wakeAt = undefined;
      return;
    }
    // An earlier wake is pending: it finds nothing due and re-arms then.
    if (c.wakeAt !== undefined && c.wakeAt <= next.at) return;
    c.wakeCancel?.();
    c.wakeAt = next.at;
    const delay = Math.max(0, next.at - this.#env.now()) as Duration;
    c.wakeCancel = this.#env.timer(delay, () => {
      c.wakeAt = undefined;
      c.wakeCancel = undefined;
      this.#onWake(c);
      this.#settle();
    });
  }

  #onWake(c: Tcb): void {
    for (const name of c.timers.expired(this.#env.now())) {
      if (!isOpen(c)) return;
      switch (name) {
        case 'retransmit':
          this.#onRetransmitTimeout(c);
          break;
        case 'persist':
          this.#onPersistTimeout(c);
          break;
        case 'delayedAck':
          c.ackNow = true;
          break;
        case 'finWait2':
          this.#destroy(c, 'timeout');
          break;
        case 'timeWait':
          this.#transition(c, 'time-wait-expired');
          this.#destroy(c, undefined);
          break;
        default:
          assertNever(name, 'tcp timer');
      }
    }
    if (isOpen(c)) this.#dirty.add(c);
  }

  #enterTimeWait(c: Tcb): void {
    for (const t of ['retransmit', 'persist', 'finWait2'] as const) this.#clearTimer(c, t);
    c.sendBuf.clear();
    c.reasm.clear();
    c.rexmtHead = false;
    c.probe = false;
    this.#setTimer(c, 'timeWait', 2 * this.config.msl);
    this.#reportClosed(c, 'normal');
  }

  /** Delete the TCB. `reason` is what the application hears (undefined: nothing, or already told). */
  #destroy(c: Tcb, reason: TcpCloseReason | undefined): void {
    if (this.#conns.get(c.key) === c) this.#conns.delete(c.key);
    c.timers.clearAll();
    c.wakeCancel?.();
    c.wakeCancel = undefined;
    c.wakeAt = undefined;
    const l = c.listener;
    if (l !== undefined) {
      l.children.delete(c);
      const i = l.queue.indexOf(c);
      if (i >= 0) l.queue.splice(i, 1);
      c.listener = undefined;
    }
    this.#setState(c, 'CLOSED');
    c.sendBuf.clear();
    c.reasm.clear();
    // After a normal close the application may still read what is buffered; otherwise it is lost.
    const readable = reason === 'normal' || (reason === undefined && c.closedReported);
    if (!readable) {
      c.recvChunks.length = 0;
      c.recvBytes = 0;
      if (c.closeDeferred) this.#queueReadable(c); // nothing left to wait for
    }
    if (reason === 'timeout') this.#counters.connectionTimeouts++;
    if (reason !== undefined) this.#reportClosed(c, reason);
    this.#dirty.delete(c);
  }

  // -------------------------------------------------------------------------------------------
  // Application calls

  #appSend(c: Tcb, bytes: Uint8Array): number {
    if (c.appGone || !APP_SEND_STATES.has(c.state) || c.finQueued) return 0;
    const n = c.sendBuf.push(bytes);
    if (n < bytes.length || c.sendBuf.free === 0) c.wantSpace = true;
    if (n > 0) this.#dirty.add(c);
    this.#settle();
    return n;
  }

  #appClose(c: Tcb): void {
    switch (c.state) {
      case 'SYN_SENT':
        this.#transition(c, 'close');
        this.#destroy(c, 'normal');
        break;
      case 'SYN_RECEIVED':
        c.finQueued = true; // sent once ESTABLISHED
        break;
      case 'ESTABLISHED':
      case 'CLOSE_WAIT':
        c.finQueued = true;
        this.#transition(c, 'close');
        this.#dirty.add(c);
        break;
      case 'CLOSED':
      case 'LISTEN':
      case 'FIN_WAIT_1':
      case 'FIN_WAIT_2':
      case 'CLOSING':
      case 'LAST_ACK':
      case 'TIME_WAIT':
        break; // already closed or closing
      default:
        assertNever(c.state, 'tcp state');
    }
    this.#settle();
  }

  #appAbort(c: Tcb): void {
    if (c.state === 'CLOSED') return;
    if (ABORT_RST_STATES.has(c.state)) {
      this.#sendReset(c.localAddr, c.remoteAddr, c.localPort, c.remotePort, c.sndMax, c.rcvNxt, true);
    }
    const reason = c.state === 'TIME_WAIT' ? undefined : 'reset';
    c.appGone = true; // no data or other callbacks after abort; onClosed still comes
    if (c.closeDeferred) {
      c.closeDeferred = false;
      this.#queue({ kind: 'closed', conn: c, reason: 'normal' });
    }
    this.#destroy(c, reason);
    this.#settle();
  }

  #appSetPaused(c: Tcb, paused: boolean): void {
    c.paused = paused;
    if (!paused) this.#queueReadable(c);
    this.#settle();
  }

  #appSetHandlers(c: Tcb, handlers: TcpHandlers): void {
    c.handlers = handlers;
    this.#queueReadable(c);
    this.#settle();
  }

  #appAccept(l: Listener, handlers: TcpHandlers | undefined): TcpConnection | undefined {
    const c = l.queue.shift();
    if (c === undefined) return undefined;
    this.#markAccepted(l, c);
    if (handlers !== undefined) c.handlers = handlers;
    this.#queueReadable(c);
    this.#dirty.add(c); // its window may open now that it has a reader
    this.#settle();
    return c;
  }

  #markAccepted(l: Listener, c: Tcb): void {
    l.children.delete(c);
    l.accepted++;
    c.listener = undefined;
    c.appVisible = true;
  }

  #closeListener(l: Listener): void {
    if (l.closed) return;
    l.closed = true;
    this.#listeners.delete(l.key);
    for (const c of [...l.children]) {
      if (c.state === 'SYN_RECEIVED') this.#destroy(c, undefined);
      else this.#appAbort(c);
    }
    const info: TcpConnInfo = {
      localAddr: l.localAddr === 'any' ? IPV4_ANY : l.localAddr,
      localPort: l.localPort,
      remoteAddr: IPV4_ANY,
      remotePort: 0,
    };
    this.#env.onState?.(info, 'LISTEN', 'CLOSED');
    this.#settle();
  }

  // -------------------------------------------------------------------------------------------
  // Input (RFC 9293 3.10.7)

  #drop(reason: TcpDropReason): void {
    this.#counters.drops[reason]++;
  }

  #segmentIn(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void {
    this.#counters.segmentsIn++;
    if (seg.srcPort === 0 || seg.dstPort === 0) return this.#drop('bad-port');
    const c = this.#conns.get(connKey(dst, seg.dstPort, src, seg.srcPort));
    if (c !== undefined) {
      c.segmentsReceived++;
      if (c.state === 'TIME_WAIT' && this.#timeWaitReuse(c, seg)) {
        this.#destroy(c, undefined);
      } else {
        if (c.state === 'SYN_SENT') this.#synSentInput(c, seg);
        else this.#synchronizedInput(c, seg);
        return;
      }
    }
    const l = this.#listeners.get(listenerKey(dst, seg.dstPort)) ?? this.#listeners.get(listenerKey('any', seg.dstPort));
    if (l !== undefined) this.#listenInput(l, src, dst, seg);
    else this.#closedInput(src, dst, seg, 'no-listener');
  }

  /** A new SYN may end TIME_WAIT when its sequence number is beyond the old connection's (RFC 1122 4.2.2.13). */
  #timeWaitReuse(c: Tcb, seg: TcpSegment): boolean {
    const f = seg.flags;
    return (f & TCP_FLAG.syn) !== 0 && (f & (TCP_FLAG.ack | TCP_FLAG.rst)) === 0 && seqGt(seg.seq, c.rcvNxt) &&
      (this.#listeners.has(listenerKey(c.localAddr, c.localPort)) || this.#listeners.has(listenerKey('any', c.localPort)));
  }

  /** No TCB: RST for anything but a RST (RFC 9293 3.10.7.1). */
  #closedInput(src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment, reason: TcpDropReason): void {
    this.#drop(reason);
    if ((seg.flags & TCP_FLAG.rst) !== 0) return;
    if ((seg.flags & TCP_FLAG.ack) !== 0) {
      this.#sendReset(dst, src, seg.dstPort, seg.srcPort, seg.ack, 0, false);
    } else {
      const len = seg.payload.length + ((seg.flags & TCP_FLAG.syn) !== 0 ? 1 : 0) + ((seg.flags & TCP_FLAG.fin) !== 0 ? 1 : 0);
      this.#sendReset(dst, src, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len), true);
    }
  }

  #listenInput(l: Listener, src: Ipv4Addr, dst: Ipv4Addr, seg: TcpSegment): void {
    const f = seg.flags;
    if ((f & TCP_FLAG.rst) !== 0) return this.#drop('listen-rst');
    if ((f & TCP_FLAG.ack) !== 0) return this.#closedInput(src, dst, seg, 'listen-ack');
    if ((f & TCP_FLAG.syn) === 0) return this.#drop('listen-no-syn');
    l.synsReceived++;
    if (l.children.size >= l.backlog) {
      l.overflows++;
      this.#counters.listenOverflows++;
      return this.#drop('backlog-full');
    }
    if (this.#conns.size >= this.config.connectionsMax) return this.#drop('connections-max');
    const info: TcpConnInfo = { localAddr: dst, localPort: seg.dstPort, remoteAddr: src, remotePort: seg.srcPort };
    const c = new Tcb(this.#tcbOps, this.config, info, true, {});
    c.state = 'LISTEN';
    c.listener = l;
    l.children.add(c);
    this.#conns.set(c.key, c);
    this.#counters.passiveOpens++;
    this.#initSend(c, this.#rng.u32());
    c.ourMss = this.#ourMss(src);
    this.#initReceive(c, seg);
    this.#transition(c, 'syn');
    this.#dirty.add(c); // SYN,ACK
  }

  #synSentInput(c: Tcb, seg: TcpSegment): void {
    const f = seg.flags;
    const hasAck = (f & TCP_FLAG.ack) !== 0;
    if (hasAck && (seqLe(seg.ack, c.iss) || seqGt(seg.ack, c.sndMax))) {
      if ((f & TCP_FLAG.rst) === 0) this.#sendReset(c.localAddr, c.remoteAddr, c.localPort, c.remotePort, seg.ack, 0, false);
      return this.#drop('bad-ack');
    }
    if ((f & TCP_FLAG.rst) !== 0) {
      if (!hasAck) return this.#drop('syn-sent-junk');
      this.#counters.resetsReceived++;
      return this.#destroy(c, 'refused');
    }
    if ((f & TCP_FLAG.syn) === 0) return this.#drop('syn-sent-junk');
    this.#initReceive(c, seg);
    if (hasAck) {
      c.sndWl1 = seg.seq;
      c.sndWl2 = seg.ack;
      this.#ackOfSyn(c, seg.ack, seg.window); // a SYN's window is never scaled
      this.#transition(c, 'syn-ack');
      this.#established(c);
      c.ackNow = true;
      this.#dirty.add(c);
    } else {
      // Simultaneous open: answer with SYN,ACK (the same ISS).
      this.#transition(c, 'syn');
      c.sndNxt = c.iss;
      this.#dirty.add(c);
    }
  }

  /** IRS, RCV.NXT and the peer's SYN options. */
  #initReceive(c: Tcb, seg: TcpSegment): void {
    c.irs = seg.seq;
    c.rcvNxt = seqAdd(seg.seq, 1);
    c.rcvAdv = c.rcvNxt;
    const o = synOptions(seg);
    const mss = o.mss ?? TCP_DEFAULT_PEER_MSS;
    c.smss = Math.max(TCP_MSS_MIN, Math.min(mss, c.ourMss));
    c.peerWindowShift = this.config.windowScaling ? o.windowShift : undefined;
    if (c.peerWindowShift !== undefined) {
      c.sndShift = c.peerWindowShift;
      c.rcvShift = c.rcvShiftOffer;
    }
    c.sndWnd = seg.window; // never scaled in a SYN
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = seg.seq;
  }

  #initSend(c: Tcb, iss: number): void {
    c.iss = iss >>> 0;
    c.sndUna = c.iss;
    c.sndNxt = c.iss;
    c.sndMax = c.iss;
    c.bufSeq = seqAdd(c.iss, 1);
    c.recover = c.iss;
    c.sndSml = c.iss;
  }

  #ourMss(remote: Ipv4Addr): number {
    return Math.max(TCP_MSS_MIN, this.#env.mtuTo(remote) - TCP_IP_HEADERS_BYTES);
  }

  /** The ACK of our SYN arrived: RTT sample, SND.UNA, the peer's window (`wnd`, in bytes). */
  #ackOfSyn(c: Tcb, ack: number, wnd: number): void {
    if (c.timing && seqGt(ack, c.timedSeq)) this.#rttSample(c);
    c.sndUna = ack;
    if (seqLt(c.sndNxt, c.sndUna)) c.sndNxt = c.sndUna;
    c.sndWnd = wnd;
    c.maxSndWnd = Math.max(c.maxSndWnd, c.sndWnd);
    c.retries = 0;
    c.backoff = 0;
    this.#clearTimer(c, 'retransmit');
  }

  /** The handshake completed (we are ESTABLISHED). */
  #established(c: Tcb): void {
    this.#counters.established++;
    c.cwnd = (c.synRetransmitted ? 1 : this.config.initialCwndSegments) * c.smss;
    if (c.passive) {
      const l = c.listener;
      if (l !== undefined && !l.closed) {
        if (l.onAccept !== undefined) {
          this.#markAccepted(l, c);
          this.#queue({ kind: 'accept', conn: c, listener: l });
        } else {
          l.queue.push(c);
        }
      }
    } else {
      this.#queue({ kind: 'established', conn: c });
    }
    if (c.finQueued) this.#transition(c, 'close'); // close() while in SYN_RECEIVED
  }

  /** Whether a segment of `len` sequence numbers at `seq` overlaps the receive window (RFC 9293 3.10.7.4). */
  #acceptable(c: Tcb, seq: number, len: number): boolean {
    const wnd = Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt));
    const d = seqDiff(seq, c.rcvNxt);
    // A zero window still takes ACKs (and RSTs) at RCV.NXT; the data is trimmed away below.
    if (len === 0 || wnd === 0) return wnd === 0 ? d === 0 : d >= 0 && d < wnd;
    const dEnd = d + len - 1;
    return (d >= 0 && d < wnd) || (dEnd >= 0 && dEnd < wnd);
  }

  #synchronizedInput(c: Tcb, seg: TcpSegment): void {
    const f = seg.flags;
    let seq = seg.seq;
    let syn = (f & TCP_FLAG.syn) !== 0;
    let fin = (f & TCP_FLAG.fin) !== 0;
    const rst = (f & TCP_FLAG.rst) !== 0;
    const hasAck = (f & TCP_FLAG.ack) !== 0;
    let data = seg.payload;

    if (c.state === 'SYN_RECEIVED' && syn && !rst && seq === c.irs) {
      if (!hasAck) {
        // The peer retransmitted its SYN: our SYN,ACK was lost. Send it again (Linux).
        c.sndNxt = c.iss;
        this.#dirty.add(c);
        return;
      }
      // SYN,ACK of a simultaneous open: the SYN is old news, the ACK is not.
      syn = false;
      seq = seqAdd(seq, 1);
    }
    if (c.state === 'FIN_WAIT_2') this.#setTimer(c, 'finWait2', this.config.finWait2Timeout);

    // 1. Sequence number.
    const segLen = data.length + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (!this.#acceptable(c, seq, segLen)) {
      if (rst) return this.#drop('out-of-window');
      c.ackNow = true;
      this.#dirty.add(c);
      // A retransmitted FIN in TIME_WAIT: ACK it and restart 2 MSL.
      if (c.state === 'TIME_WAIT' && fin) this.#setTimer(c, 'timeWait', 2 * this.config.msl);
      this.#drop('out-of-window');
      // Wholly old (a go-back-N retransmission, or an ACK from a sender that rewound SND.NXT):
      // its text is a duplicate but its ACK field is news (BSD tcp_input keeps processing it).
      const whollyOld = seqLe(seqAdd(seq, segLen), c.rcvNxt);
      if (whollyOld && hasAck && !syn && c.state !== 'SYN_RECEIVED') this.#ackStep(c, seq, seg.ack, seg.window, segLen > 0);
      return;
    }

    // 2. RST: only at exactly RCV.NXT; elsewhere in the window, a challenge ACK (RFC 5961 3.2).
    if (rst) {
      if (seq !== c.rcvNxt) {
        c.ackNow = true;
        this.#dirty.add(c);
        return this.#drop('rst-challenged');
      }
      this.#counters.resetsReceived++;
      return this.#onReset(c);
    }

    // 4. SYN in a synchronized state: challenge ACK (RFC 5961 4.2).
    if (syn) {
      c.ackNow = true;
      this.#dirty.add(c);
      return this.#drop('syn-challenged');
    }

    // 5. ACK.
    if (!hasAck) return this.#drop('no-ack');
    if (c.state === 'SYN_RECEIVED') {
      if (!(seqLt(c.sndUna, seg.ack) && seqLe(seg.ack, c.sndMax))) {
        this.#sendReset(c.localAddr, c.remoteAddr, c.localPort, c.remotePort, seg.ack, 0, false);
        return this.#drop('bad-ack');
      }
      c.sndWl1 = seq;
      c.sndWl2 = seg.ack;
      this.#ackOfSyn(c, seg.ack, seg.window * 2 ** c.sndShift);
      this.#transition(c, 'ack-of-syn');
      this.#established(c);
    }
    if (!this.#ackStep(c, seq, seg.ack, seg.window, data.length > 0 || fin)) return;

    // 7. Segment text, trimmed to the window.
    if (data.length === 0 && !fin) return;
    const old = seqDiff(c.rcvNxt, seq);
    if (old > 0) {
      if (old > data.length) fin = false; // the FIN was received before too
      data = data.subarray(Math.min(old, data.length));
      seq = c.rcvNxt;
      c.ackNow = true;
    }
    const room = Math.max(0, seqDiff(c.rcvAdv, seq));
    if (data.length > room) {
      data = data.subarray(0, room);
      fin = false;
      c.ackNow = true; // a window probe or an overrun: tell the peer where we are
    }
    if (data.length === 0 && !fin) {
      this.#dirty.add(c);
      return;
    }
    if (!RECEIVE_STATES.has(c.state)) {
      c.ackNow = true;
      this.#dirty.add(c);
      return this.#drop('after-fin');
    }
    if (seq !== c.rcvNxt) {
      // Out of order: keep it and send a duplicate ACK at once (RFC 5681 4.2).
      if (!c.reasm.insert(seq, data, fin)) this.#drop('reassembly-full');
      c.ackNow = true;
      this.#dirty.add(c);
      return;
    }
    const filledHole = c.reasm.size > 0;
    if (data.length > 0) this.#appendInOrder(c, data.slice());
    let finNow = fin;
    if (!finNow && filledHole) {
      const more = c.reasm.take(c.rcvNxt);
      for (const chunk of more.chunks) this.#appendInOrder(c, chunk);
      finNow = more.fin;
    }
    if (filledHole || finNow) c.ackNow = true;
    else if (data.length > 0) this.#delayAck(c, data.length);
    if (finNow) this.#finArrived(c);
    this.#dirty.add(c);
  }

  #appendInOrder(c: Tcb, chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    c.recvChunks.push(chunk);
    c.recvBytes += chunk.length;
    c.rcvNxt = seqAdd(c.rcvNxt, chunk.length);
    c.bytesReceived += chunk.length;
    this.#queueReadable(c);
  }

  /** ACK every second full-sized segment, else within `delayedAckTimeout` (RFC 1122 4.2.3.2). */
  #delayAck(c: Tcb, len: number): void {
    c.ackPendingBytes += len;
    if (this.config.delayedAckTimeout === 0 || c.ackPendingBytes >= 2 * c.smss) c.ackNow = true;
    else if (!c.timers.isArmed('delayedAck')) this.#setTimer(c, 'delayedAck', this.config.delayedAckTimeout);
  }

  #finArrived(c: Tcb): void {
    c.rcvNxt = seqAdd(c.rcvNxt, 1);
    c.finReceived = true;
    c.reasm.clear();
    c.ackNow = true;
    this.#queueReadable(c);
    this.#transition(c, 'fin');
  }

  #onReset(c: Tcb): void {
    switch (c.state) {
      case 'SYN_RECEIVED':
        // Passive: the half-open connection just goes (the listener stays). Active: refused.
        return this.#destroy(c, c.passive ? undefined : 'refused');
      case 'ESTABLISHED':
      case 'FIN_WAIT_1':
      case 'FIN_WAIT_2':
      case 'CLOSE_WAIT':
      case 'CLOSING':
      case 'LAST_ACK':
        return this.#destroy(c, 'reset');
      case 'TIME_WAIT':
        return this.#destroy(c, undefined);
      case 'CLOSED':
      case 'LISTEN':
      case 'SYN_SENT':
        assert(false, `RST handled by the synchronized path in ${c.state}`);
        return;
      default:
        assertNever(c.state, 'tcp state');
    }
  }

  /**
   * The ACK field in ESTABLISHED and later states, with the transitions an ACK of our FIN makes.
   * False when the segment is finished with (dropped, or the connection closed).
   */
  #ackStep(c: Tcb, seq: number, ack: number, window: number, carriesData: boolean): boolean {
    if (seqGt(ack, c.sndMax)) {
      c.ackNow = true;
      this.#dirty.add(c);
      this.#drop('ack-unsent');
      return false;
    }
    this.#processAck(c, seq, ack, window, carriesData);
    if (c.finAcked) {
      if (c.state === 'FIN_WAIT_1' || c.state === 'CLOSING') this.#transition(c, 'ack-of-fin');
      else if (c.state === 'LAST_ACK') {
        this.#transition(c, 'ack-of-fin');
        this.#destroy(c, 'normal');
        return false;
      }
    }
    return true;
  }

  /** ACK field processing (RFC 9293 3.10.7.4 fifth, RFC 5681, RFC 6582). */
  #processAck(c: Tcb, seq: number, ack: number, window: number, carriesData: boolean): void {
    const acked = seqDiff(ack, c.sndUna);
    if (acked < 0) return; // an old duplicate: ignore the ACK, process the text
    const wnd = window * 2 ** c.sndShift;
    if (acked === 0) {
      if (!carriesData && wnd === c.sndWnd && c.flight > 0) this.#onDupAck(c, ack);
    } else {
      this.#onNewAck(c, ack, acked);
    }
    if (seqLt(c.sndWl1, seq) || (c.sndWl1 === seq && seqLe(c.sndWl2, ack))) {
      const opened = c.sndWnd === 0 && wnd > 0;
      c.sndWnd = wnd;
      c.sndWl1 = seq;
      c.sndWl2 = ack;
      c.maxSndWnd = Math.max(c.maxSndWnd, wnd);
      if (opened) {
        this.#clearTimer(c, 'persist');
        c.persistBackoff = 0;
      }
    }
    // Any ACK answers our zero-window probes: the peer is alive.
    c.probesOut = 0;
    this.#dirty.add(c);
  }

  #onDupAck(c: Tcb, ack: number): void {
    c.dupAcks++;
    c.dupAcksReceived++;
    const smss = c.smss;
    if (c.inRecovery) {
      c.cwnd = Math.min(c.cwnd + smss, TCP_CWND_MAX); // inflate: one segment left the network
      return;
    }
    if (c.dupAcks !== TCP_DUPACK_THRESHOLD) return;
    // After an RTO, duplicate ACKs for data sent before it do not start a recovery (RFC 6582 3.2;
    // `recover` is exclusive here: the SND.MAX of the time).
    if (this.config.congestionControl === 'newreno' && seqLt(ack, c.recover)) return;
    c.ssthresh = Math.max(Math.floor(c.flight / 2), 2 * smss);
    c.recover = c.sndMax;
    c.cwnd = c.ssthresh + TCP_DUPACK_THRESHOLD * smss;
    c.inRecovery = true;
    c.rexmtHead = true;
    c.fastRetransmits++;
    this.#counters.fastRetransmits++;
  }

  #onNewAck(c: Tcb, ack: number, acked: number): void {
    const flightBefore = c.flight;
    if (c.timing && seqGt(ack, c.timedSeq)) this.#rttSample(c);
    // Free acknowledged data (the SYN and FIN are not in the buffer).
    const dataAcked = Math.max(0, Math.min(seqDiff(ack, c.bufSeq), c.sendBuf.length));
    c.sendBuf.drop(dataAcked);
    c.bufSeq = seqAdd(c.bufSeq, dataAcked);
    c.bytesAcked += dataAcked;
    c.sndUna = ack;
    if (seqLt(c.sndNxt, c.sndUna)) c.sndNxt = c.sndUna;
    c.retries = 0;
    c.backoff = 0;

    const smss = c.smss;
    if (c.inRecovery) {
      if (this.config.congestionControl === 'reno' || seqGe(ack, c.recover)) {
        c.cwnd = c.ssthresh; // full ACK (or Reno): deflate and leave fast recovery
        c.inRecovery = false;
      } else {
        // NewReno partial ACK: retransmit the next hole, deflate by what left, add one segment.
        c.cwnd = Math.max(c.cwnd - acked + (acked >= smss ? smss : 0), smss);
        c.rexmtHead = true;
      }
    } else if (flightBefore * 2 >= c.cwnd) {
      // Slow start (RFC 5681 3.1, L = 1 SMSS) or congestion avoidance; only while cwnd limits us.
      if (c.cwnd < c.ssthresh) c.cwnd += Math.min(acked, smss);
      else c.cwnd += Math.max(1, Math.floor((smss * smss) / c.cwnd));
      c.cwnd = Math.min(c.cwnd, TCP_CWND_MAX);
    }
    c.dupAcks = 0;

    if (c.sndUna === c.sndMax) this.#clearTimer(c, 'retransmit');
    else this.#setTimer(c, 'retransmit', c.rtoNow); // RFC 6298 5.3
    if (c.wantSpace && c.sendSpace >= this.config.sendBufferMax / 2) {
      c.wantSpace = false;
      this.#queue({ kind: 'send-space', conn: c });
    }
  }

  /** RFC 6298 2.2-2.4, in µs. */
  #rttSample(c: Tcb): void {
    c.timing = false;
    const r = Math.max(1, this.#env.now() - c.timedAt);
    if (c.srtt === undefined || c.rttvar === undefined) {
      c.srtt = r;
      c.rttvar = r / 2;
    } else {
      c.rttvar = 0.75 * c.rttvar + 0.25 * Math.abs(c.srtt - r);
      c.srtt = 0.875 * c.srtt + 0.125 * r;
    }
    const rto = Math.round(c.srtt + Math.max(TCP_RTO_GRANULARITY, 4 * c.rttvar));
    c.rtoBase = Math.min(Math.max(rto, this.config.rtoMin), this.config.rtoMax);
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  #onRetransmitTimeout(c: Tcb): void {
    if (c.flight === 0) return;
    const limit = c.state === 'SYN_SENT'
      ? this.config.synRetriesMax
      : c.state === 'SYN_RECEIVED'
        ? this.config.synAckRetriesMax
        : this.config.retriesMax;
    if (c.retries >= limit) {
      if (c.state === 'SYN_RECEIVED' && c.passive) {
        this.#counters.synAckTimeouts++;
        return this.#destroy(c, undefined);
      }
      return this.#destroy(c, 'timeout');
    }
    c.retries++;
    c.timeouts++;
    this.#counters.timeouts++;
    c.backoff = Math.min(c.backoff + 1, TCP_BACKOFF_SHIFT_MAX);
    c.timing = false; // Karn: no sample from a retransmitted segment
    if (c.state === 'SYN_SENT' || c.state === 'SYN_RECEIVED') {
      c.synRetransmitted = true;
      c.sndNxt = c.iss;
    } else {
      // RFC 5681 3.1 (4): one segment, and remember what was outstanding (RFC 6582 recover).
      c.ssthresh = Math.max(Math.floor(c.flight / 2), 2 * c.smss);
      c.cwnd = c.smss;
      c.inRecovery = false;
      c.dupAcks = 0;
      c.recover = c.sndMax;
      c.rexmtHead = false;
      c.sndNxt = c.sndUna; // go back N
    }
    this.#dirty.add(c);
  }

  #onPersistTimeout(c: Tcb): void {
    if (c.probesOut >= this.config.retriesMax) return this.#destroy(c, 'timeout');
    c.probesOut++;
    c.persistBackoff = Math.min(c.persistBackoff + 1, TCP_BACKOFF_SHIFT_MAX);
    c.probe = true;
    this.#dirty.add(c);
  }

  // -------------------------------------------------------------------------------------------
  // Output (BSD tcp_output): the one place that decides what a connection sends.

  #output(c: Tcb): void {
    if (c.state === 'CLOSED' || c.state === 'LISTEN') return;
    if (c.rexmtHead) {
      c.rexmtHead = false;
      this.#retransmitHead(c);
    }
    let force = false;
    if (c.probe) {
      c.probe = false;
      const usable = Math.min(c.sndWnd, c.cwnd) - seqDiff(c.sndNxt, c.sndUna);
      // A window too small to be worth a segment: send what fits (BSD t_force). A shut window:
      // Linux's probe, an old sequence number the peer must answer with an ACK.
      if (usable > 0 && this.#unsent(c) > 0) force = true;
      else this.#transmit(c, seqAdd(c.sndUna, -1), 0, 0, TCP_FLAG.ack);
    }
    for (let n = 0; n < TCP_OUTPUT_SEGMENTS_PER_CALL_MAX; n++) {
      if (!this.#outputOne(c, force)) break;
      force = false;
    }
    // Data held back by the peer's window with nothing in flight to clock it out: persist.
    if (
      DATA_SEND_STATES.has(c.state) && this.#unsent(c) > 0 &&
      !c.timers.isArmed('retransmit') && !c.timers.isArmed('persist')
    ) {
      const d = Math.min(Math.max(c.rtoNow, this.config.rtoMin) * 2 ** c.persistBackoff, this.config.rtoMax);
      this.#setTimer(c, 'persist', d);
    }
    this.#rearm(c);
    this.#checkInvariants(c);
  }

  /** Always-on checks of the TCB (STYLE 2: our own bugs crash). */
  #checkInvariants(c: Tcb): void {
    assert(seqLe(c.sndUna, c.sndNxt) && seqLe(c.sndNxt, c.sndMax), `tcp: SND.UNA ${c.sndUna} <= SND.NXT ${c.sndNxt} <= SND.MAX ${c.sndMax}`);
    assert(seqLe(c.sndMax, seqAdd(c.finSeq, c.finQueued ? 1 : 0)), 'tcp: sent beyond the data (and FIN)');
    assert(seqLe(c.bufSeq, seqAdd(c.sndUna, 1)), 'tcp: the send buffer lost unacknowledged bytes');
    assert(c.recvBytes <= this.config.recvBufferMax, `tcp: receive buffer ${c.recvBytes} > ${this.config.recvBufferMax}`);
    assert(c.reasm.size <= this.config.reassemblySegmentsMax, 'tcp: reassembly queue over its bound');
    assert(c.cwnd >= 0 && c.cwnd <= TCP_CWND_MAX, `tcp: cwnd ${c.cwnd}`);
  }

  /** RFC 5681 4.1: after an RTO without sending data, start again from the initial window. */
  #restartAfterIdle(c: Tcb): void {
    if (c.flight > 0 || this.#env.now() - c.lastDataSentAt < c.rtoNow) return;
    c.cwnd = Math.min(c.cwnd, this.config.initialCwndSegments * c.smss);
  }

  /** Bytes in the send buffer at or after SND.NXT. */
  #unsent(c: Tcb): number {
    return c.sendBuf.length - Math.max(0, seqDiff(c.sndNxt, c.bufSeq));
  }

  /** Decide on, and send, the next segment; false when there is nothing to send. */
  #outputOne(c: Tcb, force: boolean): boolean {
    let flags = OUTPUT_FLAGS[c.state];
    const synDue = (flags & TCP_FLAG.syn) !== 0 && c.sndNxt === c.iss;
    if (!synDue) flags &= ~TCP_FLAG.syn;
    if (flags === 0) return false; // SYN_SENT with the SYN out: nothing to say until the peer answers
    const buffered = c.sendBuf.length;
    const off = seqDiff(c.sndNxt, c.bufSeq);
    let len = 0;
    if (!synDue && DATA_SEND_STATES.has(c.state) && off >= 0) {
      this.#restartAfterIdle(c);
      const win = Math.min(c.sndWnd, c.cwnd);
      const usable = win - seqDiff(c.sndNxt, c.sndUna);
      len = Math.max(0, Math.min(buffered - off, usable, c.smss));
    }
    const allData = off >= 0 && off + len === buffered;
    const finDue = (flags & TCP_FLAG.fin) !== 0 && c.finQueued && allData && c.sndNxt === c.finSeq;
    if (!finDue) flags &= ~TCP_FLAG.fin;

    let send = synDue || finDue;
    if (!send && len > 0) {
      const retransmitting = seqLt(c.sndNxt, c.sndMax);
      // Nagle, Minshall's way (Linux): a short segment waits only while another short one is unacknowledged.
      const smallInFlight = seqGt(c.sndSml, c.sndUna);
      send = len === c.smss || retransmitting || force ||
        (allData && (!smallInFlight || !this.config.nagle || c.finQueued)) ||
        (c.maxSndWnd > 0 && len >= c.maxSndWnd / 2);
    }
    if (!send && c.ackNow) send = true;
    if (!send && this.#windowUpdateDue(c)) send = true;
    if (!send) return false;

    const seq = synDue ? c.iss : len === 0 && !finDue ? this.#acceptableSeq(c) : c.sndNxt;
    const segLen = this.#transmit(c, seq, Math.max(0, off), len, flags);
    if (segLen > 0) {
      c.sndNxt = seqAdd(seq, segLen);
      if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
    }
    return true;
  }

  /**
   * SEQ for a segment without data, SYN or FIN: SND.MAX (SND.NXT may have been rewound by go-back-N,
   * and an old SEQ would be unacceptable to the peer), but not past the peer's window (Linux
   * tcp_acceptable_seq).
   */
  #acceptableSeq(c: Tcb): number {
    const windowEnd = seqAdd(c.sndUna, c.sndWnd);
    return seqLe(c.sndMax, windowEnd) ? c.sndMax : windowEnd;
  }

  /** Fast retransmit / NewReno partial ACK: resend one segment at SND.UNA, SND.NXT unchanged. */
  #retransmitHead(c: Tcb): void {
    if (c.flight === 0 || !DATA_SEND_STATES.has(c.state)) return;
    const off = seqDiff(c.sndUna, c.bufSeq);
    if (off < 0) return;
    const outstandingData = Math.max(0, Math.min(seqDiff(c.sndMax, c.sndUna), c.sendBuf.length - off));
    const len = Math.min(outstandingData, c.smss);
    let flags = TCP_FLAG.ack;
    if (c.finQueued && off + len === c.sendBuf.length && seqGt(c.sndMax, c.finSeq)) flags |= TCP_FLAG.fin;
    if (len === 0 && (flags & TCP_FLAG.fin) === 0) return;
    this.#transmit(c, c.sndUna, off, len, flags);
    this.#setTimer(c, 'retransmit', c.rtoNow);
  }

  /** The window grew enough since we last advertised it to be worth a segment (BSD). */
  #windowUpdateDue(c: Tcb): boolean {
    if (!RECEIVE_STATES.has(c.state)) return false;
    const advertised = Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt));
    const grow = this.#receiveWindow(c) - advertised;
    return grow >= 2 * c.smss || 2 * grow >= this.config.recvBufferMax;
  }

  /**
   * The window to offer now: the free receive buffer, but never less than what we advertised
   * (no shrinking), and not grown by less than min(buffer / 2, MSS) (receiver SWS avoidance,
   * RFC 1122 4.2.3.3). Rounded down to the window-scale granularity.
   */
  #receiveWindow(c: Tcb): number {
    const free = Math.max(0, this.config.recvBufferMax - c.recvBytes);
    const advertised = Math.max(0, seqDiff(c.rcvAdv, c.rcvNxt));
    const unit = 2 ** c.rcvShift;
    let win = free < advertised || free - advertised < Math.min(this.config.recvBufferMax / 2, c.smss) ? advertised : free;
    win = Math.min(win, TCP_WINDOW_FIELD_MAX * unit);
    return Math.floor(win / unit) * unit;
  }

  /**
   * Build and hand one segment to the host; returns the sequence space it used. Every segment a
   * connection sends, but a RST, goes through here.
   */
  #transmit(c: Tcb, seq: number, off: number, len: number, baseFlags: number): number {
    let flags = baseFlags;
    const syn = (flags & TCP_FLAG.syn) !== 0;
    const fin = (flags & TCP_FLAG.fin) !== 0;
    const payload = len > 0 ? c.sendBuf.copy(off, len) : EMPTY;
    if (len > 0 && off + len === c.sendBuf.length) flags |= TCP_FLAG.psh;
    const options: TcpOption[] = [];
    let window: number;
    if (syn) {
      options.push({ kind: 'mss', value: Math.min(c.ourMss, TCP_WINDOW_FIELD_MAX) });
      const offerScale = this.config.windowScaling && (c.state === 'SYN_SENT' || c.peerWindowShift !== undefined);
      if (offerScale) options.push({ kind: 'nop' }, { kind: 'window-scale', shift: c.rcvShiftOffer });
      window = Math.min(Math.max(0, this.config.recvBufferMax - c.recvBytes), TCP_WINDOW_FIELD_MAX);
      c.rcvAdv = seqAdd(c.rcvNxt, window);
    } else {
      const win = this.#receiveWindow(c);
      window = win / 2 ** c.rcvShift;
      const edge = seqAdd(c.rcvNxt, win);
      if (seqGt(edge, c.rcvAdv)) c.rcvAdv = edge;
    }
    assert(Number.isInteger(window) && window >= 0 && window <= TCP_WINDOW_FIELD_MAX, `window field ${window}`);
    const seg: TcpSegment = {
      srcPort: c.localPort,
      dstPort: c.remotePort,
      seq: seq >>> 0,
      ack: (flags & TCP_FLAG.ack) !== 0 ? c.rcvNxt : 0,
      flags,
      window,
      urgentPointer: 0,
      options,
      payload,
    };
    const segLen = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (segLen > 0) {
      const retransmission = seqLt(seq, c.sndMax);
      if (retransmission) {
        c.retransmissions++;
        c.bytesRetransmitted += len;
        this.#counters.retransmissions++;
        if (c.timing && seqGe(c.timedSeq, seq) && seqLt(c.timedSeq, seqAdd(seq, segLen))) c.timing = false; // Karn
      } else {
        c.bytesSent += len;
        if (len > 0 && len < c.smss) c.sndSml = seqAdd(seq, len);
        if (!c.timing) {
          c.timing = true;
          c.timedSeq = seq;
          c.timedAt = this.#env.now();
        }
      }
      if (!c.timers.isArmed('retransmit')) this.#setTimer(c, 'retransmit', c.rtoNow);
      this.#clearTimer(c, 'persist');
    }
    if ((flags & TCP_FLAG.ack) !== 0) {
      c.ackNow = false;
      c.ackPendingBytes = 0;
      this.#clearTimer(c, 'delayedAck');
    }
    if (len > 0) c.lastDataSentAt = this.#env.now();
    c.segmentsSent++;
    this.#counters.segmentsOut++;
    this.#env.output(c.localAddr, c.remoteAddr, seg);
    return segLen;
  }

  #sendReset(src: Ipv4Addr, dst: Ipv4Addr, srcPort: number, dstPort: number, seq: number, ack: number, withAck: boolean): void {
    this.#counters.resetsSent++;
    this.#counters.segmentsOut++;
    this.#env.output(src, dst, {
      srcPort,
      dstPort,
      seq: seq >>> 0,
      ack: withAck ? ack >>> 0 : 0,
      flags: TCP_FLAG.rst | (withAck ? TCP_FLAG.ack : 0),
      window: 0,
      urgentPointer: 0,
      options: [],
      payload: EMPTY,
    });
  }

  #ephemeralPort(localAddr: Ipv4Addr, remoteAddr: Ipv4Addr, remotePort: number): number | undefined {
    const lo = this.config.ephemeralPortMin;
    const n = this.config.ephemeralPortMax - lo + 1;
    if (this.#portCursor === undefined) this.#portCursor = this.#rng.int(0, n - 1);
    for (let i = 0; i < n; i++) {
      const port = lo + ((this.#portCursor + i) % n);
      if (this.#conns.has(connKey(localAddr, port, remoteAddr, remotePort))) continue;
      if (this.#listeners.has(listenerKey(localAddr, port)) || this.#listeners.has(listenerKey('any', port))) continue;
      this.#portCursor = (this.#portCursor + i + 1) % n;
      return port;
    }
    return undefined;
  }
}
