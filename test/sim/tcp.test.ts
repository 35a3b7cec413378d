/**
 * TCP of the simulated hosts, driven through `TcpHarness` (two stacks, or a stack and raw
 * hosts, joined by simulated paths on a `Kernel`). Each test reads as the exchange it checks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  TCP_TRANSITIONS,
  tcpTransition,
  type TcpCloseReason,
  type TcpConnection,
  type TcpHandlers,
  type TcpOptions,
  type TcpStack,
} from '../../sim/host/tcp.ts';
import { TCP_STATES } from '../../sim/host/tcp-api.ts';
import { millis, seconds, type Duration, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import { TCP_FLAG, type TcpOption, type TcpSegment } from '../../src/wire/tcp.ts';
import { describeSegment, patternBytes, TcpHarness, type PathOptions, type SegmentRecord } from './tcp-harness.ts';

const A = '10.0.0.1';
const B = '10.0.0.2';
const PORT = 80;
const SHORT: TcpOptions = { msl: seconds(1) };

function pair(opts: TcpOptions = SHORT, path: PathOptions = { delay: millis(10) }, seed: number | string = 1) {
  const h = new TcpHarness(seed, path);
  const a = h.addStack('a', A, opts);
  const b = h.addStack('b', B, opts);
  return { h, a, b };
}

/** The state changes one host's connections went through (listeners left out). */
function transitions(h: TcpHarness, host: string): string[] {
  return h.states.filter((s) => s.host === host && !s.conn.endsWith('>0')).map((s) => `${s.from}>${s.to}`);
}

function segs(h: TcpHarness, src: string, dst: string): SegmentRecord[] {
  return h.log.filter((r) => r.src === ip(src) && r.dst === ip(dst));
}

function flagsOf(r: SegmentRecord): string {
  const f = r.seg.flags;
  const names: string[] = [];
  if (f & TCP_FLAG.syn) names.push('SYN');
  if (f & TCP_FLAG.fin) names.push('FIN');
  if (f & TCP_FLAG.rst) names.push('RST');
  if (f & TCP_FLAG.ack) names.push('ACK');
  return names.join('+');
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** An application endpoint: sends `data` (then closes, when `closeAfter`), records what it gets. */
class App {
  readonly received: Uint8Array[] = [];
  readonly events: string[] = [];
  closedReason: TcpCloseReason | undefined;
  closedAt: number | undefined;
  conn: TcpConnection | undefined;
  /** Pause reading for this long after every third chunk (a slow reader: zero windows). */
  readPause: Duration | undefined;
  #off = 0;
  #chunks = 0;

  constructor(
    readonly h: TcpHarness,
    readonly data: Uint8Array = new Uint8Array(0),
    readonly closeAfter: 'sent' | 'peer-closed' | 'never' = 'sent',
  ) {}

  get bytes(): Uint8Array {
    return concat(this.received);
  }

  readonly handlers: TcpHandlers = {
    onEstablished: (c) => {
      this.events.push('established');
      this.start(c);
    },
    onData: (d, c) => {
      this.received.push(d);
      if (this.readPause !== undefined && ++this.#chunks % 3 === 0) {
        c.pause();
        this.h.kernel.after(this.readPause, () => c.resume());
      }
    },
    onSendSpace: (c) => this.#pump(c),
    onPeerClosed: (c) => {
      this.events.push('peer-closed');
      if (this.closeAfter === 'peer-closed') c.close();
    },
    onClosed: (reason) => {
      this.events.push(`closed:${reason}`);
      this.closedReason = reason;
      this.closedAt = this.h.now;
    },
  };

  /** For an accepted connection: take it over and start sending. */
  readonly accept = (c: TcpConnection): void => {
    this.events.push('accepted');
    c.setHandlers(this.handlers);
    this.start(c);
  };

  start(c: TcpConnection): void {
    this.conn = c;
    this.#pump(c);
  }

  #pump(c: TcpConnection): void {
    if (this.#off < this.data.length) this.#off += c.send(this.data.subarray(this.#off));
    if (this.#off === this.data.length && this.closeAfter === 'sent') c.close();
  }
}

function connect(h: TcpHarness, stack: TcpStack, app: App, opts: { from?: string; to?: string; port?: number; localPort?: number } = {}) {
  const conn = stack.connect({
    localAddr: ip(opts.from ?? A),
    remoteAddr: ip(opts.to ?? B),
    remotePort: opts.port ?? PORT,
    handlers: app.handlers,
    ...(opts.localPort === undefined ? {} : { localPort: opts.localPort }),
  });
  app.conn = conn;
  return conn;
}

function rawSegment(p: Partial<TcpSegment> & { srcPort: number; dstPort: number }): TcpSegment {
  return { seq: 0, ack: 0, flags: 0, window: 65535, urgentPointer: 0, options: [], payload: new Uint8Array(0), ...p };
}

/** The sequence number after the last segment `src` sent to `dst` (its SND.NXT, when idle). */
function nextSeq(h: TcpHarness, src: string, dst: string): number {
  const all = segs(h, src, dst).filter((r) => (r.seg.flags & TCP_FLAG.rst) === 0);
  const last = all[all.length - 1] as SegmentRecord;
  const s = last.seg;
  return (s.seq + s.payload.length + (s.flags & TCP_FLAG.syn ? 1 : 0) + (s.flags & TCP_FLAG.fin ? 1 : 0)) >>> 0;
}

/** Times at which `src` sent a segment with this sequence number and payload. */
function sendTimes(h: TcpHarness, src: string, pred: (s: TcpSegment) => boolean): number[] {
  return h.log.filter((r) => r.src === ip(src) && pred(r.seg)).map((r) => r.t);
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

// ---------------------------------------------------------------------------------------------

describe('state machine table', () => {
  it('has a row for every state and only reaches states that exist', () => {
    for (const s of TCP_STATES) {
      const row = TCP_TRANSITIONS[s];
      for (const to of Object.values(row)) expect(TCP_STATES).toContain(to);
    }
    expect(tcpTransition('ESTABLISHED', 'close')).toBe('FIN_WAIT_1');
    expect(tcpTransition('FIN_WAIT_1', 'fin')).toBe('CLOSING');
    expect(tcpTransition('LISTEN', 'close')).toBeUndefined();
  });
});

describe('handshake and close', () => {
  it('active open, active close: SYN, SYN-ACK with MSS, ACK; FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT for 2 MSL', () => {
    const { h, a, b } = pair();
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, patternBytes(3000, 1), 'sent');
    connect(h, a, client);
    // The server closes its half 100 ms after the client's FIN, so FIN_WAIT_2 is visible.
    server.handlers.onPeerClosed = (c) => {
      server.events.push('peer-closed');
      h.kernel.after(millis(100), () => c.close());
    };
    h.run();

    const hs = h.log.slice(0, 3);
    expect(hs.map(flagsOf)).toEqual(['SYN', 'SYN+ACK', 'ACK']);
    const synOpts = (hs[0] as SegmentRecord).seg.options;
    expect(synOpts).toContainEqual({ kind: 'mss', value: 1460 });
    expect(synOpts.some((o: TcpOption) => o.kind === 'window-scale')).toBe(true);
    expect((hs[1] as SegmentRecord).seg.options).toContainEqual({ kind: 'mss', value: 1460 });
    expect((hs[1] as SegmentRecord).seg.ack).toBe(((hs[0] as SegmentRecord).seg.seq + 1) >>> 0);

    expect(transitions(h, 'a')).toEqual([
      'CLOSED>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>FIN_WAIT_1', 'FIN_WAIT_1>FIN_WAIT_2',
      'FIN_WAIT_2>TIME_WAIT', 'TIME_WAIT>CLOSED',
    ]);
    expect(transitions(h, 'b')).toEqual([
      'LISTEN>SYN_RECEIVED', 'SYN_RECEIVED>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSED',
    ]);
    expect(server.bytes).toEqual(client.data);
    expect(client.events).toEqual(['established', 'peer-closed', 'closed:normal']);
    expect(server.events).toEqual(['accepted', 'peer-closed', 'closed:normal']);
    // TIME_WAIT lasts exactly 2 * MSL.
    const tw = h.states.filter((s) => s.host === 'a' && (s.to === 'TIME_WAIT' || s.from === 'TIME_WAIT'));
    expect((tw[1] as { t: number }).t - (tw[0] as { t: number }).t).toBe(2 * seconds(1));
    expect(a.connectionCount).toBe(0);
    expect(b.connectionCount).toBe(0);
  });

  it('passive close: the server closes first and ends in TIME_WAIT', () => {
    const { h, a, b } = pair();
    const server = new App(h, patternBytes(5000, 2), 'sent');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'peer-closed');
    connect(h, a, client);
    h.run();
    expect(client.bytes).toEqual(server.data);
    expect(transitions(h, 'b')).toEqual([
      'LISTEN>SYN_RECEIVED', 'SYN_RECEIVED>ESTABLISHED', 'ESTABLISHED>FIN_WAIT_1', 'FIN_WAIT_1>FIN_WAIT_2',
      'FIN_WAIT_2>TIME_WAIT', 'TIME_WAIT>CLOSED',
    ]);
    expect(transitions(h, 'a')).toEqual([
      'CLOSED>SYN_SENT', 'SYN_SENT>ESTABLISHED', 'ESTABLISHED>CLOSE_WAIT', 'CLOSE_WAIT>LAST_ACK', 'LAST_ACK>CLOSED',
    ]);
  });

  it('simultaneous close goes through CLOSING on both sides', () => {
    const { h, a, b } = pair();
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'never');
    connect(h, a, client);
    h.runFor(millis(100));
    client.conn?.close();
    server.conn?.close();
    h.run();
    for (const host of ['a', 'b']) {
      expect(transitions(h, host).slice(-4)).toEqual([
        'ESTABLISHED>FIN_WAIT_1', 'FIN_WAIT_1>CLOSING', 'CLOSING>TIME_WAIT', 'TIME_WAIT>CLOSED',
      ]);
    }
    expect(client.closedReason).toBe('normal');
    expect(server.closedReason).toBe('normal');
  });

  it('simultaneous open: both SYN_SENT, both SYN_RECEIVED, both ESTABLISHED', () => {
    const { h, a, b } = pair();
    const appA = new App(h, patternBytes(2000, 3), 'never');
    const appB = new App(h, patternBytes(1000, 4), 'never');
    connect(h, a, appA, { from: A, to: B, port: 7000, localPort: 6000 });
    connect(h, b, appB, { from: B, to: A, port: 6000, localPort: 7000 });
    h.runFor(seconds(1));
    for (const host of ['a', 'b']) {
      expect(transitions(h, host)).toEqual(['CLOSED>SYN_SENT', 'SYN_SENT>SYN_RECEIVED', 'SYN_RECEIVED>ESTABLISHED']);
    }
    expect(appB.bytes).toEqual(appA.data);
    expect(appA.bytes).toEqual(appB.data);
  });

  it('half-close: after the client FINs, the server in CLOSE_WAIT still sends a large reply', () => {
    const { h, a, b } = pair();
    const reply = patternBytes(150_000, 5);
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    server.handlers.onPeerClosed = (c) => {
      expect(c.state).toBe('CLOSE_WAIT');
      let off = 0;
      const pump = (): void => {
        off += c.send(reply.subarray(off));
        if (off === reply.length) c.close();
      };
      server.handlers.onSendSpace = pump;
      pump();
    };
    const client = new App(h, new TextEncoder().encode('GET /big\r\n'), 'sent');
    connect(h, a, client);
    h.run();
    expect(server.bytes).toEqual(client.data);
    expect(client.bytes).toEqual(reply);
    expect(transitions(h, 'a')).toContain('FIN_WAIT_1>FIN_WAIT_2');
    expect(transitions(h, 'a')).toContain('FIN_WAIT_2>TIME_WAIT');
    expect(transitions(h, 'b')).toContain('CLOSE_WAIT>LAST_ACK');
  });

  it('a new SYN beyond the old sequence space ends TIME_WAIT and opens a new connection', () => {
    const { h, a, b } = pair({ msl: seconds(30) });
    const server = new App(h, new Uint8Array(0), 'sent');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const first = new App(h, new Uint8Array(0), 'peer-closed');
    connect(h, a, first, { localPort: 50000 });
    h.runFor(seconds(1));
    expect(b.connections().map((c) => c.state)).toEqual(['TIME_WAIT']);
    const second = new App(h, patternBytes(100, 6), 'sent');
    connect(h, a, second, { localPort: 50000 });
    h.runFor(seconds(1));
    expect(second.events).toContain('established');
    expect(second.closedReason).toBe('normal');
  });
});

describe('resets', () => {
  it('connect to a port with no listener: RST,ACK with SEQ=0, ACK=ISS+1; onClosed("refused")', () => {
    const { h, a, b } = pair();
    const client = new App(h);
    connect(h, a, client, { port: 81 });
    h.run();
    expect(client.events).toEqual(['closed:refused']);
    const rst = segs(h, B, A)[0] as SegmentRecord;
    const syn = segs(h, A, B)[0] as SegmentRecord;
    expect(flagsOf(rst)).toBe('RST+ACK');
    expect(rst.seg.seq).toBe(0);
    expect(rst.seg.ack).toBe((syn.seg.seq + 1) >>> 0);
    expect(b.counters.drops['no-listener']).toBe(1);
    expect(transitions(h, 'a')).toEqual(['CLOSED>SYN_SENT', 'SYN_SENT>CLOSED']);
  });

  it('an ACK to a closed port gets a RST with SEQ=SEG.ACK; a RST gets nothing', () => {
    const h = new TcpHarness(1, { delay: millis(1) });
    const b = h.addStack('b', B);
    const raw = h.addRaw('x', '10.0.0.9');
    h.inject('10.0.0.9', B, rawSegment({ srcPort: 4000, dstPort: 22, seq: 5, ack: 123456, flags: TCP_FLAG.ack }));
    h.inject('10.0.0.9', B, rawSegment({ srcPort: 4000, dstPort: 22, seq: 5, flags: TCP_FLAG.rst }));
    h.run();
    expect(raw.length).toBe(1);
    expect(raw[0]?.flags).toBe(TCP_FLAG.rst);
    expect(raw[0]?.seq).toBe(123456);
    expect(b.counters.drops['no-listener']).toBe(2);
  });

  it('abort sends a RST at SND.NXT; the peer reports "reset"', () => {
    const { h, a, b } = pair();
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, patternBytes(500, 7), 'never');
    connect(h, a, client);
    h.runFor(millis(200));
    const expectedSeq = nextSeq(h, A, B);
    client.conn?.abort();
    h.run();
    const rst = segs(h, A, B).at(-1) as SegmentRecord;
    expect(flagsOf(rst)).toBe('RST+ACK');
    expect(rst.seg.seq).toBe(expectedSeq);
    expect(client.closedReason).toBe('reset');
    expect(server.closedReason).toBe('reset');
    expect(server.bytes).toEqual(client.data);
    expect(transitions(h, 'b').at(-1)).toBe('ESTABLISHED>CLOSED');
  });

  it('RST validation: out of window ignored, in window but not RCV.NXT challenged, exact accepted', () => {
    const { h, a, b } = pair();
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, patternBytes(100, 8), 'never');
    const conn = connect(h, a, client);
    h.runFor(millis(200));
    const rcvNxt = nextSeq(h, A, B);
    const rst = (seq: number): TcpSegment => rawSegment({ srcPort: conn.localPort, dstPort: PORT, seq: seq >>> 0, flags: TCP_FLAG.rst });
    const before = segs(h, B, A).length;

    h.inject(A, B, rst(rcvNxt + 10_000_000));
    h.runFor(millis(100));
    expect(b.counters.drops['out-of-window']).toBe(1);
    expect(segs(h, B, A).length).toBe(before); // not even an ACK for a RST

    h.inject(A, B, rst(rcvNxt + 100));
    h.runFor(millis(100));
    expect(b.counters.drops['rst-challenged']).toBe(1);
    const challenge = segs(h, B, A).at(-1) as SegmentRecord;
    expect(flagsOf(challenge)).toBe('ACK');
    expect(challenge.seg.ack).toBe(rcvNxt);
    expect(server.conn?.state).toBe('ESTABLISHED');

    h.inject(A, B, rst(rcvNxt));
    h.runFor(millis(100));
    expect(server.closedReason).toBe('reset');
  });

  it('out-of-window data is ACKed and dropped', () => {
    const { h, a, b } = pair();
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, patternBytes(100, 9), 'never');
    const conn = connect(h, a, client);
    h.runFor(millis(200));
    const rcvNxt = nextSeq(h, A, B);
    const before = segs(h, B, A).length;
    h.inject(A, B, rawSegment({
      srcPort: conn.localPort, dstPort: PORT, seq: (rcvNxt - 5000) >>> 0, ack: nextSeq(h, B, A),
      flags: TCP_FLAG.ack, payload: new Uint8Array(100),
    }));
    h.runFor(millis(100));
    expect(b.counters.drops['out-of-window']).toBe(1);
    expect(segs(h, B, A).length).toBe(before + 1);
    expect(server.bytes).toEqual(client.data);
  });

  it('a crashed and rebooted host answers the old connection with RST', () => {
    const { h, a, b } = pair();
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'never');
    connect(h, a, client);
    h.runFor(millis(200));
    b.reset();
    expect(b.connectionCount).toBe(0);
    const quiet = h.log.length;
    h.runFor(millis(100));
    expect(h.log.length).toBe(quiet); // the crash itself sends nothing
    client.conn?.send(new Uint8Array(10));
    h.run();
    expect(client.closedReason).toBe('reset');
  });
});

describe('deterministic transfer through loss and reordering', () => {
  interface Scenario {
    readonly seed: number;
    /** Bytes client -> server and server -> client. */
    readonly up: number;
    readonly down: number;
    readonly loss: number;
    readonly reorder: number;
    readonly recvBufferMax: number;
    readonly sendBufferMax: number;
    readonly delayedAck: boolean;
    readonly nagle: boolean;
    readonly congestionControl: 'reno' | 'newreno';
    readonly slowReader: boolean;
  }

  function transfer(sc: Scenario) {
    const path: PathOptions = { delay: millis(5), loss: sc.loss, reorder: sc.reorder, reorderDelay: millis(20), bandwidthBps: 50_000_000 };
    const opts: TcpOptions = {
      synRetriesMax: 12,
      finWait2Timeout: seconds(600),
      msl: seconds(120),
      recvBufferMax: sc.recvBufferMax,
      sendBufferMax: sc.sendBufferMax,
      delayedAckTimeout: sc.delayedAck ? millis(40) : millis(0),
      nagle: sc.nagle,
      congestionControl: sc.congestionControl,
    };
    const { h, a, b } = pair(opts, path, sc.seed);
    const up = patternBytes(sc.up, sc.seed);
    const down = patternBytes(sc.down, sc.seed + 1);
    const server = new App(h, down, 'sent');
    const client = new App(h, up, 'sent');
    if (sc.slowReader) {
      server.readPause = millis(30);
      client.readPause = millis(50);
    }
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    connect(h, a, client);
    h.run();
    return {
      up,
      down,
      log: h.log.map(describeSegment),
      aGot: client.bytes,
      bGot: server.bytes,
      aReason: client.closedReason,
      bReason: server.closedReason,
      conns: a.connectionCount + b.connectionCount,
      retransmissions: a.counters.retransmissions + b.counters.retransmissions,
    };
  }

  const scenario: fc.Arbitrary<Scenario> = fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    up: fc.integer({ min: 0, max: 200_000 }),
    down: fc.integer({ min: 0, max: 20_000 }),
    loss: fc.double({ min: 0, max: 0.2, noNaN: true }),
    reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
    recvBufferMax: fc.constantFrom(2048, 8192, 65_536, 262_144),
    sendBufferMax: fc.constantFrom(3000, 16_384, 65_536),
    delayedAck: fc.boolean(),
    nagle: fc.boolean(),
    congestionControl: fc.constantFrom('reno' as const, 'newreno' as const),
    slowReader: fc.boolean(),
  });

  const runs = Number(process.env['TCP_PROPERTY_RUNS'] ?? 40);

  it('N bytes arrive intact and in order; both sides close; the same seed gives the same segments', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const r = transfer(sc);
        expect(r.bGot).toEqual(r.up);
        expect(r.aGot).toEqual(r.down);
        expect(r.aReason).toBe('normal');
        expect(r.bReason).toBe('normal');
        expect(r.conns).toBe(0); // TIME_WAIT expired, everything CLOSED
        const again = transfer(sc);
        expect(again.log).toEqual(r.log);
      }),
      { numRuns: runs },
    );
  });
});

describe('loss recovery', () => {
  it('three duplicate ACKs trigger one fast retransmit, no timeout', () => {
    const { h, a, b } = pair({ ...SHORT, delayedAckTimeout: millis(40) }, { delay: millis(10), bandwidthBps: 100_000_000 });
    const server = new App(h, new Uint8Array(0), 'peer-closed');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, patternBytes(60_000, 10), 'sent');
    connect(h, a, client);
    let dataSegs = 0;
    let lostSeq: number | undefined;
    h.dropIf = (src, _dst, seg) => {
      if (src !== ip(A) || seg.payload.length === 0) return false;
      dataSegs++;
      if (dataSegs === 3) {
        lostSeq = seg.seq;
        return true;
      }
      return false;
    };
    h.run();
    expect(server.bytes).toEqual(client.data);
    const stats = client.conn?.stats;
    expect(stats?.fastRetransmits).toBe(1);
    expect(stats?.timeouts).toBe(0);
    expect(a.counters.fastRetransmits).toBe(1);
    // The retransmission follows the third duplicate ACK.
    const dupAcks = segs(h, B, A).filter((r) => r.seg.ack === lostSeq && r.seg.payload.length === 0);
    expect(dupAcks.length).toBeGreaterThanOrEqual(4); // the original ACK + 3 duplicates
    const resend = h.log.find((r, i) => r.src === ip(A) && r.seg.seq === lostSeq && i > h.log.indexOf(dupAcks[3] as SegmentRecord));
    expect(resend).toBeDefined();
  });

  it('RTO backs off by doubling (min 200 ms) and the connection gives up after retriesMax', () => {
    const retriesMax = 6;
    const { h, a, b } = pair({ ...SHORT, retriesMax }, { delay: millis(10) });
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'never');
    connect(h, a, client);
    h.runFor(millis(500));
    h.setDown(B, true); // the peer vanishes: no answer at all
    const t0 = h.now;
    const seq = nextSeq(h, A, B);
    client.conn?.send(patternBytes(1000, 11));
    h.run();
    const times = sendTimes(h, A, (s) => s.seq === seq && s.payload.length > 0);
    expect(times[0]).toBe(t0);
    expect(times.length).toBe(retriesMax + 1);
    const g = gaps(times);
    expect(g[0]).toBe(millis(200));
    for (let i = 1; i < g.length; i++) expect(g[i]).toBe(2 * (g[i - 1] as number));
    expect(client.closedReason).toBe('timeout');
    // It gives up one (doubled) RTO after the last retransmission.
    expect(client.closedAt).toBe((times.at(-1) as number) + 2 * (g.at(-1) as number));
    expect(a.counters.connectionTimeouts).toBe(1);
    expect(a.connectionCount).toBe(0);
  });

  it('SYN retries back off from 1 s and connect times out', () => {
    const { h, a } = pair({ ...SHORT, synRetriesMax: 3 });
    h.setDown(B, true);
    const client = new App(h);
    connect(h, a, client);
    h.run();
    const times = sendTimes(h, A, (s) => (s.flags & TCP_FLAG.syn) !== 0);
    expect(times).toEqual([0, seconds(1), seconds(3), seconds(7)]);
    expect(client.events).toEqual(['closed:timeout']);
    expect(client.closedAt).toBe(seconds(15));
  });
});

describe('listen backlog', () => {
  const FLOOD = '10.0.0.66';

  it('a SYN flood of 10 spoofed ports fills backlog 4: the 5th+ SYN is dropped and counted; a client times out', () => {
    const h = new TcpHarness(1, { delay: millis(10) });
    const a = h.addStack('a', A, { synRetriesMax: 3 });
    const b = h.addStack('b', B);
    const flood = h.addRaw('flood', FLOOD);
    const listener = b.listen('any', PORT, { backlog: 4 });
    for (let i = 0; i < 10; i++) {
      h.inject(FLOOD, B, rawSegment({ srcPort: 1000 + i, dstPort: PORT, seq: 1000 * i, flags: TCP_FLAG.syn, options: [{ kind: 'mss', value: 1460 }] }));
    }
    h.runFor(millis(100));
    expect(listener.pending).toBe(4);
    expect(listener.overflows).toBe(6);
    expect(b.counters.listenOverflows).toBe(6);
    expect(b.counters.drops['backlog-full']).toBe(6);
    expect(new Set(flood.map((s) => s.dstPort))).toEqual(new Set([1000, 1001, 1002, 1003]));
    expect(b.connections().map((c) => c.state)).toEqual(['SYN_RECEIVED', 'SYN_RECEIVED', 'SYN_RECEIVED', 'SYN_RECEIVED']);

    // A real client now cannot get in: each of its SYNs is dropped until it gives up (15 s).
    const client = new App(h);
    connect(h, a, client);
    h.runFor(seconds(20));
    expect(client.events).toEqual(['closed:timeout']);
    expect(b.counters.drops['backlog-full']).toBe(6 + 4);

    // The half-open connections expire after their SYN-ACK retries (1+2+4+8+16+32 s); then it works.
    h.run((seconds(64) + millis(100)) as Instant);
    expect(listener.pending).toBe(0);
    expect(b.counters.synAckTimeouts).toBe(4);
    const synAcks = flood.filter((s) => s.dstPort === 1000).length;
    expect(synAcks).toBe(1 + 5);
    const late = new App(h);
    connect(h, a, late);
    h.runFor(seconds(1));
    expect(late.events).toEqual(['established']);
    expect(listener.acceptQueueLength).toBe(1);
  });

  it('completed but unaccepted connections hold the backlog until accept() makes room', () => {
    const h = new TcpHarness(2, { delay: millis(10) });
    const b = h.addStack('b', B);
    const listener = b.listen('any', PORT, { backlog: 4 });
    const clients: App[] = [];
    for (let i = 0; i < 10; i++) {
      const s = h.addStack(`c${i}`, `10.0.1.${i + 1}`);
      const app = new App(h, patternBytes(100, i), 'never');
      connect(h, s, app, { from: `10.0.1.${i + 1}` });
      clients.push(app);
    }
    h.runFor(millis(500));
    expect(clients.filter((c) => c.events.includes('established')).length).toBe(4);
    expect(listener.acceptQueueLength).toBe(4);
    expect(b.counters.listenOverflows).toBe(6);

    // The application accepts two: two of the retrying clients get in on their next SYN (t = 1 s).
    const got: App[] = [];
    for (let i = 0; i < 2; i++) {
      const app = new App(h, new Uint8Array(0), 'never');
      listener.accept(app.handlers);
      got.push(app);
    }
    h.runFor(seconds(1));
    expect(clients.filter((c) => c.events.includes('established')).length).toBe(6);
    expect(listener.acceptQueueLength).toBe(4);
    // Data sent before accept() waited in the receive buffer and is delivered now.
    expect(got.map((g) => g.bytes.length)).toEqual([100, 100]);
  });
});

describe('FIN_WAIT_1 holds its buffers (slide 46)', () => {
  it('with the peer gone, the FIN (and data) is retransmitted with backoff in FIN_WAIT_1 until retriesMax', () => {
    const retriesMax = 8;
    const { h, a, b } = pair({ ...SHORT, retriesMax }, { delay: millis(10) });
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'never');
    connect(h, a, client);
    h.runFor(millis(500));
    b.reset(); // the peer crashes...
    h.setDown(B, true); // ...and stays down
    client.conn?.send(patternBytes(4000, 12));
    client.conn?.close();
    const t0 = h.now;
    expect(client.conn?.state).toBe('FIN_WAIT_1');
    h.runFor(seconds(20));
    expect(client.conn?.state).toBe('FIN_WAIT_1');
    expect(a.bytesHeld()).toBe(4000);
    h.run();
    expect(client.closedReason).toBe('timeout');
    expect(a.bytesHeld()).toBe(0);
    const head = segs(h, A, B).filter((r) => r.t >= t0 && r.seg.payload.length > 0 && r.seg.seq === segs(h, A, B).find((x) => x.t >= t0)?.seg.seq);
    const g = gaps(head.map((r) => r.t));
    expect(head.length).toBe(retriesMax + 1);
    for (let i = 1; i < g.length; i++) expect(g[i]).toBe(2 * (g[i - 1] as number));
    expect(transitions(h, 'a').slice(-2)).toEqual(['ESTABLISHED>FIN_WAIT_1', 'FIN_WAIT_1>CLOSED']);
  });

  it('a peer that keeps its window shut holds the closing server in FIN_WAIT_1 indefinitely', () => {
    const { h, a, b } = pair({ ...SHORT, retriesMax: 5 }, { delay: millis(10) });
    const response = patternBytes(100_000, 13);
    const server = new App(h, response, 'sent');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'never');
    client.handlers.onEstablished = (c) => c.pause(); // the attacker never reads
    connect(h, a, client);
    h.runFor(seconds(600));
    const conn = server.conn as TcpConnection;
    expect(conn.state).toBe('FIN_WAIT_1');
    expect(conn.stats.sndWnd).toBe(0);
    expect(b.bytesHeld()).toBe(100_000 - 65_536);
    expect(a.bytesHeld()).toBe(65_536);
    // Probes are answered, so the retry limit never trips.
    const probes = segs(h, B, A).filter((r) => r.seg.payload.length === 0 && r.t > seconds(1));
    expect(probes.length).toBeGreaterThan(5);
    // When the reader comes back, everything drains and both sides close.
    client.conn?.resume();
    client.handlers.onPeerClosed = (c) => c.close();
    h.run();
    expect(client.bytes).toEqual(response);
    expect(server.closedReason).toBe('normal');
    expect(b.bytesHeld()).toBe(0);
  });
});

describe('windows and segment sizes', () => {
  it('uses MSS 536 when the SYN has no MSS option', () => {
    const h = new TcpHarness(3, { delay: millis(1) });
    const b = h.addStack('b', B);
    const raw = h.addRaw('x', '10.0.0.9');
    const server = new App(h, patternBytes(2000, 14), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    h.inject('10.0.0.9', B, rawSegment({ srcPort: 4000, dstPort: PORT, seq: 100, flags: TCP_FLAG.syn }));
    h.runFor(millis(10));
    const synAck = raw[0] as TcpSegment;
    expect(synAck.flags).toBe(TCP_FLAG.syn | TCP_FLAG.ack);
    expect(synAck.options.some((o) => o.kind === 'window-scale')).toBe(false); // not offered back
    h.inject('10.0.0.9', B, rawSegment({ srcPort: 4000, dstPort: PORT, seq: 101, ack: (synAck.seq + 1) >>> 0, flags: TCP_FLAG.ack }));
    h.runFor(millis(10));
    expect(raw.slice(1).map((s) => s.payload.length)).toEqual([536, 536, 536, 392]);
  });

  it('delayed ACK: every second full segment, a lone small segment after 40 ms', () => {
    const { h, a, b } = pair(SHORT, { delay: millis(10), bandwidthBps: 100_000_000 });
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, new Uint8Array(0), 'never');
    connect(h, a, client);
    h.runFor(millis(100));
    const t0 = h.now;
    client.conn?.send(new Uint8Array(100));
    h.runFor(millis(200));
    const ack = segs(h, B, A).find((r) => r.t > t0) as SegmentRecord;
    expect(ack.t - t0).toBe(millis(10) + millis(40) + Math.ceil((100 + 40) * 8 / 100));
    const t1 = h.now;
    client.conn?.send(new Uint8Array(20 * 1460));
    h.runFor(millis(200));
    const acks = segs(h, B, A).filter((r) => r.t > t1);
    expect(acks.length).toBe(10);
  });
});

describe('robustness and limits', () => {
  it('arbitrary segments at a listener and a live connection never throw; the transfer still completes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 400 }),
            toConn: fc.boolean(),
            flags: fc.integer({ min: 0, max: 0x3f }),
            seqDelta: fc.integer({ min: -70_000, max: 70_000 }),
            ackDelta: fc.integer({ min: -70_000, max: 70_000 }),
            window: fc.integer({ min: 0, max: 65535 }),
            len: fc.integer({ min: 0, max: 3000 }),
            options: fc.array(
              fc.oneof(
                fc.record({ kind: fc.constant('mss' as const), value: fc.integer({ min: 0, max: 65535 }) }),
                fc.record({ kind: fc.constant('window-scale' as const), shift: fc.integer({ min: 0, max: 255 }) }),
                fc.constant({ kind: 'sack-permitted' as const }),
              ),
              { maxLength: 2 },
            ),
          }),
          { maxLength: 30 },
        ),
        (seed, junk) => {
          const { h, a, b } = pair(SHORT, { delay: millis(5) }, seed);
          const server = new App(h, patternBytes(20_000, seed), 'sent');
          b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
          const client = new App(h, patternBytes(30_000, seed + 1), 'sent');
          const conn = connect(h, a, client);
          for (const j of junk) {
            h.kernel.after(millis(j.at), () => {
              // Spoofed from the client's address: to its connection (seq/ack near the real ones) or a random port.
              const base = segs(h, A, B).length > 0 ? nextSeq(h, A, B) : 0;
              const peerBase = segs(h, B, A).length > 0 ? nextSeq(h, B, A) : 0;
              h.inject(A, B, rawSegment({
                srcPort: j.toConn ? conn.localPort : 40_000,
                dstPort: PORT,
                seq: (base + j.seqDelta) >>> 0,
                ack: (peerBase + j.ackDelta) >>> 0,
                flags: j.flags,
                window: j.window,
                options: j.options,
                payload: patternBytes(j.len, j.len),
              }));
            });
          }
          h.run(); // no exception, no broken invariant (the stack asserts them after every output)
          // Junk may legitimately reset the connection; if it did not, the data is intact.
          if (client.closedReason === 'normal' && server.closedReason === 'normal') {
            expect(server.bytes).toEqual(client.data);
            expect(client.bytes).toEqual(server.data);
          }
          expect(a.connectionCount + b.connectionCount).toBe(0);
        },
      ),
      { numRuns: Number(process.env['TCP_PROPERTY_RUNS'] ?? 60) },
    );
  });

  it('connectionsMax bounds TCBs: extra SYNs are dropped and counted, extra connects refused locally', () => {
    const h = new TcpHarness(4, { delay: millis(1) });
    const b = h.addStack('b', B, { connectionsMax: 3 });
    const a = h.addStack('a', A, { connectionsMax: 2, synRetriesMax: 0 });
    const listener = b.listen('any', PORT, { backlog: 100 });
    const raw = h.addRaw('x', '10.0.0.9');
    for (let i = 0; i < 5; i++) h.inject('10.0.0.9', B, rawSegment({ srcPort: 2000 + i, dstPort: PORT, seq: i, flags: TCP_FLAG.syn }));
    h.runFor(millis(10));
    expect(listener.pending).toBe(3);
    expect(b.counters.drops['connections-max']).toBe(2);
    expect(raw.length).toBe(3);
    const apps = [new App(h), new App(h), new App(h)];
    for (const app of apps) connect(h, a, app);
    h.run();
    expect(a.counters.connectFailures).toBe(1);
    expect(apps[2]?.events).toEqual(['closed:refused']);
  });

  it('closing a listener drops half-open connections and resets queued ones', () => {
    const { h, a, b } = pair();
    const listener = b.listen('any', PORT, { backlog: 8 });
    const client = new App(h, new Uint8Array(0), 'never');
    connect(h, a, client);
    h.runFor(millis(100));
    expect(listener.acceptQueueLength).toBe(1);
    listener.close();
    h.run();
    expect(client.closedReason).toBe('reset');
    expect(b.connectionCount).toBe(0);
    const late = new App(h);
    connect(h, a, late);
    h.run();
    expect(late.closedReason).toBe('refused');
  });

  it('send() takes what fits; onSendSpace comes when half the buffer is free again', () => {
    const { h, a, b } = pair({ ...SHORT, sendBufferMax: 10_000 });
    const server = new App(h, new Uint8Array(0), 'never');
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const spaceAt: number[] = [];
    const conn = a.connect({
      localAddr: ip(A), remoteAddr: ip(B), remotePort: PORT,
      handlers: { onSendSpace: (c) => spaceAt.push(c.sendSpace) },
    });
    expect(conn.send(new Uint8Array(25_000))).toBe(10_000);
    expect(conn.sendSpace).toBe(0);
    h.runFor(millis(500));
    expect(spaceAt.length).toBe(1);
    expect(spaceAt[0]).toBeGreaterThanOrEqual(5_000);
    expect(server.bytes.length).toBe(10_000);
    conn.close();
    expect(conn.send(new Uint8Array(1))).toBe(0);
  });
});

describe('Reno on a bottleneck', () => {
  /** 10 Mbit/s, 20 ms RTT, a drop-tail queue of 20 packets (~1.2 BDP) at the bottleneck. */
  function bulk(congestionControl: 'reno' | 'newreno', bytes: number) {
    const link: PathOptions = { delay: millis(10), bandwidthBps: 10_000_000, queuePackets: 20 };
    const opts: TcpOptions = { ...SHORT, congestionControl, sendBufferMax: 512 * 1024, recvBufferMax: 512 * 1024 };
    const { h, a, b } = pair(opts, link, 'reno');
    const data = patternBytes(bytes, 15);
    const server = new App(h, new Uint8Array(0), 'peer-closed');
    let lastByteAt = 0;
    let got = 0;
    server.handlers.onData = (d) => {
      got += d.length;
      lastByteAt = h.now;
    };
    b.listen('any', PORT, { backlog: 8, onAccept: server.accept });
    const client = new App(h, data, 'sent');
    let establishedAt = 0;
    client.handlers.onEstablished = (c) => {
      establishedAt = h.now;
      client.start(c);
    };
    connect(h, a, client);
    const cwnd: number[] = [];
    h.onSegment = (r) => {
      if (r.src === ip(A) && r.seg.payload.length > 0) cwnd.push(client.conn?.stats.cwnd ?? 0);
    };
    h.run();
    const seconds_ = (lastByteAt - establishedAt) / 1e6;
    const goodputBps = (got * 8) / seconds_;
    const drops = h.log.filter((r) => r.fate === 'queue-drop').length;
    return { got, goodputBps, cwnd, stats: client.conn?.stats, drops, seconds_ };
  }

  for (const cc of ['reno', 'newreno'] as const) {
    it(`${cc}: a bulk transfer reaches >= 80% of the link and cwnd shows the sawtooth`, () => {
      const r = bulk(cc, 8_000_000);
      expect(r.got).toBe(8_000_000);
      const utilisation = r.goodputBps / 10_000_000;
      console.log(
        `${cc}: goodput ${(r.goodputBps / 1e6).toFixed(2)} Mbit/s (${(utilisation * 100).toFixed(1)}% of 10 Mbit/s) in ${r.seconds_.toFixed(2)} s; ` +
          `fast retransmits ${r.stats?.fastRetransmits}, timeouts ${r.stats?.timeouts}, queue drops ${r.drops}, ` +
          `retransmissions ${r.stats?.retransmissions}, srtt ${r.stats?.srtt}us`,
      );
      expect(utilisation).toBeGreaterThanOrEqual(0.8);
      expect(r.stats?.fastRetransmits).toBeGreaterThanOrEqual(1);
      // Sawtooth: cwnd repeatedly climbs and is cut to about half.
      let cuts = 0;
      for (let i = 1; i < r.cwnd.length; i++) {
        if ((r.cwnd[i] as number) <= 0.6 * (r.cwnd[i - 1] as number)) cuts++;
      }
      expect(cuts).toBeGreaterThanOrEqual(2);
      expect(Math.max(...r.cwnd)).toBeGreaterThan(2 * Math.min(...r.cwnd.slice(r.cwnd.length / 2)));
    });
  }
});
