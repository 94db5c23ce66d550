import { describe, test, expect } from '@jest/globals';
import { isSpecialPurposeIp, parseConfig, parseIp, SPECIAL_PURPOSE_CIDRS } from '@mesh/shared';
import { coturnConfig, coturnRanges } from '../src/coturn/config.js';
import { createPeerPolicy, ownAddressCidrs } from '../src/peer-policy.js';

const turn = parseConfig({ TURN_PORT: '3479', TURN_REALM: 'node.example', TURN_MAX_BPS: '500000' }, 'turn').turn;
const base = { turn, secret: 'the-turn-secret-0123', workDir: '/tmp/x', deniedCidrs: SPECIAL_PURPOSE_CIDRS, prometheus: false };

function options(text: string): string[] {
  return text.trim().split('\n');
}

describe('coturnConfig', () => {
  test('REST auth, no CLI, quotas, ports, logs to stdout', () => {
    const lines = options(coturnConfig(base));
    for (const l of [
      'use-auth-secret', 'static-auth-secret=the-turn-secret-0123', 'realm=node.example', 'no-cli',
      'listening-port=3479', 'min-port=49152', 'max-port=65535', 'user-quota=10', 'total-quota=1000',
      'max-bps=500000', 'log-file=stdout', 'no-tls', 'no-dtls', 'pidfile=/tmp/x/turnserver.pid',
    ]) expect(lines).toContain(l);
    expect(lines.some((l) => l.startsWith('prometheus'))).toBe(false);
    expect(lines).toContain('no-tcp-relay');
    expect(lines).not.toContain('allow-loopback-peers');
    expect(lines.some((l) => l.startsWith('allowed-peer-ip'))).toBe(false);
  });

  test('denies every special-purpose range, mapped forms included', () => {
    const lines = options(coturnConfig(base));
    for (const r of [
      '127.0.0.0-127.255.255.255', '10.0.0.0-10.255.255.255', '172.16.0.0-172.31.255.255',
      '192.168.0.0-192.168.255.255', '169.254.0.0-169.254.255.255', '100.64.0.0-100.127.255.255',
      '224.0.0.0-239.255.255.255', '::1-::1', 'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:127.0.0.0-::ffff:127.255.255.255',
      '::ffff:10.0.0.0-::ffff:10.255.255.255', 'fec0::-feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      '::ffff:0:0:0-::ffff:0:ffff:ffff', '::1-::1', '::8000:0-::ffff:ffff',
    ]) expect(lines).toContain(`denied-peer-ip=${r}`);
  });

  test('no range has an all-zero bound (coturn reads it as unbounded: `::-::` denied every peer)', () => {
    const ranges = options(coturnConfig(base)).filter((l) => l.startsWith('denied-peer-ip=')).map((l) => l.slice(15).split('-'));
    expect(ranges.length).toBeGreaterThan(SPECIAL_PURPOSE_CIDRS.length);
    for (const bounds of ranges) for (const b of bounds) expect(parseIp(b as string)?.some((x) => x !== 0)).toBe(true);
  });

  /**
   * coturn 4.6.1's own matcher, transcribed from src/client/ns_turn_ioaddr.c
   * (ioa_addr_in_range, addr_less_eq, addr_any) and good_peer_addr in
   * src/server/ns_turn_server.c (zero peers refused): our lines must mean to
   * it exactly what isSpecialPurposeIp means to node-turn.
   */
  function coturnDenies(lines: string[], ip: string): boolean {
    const addr = parseIp(ip) as Uint8Array;
    if (addr.every((b) => b === 0)) return true;
    const any = (a: Uint8Array): boolean => a.every((b) => b === 0);
    const lessEq = (a: Uint8Array, b: Uint8Array): boolean => {
      if (a.length !== b.length) return a.length < b.length; // AF_INET (2) < AF_INET6 (10)
      if (a.length === 4) return Buffer.from(a).readUInt32BE(0) <= Buffer.from(b).readUInt32BE(0);
      return a.every((x, i) => x <= (b[i] ?? 0)); // byte by byte, as coturn compares
    };
    return lines.some((r) => {
      const [lo, hi] = r.split('-').map((t) => parseIp(t) as Uint8Array) as [Uint8Array, Uint8Array];
      return (any(lo) || lessEq(lo, addr)) && (any(hi) || lessEq(addr, hi));
    });
  }

  test.each([
    '8.8.8.8', '1.1.1.1', '93.184.215.14', '2606:4700:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8',
    '127.0.0.1', '10.1.2.3', '172.16.5.5', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '0.1.2.3',
    '::', '::1', '::2', '::127.0.0.1', '::8.8.8.8', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:0:127.0.0.1',
    '64:ff9b::a00:1', 'fd00::2', 'fe80::1', 'fec0::1', 'ff02::1', '2001:db8::1', '2002:a00:1::1', '::1:0:0:1',
  ])('coturn, reading our lines as its source does, judges %s as node-turn does', (ip) => {
    const lines = coturnRanges(SPECIAL_PURPOSE_CIDRS);
    expect(coturnDenies(lines, ip)).toBe(isSpecialPurposeIp(ip));
  });

  test('allow-list: allowed ranges, and loopback opened only when listed', () => {
    const lo = options(coturnConfig({ ...base, turn: { ...turn, allowedPeers: ['127.0.0.1/32'] } }));
    expect(lo).toContain('allowed-peer-ip=127.0.0.1-127.0.0.1');
    expect(lo).toContain('allow-loopback-peers');
    const ten = options(coturnConfig({ ...base, turn: { ...turn, allowedPeers: ['10.1.0.0/16'] } }));
    expect(ten).toContain('allowed-peer-ip=10.1.0.0-10.1.255.255');
    expect(ten).not.toContain('allow-loopback-peers');
  });

  test('prometheus on the internal port when the binary supports it; listening ip when not wildcard', () => {
    const lines = options(coturnConfig({ ...base, prometheus: true, turn: { ...turn, listenHost: '127.0.0.1' } }));
    expect(lines).toContain('prometheus');
    expect(lines).toContain(`prometheus-port=${turn.promPort}`);
    expect(lines).toContain('listening-ip=127.0.0.1');
    expect(lines).toContain('relay-ip=127.0.0.1');
  });

  test('a public host that is an IPv4 address is the external (relayed) address; a name is not', () => {
    expect(options(coturnConfig({ ...base, turn: { ...turn, publicHost: '203.0.113.9' } }))).toContain('external-ip=203.0.113.9');
    expect(options(coturnConfig({ ...base, turn: { ...turn, publicHost: 'node.example' } })).some((l) => l.startsWith('external-ip'))).toBe(false);
  });

  test("the node's own addresses: interfaces, listening IP and public IP, as single hosts; wildcard and names skipped", () => {
    const own = ownAddressCidrs({ listenHost: '0.0.0.0', publicHost: '9.9.9.9' }, {
      eth0: [
        { address: '198.51.100.4', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: null },
        { address: '2a01:4f8::5', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: null, scopeid: 0 },
      ],
    });
    expect(own.sort()).toEqual(['198.51.100.4/32', '2a01:4f8::5/128', '9.9.9.9/32']);
    expect(ownAddressCidrs({ listenHost: '::', publicHost: 'node.example' }, {})).toEqual([]);
    const policy = createPeerPolicy([], own);
    expect([policy('9.9.9.9'), policy('::ffff:9.9.9.9'), policy('2a01:4f8::5'), policy('8.8.8.8')]).toEqual([false, false, false, true]);
    expect(createPeerPolicy(['9.9.9.9/32'], own)('9.9.9.9')).toBe(true);
    const lines = options(coturnConfig({ ...base, deniedCidrs: [...SPECIAL_PURPOSE_CIDRS, ...own] }));
    for (const r of ['9.9.9.9-9.9.9.9', '::ffff:9.9.9.9-::ffff:9.9.9.9', '2a01:4f8::5-2a01:4f8::5']) {
      expect(lines).toContain(`denied-peer-ip=${r}`);
    }
  });

  test('refuses values that would inject options', () => {
    expect(() => coturnConfig({ ...base, secret: 'abc\nallow-loopback-peers' })).toThrow(/control character/);
    expect(() => coturnConfig({ ...base, turn: { ...turn, realm: 'x\ry' } })).toThrow(/control character/);
  });
});
