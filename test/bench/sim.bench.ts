/**
 * Simulated time against wall time for a 100 Mbit/s bulk TCP transfer: a client
 * downloads 50 MB files back to back from a server on the same switch over 100 Mbit/s links with
 * 0.1 ms latency, full host stacks on both sides, tracing and capture off. One item is one
 * simulated millisecond, so `items/s / 1000` is the simulated-to-wall-time ratio.
 */
import { Network } from '../../sim/network.ts';
import { millis, type Instant } from '../../src/time.ts';
import { ip } from '../../src/wire/addr.ts';
import type { Bench } from './harness.ts';

function bulk100(): Bench {
  let net: Network | undefined;
  const setup = (): Network => {
    const n = new Network({ seed: 1 });
    const sw = n.switch('lan');
    const link = { latency: millis(0.1), bandwidthBps: 100e6 };
    const server = n.host('server', { ifaces: [{ ip: '10.0.0.1/24', on: sw, link }] });
    const client = n.host('client', { ifaces: [{ ip: '10.0.0.2/24', on: sw, link }] });
    n.bulk(server, { port: 21 });
    n.workload({ name: 'ftp', host: client, target: { addr: ip('10.0.0.1'), port: 21 }, request: { kind: 'bulk', size: 50_000_000 }, arrival: { kind: 'closed', users: 1 }, timeout: millis(60_000) });
    return n;
  };
  return {
    name: 'bulk TCP at 100 Mbit/s, simulated ms per wall second',
    unit: 'sim-ms',
    run(n) {
      net ??= setup();
      net.run((net.now + n * 1000) as Instant);
      return net.world.kernel.handled;
    },
  };
}

export const simBenches: Bench[] = [bulk100()];
