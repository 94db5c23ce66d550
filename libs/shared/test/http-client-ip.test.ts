import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import type { Middleware } from 'koa';
import { clientIp, getClientIp, MAX_FORWARDED_HOPS } from '../src/http/client-ip.js';
import { createCidrMatcher } from '../src/net/cidr.js';
import { startPublicApp, type RunningApp } from './http-support.js';

describe('clientIp (right-most untrusted X-Forwarded-For entry)', () => {
  const trusted = createCidrMatcher(['10.0.0.0/8', '127.0.0.0/8', '::1/128', 'fd00::/8']);
  test.each<[string, string | undefined, string | undefined, string]>([
    ['untrusted peer: XFF ignored', '203.0.113.9', '1.2.3.4', '203.0.113.9'],
    ['trusted peer, no XFF: the peer', '10.0.0.1', undefined, '10.0.0.1'],
    ['trusted peer, one entry', '10.0.0.1', '198.51.100.7', '198.51.100.7'],
    ['spoofed entries left of the real client are ignored', '10.0.0.1', '6.6.6.6, 198.51.100.7', '198.51.100.7'],
    ['trusted hops are skipped from the right', '10.0.0.1', '6.6.6.6, 198.51.100.7, 10.0.0.5, 10.0.0.6', '198.51.100.7'],
    ['all trusted: the left-most entry', '10.0.0.1', '10.0.0.9, 10.0.0.5', '10.0.0.9'],
    ['mapped peer and entries shown as IPv4', '::ffff:10.0.0.1', '::ffff:198.51.100.7', '198.51.100.7'],
    ['untrusted mapped peer shown as IPv4', '::ffff:203.0.113.9', undefined, '203.0.113.9'],
    ['IPv6 client through an IPv6 proxy', 'fd00::1', '2001:DB8::7', '2001:db8::7'],
    ['ports and brackets are stripped', '10.0.0.1', '[2001:db8::7]:443, 10.0.0.2:8080', '2001:db8::7'],
    ['a malformed entry stops the walk at the last good hop', '10.0.0.1', '6.6.6.6, unknown, 10.0.0.5', '10.0.0.5'],
    ['a malformed right-most entry: the peer', '10.0.0.1', '6.6.6.6, <script>', '10.0.0.1'],
    ['empty entries are malformed', '10.0.0.1', '6.6.6.6, , ', '10.0.0.1'],
    ['zone ids are not accepted from a header', '10.0.0.1', 'fe80::1%eth0', '10.0.0.1'],
    ['no socket address', undefined, '1.2.3.4', 'unknown'],
  ])('%s', (_name, socketIp, xff, expected) => {
    expect(clientIp({ socketIp, xff }, trusted)).toBe(expected);
  });

  test(`examines at most ${MAX_FORWARDED_HOPS} entries`, () => {
    const hops = Array.from({ length: 100 }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    const ip = clientIp({ socketIp: '10.0.0.1', xff: ['6.6.6.6', ...hops].join(', ') }, trusted);
    expect(ip).toBe(hops[hops.length - MAX_FORWARDED_HOPS]);
  });
});

describe('over HTTP, TRUST_PROXY decides whether XFF is believed', () => {
  const ipRoute: Middleware = async (ctx, next) => {
    if (ctx.path !== '/ip') return next();
    ctx.body = { ip: getClientIp(ctx) };
  };
  let trusting: RunningApp;
  let strict: RunningApp;

  beforeAll(async () => {
    trusting = await startPublicApp([ipRoute], { trustProxy: ['127.0.0.0/8'] });
    strict = await startPublicApp([ipRoute], { trustProxy: ['192.0.2.0/24'] });
  });
  afterAll(async () => {
    await trusting.stop();
    await strict.stop();
  });

  async function ipOf(app: RunningApp, xff?: string): Promise<string> {
    const res = await fetch(`${app.url}/ip`, { headers: xff === undefined ? {} : { 'X-Forwarded-For': xff } });
    return ((await res.json()) as { ip: string }).ip;
  }

  test('loopback trusted: the right-most untrusted entry', async () => {
    expect(await ipOf(trusting)).toBe('127.0.0.1');
    expect(await ipOf(trusting, '203.0.113.50')).toBe('203.0.113.50');
    expect(await ipOf(trusting, '6.6.6.6, 203.0.113.50, 127.0.0.2')).toBe('203.0.113.50');
  });

  test('loopback not trusted: XFF ignored, the socket peer', async () => {
    expect(await ipOf(strict, '203.0.113.50')).toBe('127.0.0.1');
    expect(await ipOf(strict, '192.0.2.1')).toBe('127.0.0.1');
  });
});
