import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { ProtocolError } from '../src/errors.js';
import { renderPage } from '../src/http/html.js';
import { setRouteLabel } from '../src/http/metrics.js';
import { PRICE, errorLines, startPublicApp, type RunningApp } from './http-support.js';

let app: RunningApp;

beforeAll(async () => {
  const router = new Router();
  router.get('/ok', (ctx) => { ctx.body = { ok: true }; });
  router.get('/room/:hash', (ctx) => { ctx.body = { hash: ctx.params['hash'] }; });
  router.get('/pay', () => {
    throw new ProtocolError('pow_required', undefined, { token: 'v1.1.abc', work: 8192, difficulty: 13 });
  });
  router.get('/boom', (ctx) => {
    ctx.set('X-Secret-Debug', 'leak');
    throw new Error('database password is hunter2');
  });
  router.get('/throw413', (ctx) => ctx.throw(413));
  router.get('/throw-expose', (ctx) => ctx.throw(400, 'field x is missing'));
  router.get('/throw503', (ctx) => ctx.throw(503, 'secret internals'));
  const plain: Middleware = async (ctx, next) => {
    if (ctx.path !== '/plain') return next();
    setRouteLabel(ctx, '/plain');
    ctx.body = 'plain';
  };
  app = await startPublicApp([router.routes(), router.allowedMethods(), plain]);
});

afterAll(async () => {
  await app.stop();
});

function expectCommonHeaders(res: Response): void {
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  expect(res.headers.get('access-control-expose-headers')).toBe('X-PoW-Token, X-PoW-Work, Retry-After');
  expect(res.headers.get('x-pow-token')).toBe(PRICE.token);
  expect(res.headers.get('x-pow-work')).toBe(String(PRICE.work));
}

describe('headers on every response', () => {
  test.each([
    ['/ok', 200], ['/nowhere', 404], ['/pay', 402], ['/boom', 500], ['/throw413', 413],
  ])('%s -> %i with CORS and price headers', async (path, status) => {
    const res = await fetch(app.url + path, { headers: { Accept: 'application/json' } });
    expect(res.status).toBe(status);
    expectCommonHeaders(res);
    await res.arrayBuffer();
  });

  test('OPTIONS on any path is 204 with the preflight headers', async () => {
    for (const path of ['/ok', '/room/abc', '/does/not/exist']) {
      const res = await fetch(app.url + path, {
        method: 'OPTIONS',
        headers: { Origin: 'https://example.org', 'Access-Control-Request-Method': 'POST' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, OPTIONS');
      expect(res.headers.get('access-control-allow-headers')).toBe('Content-Type, X-PoW, X-Room-Peer, Last-Event-ID');
      expect(res.headers.get('access-control-max-age')).toBe('86400');
      expectCommonHeaders(res);
      expect(await res.text()).toBe('');
    }
  });
});

describe('errors', () => {
  test('unknown path: not_found as JSON when asked by Accept, Content-Type or ?format=json', async () => {
    const asks: Array<[string, RequestInit]> = [
      ['/nowhere', { headers: { Accept: 'application/json' } }],
      ['/nowhere', { headers: { Accept: 'text/html;q=0.9, application/json' } }],
      ['/nowhere', { method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: '{}' }],
      ['/nowhere?format=json', {}],
    ];
    for (const [path, init] of asks) {
      const res = await fetch(app.url + path, init);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ error: 'not_found', message: 'Not found.' });
    }
  });

  test('unknown path: an HTML page for a browser, and for application/json;q=0', async () => {
    for (const accept of ['text/html,application/xhtml+xml,*/*;q=0.8', 'application/json;q=0']) {
      const res = await fetch(`${app.url}/nowhere`, { headers: { Accept: accept } });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<!DOCTYPE html>');
      expect(html).toContain('not_found');
      expect(html).toContain('Not found.');
    }
  });

  test('a wrong method on a known route is 405 method_not_allowed with Allow (router.allowedMethods)', async () => {
    const res = await fetch(`${app.url}/ok`, { method: 'POST', headers: { Accept: 'application/json' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toMatch(/GET/);
    expectCommonHeaders(res);
    expect(await res.json()).toEqual({ error: 'method_not_allowed', message: 'Method not allowed.' });
  });

  test('a method the router does not implement is 405 on a known route, 404 elsewhere, never 501', async () => {
    const known = await fetch(`${app.url}/ok`, { method: 'PROPFIND', headers: { Accept: 'application/json' } });
    expect(known.status).toBe(405);
    expect(known.headers.get('allow')).toMatch(/GET/);
    expect(await known.json()).toEqual({ error: 'method_not_allowed', message: 'Method not allowed.' });
    const unknown = await fetch(`${app.url}/nowhere`, { method: 'LOCK', headers: { Accept: 'application/json' } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as Record<string, unknown>)['error']).toBe('not_found');
  });

  test('a ProtocolError keeps its status, code and extra fields', async () => {
    const res = await fetch(`${app.url}/pay`, { headers: { Accept: 'application/json' } });
    expect(res.status).toBe(402);
    expect(await res.json()).toEqual({
      error: 'pow_required', message: 'This request needs a proof of work (X-PoW header).',
      token: 'v1.1.abc', work: 8192, difficulty: 13,
    });
    const html = await (await fetch(`${app.url}/pay`)).text();
    expect(html).toContain('pow_required');
    expect(html).toContain('8192');
  });

  test('an unexpected error is a generic 500 internal, logged with context, internals withheld', async () => {
    const before = errorLines(app.lines).length;
    const res = await fetch(`${app.url}/boom`, { headers: { Accept: 'application/json' } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'internal', message: 'Internal error.' });
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('at ');
    expect(res.headers.get('x-secret-debug')).toBeNull();
    const logged = errorLines(app.lines).slice(before);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ method: 'GET', path: '/boom', clientIp: '127.0.0.1' });
    expect(logged[0]?.err?.message).toBe('database password is hunter2');
    expect(logged[0]?.err?.stack).toContain('Error');

    const page = await (await fetch(`${app.url}/boom`)).text();
    expect(page).not.toContain('hunter2');
    expect(page).toContain('internal');
  });

  test('koa / http-errors map to catalogue codes; exposed 4xx messages kept, 5xx messages withheld', async () => {
    const j = { headers: { Accept: 'application/json' } };
    const r413 = await fetch(`${app.url}/throw413`, j);
    expect(await r413.json()).toMatchObject({ error: 'payload_too_large' });
    const r400 = await fetch(`${app.url}/throw-expose`, j);
    expect(r400.status).toBe(400);
    expect(await r400.json()).toEqual({ error: 'bad_request', message: 'field x is missing' });
    const r503 = await fetch(`${app.url}/throw503`, j);
    expect(r503.status).toBe(503);
    expect(await r503.json()).toEqual({ error: 'unavailable', message: 'The service is temporarily unavailable.' });
  });
});

describe('request metrics', () => {
  test('labelled by route template, unknown paths as "other", never the raw path', async () => {
    const hash = 'ab'.repeat(20);
    await (await fetch(`${app.url}/room/${hash}`)).arrayBuffer();
    await (await fetch(`${app.url}/plain`)).arrayBuffer();
    await (await fetch(`${app.url}/x-${Date.now()}`)).arrayBuffer();
    await (await fetch(`${app.url}/pay`)).arrayBuffer();
    const text = await app.metrics.text();
    expect(text).toMatch(/mesh_http_requests_total\{[^}]*route="\/room\/:hash"[^}]*status="200"[^}]*\} 1/);
    expect(text).toMatch(/mesh_http_requests_total\{[^}]*route="\/plain"[^}]*status="200"/);
    expect(text).toMatch(/mesh_http_requests_total\{[^}]*route="other"[^}]*status="404"/);
    expect(text).toMatch(/mesh_http_requests_total\{[^}]*route="\/pay"[^}]*status="402"/);
    expect(text).toMatch(/mesh_http_request_duration_seconds_count\{[^}]*route="\/room\/:hash"/);
    expect(text).not.toContain(hash);
    expect(text).not.toContain('/x-');
  });
});

describe('renderPage', () => {
  test('escapes every value and drops unsafe links', () => {
    const html = renderPage({
      title: '<script>alert(1)</script>',
      intro: 'a & b',
      facts: [['"quoted"', "it's <b>"], ['n', 42]],
      links: [['home', '/'], ['ext', 'https://example.org/?a=1&b=2'], ['bad', 'javascript:alert(1)'], ['proto', '//evil.example']],
    });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('a &amp; b');
    expect(html).toContain('&quot;quoted&quot;');
    expect(html).toContain('it&#39;s &lt;b&gt;');
    expect(html).toContain('href="https://example.org/?a=1&amp;b=2"');
    expect(html).not.toContain('javascript:');
    expect(html).not.toContain('evil.example');
    expect(html).not.toMatch(/<(link|img|script)\b/);
  });
});
