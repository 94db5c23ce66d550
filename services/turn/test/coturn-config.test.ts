import { describe, test, expect } from '@jest/globals';
import { parseConfig, SPECIAL_PURPOSE_CIDRS } from '@mesh/shared';
import { coturnConfig } from '../src/coturn/config.js';

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
      '::ffff:10.0.0.0-::ffff:10.255.255.255',
    ]) expect(lines).toContain(`denied-peer-ip=${r}`);
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

  test('refuses values that would inject options', () => {
    expect(() => coturnConfig({ ...base, secret: 'abc\nallow-loopback-peers' })).toThrow(/control character/);
    expect(() => coturnConfig({ ...base, turn: { ...turn, realm: 'x\ry' } })).toThrow(/control character/);
  });
});
