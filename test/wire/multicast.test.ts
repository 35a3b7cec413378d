import { describe, expect, it } from 'vitest';
import { formatMac, ip, isMulticastIpv4, isMulticastMac, mac, multicastMac, formatIpv4, parseIpv4Addr, parseMacAddr } from '../../src/wire/addr.ts';
import { igmpMaxRespDeciseconds } from '../../src/wire/igmp.ts';

describe('multicast IP-to-MAC mapping (slide 8, RFC 1112 6.4)', () => {
  it('copies the low 23 bits into 01:00:5e', () => {
    expect(formatMac(multicastMac(ip('224.0.0.1')))).toBe('01:00:5e:00:00:01');
    expect(formatMac(multicastMac(ip('234.116.72.114')))).toBe('01:00:5e:74:48:72');
    expect(formatMac(multicastMac(ip('239.255.255.255')))).toBe('01:00:5e:7f:ff:ff');
  });
  it('drops the five high bits of the group id: 32 groups share a MAC', () => {
    // 224.1.1.1, 225.1.1.1, 224.129.1.1 and 239.129.1.1 differ only in the lost bits.
    const m = multicastMac(ip('224.1.1.1'));
    for (const g of ['225.1.1.1', '224.129.1.1', '239.129.1.1']) expect(multicastMac(ip(g))).toBe(m);
    expect(multicastMac(ip('224.1.1.2'))).not.toBe(m);
  });
  it('the mapped MAC is a group address and class D is recognised', () => {
    expect(isMulticastMac(multicastMac(ip('224.1.1.1')))).toBe(true);
    expect(isMulticastMac(mac('02:00:00:00:00:01'))).toBe(false);
    expect(isMulticastIpv4(ip('224.0.0.0'))).toBe(true);
    expect(isMulticastIpv4(ip('239.255.255.255'))).toBe(true);
    expect(isMulticastIpv4(ip('223.255.255.255'))).toBe(false);
    expect(isMulticastIpv4(ip('240.0.0.0'))).toBe(false);
  });
});

describe('address text', () => {
  it('round-trips and rejects junk', () => {
    expect(formatIpv4(ip('140.116.72.114'))).toBe('140.116.72.114');
    expect(parseIpv4Addr('256.1.1.1')).toBeUndefined();
    expect(parseIpv4Addr('1.2.3')).toBeUndefined();
    expect(formatMac(mac('02-00-5E-10-00-00'))).toBe('02:00:5e:10:00:00');
    expect(parseMacAddr('02:00:00:00:00')).toBeUndefined();
    expect(() => ip('x')).toThrow(/not an IPv4/);
  });
});

describe('IGMP max response time', () => {
  it('v2 codes are tenths of a second; v3 codes from 128 are floating point (RFC 3376 4.1.1)', () => {
    expect(igmpMaxRespDeciseconds(100, false)).toBe(100); // the 10 s default of slide 21
    expect(igmpMaxRespDeciseconds(100, true)).toBe(100);
    expect(igmpMaxRespDeciseconds(0x80, true)).toBe(128); // mant 0, exp 0: 16 << 3
    expect(igmpMaxRespDeciseconds(0xff, true)).toBe(31744); // mant 15, exp 7: 31 << 10
  });
});
