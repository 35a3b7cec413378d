/**
 * The feedback protocol's values (slide 27), shared by the codec (src/wire/feedback.ts), the
 * node's SGctrld (src/ctl/ctld.ts), the client library and `sg cmd`.
 *
 * A command names a class (cluster, group, server), an operation (get, set, add, delete, list),
 * the group and server it is about, a property, and data (the value, as UTF-8 text). A result
 * echoes the command id with a status and data. Unlike the seed's, every message is
 * authenticated: a key id, a timestamp in microseconds and an HMAC-SHA256 over the rest.
 */

export const CTL_CLASS = { cluster: 1, group: 2, server: 3 } as const;
export type CtlClass = keyof typeof CTL_CLASS;

export const CTL_OP = { get: 1, set: 2, add: 3, delete: 4, list: 5 } as const;
export type CtlOp = keyof typeof CTL_OP;

/** Result status codes. Stable: scripts test them. Add to the end; never renumber. */
export const CTL_STATUS = {
  ok: 0,
  'bad-message': 1, // malformed, truncated, unknown class/op, bad lengths
  unauthenticated: 2, // unknown key id or HMAC mismatch
  stale: 3, // timestamp outside the accepted window
  replay: 4, // a timestamp already seen for this key
  forbidden: 5, // the key's role may not do this
  'no-such-group': 6,
  'no-such-server': 7,
  'no-such-property': 8,
  'bad-value': 9, // wrong type or out of range
  'rate-limited': 10,
  'not-supported': 11, // a valid request this node does not implement (yet)
  superseded: 12, // a set older than one this key already applied to the same property (reordered)
} as const;
export type CtlStatus = keyof typeof CTL_STATUS;

export interface CtlAuth {
  /** Which key signed it (a key file names its id). */
  readonly keyId: number;
  /** Sender's clock in µs (wall clock in real mode, simulated time in the simulator). */
  readonly timestamp: number;
}

export interface CtlCommand extends CtlAuth {
  readonly kind: 'command';
  /** Chosen by the sender; echoed in the result. */
  readonly id: number;
  /** Slide 27's handle: an opaque session value, echoed; 0 when unused. */
  readonly handle: number;
  readonly cls: CtlClass;
  readonly op: CtlOp;
  /** Group name ('' for cluster-class commands). */
  readonly group: string;
  /** Server name ('' unless cls is server). */
  readonly server: string;
  readonly property: string;
  /** The value as text (numbers in decimal), '' when none. */
  readonly data: string;
}

export interface CtlResult extends CtlAuth {
  readonly kind: 'result';
  readonly id: number;
  readonly status: CtlStatus;
  /** The value read, a listing (one item per line), or an error message. */
  readonly data: string;
}

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
