import { describe, test, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { PassThrough } from 'node:stream';
import type { Middleware } from 'koa';
import { createPublicApp } from '../src/http/app.js';
import { createHttpServer, type HttpServer } from '../src/http/server.js';
import { createMetrics } from '../src/metrics.js';
import { waitFor } from '../src/testing/wait.js';
import { PRICE, captureLog, errorLines, rawConnect } from './http-support.js';

/** An SSE-like route: a stream body fed every 50 ms until the client goes. */
const streams: PassThrough[] = [];
const sse: Middleware = async (ctx, next) => {
  if (ctx.path !== '/stream') return next();
  const body = new PassThrough();
  const timer = setInterval(() => body.write(': ka\n\n'), 50);
  body.on('close', () => clearInterval(timer));
  streams.push(body);
  ctx.set('Content-Type', 'text/event-stream');
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.body = body;
  body.write('retry: 2000\n\n');
};

const { log, lines } = captureLog();
const emitted: unknown[] = [];
const consoleError = jest.spyOn(console, 'error');
let http: HttpServer;
let base: string;
let port: number;

beforeAll(async () => {
  const app = createPublicApp({ log, metrics: createMetrics({ service: 'test', defaultMetrics: false }), trustProxy: [], price: () => PRICE }, [sse]);
  app.on('error', (err: unknown) => emitted.push(err)); // observes what the filter sees
  http = createHttpServer({ host: '127.0.0.1', port: 0, handler: app.callback(), log, headersTimeoutMs: 200, requestTimeoutMs: 300, shutdownGraceMs: 200 });
  ({ port } = await http.start());
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await http.stop();
  consoleError.mockRestore();
});

async function openStream(signal?: AbortSignal): Promise<{ res: Response; chunks: () => number; ended: Promise<void> }> {
  const res = await fetch(`${base}/stream`, { headers: { Accept: 'text/event-stream' }, ...(signal ? { signal } : {}) });
  let n = 0;
  const reader = res.body!.getReader();
  const ended = (async () => {
    try {
      for (;;) {
        const { done } = await reader.read();
        if (done) return;
        n++;
      }
    } catch {
      // aborted by the test, or cut by the server
    }
  })();
  return { res, chunks: () => n, ended };
}

describe('createHttpServer', () => {
  test('port 0 binds a real port', () => {
    expect(port).toBeGreaterThan(0);
  });

  test('a stream outlives the request timeout (300 ms) and carries the shared headers', async () => {
    const ac = new AbortController();
    const s = await openStream(ac.signal);
    expect(s.res.status).toBe(200);
    expect(s.res.headers.get('content-type')).toBe('text/event-stream');
    expect(s.res.headers.get('access-control-allow-origin')).toBe('*');
    expect(s.res.headers.get('x-pow-token')).toBe(PRICE.token);
    const start = Date.now();
    await waitFor(() => Date.now() - start > 1200 && s.chunks() > 15, { timeoutMs: 4000, message: 'stream still flowing' });
    ac.abort();
    await s.ended;
  });

  test('a client aborting a stream is not logged (Premature close filtered)', async () => {
    const before = errorLines(lines).length;
    const emittedBefore = emitted.length;
    const ac = new AbortController();
    const s = await openStream(ac.signal);
    await waitFor(() => s.chunks() >= 2);
    const body = streams[streams.length - 1]!;
    ac.abort();
    await s.ended;
    await waitFor(() => body.destroyed, { message: 'server side stream destroyed' });
    await waitFor(() => emitted.length > emittedBefore, { message: 'koa reported the close' });
    expect(emitted.slice(emittedBefore).map((e) => (e as { code?: string }).code)).toContain('ERR_STREAM_PREMATURE_CLOSE');
    expect(errorLines(lines).slice(before)).toEqual([]);
    expect(consoleError).not.toHaveBeenCalled();
  });

  test('a client that never finishes its headers is cut off (408)', async () => {
    const c = await rawConnect(port);
    c.socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('stop', () => {
  test('closes idle connections at once and busy ones after the grace period', async () => {
    const { log: l } = captureLog();
    const server = createHttpServer({
      host: '127.0.0.1', port: 0, log: l, shutdownGraceMs: 300,
      handler: (req, res) => {
        if (req.url === '/hang') {
          res.writeHead(200, { 'Content-Type': 'text/event-stream' });
          res.write(': open\n\n');
          return; // never ends by itself
        }
        res.end('ok');
      },
    });
    const { port: p } = await server.start();
    const idle = await rawConnect(p);
    idle.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // keep-alive, then idle
    await waitFor(() => idle.received().includes('ok'));
    const busy = await rawConnect(p);
    busy.socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => busy.received().includes(': open'));

    let busyClosedAt = 0;
    let idleClosedAt = 0;
    void busy.closed.then(() => { busyClosedAt = Date.now(); });
    void idle.closed.then(() => { idleClosedAt = Date.now(); });
    const t0 = Date.now();
    await server.stop();
    await Promise.all([idle.closed, busy.closed]);
    expect(idleClosedAt).toBeLessThan(busyClosedAt); // idle at once, busy only when the grace is over
    expect(busyClosedAt - t0).toBeGreaterThanOrEqual(250);
    await expect(fetch(`http://127.0.0.1:${p}/`)).rejects.toThrow();
    await server.stop(); // idempotent
  });

  test('start rejects when the port is taken', async () => {
    const { log: l } = captureLog();
    const other = createHttpServer({ host: '127.0.0.1', port, log: l, handler: (_q, r) => r.end() });
    await expect(other.start()).rejects.toThrow(/EADDRINUSE/);
  });
});
