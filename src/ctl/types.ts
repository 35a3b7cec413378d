/**
 * The feedback protocol's values (slide 27), shared by the node's SGctrld (src/ctl/ctld.ts),
 * the client library and `sg cmd`. The messages' own vocabulary (classes, operations, statuses,
 * commands and results) is the codec's, src/wire/feedback.ts, re-exported here; keys, roles and
 * the port are the control part's.
 * Unlike the seed's, every message is authenticated: a key id, a timestamp in microseconds and
 * an HMAC-SHA256 over the rest.
 */

export { CTL_CLASS, CTL_OP, CTL_STATUS, type CtlAuth, type CtlClass, type CtlCommand, type CtlOp, type CtlResult, type CtlStatus } from '../wire/feedback.ts';

/** Who may change what: a server key only its own server's few properties; admin all. */
export type CtlRole = { readonly kind: 'admin' } | { readonly kind: 'server'; readonly group: string; readonly server: string };

export interface CtlKey {
  readonly id: number;
  /** At least 16 bytes. */
  readonly secret: Uint8Array;
  readonly role: CtlRole;
}

/** The UDP port SGctrld listens on (an unassigned port; configurable). */
export const CTL_PORT_DEFAULT = 5890;
