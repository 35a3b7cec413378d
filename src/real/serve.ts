/**
 * The lab's own small servers (`sg lab serve KIND PORT --name HOST`), run inside a host's
 * namespace: `http` answers every request with the host's name (when nginx is not installed),
 * `tcp-echo` and `udp-echo` echo what they get. Bound to every address of the namespace.
 * `multicast-sink` (`multicastSink`, its own options) joins a group and writes a JSON line per
 * datagram to stdout.
 */
import { createServer as createHttp } from 'node:http';
import { createServer as createTcp } from 'node:net';
import { createSocket } from 'node:dgram';
import { writeSync } from 'node:fs';
import { parseStamp } from '../wire/stamp.ts';
import { monotonicUs } from './engine-worker.ts';

/** The kinds `serve` runs. */
export const SERVE_KINDS = ['http', 'bulk', 'tcp-echo', 'udp-echo', 'multicast-sink'] as const;

export interface MulticastSinkOptions {
  readonly port: number;
  /** The host's name (`node` of each line). */
  readonly name: string;
  /** The sink's service name (`service` of each line). */
  readonly service: string;
  /** The group, dotted. */
  readonly group: string;
  /** The host's interface address to join the group on, dotted. */
  readonly ifaceAddr: string;
}


/** Each received datagram's line, and the join's (`kind: mcast-recv` and `mcast-joined`). */
export type McastLine =
  | { readonly kind: 'mcast-recv'; readonly tm: number; readonly sent: number | null; readonly node: string; readonly service: string; readonly bytes: number }
  | { readonly kind: 'mcast-joined'; readonly tm: number; readonly group: string };

/** Each line to stdout, synchronously: a SIGKILL loses nothing already received. */
export function stdoutLine(line: string): void {
  writeSync(1, `${line}\n`);
}

/**
 * The simulator's MulticastSink (sim/services.ts) with a real socket: binds 0.0.0.0:port with
 * reuseAddr, joins `group` on `ifaceAddr`, then `emit`s an `mcast-joined` line, and an
 * `mcast-recv` line for every time stamp (src/wire/stamp.ts: 12 bytes or more; `tm`: CLOCK_MONOTONIC µs at receipt;
 * `sent`: the f64 at offset 4, the sender's CLOCK_MONOTONIC µs, null when not finite). Shorter
 * datagrams are counted (`short`) and ignored. `onError` gets a bind or join failure.
 */
export function multicastSink(o: MulticastSinkOptions, emit: (line: string) => void, log: (l: string) => void, onError: (e: Error) => void): { readonly close: () => void; readonly port: () => number; readonly counts: { received: number; short: number } } {
  const counts = { received: 0, short: 0 };
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  s.on('message', (m) => {
    const tm = monotonicUs();
    const stamp = parseStamp(m, 'time');
    if (!stamp.ok) {
      counts.short++;
      return;
    }
    counts.received++;
    const sent = stamp.value.sentUs;
    const line: McastLine = { kind: 'mcast-recv', tm, sent: Number.isFinite(sent) ? sent : null, node: o.name, service: o.service, bytes: m.length };
    emit(JSON.stringify(line));
  });
  s.on('error', (e) => onError(e));
  s.bind(o.port, '0.0.0.0', () => {
    try {
      s.addMembership(o.group, o.ifaceAddr);
    } catch (e) {
      onError(new Error(`cannot join ${o.group} on ${o.ifaceAddr}: ${(e as Error).message}`));
      return;
    }
    const line: McastLine = { kind: 'mcast-joined', tm: monotonicUs(), group: o.group };
    emit(JSON.stringify(line));
    log(`multicast-sink ${o.service} on :${o.port} joined ${o.group} on ${o.ifaceAddr} as ${o.name}`);
  });
  return {
    close: () => {
      try {
        s.close();
      } catch {
        // closed already (after an error)
      }
    },
    /** The bound port (PORT, or the kernel's pick for 0). */
    port: () => s.address().port,
    counts,
  };
}

export function serve(kind: string, port: number, name: string, log: (l: string) => void): () => void {
  switch (kind) {
    case 'http': {
      const srv = createHttp((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`${name}\n`);
        });
      });
      srv.listen(port, () => log(`http on :${port} as ${name}`));
      return () => srv.close();
    }
    case 'bulk': {
      // The simulator's protocol: the request line 'GET <size>\n', then <size> bytes and close.
      const chunk = Buffer.alloc(65536, 0x42);
      const srv = createTcp((c) => {
        let line = '';
        c.setEncoding('latin1');
        const onData = (d: string) => {
          line += d;
          const nl = line.indexOf('\n');
          if (nl < 0) {
            if (line.length > 64) c.destroy();
            return;
          }
          c.off('data', onData);
          let left = Number(/^GET (\d+)/.exec(line)?.[1] ?? 0);
          const pump = () => {
            while (left > 0) {
              const n = Math.min(left, chunk.length);
              left -= n;
              if (!c.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void c.once('drain', pump);
            }
            c.end();
          };
          pump();
        };
        c.on('data', onData);
        c.on('error', () => {});
      });
      srv.listen(port, () => log(`bulk on :${port}`));
      return () => srv.close();
    }
    case 'tcp-echo': {
      const srv = createTcp((c) => c.pipe(c));
      srv.listen(port, () => log(`tcp-echo on :${port}`));
      return () => srv.close();
    }
    case 'udp-echo': {
      const s = createSocket('udp4');
      s.on('message', (m, r) => s.send(m, r.port, r.address));
      s.bind(port, () => log(`udp-echo on :${port}`));
      return () => s.close();
    }
    default:
      // multicast-sink has options of its own: multicastSink.
      throw new Error(`sg lab serve: unknown kind '${kind}' (http, bulk, tcp-echo, udp-echo)`);
  }
}
