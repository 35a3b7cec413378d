/**
 * IGMP versions 2 and 3 (RFC 2236, RFC 3376), with the v1 report (RFC 1112) recognised.
 *
 * v1/v2 messages: 0 type | 1 max resp code | 2 checksum | 4 group             (8 bytes)
 * v3 query:       ... | 8 resv(4) S(1) QRV(3) | 9 QQIC | 10 #sources | 12 sources
 * v3 report:      0 type | 1 reserved | 2 checksum | 4 reserved | 6 #records | 8 records, each:
 *                 0 record type | 1 aux words | 2 #sources | 4 group | 8 sources | aux data
 */

import { readIpv4, readU16, writeIpv4, writeU16, type Ipv4Addr } from './addr.ts';
import { internetChecksum } from './checksum.ts';
import { fail, ok, type Parsed } from './result.ts';

export const IGMP_TYPE = {
  query: 0x11,
  v1Report: 0x12,
  v2Report: 0x16,
  leave: 0x17,
  v3Report: 0x22,
} as const;

/** v3 group record types (RFC 3376 4.2.12). */
export const IGMP_RECORD = {
  modeIsInclude: 1,
  modeIsExclude: 2,
  changeToInclude: 3,
  changeToExclude: 4,
  allowNewSources: 5,
  blockOldSources: 6,
} as const;

/** All-systems and all-routers groups, and v3's report destination. */
export const IGMP_ALL_SYSTEMS = 0xe0000001 as Ipv4Addr; // 224.0.0.1
export const IGMP_ALL_ROUTERS = 0xe0000002 as Ipv4Addr; // 224.0.0.2
export const IGMP_V3_ROUTERS = 0xe0000016 as Ipv4Addr; // 224.0.0.22

/** Sources and records we accept in one message (a 1500-byte MTU holds fewer). */
export const IGMP_SOURCES_MAX = 366;
export const IGMP_RECORDS_MAX = 256;

export interface IgmpGroupRecord {
  readonly type: number;
  readonly group: Ipv4Addr;
  readonly sources: readonly Ipv4Addr[];
  /** Auxiliary data, a multiple of 4 bytes. */
  readonly auxData: Uint8Array;
}

export type IgmpMessage =
  /** v1 (max resp code 0) or v2 membership query; group 0 is a general query. */
  | { readonly kind: 'query'; readonly maxRespCode: number; readonly group: Ipv4Addr }
  | {
      readonly kind: 'v3-query';
      readonly maxRespCode: number;
      readonly group: Ipv4Addr;
      /** The 4 reserved bits of byte 8, carried as they are. */
      readonly reserved: number;
      readonly suppressRouterSide: boolean;
      readonly qrv: number;
      readonly qqic: number;
      readonly sources: readonly Ipv4Addr[];
    }
  | { readonly kind: 'v1-report'; readonly group: Ipv4Addr }
  | { readonly kind: 'v2-report'; readonly group: Ipv4Addr }
  | { readonly kind: 'leave'; readonly group: Ipv4Addr }
  | { readonly kind: 'v3-report'; readonly records: readonly IgmpGroupRecord[] }
  | { readonly kind: 'unknown'; readonly type: number; readonly code: number; readonly body: Uint8Array };

/**
 * Maximum response time in tenths of a second. v2 codes are the value itself; a v3 code of 128 or
 * more is a floating-point value: (mant | 0x10) << (exp + 3) (RFC 3376 4.1.1).
 */
export function igmpMaxRespDeciseconds(code: number, v3: boolean): number {
  if (!v3 || code < 128) return code;
  return ((code & 15) | 0x10) << (((code >>> 4) & 7) + 3);
}

export interface IgmpParseOptions {
  readonly verifyChecksum?: boolean;
}

function readSources(b: Uint8Array, off: number, n: number): Ipv4Addr[] {
  const out: Ipv4Addr[] = [];
  for (let i = 0; i < n; i++) out.push(readIpv4(b, off + 4 * i));
  return out;
}

/** Parse a whole IGMP message (the IPv4 payload). */
export function parseIgmp(b: Uint8Array, opts: IgmpParseOptions = {}): Parsed<IgmpMessage> {
  if (b.length < 8) return fail('igmp', 'truncated');
  if (opts.verifyChecksum !== false && internetChecksum(b) !== 0) return fail('igmp', 'bad-checksum');
  const type = b[0]!;
  const code = b[1]!;
  switch (type) {
    case IGMP_TYPE.query: {
      if (b.length === 8) return ok({ kind: 'query', maxRespCode: code, group: readIpv4(b, 4) });
      if (b.length < 12) return fail('igmp', 'bad-length', `query of ${b.length} bytes`);
      const n = readU16(b, 10);
      if (n > IGMP_SOURCES_MAX) return fail('igmp', 'unsupported', `${n} sources`);
      if (b.length < 12 + 4 * n) return fail('igmp', 'truncated');
      return ok({
        kind: 'v3-query',
        maxRespCode: code,
        group: readIpv4(b, 4),
        reserved: b[8]! >>> 4,
        suppressRouterSide: (b[8]! & 8) !== 0,
        qrv: b[8]! & 7,
        qqic: b[9]!,
        sources: readSources(b, 12, n),
      });
    }
    case IGMP_TYPE.v1Report:
      return ok({ kind: 'v1-report', group: readIpv4(b, 4) });
    case IGMP_TYPE.v2Report:
      return ok({ kind: 'v2-report', group: readIpv4(b, 4) });
    case IGMP_TYPE.leave:
      return ok({ kind: 'leave', group: readIpv4(b, 4) });
    case IGMP_TYPE.v3Report: {
      const m = readU16(b, 6);
      if (m > IGMP_RECORDS_MAX) return fail('igmp', 'unsupported', `${m} records`);
      const records: IgmpGroupRecord[] = [];
      let p = 8;
      for (let i = 0; i < m; i++) {
        if (b.length < p + 8) return fail('igmp', 'truncated');
        const aux = b[p + 1]! * 4;
        const n = readU16(b, p + 2);
        if (n > IGMP_SOURCES_MAX) return fail('igmp', 'unsupported', `${n} sources`);
        const end = p + 8 + 4 * n + aux;
        if (b.length < end) return fail('igmp', 'truncated');
        records.push({
          type: b[p]!,
          group: readIpv4(b, p + 4),
          sources: readSources(b, p + 8, n),
          auxData: b.slice(p + 8 + 4 * n, end),
        });
        p = end;
      }
      return ok({ kind: 'v3-report', records });
    }
  }
  return ok({ kind: 'unknown', type, code, body: b.subarray(4) });
}

export function igmpLength(v: IgmpMessage): number {
  switch (v.kind) {
    case 'query':
    case 'v1-report':
    case 'v2-report':
    case 'leave':
      return 8;
    case 'v3-query':
      return 12 + 4 * v.sources.length;
    case 'v3-report': {
      let n = 8;
      for (const r of v.records) n += 8 + 4 * r.sources.length + r.auxData.length;
      return n;
    }
    case 'unknown':
      return 4 + v.body.length;
  }
}

/** Writes exactly `igmpLength(v)` bytes at `off`, checksum included; returns that count. */
export function emitIgmp(v: IgmpMessage, buf: Uint8Array, off = 0): number {
  const len = igmpLength(v);
  buf.fill(0, off, off + 8);
  switch (v.kind) {
    case 'query':
      buf[off] = IGMP_TYPE.query;
      buf[off + 1] = v.maxRespCode;
      writeIpv4(buf, off + 4, v.group);
      break;
    case 'v3-query':
      buf[off] = IGMP_TYPE.query;
      buf[off + 1] = v.maxRespCode;
      writeIpv4(buf, off + 4, v.group);
      buf[off + 8] = ((v.reserved & 15) << 4) | (v.suppressRouterSide ? 8 : 0) | (v.qrv & 7);
      buf[off + 9] = v.qqic;
      writeU16(buf, off + 10, v.sources.length);
      v.sources.forEach((s, i) => writeIpv4(buf, off + 12 + 4 * i, s));
      break;
    case 'v1-report':
    case 'v2-report':
    case 'leave':
      buf[off] = v.kind === 'v1-report' ? IGMP_TYPE.v1Report : v.kind === 'v2-report' ? IGMP_TYPE.v2Report : IGMP_TYPE.leave;
      writeIpv4(buf, off + 4, v.group);
      break;
    case 'v3-report': {
      buf[off] = IGMP_TYPE.v3Report;
      writeU16(buf, off + 6, v.records.length);
      let p = off + 8;
      for (const r of v.records) {
        buf[p] = r.type;
        buf[p + 1] = r.auxData.length >>> 2;
        writeU16(buf, p + 2, r.sources.length);
        writeIpv4(buf, p + 4, r.group);
        p += 8;
        for (const s of r.sources) {
          writeIpv4(buf, p, s);
          p += 4;
        }
        buf.set(r.auxData, p);
        p += r.auxData.length;
      }
      break;
    }
    case 'unknown':
      buf[off] = v.type;
      buf[off + 1] = v.code;
      buf.set(v.body, off + 4);
      break;
  }
  writeU16(buf, off + 2, 0);
  writeU16(buf, off + 2, internetChecksum(buf, off, len));
  return len;
}

export function encodeIgmp(v: IgmpMessage): Uint8Array {
  const out = new Uint8Array(igmpLength(v));
  emitIgmp(v, out);
  return out;
}
