/**
 * Parse results. Parsers never throw on bad input: they return `{ ok: false, error }` with a
 * stable reason code that callers count and trace (STYLE.md 2: bad input is data). A broken
 * invariant of our own is an assertion instead (src/assert.ts).
 */

/** Stable reason codes. Add to the end; never rename one (traces and counters use them). */
export const PARSE_REASONS = [
  'truncated', // fewer bytes than the header or a length field needs
  'bad-checksum', // a checksum that does not verify
  'bad-version', // a version field this codec does not speak
  'bad-length', // a length field that contradicts the bytes or itself
  'bad-header-length', // a header-length field below the minimum
  'bad-option', // an option whose length runs past its area or is below 2
  'unsupported', // well-formed but outside what this codec handles (e.g. ARP for non-IPv4)
  'bad-magic', // a file or message magic number that does not match
  'bad-value', // a field outside its enum or range, or a reserved byte not zero
] as const;
export type ParseReason = (typeof PARSE_REASONS)[number];

/** The codecs that report parse errors, one name each (a drop of bad input names its codec). */
export const PARSE_LAYERS = [
  'ethernet', 'arp', 'ipv4', 'icmp', 'igmp', 'tcp', 'udp', // src/wire/ packets
  'bidd', 'sync', 'fresh', 'stamp', 'feedback', 'rpc', 'oncrpc', // src/wire/ messages
  'pcap', 'pcapng', // src/capture/
  'trace', // src/trace.ts
] as const;
export type ParseLayer = (typeof PARSE_LAYERS)[number];

export interface ParseError {
  readonly reason: ParseReason;
  /** Which codec said no. */
  readonly layer: ParseLayer;
  readonly detail?: string;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ParseError };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T = never>(layer: ParseLayer, reason: ParseReason, detail?: string): Parsed<T> {
  return { ok: false, error: detail === undefined ? { layer, reason } : { layer, reason, detail } };
}
