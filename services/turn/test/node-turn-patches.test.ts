import { createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLogger, createMetrics, turnCredentials } from '@mesh/shared';
import type { TurnBackend } from '../src/backend.js';
import { createTurnMetrics } from '../src/metrics.js';
import { createNodeTurnBackend } from '../src/node-turn/backend.js';
import { createNonces } from '../src/node-turn/rest-auth.js';
import { ALLOCATE, LIFETIME, REFRESH, REQUESTED_UDP, TurnTestClient, XOR_RELAYED, u32, xorPort } from './stun-client.js';
import { testTurnConfig } from './tools.js';

const SECRET = 'patch-test-secret-0123456789';

function creds() {
  return turnCredentials({ secret: SECRET, ttlSeconds: 600, nowSeconds: Date.now() / 1000, urls: [] });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('node-turn patches', () => {
  let backend: TurnBackend;
  let port = 0;
  const clients: TurnTestClient[] = [];
  const client = (username: string, password: string): TurnTestClient => {
    const c = new TurnTestClient(port, username, password);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const config = await testTurnConfig({ userQuota: 2, totalQuota: 3 });
    port = config.port;
    backend = createNodeTurnBackend({
      config, secret: SECRET, log: createLogger({ level: 'silent', service: 'turn' }),
      metrics: createTurnMetrics(createMetrics({ service: 'turn', defaultMetrics: false })),
    });
    await backend.start();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await backend.stop();
  });

  test('a prototype key as username does not authenticate (no user table)', async () => {
    for (const username of ['constructor', '__proto__', 'toString']) {
      const c = client(username, String(Object));
      const r = await c.authed(ALLOCATE, [REQUESTED_UDP]);
      expect(r.code).toBe(401);
      // Even with the HMAC a REST server would compute, a name that is not `<expiry>:<id>` is refused.
      const d = client(username, createHmac('sha1', SECRET).update(username).digest('base64'));
      expect((await d.authed(ALLOCATE, [REQUESTED_UDP])).code).toBe(401);
    }
  });

  test('LIFETIME is honoured; REFRESH extends; REFRESH 0 ends the allocation and frees its relay port', async () => {
    const cr = creds();
    const c = client(cr.username, cr.credential);
    const a = await c.authed(ALLOCATE, [REQUESTED_UDP, [LIFETIME, u32(1200)]]);
    expect(a.cls).toBe(2);
    expect(a.attrs.get(LIFETIME)?.readUInt32BE(0)).toBe(1200);
    const relayPort = xorPort(a.attrs.get(XOR_RELAYED) as Buffer);
    expect(await portFree(relayPort)).toBe(false);
    const r = await c.request(REFRESH, [[LIFETIME, u32(900)]]);
    expect(r.cls).toBe(2);
    expect(r.attrs.get(LIFETIME)?.readUInt32BE(0)).toBe(900);
    expect(backend.stats().allocations).toBe(1);
    const end = await c.request(REFRESH, [[LIFETIME, u32(0)]]);
    expect(end.cls).toBe(2);
    expect(backend.stats().allocations).toBe(0);
    expect(await portFree(relayPort)).toBe(true);
  });

  test('a retransmitted ALLOCATE gets the same allocation; another transaction on the 5-tuple gets 437', async () => {
    const cr = creds();
    const c = client(cr.username, cr.credential);
    expect((await c.request(ALLOCATE, [REQUESTED_UDP])).code).toBe(401); // the nonce
    const tid = randomBytes(12);
    const first = await c.request(ALLOCATE, [REQUESTED_UDP], true, tid);
    expect(first.cls).toBe(2);
    const again = await c.request(ALLOCATE, [REQUESTED_UDP], true, tid);
    expect({ cls: again.cls, code: again.code }).toEqual({ cls: 2, code: undefined });
    expect(again.attrs.get(XOR_RELAYED)).toEqual(first.attrs.get(XOR_RELAYED));
    expect(backend.stats().allocations).toBe(1);
    expect((await c.request(ALLOCATE, [REQUESTED_UDP])).code).toBe(437);
    expect((await c.request(REFRESH, [[LIFETIME, u32(0)]])).cls).toBe(2);
    expect(backend.stats().allocations).toBe(0);
  });

  test('allocations are capped per user (486) and in total', async () => {
    const cr = creds();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await client(cr.username, cr.credential).authed(ALLOCATE, [REQUESTED_UDP]));
    expect(answers.map((a) => a.code)).toEqual([undefined, undefined, 486]);
    const other = creds();
    expect((await client(other.username, other.credential).authed(ALLOCATE, [REQUESTED_UDP])).code).toBeUndefined();
    // Total quota (3) reached by now.
    const third = creds();
    expect((await client(third.username, third.credential).authed(ALLOCATE, [REQUESTED_UDP])).code).toBe(486);
  });

  test('nonces are random, verifiable without state, and expire', () => {
    let now = 1000;
    const n = createNonces(() => now);
    const a = n.issue();
    const b = n.issue();
    expect(a).not.toBe(b);
    expect(n.valid(a)).toBe(true);
    expect(n.valid(`${a.slice(0, -1)}${a.endsWith('0') ? '1' : '0'}`)).toBe(false);
    expect(createNonces(() => now).valid(a)).toBe(false);
    now += 601;
    expect(n.valid(a)).toBe(false);
  });
});
