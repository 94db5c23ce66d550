import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { embeddedNode } from '@mesh/embedded';
import { launch, solveProof, type Launched } from '@mesh/shared';
import { SseClient, freePort, startNatsServer, startRedisServer, waitFor, type TestServer } from '@mesh/shared/testing';

// Issue "Foundation", must show: losing NATS or Redis never crashes a
// service; /readyz says 503 meanwhile, prices fall back to the local load
// sample, and everything resumes when the server is back. A whole node runs
// on private servers that this test stops and restarts under it.

describe('a live node losing NATS and Redis', () => {
  let nats: TestServer;
  let redis: TestServer;
  let node: Launched;
  let url: string;
  let ops: string;

  const ready = async (): Promise<number> => (await fetch(`${ops}/readyz`)).status;

  /** Posts to a room at its price; the status of the paid attempt (or of the price read, when that fails). */
  async function post(hash: string, text: string): Promise<number> {
    const quote = await fetch(`${url}/room/${hash}`, { headers: { accept: 'application/json' } });
    if (quote.status !== 200) return quote.status;
    const q = (await quote.json()) as { token: string; work: number };
    const body = Buffer.from(text, 'utf8');
    const { header } = solveProof({ token: q.token, work: q.work, method: 'POST', path: `/room/${hash}`, body });
    return (await fetch(`${url}/room/${hash}`, { method: 'POST', headers: { 'x-pow': header, 'content-type': 'text/plain' }, body })).status;
  }

  /** A subscriber receives a post: bus, store and PoW all work. */
  async function roundTrip(): Promise<void> {
    const hash = randomBytes(20).toString('hex');
    const sub = await SseClient.connect(`${url}/room/${hash}`);
    try {
      await sub.until((c) => c.ofType('price').length > 0, 5000, 'the price event');
      const text = `hello ${randomBytes(4).toString('hex')}`;
      expect(await post(hash, text)).toBe(202);
      await sub.until((c) => c.messages().some((m) => m.data === text), 5000, 'the message');
    } finally {
      await sub.close();
    }
  }

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
    const port = await freePort();
    const opsPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    ops = `http://127.0.0.1:${opsPort}`;
    node = await launch(embeddedNode, {
      PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, METRICS_PORT: String(opsPort),
      NATS_URL: nats.url, REDIS_URL: redis.url, DHT_BOOTSTRAP: 'none', DHT_PORT: String(await freePort()),
      TURN_BACKEND: 'none', POW_BASE_WORK: '16', LOG_LEVEL: 'silent',
    });
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 10_000, message: 'ready' });
  }, 30_000);

  afterAll(async () => {
    await node?.stop();
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  test('Redis down: /readyz 503, the node keeps answering with its local price; back: everything works', async () => {
    await roundTrip();
    await redis.stop();
    await waitFor(async () => (await ready()) === 503, { timeoutMs: 10_000, message: '/readyz 503 without Redis' });
    const info = await fetch(`${url}/`, { headers: { accept: 'application/json' } });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ work: expect.any(Number), token: expect.stringMatching(/^v1\./) });
    // A room's price and a post's replay guard need the store: unavailable, not a crash or a 500.
    expect(await post(randomBytes(20).toString('hex'), 'while redis is down')).toBe(503);

    await redis.restart();
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 15_000, message: '/readyz 200 after Redis is back' });
    await roundTrip();
  }, 45_000);

  test('NATS down: /readyz 503; back: subscriptions and fan-out resume', async () => {
    await nats.stop();
    await waitFor(async () => (await ready()) === 503, { timeoutMs: 10_000, message: '/readyz 503 without NATS' });
    expect((await fetch(`${url}/`, { headers: { accept: 'application/json' } })).status).toBe(200);
    // A room post could reach no live stream: refused before it pays.
    expect(await post(randomBytes(20).toString('hex'), 'while nats is down')).toBe(503);
    // The DHT is asked over the bus: refused at once as unavailable, before any payment (not a 402, not a 504 later).
    const dhtGet = await fetch(`${url}/dht-get?key=${'ab'.repeat(32)}`, { headers: { accept: 'application/json' } });
    expect(dhtGet.status).toBe(503);
    expect(((await dhtGet.json()) as { error: string }).error).toBe('unavailable');

    await nats.restart();
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 15_000, message: '/readyz 200 after NATS is back' });
    await roundTrip();
  }, 45_000);
});

describe('a node started before its Redis is up', () => {
  test('serves /healthz and answers /readyz 503 while it waits for the store, then 200', async () => {
    const redisPort = await freePort();
    const opsPort = await freePort();
    const ops = `http://127.0.0.1:${opsPort}`;
    const status = async (path: string): Promise<number> => {
      try {
        return (await fetch(`${ops}${path}`)).status;
      } catch {
        return 0; // nothing listening
      }
    };
    const starting = launch(embeddedNode, {
      PORT: String(await freePort()), HOST: '127.0.0.1', METRICS_PORT: String(opsPort),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`, DHT_BOOTSTRAP: 'none', DHT_PORT: String(await freePort()),
      TURN_BACKEND: 'none', LOG_LEVEL: 'silent',
    });
    let redis: TestServer | undefined;
    try {
      await waitFor(async () => (await status('/readyz')) === 503, { timeoutMs: 10_000, message: '/readyz 503 while the store is missing' });
      expect(await status('/healthz')).toBe(200);
      redis = await startRedisServer({ port: redisPort });
      await starting;
      await waitFor(async () => (await status('/readyz')) === 200, { timeoutMs: 15_000, message: '/readyz 200 once Redis is up' });
    } finally {
      // A start still waiting for the store finishes once it is there, and can then stop.
      redis ??= await startRedisServer({ port: redisPort });
      await (await starting.catch(() => undefined))?.stop();
      await redis.stop();
    }
  }, 40_000);
});
