/**
 * Recovery of the NATS bus and the Redis store when their servers go away
 * and come back on the same port. Private servers on spare ports, since the
 * test stops them. Jest 30 fails a test on an unhandled rejection and an
 * uncaught exception kills the run, so "no crash" is checked by the run itself.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { BusError, createNatsBus, type Bus } from '../src/bus/index.js';
import { createLogger } from '../src/log.js';
import { StoreError, createRedisStore, type Store } from '../src/store/index.js';
import {
  freePort, startNatsServer, startRedisServer, uniquePrefix, waitFor, type TestServer,
} from '../src/testing/index.js';

const log = createLogger({ level: 'silent', service: 'test' });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const RECOVER = { timeoutMs: 15_000, intervalMs: 50 };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('bus and store survive a server restart', () => {
  let nats: TestServer;
  let redis: TestServer;
  let server: Bus;
  let client: Bus;
  let store: Store;
  const received: string[] = [];
  let reconnects = 0;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
    const prefix = uniquePrefix('recovery');
    server = await createNatsBus({ url: nats.url, prefix, log, maxReconnectDelayMs: 500 });
    client = await createNatsBus({ url: nats.url, prefix, log, maxReconnectDelayMs: 500 });
    store = createRedisStore({ url: redis.url, prefix: `${prefix}:`, log, maxReconnectDelayMs: 500 });
    server.subscribe('events', (data) => received.push(dec(data)));
    server.respond('rpc', (data) => enc(`ok:${dec(data)}`));
    server.onReconnect(() => { reconnects++; });
    await server.ping();
    await waitFor(() => store.isReady(), { message: 'store ready' });
    expect(reconnects).toBe(0); // the first connect is not a reconnect
  });

  afterAll(async () => {
    await Promise.all([server?.close(), client?.close(), store?.close()]);
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  test('everything works before the outage', async () => {
    client.publish('events', enc('before'));
    await waitFor(() => received.includes('before'));
    expect(dec(await client.request('rpc', enc('1'), { timeoutMs: 2000 }))).toBe('ok:1');
    await store.set('k', 'v1');
    expect(await store.get('k')).toBe('v1');
  });

  test('while the servers are down: not ready, ping false, store rejects promptly, publish does not throw', async () => {
    await Promise.all([nats.stop(), redis.stop()]);
    await waitFor(() => !server.isReady() && !client.isReady(), { message: 'bus noticed the outage' });
    await waitFor(() => !store.isReady(), { message: 'store noticed the outage' });
    expect(await client.ping(300)).toBe(false);
    expect(await store.ping(300)).toBe(false);

    const started = Date.now();
    const results = await Promise.allSettled([
      store.get('k'), store.set('k', 'x'), store.hit('h'), store.append('log', 'x', { maxLen: 10, maxAgeMs: 60_000 }),
    ]);
    // No offline queue: a refusal, not a wait for the server.
    expect(Date.now() - started).toBeLessThan(1000);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreError);
    }

    expect(() => client.publish('events', enc('during'))).not.toThrow();
    const err = await rejection(client.request('rpc', enc('2'), { timeoutMs: 200 }));
    expect(err).toBeInstanceOf(BusError);
  });

  test('after a restart on the same port: ready again, old subscriptions and responders serve, store works', async () => {
    await Promise.all([nats.restart(), redis.restart()]);
    await waitFor(() => server.isReady() && client.isReady(), { ...RECOVER, message: 'bus reconnected' });
    await waitFor(() => store.isReady(), { ...RECOVER, message: 'store reconnected' });
    // Listeners learn that messages may have been missed meanwhile.
    expect(reconnects).toBe(1);
    expect(await client.ping()).toBe(true);
    expect(await store.ping()).toBe(true);
    // The server side re-subscribes on reconnect; make sure it has before publishing from the other connection.
    await server.ping();

    client.publish('events', enc('after'));
    await waitFor(() => received.includes('after'), { message: 'subscription delivers after restart' });
    expect(dec(await client.request('rpc', enc('3'), { timeoutMs: 2000 }))).toBe('ok:3');

    // The restarted Redis has no persistence: the old key is gone, new writes work.
    expect(await store.get('k')).toBeNull();
    await store.set('k', 'v2');
    expect(await store.get('k')).toBe('v2');
    expect(await store.hit('h')).toBe(1);
  });
});

describe('a service can start before its servers are up', () => {
  let nats: TestServer | undefined;
  let redis: TestServer | undefined;
  let bus: Bus | undefined;
  let store: Store | undefined;

  afterAll(async () => {
    await Promise.all([bus?.close(), store?.close()]);
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  test('bus and store become ready when the servers appear; early subscriptions bind then', async () => {
    const [natsPort, redisPort] = await Promise.all([freePort(), freePort()]);
    const prefix = uniquePrefix('late');
    bus = await createNatsBus({
      url: `nats://127.0.0.1:${natsPort}`, prefix, log, firstConnectWaitMs: 50, maxReconnectDelayMs: 300,
    });
    store = createRedisStore({
      url: `redis://127.0.0.1:${redisPort}`, prefix: `${prefix}:`, log, firstConnectWaitMs: 50, maxReconnectDelayMs: 300,
    });
    expect(bus.isReady()).toBe(false);
    expect(store.isReady()).toBe(false);
    const got: string[] = [];
    bus.subscribe('early', (data) => got.push(dec(data)));
    bus.respond('early.rpc', () => enc('pong'));
    expect(() => bus?.publish('early', enc('dropped'))).not.toThrow();
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreError);

    [nats, redis] = await Promise.all([startNatsServer({ port: natsPort }), startRedisServer({ port: redisPort })]);
    const b = bus;
    const s = store;
    await waitFor(() => b.isReady() && s.isReady(), { ...RECOVER, message: 'late connections' });
    await b.ping();
    b.publish('early', enc('hello'));
    await waitFor(() => got.includes('hello'));
    expect(got).toEqual(['hello']);
    expect(dec(await b.request('early.rpc', enc(''), { timeoutMs: 2000 }))).toBe('pong');
    await s.set('k', 'v');
    expect(await s.get('k')).toBe('v');
  });
});
