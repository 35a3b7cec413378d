/**
 * The kernel alone on the classic hold model: 10^5 pending events; each handled event schedules
 * one more at an exponentially distributed delay (mean 1 ms) drawn from the seeded generator,
 * through a real handler call. Goal (issue 3): 5M events/s on this 2-core machine; ns-3 3.37
 * measured 1.4-2.1M with its default scheduler and 4.6-4.8M with PriorityQueueScheduler.
 */
import { Kernel } from '../../sim/kernel.ts';
import { Rng } from '../../src/rng.ts';
import type { Duration, Instant } from '../../src/time.ts';
import type { Bench } from './harness.ts';

const PENDING = 100_000;
const MEAN_DELAY_US = 1000;

function holdModel(): Bench {
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
    name: `kernel hold model (${PENDING} pending, exp delays)`,
    unit: 'events',
    goalPerSec: 5e6,
    run(n) {
      k ??= setup();
      return k.run({ maxEvents: n }).events;
    },
  };
}

export const kernelBenches: Bench[] = [holdModel()];
