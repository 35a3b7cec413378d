/**
 * The property model of the feedback protocol (slide 27): what a command may read and change,
 * per class (cluster, group, server), as one `as const` table, PROPERTIES (STYLE.md 6), that
 * SGctrld (src/ctl/ctld.ts), `sg cmd` and the docs all read.
 *
 * Each property has a type, a range or its allowed values, and who may write it:
 *   'admin' - an admin key;
 *   'self'  - a server key on its own server (role { group, server } naming this very server).
 * Every property is readable (by admin; a server key reads only its own server's). An empty
 * `write` list makes a property read-only for everyone.
 *
 * Values travel as text (`CtlCommand.data`, `CtlResult.data`): `parseValue` turns text into a
 * typed value or a 'bad-value' message, `formatValue` does the reverse. Lists are one item per
 * line. A value that is not known yet (no counter reported since the server joined, no
 * heartbeat) reads as the empty text.
 */

import { WEIGHT_MAX } from '../balance/balancer.ts';
import { POLICIES, SERVER_STATES } from '../balance/types.ts';
import { assertNever } from '../assert.ts';
import type { CtlClass } from './types.ts';

/** Who may write a property: an admin key, or a server key on its own server. */
export type Writer = 'admin' | 'self';

/** Largest external counter value (exact integers in a double; fractions allowed below it). */
export const COUNTER_MAX = Number.MAX_SAFE_INTEGER;
/** Largest heartbeat count: the seed's counter is a 32-bit int (a sender wraps to 0 after it). */
export const HEARTBEAT_MAX = 0xffff_ffff;
/** Longest value text accepted in a set (longer is 'bad-value' without looking further). */
export const VALUE_TEXT_MAX = 64;

/** Bound of the read-only counts (links, times): exact integers in a double. */
const COUNT_MAX = Number.MAX_SAFE_INTEGER;

export type PropSpec =
  | { readonly type: 'int'; readonly min: number; readonly max: number; readonly read: true; readonly write: readonly Writer[]; readonly doc: string }
  | { readonly type: 'number'; readonly min: number; readonly max: number; readonly read: true; readonly write: readonly Writer[]; readonly doc: string }
  | { readonly type: 'enum'; readonly values: readonly string[]; readonly read: true; readonly write: readonly Writer[]; readonly doc: string }
  | { readonly type: 'bool'; readonly read: true; readonly write: readonly Writer[]; readonly doc: string }
  | { readonly type: 'string'; readonly read: true; readonly write: readonly Writer[]; readonly doc: string }
  | { readonly type: 'list'; readonly read: true; readonly write: readonly Writer[]; readonly doc: string };

export const PROPERTIES = {
  cluster: {
    links: { type: 'int', min: 0, max: COUNT_MAX, read: true, write: [], doc: 'links in the link table now' },
    'links-max': { type: 'int', min: 0, max: COUNT_MAX, read: true, write: [], doc: 'links the table holds at most' },
    'read-only': { type: 'bool', read: true, write: ['admin'], doc: 'read-only mode for every group (slide 45: state transfer); the rw models honour it' },
    groups: { type: 'list', read: true, write: [], doc: 'group names, one per line' },
  },
  group: {
    policy: { type: 'enum', values: POLICIES, read: true, write: ['admin'], doc: 'balancing policy (slide 28)' },
    weighted: { type: 'bool', read: true, write: ['admin'], doc: 'whether the policy is weighted by server weights' },
    'read-only': { type: 'bool', read: true, write: ['admin', 'self'], doc: "the group's read-only mode (slide 45: a recovering server sets it for its state transfer, then clears it); the rw models honour it" },
    servers: { type: 'list', read: true, write: [], doc: 'server names, one per line' },
    members: { type: 'list', read: true, write: [], doc: "the servers in service now (Alive), one per line in the config's order: what a ReadFirst service divides its data by (slide 20)" },
    vip: { type: 'string', read: true, write: [], doc: 'the virtual IP address' },
    port: { type: 'string', read: true, write: [], doc: "the VIP port, or 'all' (whole server)" },
  },
  server: {
    state: {
      type: 'enum',
      values: SERVER_STATES,
      read: true,
      write: ['admin', 'self'],
      doc: "health state (slide 35); a server's own key requests it (slide 33: recovery triggered by the server)",
    },
    held: {
      type: 'bool',
      read: true,
      write: ['admin'],
      doc: "true while an admin's decision holds the server: the server's own state and counter requests are refused; set by an admin's state dead or pending and by an admin's counter, lifted by an admin's state alive or held false",
    },
    weight: { type: 'int', min: 0, max: WEIGHT_MAX, read: true, write: ['admin'], doc: 'relative weight; 0 drains (no new links, open links finish)' },
    counter: { type: 'number', min: 0, max: COUNTER_MAX, read: true, write: ['admin', 'self'], doc: "the server's external load counter (slide 28); lower is less loaded" },
    heartbeat: { type: 'int', min: 0, max: HEARTBEAT_MAX, read: true, write: ['admin', 'self'], doc: "the server's heartbeat count (slide 41, cmd_server_heartbeat_count)" },
    'heartbeat-at': { type: 'int', min: 0, max: COUNT_MAX, read: true, write: [], doc: "when the last heartbeat arrived (µs, the node's clock)" },
    links: { type: 'int', min: 0, max: COUNT_MAX, read: true, write: [], doc: 'links open to the server now' },
    addr: { type: 'string', read: true, write: [], doc: "the server's address, with ':port' when it has its own port" },
  },
} as const satisfies { readonly [C in CtlClass]: Readonly<Record<string, PropSpec>> };

export type PropName<C extends CtlClass> = keyof (typeof PROPERTIES)[C] & string;

/** The typed value of a spec: what `parseValue` yields and a target reads. */
export type SpecValue<S> = S extends { readonly type: 'int' | 'number' }
  ? number
  : S extends { readonly type: 'bool' }
    ? boolean
    : S extends { readonly type: 'enum'; readonly values: readonly (infer V)[] }
      ? V
      : S extends { readonly type: 'list' }
        ? readonly string[]
        : string;

/** The value of property P of class C, e.g. PropValueOf<'server', 'state'> is ServerState. */
export type PropValueOf<C extends CtlClass, P extends PropName<C>> = SpecValue<(typeof PROPERTIES)[C][P]>;

/** Any property value; `null`: not known yet (reads as ''). */
export type PropValue = number | boolean | string | readonly string[] | null;

/** Names of the properties of class C that some role may write. */
export type WritableName<C extends CtlClass> = {
  [P in PropName<C>]: (typeof PROPERTIES)[C][P] extends { readonly write: readonly [] } ? never : P;
}[PropName<C>];

/**
 * A property of a resolved entity. `group` / `server` are indices into the node's config
 * (-1 where the class has none: group and server for cluster, server for group).
 */
export type PropRef = { readonly [C in CtlClass]: { readonly cls: C; readonly property: PropName<C>; readonly group: number; readonly server: number } }[CtlClass];

/**
 * One write, typed by class and property: `switch (w.cls)` then `switch (w.property)` narrows
 * `value` to the property's type.
 */
export type PropWrite = {
  readonly [C in CtlClass]: {
    readonly [P in WritableName<C>]: { readonly cls: C; readonly property: P; readonly group: number; readonly server: number; readonly value: PropValueOf<C, P> };
  }[WritableName<C>];
}[CtlClass];

/** The properties writable by someone, per class (derived from the table at load). */
export const WRITABLE: { readonly [C in CtlClass]: readonly PropName<C>[] } = {
  cluster: writableOf('cluster'),
  group: writableOf('group'),
  server: writableOf('server'),
};

function writableOf<C extends CtlClass>(cls: C): PropName<C>[] {
  const table = PROPERTIES[cls] as Readonly<Record<string, PropSpec>>;
  return Object.keys(table).filter((p) => (table[p] as PropSpec).write.length > 0) as PropName<C>[];
}

/** The spec of `property` in class `cls`, or undefined (own keys only: '__proto__' is no property). */
export function propSpec(cls: CtlClass, property: string): PropSpec | undefined {
  const table = PROPERTIES[cls] as Readonly<Record<string, PropSpec>>;
  return Object.hasOwn(table, property) ? table[property] : undefined;
}

/** Property names of a class in table order (the order `list` prints a server in). */
export function propNames<C extends CtlClass>(cls: C): readonly PropName<C>[] {
  return Object.keys(PROPERTIES[cls]) as PropName<C>[];
}

/** Whether `writer` may write a property with this spec. */
export function mayWrite(spec: PropSpec, writer: Writer): boolean {
  return spec.write.includes(writer);
}

export type ValueParse = { readonly ok: true; readonly value: Exclude<PropValue, null> } | { readonly ok: false; readonly message: string };

const INT_RE = /^-?[0-9]{1,20}$/;
const NUMBER_RE = /^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?$/;
/** Accepted spellings of a boolean (lower case only). */
const BOOL_TEXT: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false };

/** At most `n` characters of attacker-chosen text for an error message, quoted. */
function quote(text: string, n = 24): string {
  return JSON.stringify(text.length > n ? `${text.slice(0, n)}...` : text);
}

/**
 * Parse value text for `name` by its spec. Never throws. Rules:
 * - int: optional '-' and decimal digits, a safe integer within [min, max];
 * - number: decimal with optional fraction and exponent, finite, within [min, max];
 * - bool: 'true' / 'false' / '1' / '0';
 * - enum: exactly one of the values (case-sensitive);
 * - string: the text as is; list: one item per line.
 * No surrounding whitespace anywhere; text longer than VALUE_TEXT_MAX is refused.
 */
export function parseValue(name: string, spec: PropSpec, text: string): ValueParse {
  if (text.length > VALUE_TEXT_MAX) return { ok: false, message: `${name}: value longer than ${VALUE_TEXT_MAX} characters` };
  switch (spec.type) {
    case 'int': {
      const v = INT_RE.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(v)) return { ok: false, message: `${name} must be an integer in ${spec.min}..${spec.max}, got ${quote(text)}` };
      if (v < spec.min || v > spec.max) return { ok: false, message: `${name} must be in ${spec.min}..${spec.max}, got ${v}` };
      return { ok: true, value: v === 0 ? 0 : v }; // '-0' is 0
    }
    case 'number': {
      const v = NUMBER_RE.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(v)) return { ok: false, message: `${name} must be a number in ${spec.min}..${spec.max}, got ${quote(text)}` };
      if (v < spec.min || v > spec.max) return { ok: false, message: `${name} must be in ${spec.min}..${spec.max}, got ${quote(text)}` };
      return { ok: true, value: v === 0 ? 0 : v };
    }
    case 'bool': {
      const v = Object.hasOwn(BOOL_TEXT, text) ? BOOL_TEXT[text] : undefined;
      if (v === undefined) return { ok: false, message: `${name} must be true or false, got ${quote(text)}` };
      return { ok: true, value: v };
    }
    case 'enum':
      if (!spec.values.includes(text)) return { ok: false, message: `${name} must be one of ${spec.values.join(', ')}, got ${quote(text)}` };
      return { ok: true, value: text };
    case 'string':
      return { ok: true, value: text };
    case 'list':
      return { ok: true, value: text === '' ? [] : text.split('\n') };
    default:
      return assertNever(spec, 'property type');
  }
}

/**
 * A value as result text: decimal numbers (ECMAScript's shortest round trip, so
 * `parseValue(formatValue(v))` gives `v` back), 'true'/'false', lists one item per line, ''
 * for null (not known yet).
 */
export function formatValue(value: PropValue): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  return value.join('\n');
}

/** Whether `value` has the spec's type (a target returning otherwise is our bug). */
export function valueFits(spec: PropSpec, value: PropValue): boolean {
  if (value === null) return true;
  switch (spec.type) {
    case 'int':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'bool':
      return typeof value === 'boolean';
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value);
    case 'string':
      return typeof value === 'string';
    case 'list':
      return Array.isArray(value);
    default:
      return assertNever(spec, 'property type');
  }
}
