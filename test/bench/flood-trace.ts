/**
 * Trace bytes of an SG node under a flood of junk control datagrams and forged bidd heartbeats
 * (src/engine/drop-trace.ts): `node --import tsx test/bench/flood-trace.ts [N]`.
 */
import { CtlSession } from '../../src/ctl/client.ts';
import { SgNode } from '../../src/engine/sg-node.ts';
import { JsonlTrace } from '../../src/trace.ts';
import { millis, seconds, type Instant } from '../../src/time.ts';
import { ip, mac, multicastMac } from '../../src/wire/addr.ts';
import { encodeBidd } from '../../src/wire/bidd.ts';
import { CLIENT_MAC, config, PUB, SG_PUB, SG_PUB_MAC, udpFrame } from '../engine/rig.ts';

const N = Number(process.argv[2] ?? 100_000);
const GROUP = ip('224.1.1.1');
const cfg = config({
  ctl: { port: 5890, keys: [{ id: 1, secret: new Uint8Array(16).fill(0xa1), role: { kind: 'admin' } }] },
  failover: {
    group: GROUP, port: 5891, node: 1, price: 100,
    heartbeatInterval: millis(100), masterTimeout: millis(300), bidTimeout: millis(100), holdDown: seconds(10), stallBound: millis(500),
    key: { id: 1, secret: new TextEncoder().encode('0123456789abcdef') },
  },
});
let bytes = 0;
let lines = 0;
const trace = new JsonlTrace((l) => {
  bytes += l.length + 1;
  lines++;
});
const node = new SgNode(cfg, { trace, now: 0 as Instant });
const forgedCmd = new CtlSession({ id: 1, secret: new Uint8Array(16).fill(0xee), role: { kind: 'admin' } }).command({ cls: 'server', op: 'set', group: 'web', server: 'rs1', property: 'state', data: 'alive' }, 0).bytes;
const junk = new TextEncoder().encode('junk junk junk');
const bidd = encodeBidd({ kind: 'heartbeat', group: GROUP, node: 2, price: 200, epoch: 3, links: 0, keyId: 1, inc: 1, seq: 7 }, new TextEncoder().encode('wrong-key-wrong-key'));
const frames = [
  (a: number) => udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: (ip('10.1.0.0') + (a % 1000)) as typeof SG_PUB, dst: SG_PUB, sport: 40_000, dport: 5890, payload: junk }),
  (a: number) => udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: (ip('10.1.0.0') + (a % 1000)) as typeof SG_PUB, dst: SG_PUB, sport: 40_000, dport: 5890, payload: forgedCmd }),
  () => udpFrame({ srcMac: CLIENT_MAC, dstMac: SG_PUB_MAC, src: ip('140.116.72.66'), dst: SG_PUB, sport: 40_000, dport: 5890, payload: forgedCmd }),
  () => udpFrame({ srcMac: mac('02:00:00:00:01:09'), dstMac: multicastMac(GROUP), src: ip('140.116.72.212'), dst: GROUP, sport: 5891, dport: 5891, ttl: 1, payload: bidd }),
];
const durationUs = 2_000_000;
let now = 0;
for (let i = 0; i < 2 * N; i++) {
  now = Math.floor((i * durationUs) / (2 * N));
  for (let d = node.pollTimeout(); d !== undefined && d <= now; d = node.pollTimeout()) node.handleTimeout(d);
  // Half control-port junk (unparsable, forged from 1,000 addresses, forged from one), half forged bidd.
  const f = i % 2 === 1 ? frames[3]!(0) : frames[(i >> 1) % 3]!(i >> 1);
  node.handleFrame(now as Instant, PUB, f);
  while (node.pollTransmit() !== undefined);
}
node.finishTrace(now as Instant);
console.log(`${2 * N} junk datagrams (${N} to the control port, ${N} forged bidd) over ${durationUs / 1e6} s: ${lines - 1} trace events, ${bytes} bytes`);
