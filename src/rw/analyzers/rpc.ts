/**
 * The analyzer of the simulator's RPC key-value protocol (src/wire/rpc.ts, slides 49-52).
 *
 * - Request: `op` 0 is a read, 1 a write; any other op is 'unknown-operation' (the service
 *   answers it with an error, but the node cannot know whether to replicate it).
 * - Id: the client's `xid` (u32).
 * - Reply: `status` 0 is 'ok', anything else 'failure' (the codec keeps unknown numbers; the
 *   service sends 1). Its return value is the `value` field, the 4 bytes at offset 5: the value
 *   stored or read, so replicas that agree on the stored value agree on the reply.
 * - Nothing in the bytes says request or reply (the codec's rule): a 9-byte reply given to
 *   `checkRequest` is 'truncated', an 11-byte request given to `checkReply` reads as a reply.
 *
 * It reads the fields at the codec's offsets (`RPC_REQUEST_OFF`, `RPC_REPLY_OFF`) rather than
 * through an `RpcView`, so a packet costs no allocation.
 *
 * - Read-only mode refuses a write with the service's own error reply (status 1, value 0).
 *
 * Options: none (`{}`).
 */

import { readU32 } from '../../wire/addr.ts';
import { encodeRpc, RPC_OP, RPC_STATUS, RPC_REPLY_LEN, RPC_REPLY_OFF, RPC_REQUEST_LEN, RPC_REQUEST_OFF } from '../../wire/rpc.ts';
import type { Analyzer, ReplyFacts, ReplyVerdict, RequestFacts, RequestVerdict } from '../analyzer.ts';
import { OnGroupPorts } from './common.ts';

export class RpcAnalyzer extends OnGroupPorts implements Analyzer {
  readonly name = 'rpc';

  checkRequest(payload: Uint8Array, _port: number, out: RequestFacts): RequestVerdict {
    if (payload.length < RPC_REQUEST_LEN) return 'truncated';
    const op = payload[RPC_REQUEST_OFF.op]!;
    if (op !== RPC_OP.read && op !== RPC_OP.write) return 'unknown-operation';
    out.id = readU32(payload, RPC_REQUEST_OFF.xid);
    return op === RPC_OP.read ? 'read' : 'write';
  }

  checkReply(payload: Uint8Array, _port: number, out: ReplyFacts): ReplyVerdict {
    if (payload.length < RPC_REPLY_LEN) return 'truncated';
    out.id = readU32(payload, RPC_REPLY_OFF.xid);
    out.valueOff = RPC_REPLY_OFF.value;
    out.valueLen = RPC_REPLY_LEN - RPC_REPLY_OFF.value;
    return payload[RPC_REPLY_OFF.status] === RPC_STATUS.ok ? 'ok' : 'failure';
  }

  /** Read-only mode: the service's own error reply (status 1, value 0). */
  refuse(payload: Uint8Array): Uint8Array | undefined {
    if (payload.length < RPC_REQUEST_LEN) return undefined;
    return encodeRpc({ kind: 'reply', xid: readU32(payload, RPC_REQUEST_OFF.xid), status: RPC_STATUS.error, value: 0 });
  }
}
