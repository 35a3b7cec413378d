import { describe, expect, it } from 'vitest';
import { fromHex, hex, ip } from '../../src/wire/addr.ts';
import { findWriteStatus, IP_PROTO, encodeIpv4, parseIpv4 } from '../../src/wire/ipv4.ts';
import { SG_WRITE_STATUS, sgWriteStatus } from '../../src/wire/sgopt.ts';

describe('SG write-status IP option (slides 17, 26, 43)', () => {
  const reply = {
    dscp: 0, ecn: 0, identification: 7, flags: 2, fragmentOffset: 0, ttl: 64, protocol: IP_PROTO.udp,
    src: ip('192.168.1.2'), dst: ip('140.116.72.118'),
    options: [sgWriteStatus(SG_WRITE_STATUS.failure, -2)],
    payload: fromHex('0801080100080000'),
  };

  it('has the documented bytes: 9e 08 status(2) retval(4), header grows to 28 bytes', () => {
    const b = encodeIpv4(reply);
    expect(b[0]).toBe(0x47); // version 4, IHL 7 words
    expect(hex(b.subarray(20, 28))).toBe('9e080001fffffffe');
    expect(b.length).toBe(28 + 8);
  });

  it('is found in a parsed reply, with a signed return value', () => {
    const p = parseIpv4(encodeIpv4(reply));
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(findWriteStatus(p.value)).toEqual({ kind: 'sg-write-status', status: 1, retval: -2 });
    expect(findWriteStatus({ ...p.value, options: [] })).toBeUndefined();
  });

  it('a write-status option with a wrong length is kept as an unknown option, not misread', () => {
    // 9e 06 ...: a 6-byte option with type 0x9e is not ours.
    const b = encodeIpv4({ ...reply, options: [{ kind: 'unknown', type: 0x9e, data: fromHex('00000001') }, { kind: 'nop' }, { kind: 'nop' }] });
    const p = parseIpv4(b);
    expect(p.ok && findWriteStatus(p.value)).toBe(undefined);
  });

  it('an option running past the header is a bad-option error, not a crash', () => {
    const b = encodeIpv4(reply);
    b[21] = 12; // length beyond the 8 option bytes
    b[10] = 0;
    b[11] = 0;
    const c = (() => { let s = 0; for (let i = 0; i < 28; i += 2) s += (b[i]! << 8) | b[i + 1]!; while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return ~s & 0xffff; })();
    b[10] = c >>> 8;
    b[11] = c & 255;
    expect(parseIpv4(b)).toMatchObject({ ok: false, error: { layer: 'ipv4', reason: 'bad-option' } });
  });
});
