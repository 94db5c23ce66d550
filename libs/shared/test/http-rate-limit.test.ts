import { describe, test, expect, afterEach } from '@jest/globals';
import Router from '@koa/router';
import { parseConfig } from '../src/config.js';
import { createTokenBucketLimiter, type RateLimitConfig } from '../src/http/rate-limit.js';
import { startPublicApp, type RunningApp } from './http-support.js';

describe('token bucket', () => {
  test('a full bucket of `burst`, refilled at `perSecond`', () => {
    const clock = { t: 0 };
    const l = createTokenBucketLimiter({ perSecond: 2, burst: 3, maxClients: 10 }, () => clock.t);
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('a')]).toEqual([true, true, true, false]);
    expect(l.take('b')).toBe(true); // buckets are per key
    clock.t += 499;
    expect(l.take('a')).toBe(false); // 0.998 tokens
    clock.t += 1;
    expect(l.take('a')).toBe(true);
    clock.t += 60_000;
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('a')]).toEqual([true, true, true, false]); // capped at burst
  });

  test('the map is bounded: the least recently seen address is forgotten first', () => {
    const l = createTokenBucketLimiter({ perSecond: 1, burst: 1, maxClients: 2 }, () => 0);
    expect(l.take('a')).toBe(true);
    expect(l.take('b')).toBe(true);
    expect(l.take('a')).toBe(false); // a is now the most recent
    expect(l.take('c')).toBe(true); // forgets b
    expect(l.size).toBe(2);
    expect(l.take('a')).toBe(false); // a was kept
    expect(l.take('b')).toBe(true); // b starts afresh (forgetting only forgives)
  });
});

describe('the rate-limit layer of the public app', () => {
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  async function start(rateLimit: RateLimitConfig): Promise<{ app: RunningApp; handled: () => number }> {
    let n = 0;
    const router = new Router();
    router.get('/work', (ctx) => {
      n++;
      ctx.body = { ok: true };
    });
    app = await startPublicApp([router.routes()], { rateLimit });
    return { app, handled: () => n };
  }

  const get = (url: string, xff?: string): Promise<Response> =>
    fetch(url, { headers: { Accept: 'application/json', ...(xff !== undefined ? { 'X-Forwarded-For': xff } : {}) } });

  test('production defaults: past the burst a 429 rate_limited after the hold, with Retry-After and CORS; the route never runs', async () => {
    const defaults = parseConfig({ PUBLIC_URL: 'http://127.0.0.1:1' }).rateLimit;
    const { app: a, handled } = await start(defaults);
    const answers = await Promise.all(Array.from({ length: defaults.burst + 5 }, () => get(`${a.url}/work`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(defaults.burst);
    const refused = answers.find((r) => r.status === 429);
    expect(refused?.headers.get('retry-after')).toBe(String(defaults.holdMs / 1000));
    expect(refused?.headers.get('access-control-allow-origin')).toBe('*');
    expect(refused?.headers.get('access-control-expose-headers')).toContain('Retry-After');
    expect(refused?.headers.get('x-pow-work')).toBeNull(); // no price was computed for it
    expect(await refused?.json()).toMatchObject({ error: 'rate_limited', retryAfter: defaults.holdMs / 1000 });
    expect(handled()).toBe(defaults.burst);
    expect(await a.metrics.text()).toMatch(/^mesh_http_rate_limited_total\{service="test"\} 5$/m);
  });

  test('IPv6 clients count per /64; another address has its own bucket', async () => {
    const { app: a } = await start({ perSecond: 0.001, burst: 2, maxClients: 100, holdMs: 0 });
    // The test runs from loopback, a trusted proxy: X-Forwarded-For names the client.
    expect((await get(`${a.url}/work`, '2001:db8:1:2::1')).status).toBe(200);
    expect((await get(`${a.url}/work`, '2001:db8:1:2:ffff::9')).status).toBe(200);
    expect((await get(`${a.url}/work`, '2001:db8:1:2:abcd::1')).status).toBe(429);
    expect((await get(`${a.url}/work`, '2001:db8:1:3::1')).status).toBe(200);
    expect((await get(`${a.url}/work`, '198.51.100.7')).status).toBe(200);
  });

  test('RATE_LIMIT_PER_SECOND=0 turns it off', async () => {
    const off = parseConfig({ PUBLIC_URL: 'http://127.0.0.1:1', RATE_LIMIT_PER_SECOND: '0', RATE_LIMIT_BURST: '1' }).rateLimit;
    const { app: a } = await start(off);
    const statuses = await Promise.all(Array.from({ length: 5 }, async () => (await get(`${a.url}/work`)).status));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
  });
});
