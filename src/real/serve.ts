/**
 * The lab's own small servers (`sg lab serve KIND PORT --name HOST`), run inside a host's
 * namespace: `http` answers every request with the host's name (when nginx is not installed),
 * `tcp-echo` and `udp-echo` echo what they get. Bound to every address of the namespace.
 */
import { createServer as createHttp } from 'node:http';
import { createServer as createTcp } from 'node:net';
import { createSocket } from 'node:dgram';

/** The kinds `serve` runs. */
export const SERVE_KINDS = ['http', 'bulk', 'tcp-echo', 'udp-echo'] as const;

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
      throw new Error(`sg lab serve: unknown kind '${kind}' (http, bulk, tcp-echo, udp-echo)`);
  }
}
