import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import Router from '@koa/router';
import { BusError } from '../src/bus/bus.js';
import { classifyError } from '../src/http/errors.js';
import { StoreError } from '../src/store/store.js';
import { errorLines, startPublicApp, type RunningApp } from './http-support.js';

describe('classifyError: a store or bus outage is 503 unavailable', () => {
  const outages: Array<[string, Error]> = [
    ['StoreError', new StoreError('redis not connected')],
    ...(['no_responders', 'timeout', 'closed', 'remote'] as const).map((code): [string, Error] => [`BusError ${code}`, new BusError(code, `bus ${code}`)]),
  ];

  test.each(outages)('%s', (_name, err) => {
    const c = classifyError(err);
    expect([c.error.status, c.error.code, c.internal]).toEqual([503, 'unavailable', false]);
    expect(c.error.cause).toBe(err);
    // The backend's own message is not the client's business.
    expect(c.error.message).not.toContain(err.message);
  });

  test('anything else is still internal 500', () => {
    const c = classifyError(new Error('bug'));
    expect([c.error.status, c.error.code, c.internal]).toEqual([500, 'internal', true]);
  });
});

describe('through the public app', () => {
  let app: RunningApp;

  beforeAll(async () => {
    const router = new Router();
    router.get('/store-down', async () => {
      throw new StoreError('store not connected');
    });
    router.get('/bus-down', async () => {
      throw new BusError('closed', 'bus closed');
    });
    app = await startPublicApp([router.routes(), router.allowedMethods()]);
  });

  afterAll(async () => {
    await app.stop();
  });

  test.each(['/store-down', '/bus-down'])('%s answers 503 unavailable and logs no request failure', async (path) => {
    const before = errorLines(app.lines).length;
    const res = await fetch(app.url + path, { headers: { Accept: 'application/json' } });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'unavailable' });
    expect(errorLines(app.lines).slice(before)).toEqual([]);
  });
});
