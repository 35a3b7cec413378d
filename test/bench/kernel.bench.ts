/**
 * The kernel alone on the classic hold model: 10^5 pending events; each handled event schedules
 * one more at an exponentially distributed delay drawn from the seeded generator,
 * through a real handler call. Goal: 5M events/s on this 2-core machine; ns-3 3.37
 * measured 1.4-2.1M with its default scheduler and 4.6-4.8M with PriorityQueueScheduler.
 */
import { Kernel } from '../../sim/kernel.ts';
import { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import type { Bench } from './harness.ts';

const PENDING = 100_000;

function holdModel(MEAN_DELAY_US: number, label: string): Bench {
  let k: Kernel | undefined;
  const setup = (): Kernel => {
    const kernel = new Kernel();
    const rng = Rng.fromSeed(1);
    const handler = (): void => {
      kernel.after(Math.floor(rng.exponential(MEAN_DELAY_US)) as Duration, handler);
    };
    for (let i = 0; i < PENDING; i++) kernel.at(Math.floor(rng.exponential(MEAN_DELAY_US)) as Instant, handler);
    return kernel;
  };
  return {
    name: `kernel hold model (${PENDING} pending, exp delays, ${label})`,
    unit: 'events',
    goalPerSec: 5e6,
    run(n) {
      k ??= setup();
      return k.run({ maxEvents: n }).events;
    },
  };
}

export const kernelBenches: Bench[] = [
  holdModel(1000, 'mean 1 ms: timing wheel'),
  // Delays far beyond the wheel's 65 ms window: every event goes through the heap.
  holdModel(10_000_000, 'mean 10 s: far heap'),
];
