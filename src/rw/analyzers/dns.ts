/**
 * The DNS analyzer (RFC 1035 over UDP), with dynamic update (RFC 2136) as the write, so an
 * unmodified DNS server can be a WriteAll member with no IP option at all (slide 1's
 * "little or no modification"): the RCODE of its reply is the write's status.
 *
 *   Header (12 bytes)
 *     0  ID       u16  chosen by the client, echoed in the reply
 *     2  flags    u16  QR (bit 15), OPCODE (14-11), AA, TC (9), RD, RA, Z, RCODE (3-0)
 *     4  QDCOUNT  u16  questions; in an UPDATE, ZOCOUNT (zones)
 *     6  ANCOUNT  u16  answers;  PRCOUNT (prerequisites)
 *     8  NSCOUNT  u16  authority; UPCOUNT (updates)
 *    10  ARCOUNT  u16  additional (OPT, TSIG)
 *
 * Rules:
 * - Id: the header ID. A request is QR=0; OPCODE 0 QUERY is a read, 5 UPDATE a write, and any
 *   other opcode (IQUERY, STATUS, NOTIFY, DSO) is 'unknown-operation': none of them is a client's
 *   read or write of the zone (NOTIFY goes from a primary to its secondaries, not through a VIP).
 * - A request has exactly one question, or for an UPDATE one zone ('bad-value' otherwise: RFC
 *   2136 3.1.1, and every resolver), and every section must parse: names of labels of at most 63
 *   bytes, at most 255 bytes long, a compression pointer only backwards into the message
 *   ('bad-name'); each record's fixed fields and rdata inside the datagram ('truncated').
 *   Bytes after the last record are ignored.
 * - A reply is QR=1 with OPCODE 0 or 5. Its status is its RCODE: 0 NOERROR is 'ok', anything
 *   else (FORMERR 1, SERVFAIL 2, NXDOMAIN 3, REFUSED 5, NOTAUTH 9, ...) 'failure'. With an OPT
 *   record (EDNS, RFC 6891) the RCODE is the 12-bit extended one (OPT's upper 8 bits above the
 *   header's 4), so BADVERS (16) is a failure though its low bits are 0.
 * - A reply's return value is everything from byte 2 (the ID is not compared: it is the
 *   client's) up to the additional section: flags with the RCODE, the four counts, the
 *   question or zone, the answer or prerequisite and the authority or update sections. The
 *   additional section is not compared: OPT and TSIG are per-server (a TSIG's time and MAC
 *   differ between servers that agree). So two servers' replies to one UPDATE agree when they
 *   give the same RCODE and echo the same zone (RFC 2136 3.8: a reply copies the request's
 *   sections or zeroes their counts; servers of one software do the same).
 * - A reply with TC=1 may stop anywhere (RFC 2181 9): its sections are not parsed, its status is
 *   the header RCODE and its value runs to the end of the datagram.
 *
 * Options: none (`{}`).
 */

import { readU16, writeU16 } from '../../wire/addr.ts';
import type { Analyzer, AnalyzerReason, ReplyFacts, ReplyVerdict, RequestFacts, RequestVerdict } from '../analyzer.ts';
import { OnGroupPorts } from './common.ts';

// The protocol's constants live with the DNS codec (src/wire/dns.ts); re-exported here.
import { DNS_HEADER_LEN, DNS_NAME_MAX, DNS_OFF, DNS_OPCODE, DNS_RCODE, DNS_TYPE } from '../../wire/dns.ts';
export { DNS_HEADER_LEN, DNS_LABEL_MAX, DNS_NAME_MAX, DNS_OFF, DNS_OPCODE, DNS_RCODE, DNS_TYPE } from '../../wire/dns.ts';

const QR = 0x8000;
const TC = 0x0200;
const opcodeOf = (flags: number): number => (flags >> 11) & 0xf;

/** Names are skipped, not decoded; a negative offset is one of these error codes. */
const ERR_TRUNCATED = -1;
const ERR_NAME = -2;
function errorOf(code: number): AnalyzerReason {
  return code === ERR_NAME ? 'bad-name' : 'truncated';
}

/** The offset past the name at `off`, or ERR_TRUNCATED / ERR_NAME. */
function skipName(b: Uint8Array, off: number): number {
  let p = off;
  let len = 0;
  for (;;) {
    if (p >= b.length) return ERR_TRUNCATED;
    const l = b[p]!;
    if (l === 0) return p + 1;
    const top = l & 0xc0;
    if (top === 0xc0) {
      if (p + 2 > b.length) return ERR_TRUNCATED;
      const target = ((l & 0x3f) << 8) | b[p + 1]!;
      // Only backwards, and to a name after the header: a pointer cannot make a loop here.
      return target >= DNS_HEADER_LEN && target < off ? p + 2 : ERR_NAME;
    }
    if (top !== 0) return ERR_NAME; // 0x40, 0x80: extended label types (RFC 6891 dropped them)
    len += l + 1;
    if (len + 1 > DNS_NAME_MAX) return ERR_NAME;
    p += l + 1;
  }
}

/** The offset past `n` questions (name, type, class) from `off`, or an error code. */
function skipQuestions(b: Uint8Array, off: number, n: number): number {
  let p = off;
  for (let i = 0; i < n; i++) {
    p = skipName(b, p);
    if (p < 0) return p;
    p += 4;
    if (p > b.length) return ERR_TRUNCATED;
  }
  return p;
}

/**
 * The offset past `n` resource records from `off`, or an error code. When `opt` is given, the
 * extended RCODE bits of an OPT record among them are stored in `opt.ext`.
 */
function skipRecords(b: Uint8Array, off: number, n: number, opt?: { ext: number }): number {
  let p = off;
  for (let i = 0; i < n; i++) {
    p = skipName(b, p);
    if (p < 0) return p;
    if (p + 10 > b.length) return ERR_TRUNCATED;
    if (opt !== undefined && readU16(b, p) === DNS_TYPE.opt) opt.ext = b[p + 4]!;
    p += 10 + readU16(b, p + 8);
    if (p > b.length) return ERR_TRUNCATED;
  }
  return p;
}

export class DnsAnalyzer extends OnGroupPorts implements Analyzer {
  readonly name = 'dns';
  /** Scratch for the OPT record's extended RCODE (no allocation per reply). */
  readonly #opt = { ext: 0 };

  checkRequest(b: Uint8Array, _port: number, out: RequestFacts): RequestVerdict {
    if (b.length < DNS_HEADER_LEN) return 'truncated';
    const flags = readU16(b, DNS_OFF.flags);
    if ((flags & QR) !== 0) return 'not-a-request';
    const opcode = opcodeOf(flags);
    if (opcode !== DNS_OPCODE.query && opcode !== DNS_OPCODE.update) return 'unknown-operation';
    if (readU16(b, DNS_OFF.qdcount) !== 1) return 'bad-value';
    let p = skipQuestions(b, DNS_HEADER_LEN, 1);
    if (p < 0) return errorOf(p);
    const records = readU16(b, DNS_OFF.ancount) + readU16(b, DNS_OFF.nscount) + readU16(b, DNS_OFF.arcount);
    p = skipRecords(b, p, records);
    if (p < 0) return errorOf(p);
    out.id = readU16(b, DNS_OFF.id);
    return opcode === DNS_OPCODE.query ? 'read' : 'write';
  }

  checkReply(b: Uint8Array, _port: number, out: ReplyFacts): ReplyVerdict {
    if (b.length < DNS_HEADER_LEN) return 'truncated';
    const flags = readU16(b, DNS_OFF.flags);
    if ((flags & QR) === 0) return 'not-a-reply';
    const opcode = opcodeOf(flags);
    if (opcode !== DNS_OPCODE.query && opcode !== DNS_OPCODE.update) return 'unknown-operation';
    let rcode = flags & 0xf;
    let valueEnd = b.length;
    if ((flags & TC) === 0) {
      let p = skipQuestions(b, DNS_HEADER_LEN, readU16(b, DNS_OFF.qdcount));
      if (p < 0) return errorOf(p);
      p = skipRecords(b, p, readU16(b, DNS_OFF.ancount) + readU16(b, DNS_OFF.nscount));
      if (p < 0) return errorOf(p);
      valueEnd = p;
      const opt = this.#opt;
      opt.ext = 0;
      p = skipRecords(b, p, readU16(b, DNS_OFF.arcount), opt);
      if (p < 0) return errorOf(p);
      rcode |= opt.ext << 4;
    }
    out.id = readU16(b, DNS_OFF.id);
    out.valueOff = DNS_OFF.flags;
    out.valueLen = valueEnd - DNS_OFF.flags;
    return rcode === DNS_RCODE.noError ? 'ok' : 'failure';
  }

  /**
   * Read-only mode: REFUSED, as a server that allows no updates answers (RFC 2136 3.8): the
   * header with QR set and RCODE 5, the question or zone section copied, no other records.
   */
  refuse(b: Uint8Array): Uint8Array | undefined {
    if (b.length < DNS_HEADER_LEN) return undefined;
    const end = skipQuestions(b, DNS_HEADER_LEN, readU16(b, DNS_OFF.qdcount));
    if (end < 0) return undefined;
    const out = b.slice(0, end);
    const flags = readU16(b, DNS_OFF.flags);
    writeU16(out, DNS_OFF.flags, (QR | (flags & 0x7900) | DNS_RCODE.refused) & 0xffff); // opcode, RD kept
    writeU16(out, DNS_OFF.ancount, 0);
    writeU16(out, DNS_OFF.nscount, 0);
    writeU16(out, DNS_OFF.arcount, 0);
    return out;
  }
}
