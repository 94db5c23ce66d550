import { describe, test, expect } from '@jest/globals';
import {
  SPECIAL_PURPOSE_CIDRS, cidrRange, clientAddressKey, createCidrMatcher, isSpecialPurposeIp, normalizeIp, parseCidr,
} from '../src/net/cidr.js';

describe('parseCidr', () => {
  test.each([
    ['10.0.0.0/8', 4, 8, '10.0.0.0/8'],
    ['10.1.2.3/8', 4, 8, '10.0.0.0/8'],
    ['192.168.1.1', 4, 32, '192.168.1.1/32'],
    ['0.0.0.0/0', 4, 0, '0.0.0.0/0'],
    ['fe80::1/10', 6, 10, 'fe80::/10'],
    ['2001:DB8:0:0:0:0:0:1/128', 6, 128, '2001:db8::1/128'],
    ['::/0', 6, 0, '::/0'],
    ['::ffff:10.0.0.0/104', 6, 104, '::ffff:10.0.0.0/104'],
    ['10.0.0.0/31', 4, 31, '10.0.0.0/31'],
  ])('%s', (input, family, prefix, text) => {
    const c = parseCidr(input);
    expect([c.family, c.prefix, c.text]).toEqual([family, prefix, text]);
  });

  test.each(['', '10.0.0.0/33', '::/129', '10.0.0/8', '10.0.0.0/', '10.0.0.0/-1', 'abc/8', '1.2.3.4/8/8', '01.2.3.4/8', 'fe80::1%eth0/64'])(
    'rejects %p', (bad) => {
      expect(() => parseCidr(bad)).toThrow(TypeError);
    },
  );

  test('cidrRange gives first and last address', () => {
    expect(cidrRange(parseCidr('100.64.0.0/10'))).toEqual(['100.64.0.0', '100.127.255.255']);
    expect(cidrRange(parseCidr('fe80::/10'))).toEqual(['fe80::', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff']);
    expect(cidrRange(parseCidr('::ffff:10.0.0.0/104'))).toEqual(['::ffff:10.0.0.0', '::ffff:10.255.255.255']);
    expect(cidrRange(parseCidr('1.2.3.4/32'))).toEqual(['1.2.3.4', '1.2.3.4']);
  });
});

describe('createCidrMatcher', () => {
  const m = createCidrMatcher(['10.0.0.0/8', '172.16.0.0/12', '192.168.1.128/25', '2001:db8::/32', 'fe80::/10', '::1/128']);
  test.each([
    ['10.0.0.0', true], ['10.255.255.255', true], ['11.0.0.0', false], ['9.255.255.255', false],
    ['172.16.0.0', true], ['172.31.255.255', true], ['172.32.0.0', false], ['172.15.255.255', false],
    ['192.168.1.127', false], ['192.168.1.128', true], ['192.168.1.255', true],
    ['::ffff:10.1.2.3', true], ['::FFFF:172.20.0.1', true], ['::ffff:0a01:0203', true], ['::ffff:11.1.2.3', false],
    ['2001:db8::1', true], ['2001:db9::1', false], ['2001:0db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['fe80::1%eth0', true], ['febf::1', true], ['fec0::1', false],
    ['::1', true], ['::2', false], ['0:0:0:0:0:0:0:1', true],
    ['not an ip', false], ['', false], ['10.0.0', false], ['10.0.0.256', false],
  ])('%s -> %p', (ip, expected) => {
    expect(m(ip)).toBe(expected);
  });

  test('an IPv6 range of mapped addresses matches plain IPv4', () => {
    const mapped = createCidrMatcher(['::ffff:192.0.2.0/120']);
    expect(mapped('192.0.2.55')).toBe(true);
    expect(mapped('192.0.3.1')).toBe(false);
    expect(createCidrMatcher(['::ffff:0:0/96'])('8.8.8.8')).toBe(true);
  });

  test('/0 matches its whole family; the empty list matches nothing', () => {
    expect(createCidrMatcher(['0.0.0.0/0'])('203.0.113.9')).toBe(true);
    expect(createCidrMatcher(['0.0.0.0/0'])('2001:db8::1')).toBe(false);
    expect(createCidrMatcher(['::/0'])('2001:db8::1')).toBe(true);
    expect(createCidrMatcher([])('127.0.0.1')).toBe(false);
  });

  test('an invalid CIDR fails at build time', () => {
    expect(() => createCidrMatcher(['10.0.0.0/8', 'nope'])).toThrow('nope');
  });
});

describe('clientAddressKey', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['::1', '::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['not an ip', 'not an ip'],
  ])('%s -> %s', (ip, key) => {
    expect(clientAddressKey(ip)).toBe(key);
  });
});

describe('normalizeIp', () => {
  test.each([
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:7f00:1', '127.0.0.1'],
    ['1.2.3.4', '1.2.3.4'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['garbage', 'garbage'],
  ])('%s -> %s', (ip, out) => {
    expect(normalizeIp(ip)).toBe(out);
  });
});

describe('isSpecialPurposeIp', () => {
  test.each([
    // loopback, unspecified, broadcast
    '127.0.0.1', '127.255.255.255', '0.0.0.0', '0.1.2.3', '255.255.255.255', '::1', '::',
    // RFC 1918, CGNAT, link-local
    '10.0.0.1', '172.16.0.1', '172.31.255.254', '192.168.0.1', '100.64.0.0', '100.127.255.255', '169.254.169.254',
    // multicast, reserved, documentation, benchmarking
    '224.0.0.1', '239.255.255.250', '240.0.0.1', '192.0.2.1', '198.51.100.7', '203.0.113.200', '198.18.0.1', '198.19.255.255',
    '192.0.0.8', '192.88.99.1',
    // IPv6 ranges
    'fc00::1', 'fd12:3456::1', 'fe80::1', 'febf:ffff::1', 'ff02::1', '2001:db8::1', '64:ff9b::a00:1', '2002:a00:1::1',
    '2001::1', '100::1', '3fff::1', '5f00::1',
    // deprecated: site-local, IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), even of public IPv4
    'fec0::1', 'feff::1', '::2', '::127.0.0.1', '::8.8.8.8', '::ffff:0:127.0.0.1', '::ffff:0:8.8.8.8',
    // IPv4-mapped forms of the IPv4 ones
    '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:192.168.1.1', '::ffff:100.64.1.1', '::ffff:169.254.1.1',
    // not an address: treated as special, so a deny list fails closed
    'localhost', '',
  ])('%s is special', (ip) => {
    expect(isSpecialPurposeIp(ip)).toBe(true);
  });

  test.each([
    '8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '169.253.255.255',
    '192.167.255.255', '192.169.0.0', '223.255.255.255', '198.17.255.255', '198.20.0.0', '11.0.0.0', '9.255.255.255',
    '::ffff:8.8.8.8', '::FFFF:0808:0808', '2606:4700:4700::1111', '2a00:1450:4001::1', 'fbff:ffff::1', '::1:0:0:1', '::fffe:0:0',
  ])('%s is public', (ip) => {
    expect(isSpecialPurposeIp(ip)).toBe(false);
  });

  test('SPECIAL_PURPOSE_CIDRS parse and include mapped forms of the IPv4 ranges', () => {
    for (const c of SPECIAL_PURPOSE_CIDRS) expect(() => parseCidr(c)).not.toThrow();
    expect(SPECIAL_PURPOSE_CIDRS).toEqual(expect.arrayContaining(['10.0.0.0/8', '::ffff:10.0.0.0/104', 'fc00::/7', 'fe80::/10', '::1/128']));
  });
});
