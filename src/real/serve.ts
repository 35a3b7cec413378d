/**
 * The lab's own small servers (`sg lab serve KIND PORT --name HOST`), run inside a host's
 * namespace: `http` answers every request with the host's name (when nginx is not installed),
 * `tcp-echo` and `udp-echo` echo what they get. Bound to every address of the namespace.
 */
import { createServer as createHttp } from 'node:http';
import { createServer as createTcp } from 'node:net';
import { createSocket } from 'node:dgram';

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
      throw new Error(`sg lab serve: unknown kind '${kind}' (http, tcp-echo, udp-echo)`);
  }
}
