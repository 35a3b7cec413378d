/**
 * Stateful failover (slides 10-11): the master streams every link-table and server-state change
 * to the slaves; the slaves apply and acknowledge; a node that joins (or falls behind the log)
 * gets a full state transfer. Sans-IO, in quinn's shape: feed `handleMessage`/`handleTimeout`,
 * drain `pollSend`, re-read `pollTimeout`.
 *
 * - **Stream.** A master's stream is named by (master node id, epoch): a new master starts a new
 *   stream at sequence 1, and a slave that hears a new stream forgets its position and asks for
 *   a snapshot. Records are numbered; the master keeps the last `logMax` of them (slide 10's
 *   "msg log") to resend what a slave missed.
 * - **Batching.** Records are sent `flushDelay` after the first unsent one (LVS batches the same
 *   way), at most SYNC_RECORDS_MAX per datagram, so a master crash loses at most that window.
 * - **Acknowledgement.** A slave acknowledges the highest record it applied in order, at most
 *   once per `flushDelay`. The master resends from the lowest acknowledgement of the slaves it has
 *   heard within `peerTimeout` every `retransmit` while one lags. A slave that sees a gap asks for
 *   the missing records (`request`); when the log no longer holds them ("log full!", slide 10)
 *   the master sends a snapshot instead.
 * - **Snapshot.** `parts` datagrams of the whole state as of record `base`; the slave resets its
 *   table at part 0 and applies the parts in order; a missing part restarts the transfer. At most
 *   `snapshotBurst` parts leave per `snapshotInterval`, so a million-link transfer does not flood
 *   the transmit queue.
 * - **Readiness.** `ready` is false from the moment a slave hears a master stream until it holds
 *   a consistent copy (snapshot done, or in-order records from sequence 1); meanwhile the engine
 *   bids at price 0 (the README's design decisions say why).
 */

import type { Duration, Instant } from '../time.ts';
import { addDuration } from '../time.ts';
import { TimerTable } from '../timers.ts';
import { SYNC_RECORDS_MAX, type SyncBody, type SyncRecord } from '../wire/sync.ts';
import { assert } from '../assert.ts';

export interface SyncConfig {
  readonly node: number;
  readonly flushDelay: Duration;
  readonly retransmit: Duration;
  /** A slave not heard from for this long no longer holds the stream back. */
  readonly peerTimeout: Duration;
  readonly logMax: number;
  /** Snapshot datagrams sent per `snapshotInterval` (pacing, so a transfer does not crowd out heartbeats). */
  readonly snapshotBurst: number;
  readonly snapshotInterval: Duration;
  /** The master announces its stream position this often even when idle (an empty update), so a node that just started learns there is state to fetch. */
  readonly announce: Duration;
}

/** What the engine gives the sync: how to apply a record, clear the state, and list it. */
export interface SyncTarget {
  apply(r: SyncRecord, now: Instant): void;
  reset(now: Instant): void;
  /** The whole state as records (links, then server states). */
  snapshot(): SyncRecord[];
}

/** A message to send: the body plus the stream it belongs to (the engine adds group, keys, seq). */
export interface SyncSend {
  readonly epoch: number;
  /** The stream's master: ourselves, or the master we follow (for an ack or request). */
  readonly leader: number;
  readonly body: SyncBody;
}

export interface SyncStats {
  recordsSent: number;
  recordsApplied: number;
  retransmits: number;
  snapshotsSent: number;
  snapshotsDone: number;
  gaps: number;
  /** Records dropped from the log before every slave had them. */
  logOverflow: number;
  /** Acks or requests from slaves beyond SYNC_PEERS_MAX. */
  peersRefused: number;
}

/** Slaves a master tracks at most; acks from more (a misconfigured cluster) are counted and ignored. */
export const SYNC_PEERS_MAX = 256;
/** Messages one entry point may queue before the caller drains (a full snapshot burst, resends). */
export const SYNC_SENDS_QUEUED_MAX = 65_536;
/** Largest configured log (`logMax`, records kept for resends); at least one datagram's worth. */
export const SYNC_LOG_MAX = 16_000_000;

type TimerName = 'flush' | 'retransmit' | 'request' | 'announce' | 'snapshot';
const TIMER_NAMES = ['flush', 'retransmit', 'request', 'announce', 'snapshot'] as const satisfies readonly TimerName[];

interface Peer {
  acked: number;
  heardAt: Instant;
}

interface Outgoing {
  readonly records: SyncRecord[];
  readonly base: number;
  next: number;
  readonly parts: number;
}

export class StateSync {
  readonly cfg: SyncConfig;
  readonly stats: SyncStats = { recordsSent: 0, recordsApplied: 0, retransmits: 0, snapshotsSent: 0, snapshotsDone: 0, gaps: 0, logOverflow: 0, peersRefused: 0 };
  readonly #target: SyncTarget;
  readonly #timers = new TimerTable<TimerName>(TIMER_NAMES);
  readonly #out: SyncSend[] = [];
  // Master side.
  #master = false;
  #epoch = 0;
  #seq = 0;
  /** Records logStart .. #seq. */
  #log: SyncRecord[] = [];
  #logStart = 1;
  #sent = 0;
  readonly #peers = new Map<number, Peer>();
  #snap: Outgoing | undefined;
  #snapAgain = false;
  // Slave side.
  #stream: { node: number; epoch: number } | undefined;
  #applied = 0;
  #ready = true;
  #receiving: { base: number; next: number; parts: number } | undefined;
  #ackDue = false;

  constructor(cfg: SyncConfig, target: SyncTarget) {
    assert(cfg.flushDelay > 0 && cfg.retransmit > 0 && cfg.peerTimeout > 0 && cfg.announce > 0, 'sync delays must be positive');
    assert(Number.isSafeInteger(cfg.logMax) && cfg.logMax >= SYNC_RECORDS_MAX && cfg.logMax <= SYNC_LOG_MAX && cfg.snapshotBurst >= 1, `sync logMax must be ${SYNC_RECORDS_MAX}..${SYNC_LOG_MAX} and snapshotBurst >= 1`);
    this.cfg = cfg;
    this.#target = target;
  }

  /** Whether this node holds a consistent copy (or has never heard a master, so has nothing to get). */
  get ready(): boolean {
    return this.#master || this.#ready;
  }

  get isMaster(): boolean {
    return this.#master;
  }

  /** Highest record applied in order (slave) or logged (master). */
  get position(): number {
    return this.#master ? this.#seq : this.#applied;
  }

  /** Start a new stream as master of `epoch`, keeping the current state as its base. */
  becomeMaster(now: Instant, epoch: number): void {
    this.#master = true;
    this.#epoch = epoch;
    this.#seq = 0;
    this.#log = [];
    this.#logStart = 1;
    this.#sent = 0;
    this.#peers.clear();
    this.#snap = undefined;
    this.#snapAgain = false;
    this.#stream = undefined;
    this.#receiving = undefined;
    this.#timers.clearAll();
    this.#timers.set('announce', now);
  }

  /**
   * Stop being master; wait for the next stream (whose snapshot replaces our state). What is
   * logged but not yet sent goes out first: a master that steps down (SIGHUP, a dead watched
   * process, a lost carrier) hands over every link, not all but the last `flushDelay`'s.
   */
  becomeSlave(now: Instant): void {
    if (!this.#master) return;
    this.#flush(now);
    this.#master = false;
    this.#log = [];
    this.#peers.clear();
    this.#snap = undefined;
    this.#timers.clearAll();
    this.#applied = 0;
    this.#stream = undefined;
  }

  /** Master: log a change for the slaves. */
  record(now: Instant, r: SyncRecord): void {
    if (!this.#master) return;
    this.#log.push(r);
    this.#seq++;
    if (this.#log.length > this.cfg.logMax) {
      const drop = this.#log.length - this.cfg.logMax;
      this.#log.splice(0, drop);
      this.#logStart += drop;
      if (this.#lowestAck(now) < this.#logStart - 1) this.stats.logOverflow += drop;
    }
    if (!this.#timers.isArmed('flush')) this.#timers.set('flush', addDuration(now, this.cfg.flushDelay));
  }

  /** A message from node `from` about the stream of master `leader` (`from` itself for updates and snapshots). */
  handleMessage(now: Instant, from: number, epoch: number, leader: number, body: SyncBody): void {
    if (from === this.cfg.node) return;
    const fromMaster = leader === from;
    if (this.#master) {
      // Only our own slaves' acks and requests; another master's stream, or its slaves (two
      // masters meet after a partition heals), is bidd's to settle.
      if (fromMaster || leader !== this.cfg.node) return;
      if (!this.#peers.has(from) && this.#peers.size >= SYNC_PEERS_MAX) {
        this.stats.peersRefused++;
        return;
      }
      const peer = this.#peers.get(from) ?? { acked: 0, heardAt: now };
      peer.heardAt = now;
      this.#peers.set(from, peer);
      if (epoch !== this.#epoch) {
        // The slave follows an older stream: it needs everything.
        if (body.kind === 'request' || body.kind === 'ack') this.#startSnapshot(now);
        return;
      }
      if (body.kind === 'ack') {
        peer.acked = Math.max(peer.acked, Math.min(body.acked, this.#seq));
        if (peer.acked < this.#sent && !this.#timers.isArmed('retransmit')) this.#timers.set('retransmit', addDuration(now, this.cfg.retransmit));
      } else if (body.kind === 'request') {
        peer.acked = Math.max(peer.acked, Math.min(body.have, this.#seq));
        if (body.full || body.have + 1 < this.#logStart) this.#startSnapshot(now);
        else this.#resend(body.have + 1);
      }
      return;
    }
    if (!fromMaster) return; // other slaves' acks and requests
    if (this.#stream === undefined || this.#stream.node !== from || this.#stream.epoch !== epoch) {
      // A new stream: until it is copied we are not ready. Ask for all of it.
      this.#stream = { node: from, epoch };
      this.#applied = 0;
      this.#ready = false;
      this.#receiving = undefined;
      // Even a stream heard from its first record needs the master's base state: ask for it
      // whole, unless a snapshot is starting right now anyway.
      if (body.kind !== 'snapshot' || body.part !== 0) {
        this.#request(now, true);
        return;
      }
    }
    switch (body.kind) {
      case 'updates': {
        if (this.#receiving !== undefined) return; // a snapshot is in flight; its base will be followed by a resend
        const last = body.first + body.records.length - 1;
        if (last <= this.#applied) return; // duplicates
        if (body.first > this.#applied + 1) {
          this.stats.gaps++;
          this.#request(now, false);
          return;
        }
        for (let i = this.#applied + 1 - body.first; i < body.records.length; i++) {
          this.#target.apply(body.records[i]!, now);
          this.stats.recordsApplied++;
        }
        this.#applied = last;
        this.#ackSoon(now);
        return;
      }
      case 'snapshot': {
        if (body.part === 0) {
          this.#target.reset(now);
          this.#receiving = { base: body.base, next: 0, parts: body.parts };
        }
        const rx = this.#receiving;
        if (rx === undefined || rx.base !== body.base || rx.parts !== body.parts || body.part !== rx.next) {
          if (rx !== undefined && body.part < rx.next && rx.base === body.base) return; // a duplicate
          this.#receiving = undefined;
          this.#request(now, true);
          return;
        }
        for (const r of body.records) this.#target.apply(r, now);
        this.stats.recordsApplied += body.records.length;
        rx.next++;
        if (rx.next === rx.parts) {
          this.#receiving = undefined;
          this.#applied = rx.base;
          this.#ready = true;
          this.stats.snapshotsDone++;
          this.#timers.clear('request');
          this.#ackSoon(now);
        }
        return;
      }
      default:
        return;
    }
  }

  handleTimeout(now: Instant): void {
    for (const t of this.#timers.expired(now)) {
      switch (t) {
        case 'flush':
          if (this.#master) this.#flush(now);
          else if (this.#ackDue) {
            this.#ackDue = false;
            if (this.#stream !== undefined) this.#send({ epoch: this.#stream.epoch, leader: this.#stream.node, body: { kind: 'ack', acked: this.#applied } });
          }
          break;
        case 'retransmit': {
          if (!this.#master) break;
          const low = this.#lowestAck(now);
          if (low < this.#sent) {
            this.stats.retransmits++;
            if (low + 1 < this.#logStart) {
              for (const [node, p] of this.#peers) if (p.acked + 1 < this.#logStart && now - p.heardAt <= this.cfg.peerTimeout) this.#startSnapshot(now);
            } else this.#resend(low + 1);
            this.#timers.set('retransmit', addDuration(now, this.cfg.retransmit));
          }
          break;
        }
        case 'snapshot':
          if (this.#master) {
            this.#flush(now); // records logged before the snapshot's base go first
            this.#snapshotStep(now);
          }
          break;
        case 'announce':
          if (!this.#master) break;
          if (this.#sent === this.#seq) this.#send({ epoch: this.#epoch, leader: this.cfg.node, body: { kind: 'updates', first: this.#sent + 1, records: [] } });
          this.#timers.set('announce', addDuration(now, this.cfg.announce));
          break;
        case 'request':
          // No snapshot or resend came: ask again.
          if (!this.#master && this.#stream !== undefined && (!this.#ready || this.#receiving !== undefined)) this.#request(now, true);
          break;
      }
    }
  }

  #send(m: SyncSend): void {
    assert(this.#out.length < SYNC_SENDS_QUEUED_MAX, 'sync send queue full: caller is not draining');
    this.#out.push(m);
  }

  pollSend(): SyncSend | undefined {
    return this.#out.shift();
  }

  pollTimeout(): Instant | undefined {
    return this.#timers.next()?.at;
  }

  #lowestAck(now: Instant): number {
    let low = this.#seq;
    for (const p of this.#peers.values()) if (now - p.heardAt <= this.cfg.peerTimeout && p.acked < low) low = p.acked;
    return low;
  }

  #flush(now: Instant): void {
    while (this.#sent < this.#seq) {
      const first = this.#sent + 1;
      const n = Math.min(SYNC_RECORDS_MAX, this.#seq - this.#sent);
      const at = first - this.#logStart;
      this.#send({ epoch: this.#epoch, leader: this.cfg.node, body: { kind: 'updates', first, records: this.#log.slice(at, at + n) } });
      this.#sent += n;
      this.stats.recordsSent += n;
    }
    if (this.#lowestAck(now) < this.#sent && !this.#timers.isArmed('retransmit')) this.#timers.set('retransmit', addDuration(now, this.cfg.retransmit));
  }

  /** Send the next `snapshotBurst` parts of the snapshot under way. */
  #snapshotStep(now: Instant): void {
    const snap = this.#snap;
    if (snap !== undefined) {
      for (let k = 0; k < this.cfg.snapshotBurst && snap.next < snap.parts; k++, snap.next++) {
        const records = snap.records.slice(snap.next * SYNC_RECORDS_MAX, (snap.next + 1) * SYNC_RECORDS_MAX);
        this.#send({ epoch: this.#epoch, leader: this.cfg.node, body: { kind: 'snapshot', base: snap.base, part: snap.next, parts: snap.parts, records } });
      }
      if (snap.next < snap.parts) this.#timers.set('snapshot', addDuration(now, this.cfg.snapshotInterval));
      else {
        this.#snap = undefined;
        // Then the records logged since the snapshot's base.
        if (snap.base < this.#seq) this.#resend(snap.base + 1);
        if (this.#snapAgain) {
          this.#snapAgain = false;
          this.#startSnapshot(now);
        }
      }
    }
  }

  #resend(from: number): void {
    for (let s = Math.max(from, this.#logStart); s <= this.#sent; s += SYNC_RECORDS_MAX) {
      const n = Math.min(SYNC_RECORDS_MAX, this.#sent - s + 1);
      const at = s - this.#logStart;
      this.#send({ epoch: this.#epoch, leader: this.cfg.node, body: { kind: 'updates', first: s, records: this.#log.slice(at, at + n) } });
    }
  }

  #startSnapshot(now: Instant): void {
    if (this.#snap !== undefined) {
      // One is under way: let it finish (restarting it for every request would never finish
      // under a stream of requests), then send another for whoever asked meanwhile.
      if (this.#snap.next > 0) this.#snapAgain = true;
      return;
    }
    // Flush pending records first so the snapshot's base is everything logged.
    const records = this.#target.snapshot();
    const parts = Math.max(1, Math.ceil(records.length / SYNC_RECORDS_MAX));
    this.#snap = { records, base: this.#seq, next: 0, parts };
    this.stats.snapshotsSent++;
    this.#timers.set('snapshot', now);
  }

  #request(now: Instant, full: boolean): void {
    const s = this.#stream;
    if (s === undefined) return;
    this.#send({ epoch: s.epoch, leader: s.node, body: { kind: 'request', have: this.#applied, full } });
    this.#timers.set('request', addDuration(now, (this.cfg.retransmit * 4) as Duration));
  }

  #ackSoon(now: Instant): void {
    this.#ackDue = true;
    if (!this.#timers.isArmed('flush')) this.#timers.set('flush', addDuration(now, this.cfg.flushDelay));
  }

  /** Asserts the resend log is within `logMax`. */
  checkBounds(): void {
    assert(this.#log.length <= this.cfg.logMax, `sync log holds ${this.#log.length} records, limit ${this.cfg.logMax}`);
  }
}
