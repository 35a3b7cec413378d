/**
 * The client library of the feedback protocol (the seed's libsgmsg, slide 27): build signed
 * commands and read signed results. Pure: the caller sends the bytes (UDP in real mode, a
 * simulated host's socket in the simulator) and supplies the clock.
 *
 * The seed's `cmd_server_heartbeat_count(group_ip, group_port, server_ip, server_port, count,
 * OP_SET)` is `heartbeat(session, group, server, count)` here.
 */

import { encodeCommand, feedbackProblem, parseFeedback, verifyFeedback } from '../wire/feedback.ts';
import type { CtlClass, CtlCommand, CtlKey, CtlOp, CtlResult, CtlStatus } from './types.ts';

export interface CtlRequest {
  readonly cls: CtlClass;
  readonly op: CtlOp;
  readonly group?: string;
  readonly server?: string;
  readonly property?: string;
  readonly data?: string;
}

/** Largest command id before it wraps (u32). */
const ID_MAX = 0xffffffff;

/** Why a request cannot be sent (a name over 64 bytes, data over 1024), or undefined. */
export function requestProblem(req: CtlRequest): string | undefined {
  return feedbackProblem({
    kind: 'command', id: 1, handle: 0, cls: req.cls, op: req.op, group: req.group ?? '', server: req.server ?? '',
    property: req.property ?? '', data: req.data ?? '', keyId: 0, timestamp: 0,
  });
}

/** A sender's state: its key, and the id and timestamp of its last command (both increase). */
export class CtlSession {
  #id: number;
  #lastTs = 0;
  /**
   * `firstId`: where command ids start. A one-shot CLI should start at a random id, so a result
   * captured from an earlier invocation cannot pass as the answer to this one (results are
   * matched by id and key, and checked for freshness by `readResult`).
   */
  constructor(readonly key: CtlKey, firstId = 1) {
    this.#id = Math.max(0, Math.min(ID_MAX, Math.floor(firstId)) - 1);
  }

  /**
   * A signed command. `nowUs` is the sender's clock in µs; a timestamp never repeats for one
   * session (the receiver rejects a repeated one as a replay), so two commands in the same
   * microsecond get consecutive timestamps.
   */
  command(req: CtlRequest, nowUs: number): { readonly bytes: Uint8Array; readonly command: CtlCommand } {
    this.#id = this.#id >= ID_MAX ? 1 : this.#id + 1;
    const timestamp = Math.max(Math.floor(nowUs), this.#lastTs + 1);
    this.#lastTs = timestamp;
    const command: CtlCommand = {
      kind: 'command',
      id: this.#id,
      handle: 0,
      cls: req.cls,
      op: req.op,
      group: req.group ?? '',
      server: req.server ?? '',
      property: req.property ?? '',
      data: req.data ?? '',
      keyId: this.key.id,
      timestamp,
    };
    return { bytes: encodeCommand(command, this.key.secret), command };
  }

  heartbeat(group: string, server: string, count: number, nowUs: number): Uint8Array {
    return this.command({ cls: 'server', op: 'set', group, server, property: 'heartbeat', data: String(count) }, nowUs).bytes;
  }

  setCounter(group: string, server: string, value: number, nowUs: number): Uint8Array {
    return this.command({ cls: 'server', op: 'set', group, server, property: 'counter', data: String(value) }, nowUs).bytes;
  }

  reportState(group: string, server: string, state: 'alive' | 'pending' | 'dead', nowUs: number): Uint8Array {
    return this.command({ cls: 'server', op: 'set', group, server, property: 'state', data: state }, nowUs).bytes;
  }
}

export type ReadResult =
  | { readonly ok: true; readonly result: CtlResult }
  /** Not a result, not for this command, or not signed by the key we share with the node. */
  | { readonly ok: false; readonly reason: string };

/** How much older than the command a result may be stamped (clock skew between client and node). */
export const RESULT_SKEW_US = 30_000_000;

/**
 * Check a reply: a well-formed result, for command `id`, signed with our key, and (when the
 * command's timestamp is given) not stamped long before the command was sent.
 */
export function readResult(bytes: Uint8Array, key: CtlKey, id: number, sentAtUs?: number): ReadResult {
  const p = parseFeedback(bytes);
  if (!p.ok) return { ok: false, reason: `malformed reply (${p.error.reason})` };
  const m = p.value.message;
  if (m.kind !== 'result') return { ok: false, reason: 'not a result' };
  if (m.id !== id) return { ok: false, reason: `reply to command ${m.id}, not ${id}` };
  if (m.keyId !== key.id || !verifyFeedback(p.value, key.secret)) return { ok: false, reason: 'reply not signed with our key' };
  if (sentAtUs !== undefined && m.timestamp < sentAtUs - RESULT_SKEW_US) return { ok: false, reason: 'stale reply (stamped before the command was sent)' };
  return { ok: true, result: m };
}

export type { CtlStatus };
