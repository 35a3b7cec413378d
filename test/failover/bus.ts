/**
 * A tiny deterministic message bus for `Bidd` clusters (tests and the visualizer): every sent
 * message reaches every other live, connected node after a fixed delay, unless the seeded loss
 * draws it away. Virtual time only; a plain queue sorted by (deadline, sequence).
 *
 * The safety check runs after every step: a node holds the VIP exactly when it is master, and
 * its start scripts minus stop scripts is 1 while master and 0 otherwise (scripts run once).
 */

import type { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import { addDuration } from '../../src/time.ts';
import { assert } from '../../src/assert.ts';
import type { BiddConfig, BiddMessage } from '../../src/failover/bidd.ts';
import { Bidd } from '../../src/failover/bidd.ts';

export const SIM_EVENTS_PENDING_MAX = 1 << 16;
export const SIM_STEPS_MAX = 10_000_000;

export interface SimNode {
  readonly cfg: BiddConfig;
  bidd: Bidd | undefined; // undefined while crashed
  vip: boolean;
  scripts: { start: number; stop: number; continue: number };
  /** Not driven before this instant (a stalled process). */
  frozenUntil: Instant;
}

interface Delivery {
  readonly at: Instant;
  readonly seq: number;
  readonly to: number;
  readonly msg: BiddMessage;
}

export class BiddCluster {
  readonly nodes: SimNode[];
  now: Instant;
  /** `side[i]`: nodes talk only to nodes on the same side. */
  side: number[];
  /** Probability a message to one receiver is lost. */
  loss = 0;
  /** Nodes whose sends are dropped (a crash the others cannot tell from silence). */
  readonly muted = new Set<number>();
  #queue: Delivery[] = [];
  #seq = 0;

  constructor(
    configs: readonly BiddConfig[],
    readonly delay: Duration,
    readonly rng: Rng,
    now: Instant,
  ) {
    this.now = now;
    this.nodes = configs.map((cfg) => ({
      cfg,
      bidd: new Bidd(cfg, now),
      vip: false,
      scripts: { start: 0, stop: 0, continue: 0 },
      frozenUntil: now,
    }));
    this.side = configs.map(() => 0);
  }

  node(i: number): SimNode {
    const n = this.nodes[i];
    assert(n !== undefined, `no node ${i}`);
    return n;
  }

  crash(i: number): void {
    const n = this.node(i);
    n.bidd = undefined;
    n.vip = false;
    n.scripts = { start: 0, stop: 0, continue: 0 };
  }

  restart(i: number): void {
    const n = this.node(i);
    if (n.bidd !== undefined) return;
    n.bidd = new Bidd(n.cfg, this.now);
    n.frozenUntil = this.now;
  }

  masters(): number[] {
    return this.nodes.flatMap((n, i) => (n.bidd?.state === 'master' ? [i] : []));
  }

  #due(n: SimNode): Instant | undefined {
    const t = n.bidd?.pollTimeout();
    if (t === undefined) return undefined;
    return (t < n.frozenUntil ? n.frozenUntil : t) as Instant;
  }

  /** Run until `end`, calling `check` after every step. */
  runUntil(end: Instant, check: (c: BiddCluster) => void = () => {}): void {
    for (let step = 0; step < SIM_STEPS_MAX; step++) {
      let best: Instant | undefined;
      let who = -1;
      this.nodes.forEach((n, i) => {
        const t = this.#due(n);
        if (t !== undefined && (best === undefined || t < best)) {
          best = t;
          who = i;
        }
      });
      const head = this.#queue[0];
      if (head !== undefined && (best === undefined || head.at <= best)) {
        if (head.at > end) break;
        this.#queue.shift();
        this.now = head.at;
        const n = this.node(head.to);
        if (n.bidd === undefined) continue;
        if (head.at < n.frozenUntil) {
          this.#enqueue({ at: n.frozenUntil, seq: this.#seq++, to: head.to, msg: head.msg });
          continue;
        }
        n.bidd.handleMessage(this.now, head.msg);
        this.#drain(head.to);
      } else if (best !== undefined && best <= end) {
        this.now = best;
        this.node(who).bidd?.handleTimeout(this.now);
        this.#drain(who);
      } else {
        break;
      }
      this.#check();
      check(this);
    }
    this.now = end;
  }

  #enqueue(d: Delivery): void {
    assert(this.#queue.length < SIM_EVENTS_PENDING_MAX, 'sim queue full');
    let i = this.#queue.length;
    while (i > 0) {
      const p = this.#queue[i - 1] as Delivery;
      if (p.at < d.at || (p.at === d.at && p.seq < d.seq)) break;
      i--;
    }
    this.#queue.splice(i, 0, d);
  }

  #drain(i: number): void {
    const n = this.node(i);
    const b = n.bidd;
    if (b === undefined) return;
    for (let a = b.pollAction(); a !== undefined; a = b.pollAction()) {
      switch (a.kind) {
        case 'send':
          if (this.muted.has(i)) break;
          this.nodes.forEach((_, j) => {
            if (j === i || this.side[j] !== this.side[i]) return;
            if (this.loss > 0 && this.rng.bool(this.loss)) return;
            this.#enqueue({ at: addDuration(this.now, this.delay), seq: this.#seq++, to: j, msg: a.msg });
          });
          break;
        case 'script':
          n.scripts[a.which]++;
          break;
        case 'take-vip':
          assert(!n.vip, `node ${i} took the VIP twice`);
          n.vip = true;
          break;
        case 'release-vip':
          assert(n.vip, `node ${i} released a VIP it does not hold`);
          n.vip = false;
          break;
      }
    }
  }

  #check(): void {
    this.nodes.forEach((n, i) => {
      const master = n.bidd?.state === 'master';
      assert(n.vip === master, `node ${i}: vip ${n.vip} but state ${n.bidd?.state}`);
      const held = n.scripts.start - n.scripts.stop;
      assert(held === (master ? 1 : 0), `node ${i}: start-stop scripts ${held} in state ${n.bidd?.state}`);
    });
  }
}
