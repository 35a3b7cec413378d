/**
 * ICMP echo from the client itself (no `ping` process): the kernel's unprivileged ICMP datagram
 * socket, socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), through koffi (libc), as `afpacket.ts` does
 * for AF_PACKET. It needs the caller's group in net.ipv4.ping_group_range (the lab sets the range
 * in every host namespace); where that is refused, a raw ICMP socket (SOCK_RAW, root) does the same.
 *
 * Echo requests carry this socket's id and a sequence number; replies are matched by both. The
 * round trip is timed with the monotonic clock (process.hrtime): stamped just before sendto and
 * when the blocking recvfrom (run on libuv's thread pool by koffi's async call, 100 ms receive
 * timeout so it can stop) hands the reply back. With the datagram socket the kernel drops ICMP
 * errors for an unconnected socket, so an unreachable target is a timeout; the raw socket sees the
 * destination-unreachable and time-exceeded messages and reports them as 'unreachable'.
 */
import koffi from 'koffi';
import { libcCore, type LibcCore } from './libc.ts';
import { monotonicUs } from './engine-worker.ts';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_ICMP = 1;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const ECHO_REPLY = 0;
const ECHO_REQUEST = 8;
const DEST_UNREACHABLE = 3;
const TIME_EXCEEDED = 11;
const RX_MAX = 65_536;
/** The receive loop wakes this often (ms) to see whether the pinger was closed. */
const RX_TIMEOUT_MS = 100;

export type PingStatus = 'ok' | 'timeout' | 'unreachable' | 'error';
export interface PingResult {
  readonly status: PingStatus;
  /** Echo data bytes received (ok). */
  readonly bytes?: number;
  /** Round trip in µs, monotonic, send to reply (ok). */
  readonly rttUs?: number;
}

interface IcmpLibc extends LibcCore {
  getsockname: (fd: number, addr: Uint8Array, len: Uint8Array) => number;
  sendto: (fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, alen: number) => number;
  recvfrom: ReturnType<ReturnType<typeof koffi.load>['func']>;
}

let libc: IcmpLibc | undefined;
function load(): IcmpLibc {
  if (libc !== undefined) return libc;
  const c = libcCore();
  const lib = c.lib;
  libc = {
    ...c,
    getsockname: lib.func('int getsockname(int, void *, void *)'),
    sendto: lib.func('intptr_t sendto(int, void *, size_t, int, void *, uint32_t)'),
    recvfrom: lib.func('intptr_t recvfrom(int, void *, size_t, int, void *, void *)'),
  };
  return libc;
}

function sockaddrIn(addr: number, port = 0): Uint8Array {
  const sa = new Uint8Array(16);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port);
  v.setUint32(4, addr >>> 0);
  return sa;
}

/** The Internet checksum of `b`. */
export function inetChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2 === 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

interface Pending {
  readonly sentUs: number;
  readonly done: (r: PingResult) => void;
  readonly timer: NodeJS.Timeout;
}

/** One ICMP echo socket; `ping` any number of times concurrently, then `close`. */
export class Pinger {
  readonly fd: number;
  /** 'dgram': the unprivileged datagram socket; 'raw': SOCK_RAW (root). */
  readonly mode: 'dgram' | 'raw';
  readonly id: number;
  /** Replies matched, and replies (or errors) that matched no request in flight. */
  readonly stats = { sent: 0, matched: 0, unmatched: 0 };
  readonly #pending = new Map<number, Pending>();
  readonly #rx = new Uint8Array(RX_MAX);
  #seq = 0;
  #closed = false;
  #receiving = false;

  /** Open the socket (throws an Error saying what to set when neither kind may be opened). */
  constructor(id = process.pid & 0xffff) {
    const c = load();
    let fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
    let mode: 'dgram' | 'raw' = 'dgram';
    if (fd < 0) {
      const dgramErr = c.errno();
      fd = c.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
      if (fd < 0) {
        const rawErr = c.errno();
        throw new Error(
          `cannot open an ICMP socket: SOCK_DGRAM: ${c.strerror(dgramErr)} (allow this group: sysctl -w net.ipv4.ping_group_range="0 2147483647"); SOCK_RAW: ${c.strerror(rawErr)} (needs root or CAP_NET_RAW)`,
        );
      }
      mode = 'raw';
    }
    this.fd = fd;
    this.mode = mode;
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(8, BigInt(RX_TIMEOUT_MS * 1000), true);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    if (mode === 'dgram') {
      // The kernel puts the socket's port in the echo id: bind to get one, and read it back.
      if (c.bind(fd, sockaddrIn(0, 0), 16) < 0) {
        const e = c.errno();
        c.close(fd);
        throw new Error(`bind(ICMP socket): ${c.strerror(e)}`);
      }
      const sa = new Uint8Array(16);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, 16, true);
      c.getsockname(fd, sa, len);
      this.id = new DataView(sa.buffer).getUint16(2);
    } else this.id = id & 0xffff;
  }

  /** One echo request of `size` data bytes to `dst` (an IPv4 address as a u32). */
  ping(dst: number, size: number, timeoutMs: number): Promise<PingResult> {
    if (this.#closed) return Promise.resolve({ status: 'error' });
    const c = load();
    const seq = this.#seq++ & 0xffff;
    const pkt = new Uint8Array(8 + size);
    const v = new DataView(pkt.buffer);
    v.setUint8(0, ECHO_REQUEST);
    v.setUint16(4, this.id);
    v.setUint16(6, seq);
    for (let i = 8; i < pkt.length; i++) pkt[i] = i & 0xff;
    v.setUint16(2, inetChecksum(pkt));
    return new Promise<PingResult>((resolve) => {
      // A seq still in flight after 65536 more requests has timed out.
      this.#settle(seq, { status: 'timeout' });
      const timer = setTimeout(() => this.#settle(seq, { status: 'timeout' }), timeoutMs);
      const sentUs = monotonicUs();
      this.#pending.set(seq, { sentUs, done: resolve, timer });
      const n = c.sendto(this.fd, pkt, pkt.length, 0, sockaddrIn(dst), 16);
      if (n < 0) {
        const e = c.errno();
        // ENETUNREACH, EHOSTUNREACH: no route; anything else is an error.
        this.#settle(seq, { status: e === 101 || e === 113 ? 'unreachable' : 'error' });
        return;
      }
      this.stats.sent++;
      this.#receive();
    });
  }

  #settle(seq: number, r: PingResult): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    clearTimeout(p.timer);
    p.done(r);
  }

  /** Keep one blocking recvfrom on the thread pool while requests are in flight. */
  #receive(): void {
    if (this.#receiving || this.#closed || this.#pending.size === 0) return;
    this.#receiving = true;
    load().recvfrom.async(this.fd, this.#rx, RX_MAX, 0, null, null, (err: unknown, n: number) => {
      const now = monotonicUs();
      this.#receiving = false;
      if (this.#closed) return;
      if (err === null && n > 0) this.#packet(this.#rx.subarray(0, n), now);
      this.#receive();
    });
  }

  #packet(b: Uint8Array, now: number): void {
    let icmp = b;
    if (this.mode === 'raw') {
      if (b.length < 20) return;
      icmp = b.subarray((b[0]! & 0x0f) * 4);
    }
    if (icmp.length < 8) return;
    const v = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
    const type = v.getUint8(0);
    if (type === ECHO_REPLY) {
      if (v.getUint16(4) !== this.id) return; // (raw) another process's echo
      this.#match(v.getUint16(6), { status: 'ok', bytes: icmp.length - 8 }, now);
    } else if (this.mode === 'raw' && (type === DEST_UNREACHABLE || type === TIME_EXCEEDED) && icmp.length >= 8 + 20 + 8) {
      // The offending datagram's IP header and first 8 bytes: our echo's id and seq.
      const inner = icmp.subarray(8);
      const o = (inner[0]! & 0x0f) * 4;
      if (inner.length < o + 8 || inner[o] !== ECHO_REQUEST) return;
      const iv = new DataView(inner.buffer, inner.byteOffset + o, 8);
      if (iv.getUint16(4) !== this.id) return;
      this.#match(iv.getUint16(6), { status: 'unreachable' }, now);
    }
  }

  #match(seq: number, r: PingResult, now: number): void {
    const p = this.#pending.get(seq);
    if (p === undefined) {
      this.stats.unmatched++;
      return;
    }
    this.stats.matched++;
    this.#settle(seq, r.status === 'ok' ? { ...r, rttUs: now - p.sentUs } : r);
  }

  /** Fail what is in flight and close the socket (the receive loop stops within 100 ms). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const seq of [...this.#pending.keys()]) this.#settle(seq, { status: 'error' });
    // The fd is closed once a receive in flight has returned (closing it under a blocked
    // recvfrom could hand the number to another socket first).
    const fd = this.fd;
    const tryClose = () => (this.#receiving ? setTimeout(tryClose, RX_TIMEOUT_MS) : load().close(fd));
    tryClose();
  }
}
