/**
 * The DNS codec (src/wire/dns.ts): real datagrams from dig, nsupdate and knotd
 * (test/fixtures/dns/), byte literals, every strict prefix truncated, trailing bytes ignored,
 * compression pointers (backwards only), name text escapes, and the properties (STYLE.md 8):
 * arbitrary bytes never throw, parse(emit(v)) equals v, emit writes exactly dnsLength(v) bytes.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, hex, ip, type Ipv4Addr } from '../../src/wire/addr.ts';
import {
  DNS_CLASS, DNS_FLAG, DNS_OPCODE, DNS_RCODE, DNS_TYPE, dnsFlags, dnsInZone, dnsLength, dnsNameKey, dnsNameProblem, dnsOpcode, dnsProblem, dnsRcode, emitDns, encodeDns, parseDns,
  type DnsMessage, type DnsRecord,
} from '../../src/wire/dns.ts';
import { DNS_OPCODE as ANALYZER_OPCODE } from '../../src/rw/analyzers/dns.ts';
import { bytes, u16, u32 } from './arbitraries.ts';

const fixture = (name: string): Uint8Array => fromHex(readFileSync(new URL(`../fixtures/dns/${name}.hex`, import.meta.url), 'utf8').trim());

const QUERY: DnsMessage = { id: 0x1234, flags: dnsFlags(DNS_OPCODE.query, 0, DNS_FLAG.rd), questions: [{ name: 'www.example.test.', type: DNS_TYPE.a, cls: DNS_CLASS.in }], answers: [], authority: [], additional: [] };
const QUERY_HEX = '1234 0100 0001 0000 0000 0000  03777777 076578616d706c65 0474657374 00  0001 0001';
const A: DnsRecord = { name: 'www.example.test.', type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl: 300, rdata: { kind: 'a', addr: ip('192.0.2.80') } };
const ANSWER: DnsMessage = { ...QUERY, flags: dnsFlags(DNS_OPCODE.query, 0, DNS_FLAG.qr | DNS_FLAG.aa | DNS_FLAG.rd), answers: [A] };
const ANSWER_HEX = `1234 8500 0001 0001 0000 0000  03777777076578616d706c650474657374000001 0001  03777777076578616d706c65047465737400 0001 0001 0000012c 0004 c0000250`;

describe('dns byte literals', () => {
  for (const [name, value, literal] of [
    ['query', QUERY, QUERY_HEX],
    ['answer', ANSWER, ANSWER_HEX],
  ] as const) {
    describe(name, () => {
      const b = fromHex(literal);
      it('encodes to the documented bytes', () => {
        expect(hex(encodeDns(value))).toBe(hex(b));
        expect(dnsLength(value)).toBe(b.length);
      });
      it('parses back to the value', () => expect(parseDns(b)).toEqual({ ok: true, value }));
      it('every strict prefix is truncated', () => {
        for (let n = 0; n < b.length; n++) expect(parseDns(b.subarray(0, n)), `${n} bytes`).toMatchObject({ ok: false, error: { layer: 'dns', reason: 'truncated' } });
      });
      it('trailing bytes are ignored', () => expect(parseDns(Uint8Array.of(...b, 0xde, 0xad))).toEqual({ ok: true, value }));
    });
  }

  it('shares its constants with the dns analyzer', () => {
    expect(ANALYZER_OPCODE).toBe(DNS_OPCODE);
    expect(dnsOpcode(0xa809)).toBe(DNS_OPCODE.update);
    expect(dnsRcode(0xa809)).toBe(DNS_RCODE.notAuth);
  });
});

describe('dns messages of real clients and knotd', () => {
  it('parses dig queries, nsupdate updates and knotd replies, compressed names included', () => {
    const q = parseDns(fixture('knot-query.request'));
    expect(q.ok && q.value.questions).toEqual([{ name: 'www.example.com.', type: DNS_TYPE.a, cls: DNS_CLASS.in }]);
    expect(q.ok && q.value.additional[0]?.type).toBe(DNS_TYPE.opt);
    const r = parseDns(fixture('knot-query.reply'));
    // The answer's owner is a pointer to the question's name.
    expect(r.ok && r.value.answers).toEqual([{ name: 'www.example.com.', type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl: 300, rdata: { kind: 'a', addr: ip('192.0.2.80') } }]);
    const u = parseDns(fixture('nsupdate-update'));
    expect(u.ok && dnsOpcode(u.value.flags)).toBe(DNS_OPCODE.update);
    expect(u.ok && u.value.questions).toEqual([{ name: 'example.com.', type: DNS_TYPE.soa, cls: DNS_CLASS.in }]);
    expect(u.ok && u.value.authority).toEqual([{ name: 'www.example.com.', type: DNS_TYPE.a, cls: DNS_CLASS.in, ttl: 300, rdata: { kind: 'a', addr: ip('192.0.2.1') } }]);
    for (const f of ['dig-query', 'dig-query-noedns', 'knsupdate-update', 'nsupdate-update-tsig', 'knot-update.reply', 'knot-update-refused.reply', 'knot-update-tsig.reply']) expect(parseDns(fixture(f)).ok, f).toBe(true);
    const refused = parseDns(fixture('knot-update-refused.reply'));
    expect(refused.ok && dnsRcode(refused.value.flags)).toBe(DNS_RCODE.notAuth);
  });
});

describe('dns names', () => {
  it('a pointer forwards or to itself is bad-name, a label type 0x40 too', () => {
    const head = '0000 0000 0001 0000 0000 0000';
    expect(parseDns(fromHex(`${head} c00c 0001 0001`))).toMatchObject({ ok: false, error: { reason: 'bad-name' } });
    expect(parseDns(fromHex(`${head} c020 0001 0001`))).toMatchObject({ ok: false, error: { reason: 'bad-name' } });
    expect(parseDns(fromHex(`${head} 41 00 0001 0001`))).toMatchObject({ ok: false, error: { reason: 'bad-name' } });
  });

  it('a name longer than 255 bytes on the wire is bad-name', () => {
    const label = `3f${'61'.repeat(63)}`;
    expect(parseDns(fromHex(`0000 0000 0001 0000 0000 0000 ${label.repeat(4)} 00 0001 0001`))).toMatchObject({ ok: false, error: { reason: 'bad-name' } });
  });

  it('reads \\. \\\\ and \\DDD escapes, and writes every byte that is not plain as \\DDD', () => {
    const m: DnsMessage = { ...QUERY, questions: [{ name: 'a\\.b\\032c\\\\.test.', type: 1, cls: 1 }] };
    const b = encodeDns(m);
    expect(hex(b.subarray(12, 12 + 13))).toBe(hex(fromHex('06 612e6220635c 04 74657374 00'))); // one label 'a.b c\\', then 'test'
    // The parser writes every such byte as \\DDD: one text per name.
    const canonical = 'a\\046b\\032c\\092.test.';
    expect(parseDns(b)).toEqual({ ok: true, value: { ...m, questions: [{ name: canonical, type: 1, cls: 1 }] } });
    expect(hex(encodeDns({ ...m, questions: [{ name: canonical, type: 1, cls: 1 }] }))).toBe(hex(b));
  });

  it('says why a text is not a name', () => {
    expect(dnsNameProblem('www.example.test.')).toBeUndefined();
    expect(dnsNameProblem('.')).toBeUndefined();
    expect(dnsNameProblem('www.example.test')).toMatch(/does not end/);
    expect(dnsNameProblem('a..test.')).toMatch(/empty label/);
    expect(dnsNameProblem(`${'a'.repeat(64)}.test.`)).toMatch(/64 bytes/);
    expect(dnsNameProblem('a\\.')).toMatch(/unescaped/);
  });

  it('compares names case-insensitively and knows what is in a zone', () => {
    expect(dnsNameKey('WWW.Example.TEST.')).toBe('www.example.test.');
    expect(dnsInZone('www.EXAMPLE.test.', 'example.test.')).toBe(true);
    expect(dnsInZone('example.test.', 'example.test.')).toBe(true);
    expect(dnsInZone('badexample.test.', 'example.test.')).toBe(false);
    expect(dnsInZone('a\\.example.test.', 'example.test.')).toBe(false); // one label 'a.example', then 'test'
    expect(dnsInZone('x.a\\.b.example.test.', 'example.test.')).toBe(true);
    expect(dnsInZone('www.other.test.', 'example.test.')).toBe(false);
  });
});

const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const name = fc.array(label, { minLength: 0, maxLength: 4 }).map((l) => (l.length === 0 ? '.' : `${l.join('.')}.`));
const record: fc.Arbitrary<DnsRecord> = fc.oneof(
  fc.record({ name, type: fc.constant(DNS_TYPE.a as number), cls: u16, ttl: u32, rdata: u32.map((a) => ({ kind: 'a' as const, addr: a as Ipv4Addr })) }),
  fc.record({ name, type: fc.constant(DNS_TYPE.soa as number), cls: u16, ttl: u32, rdata: fc.record({ kind: fc.constant('soa' as const), mname: name, rname: name, serial: u32, refresh: u32, retry: u32, expire: u32, minimum: u32 }) }),
  fc.record({ name, type: u16.filter((t) => t !== DNS_TYPE.a && t !== DNS_TYPE.soa), cls: u16, ttl: u32, rdata: bytes(20).map((b) => ({ kind: 'unknown' as const, bytes: b })) }),
);
const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: u16,
  flags: u16,
  questions: fc.array(fc.record({ name, type: u16, cls: u16 }), { maxLength: 3 }),
  answers: fc.array(record, { maxLength: 3 }),
  authority: fc.array(record, { maxLength: 3 }),
  additional: fc.array(record, { maxLength: 2 }),
});

describe('dns properties', () => {
  it('arbitrary bytes never throw', () => {
    fc.assert(fc.property(bytes(300), (b) => {
      parseDns(b);
    }), { numRuns: 2000 });
  });
  it('parse(emit(v)) equals v, and emit writes exactly dnsLength(v) bytes', () => {
    fc.assert(fc.property(message, (m) => {
      expect(dnsProblem(m)).toBeUndefined();
      const buf = new Uint8Array(dnsLength(m) + 3).fill(0xee);
      expect(emitDns(m, buf, 1)).toBe(dnsLength(m));
      expect(buf[0]).toBe(0xee);
      expect(buf[buf.length - 2]).toBe(0xee);
      expect(parseDns(buf.subarray(1))).toEqual({ ok: true, value: m });
    }), { numRuns: 500 });
  });
});
