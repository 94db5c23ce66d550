import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import type { Middleware } from 'koa';
import { waitFor } from '../src/testing/wait.js';
import { decodeUtf8Strict, readBody, readJson } from '../src/http/body.js';
import { errorLines, rawConnect, startPublicApp, type RunningApp } from './http-support.js';

let app: RunningApp;
let bodiesRead = 0;
let slowSettled = 0;

const routes: Middleware = async (ctx, next) => {
  if (ctx.method !== 'POST') return next();
  switch (ctx.path) {
    case '/echo': {
      const buf = await readBody(ctx, { limit: 64 });
      bodiesRead++;
      ctx.body = { bytes: buf.length, text: decodeUtf8Strict(buf) };
      return;
    }
    case '/twice': {
      const a = await readBody(ctx, { limit: 64 });
      const b = await readBody(ctx, { limit: 64 });
      ctx.body = { same: a === b, bytes: b.length };
      return;
    }
    case '/json':
      ctx.body = { parsed: await readJson(ctx, { limit: 1024 }) };
      return;
    case '/slow':
      try {
        ctx.body = { bytes: (await readBody(ctx, { limit: 1024, timeoutMs: 300 })).length };
      } finally {
        slowSettled++;
      }
      return;
    default:
      return next();
  }
};

beforeAll(async () => {
  app = await startPublicApp([routes]);
});

afterAll(async () => {
  await app.stop();
});

const json = { Accept: 'application/json' };

describe('readBody limits', () => {
  test('within the limit: the exact bytes, with or without Content-Length', async () => {
    const res = await fetch(`${app.url}/echo`, { method: 'POST', headers: json, body: 'héllo' });
    expect(await res.json()).toEqual({ bytes: 6, text: 'héllo' });

    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('chunk-1 '));
        c.enqueue(new TextEncoder().encode('chunk-2'));
        c.close();
      },
    });
    const chunked = await fetch(`${app.url}/echo`, { method: 'POST', headers: json, body: stream, duplex: 'half' } as RequestInit);
    expect(await chunked.json()).toEqual({ bytes: 15, text: 'chunk-1 chunk-2' });
  });

  test('413 from Content-Length arrives before the body is sent, and the connection closes', async () => {
    const readsBefore = bodiesRead;
    const c = await rawConnect(app.port);
    c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nContent-Length: 10000000\r\n\r\n');
    c.socket.write('x'.repeat(10)); // 10 of the 10 000 000 declared bytes; the rest never comes
    await waitFor(() => c.received().includes('payload_too_large'), { message: '413 before the body' });
    const head = c.received();
    expect(head).toMatch(/^HTTP\/1\.1 413 /);
    expect(head.toLowerCase()).toContain('connection: close');
    expect(head.toLowerCase()).toContain('access-control-allow-origin: *');
    expect(head.toLowerCase()).toContain('x-pow-work: 4096');
    expect(head).toContain('"limit":64');
    await c.closed; // the server hangs up instead of draining ten megabytes
    expect(bodiesRead).toBe(readsBefore);
  });

  test('413 as soon as a chunked body passes the limit, before it ends', async () => {
    const c = await rawConnect(app.port);
    c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 3; i++) c.socket.write(`20\r\n${'y'.repeat(32)}\r\n`); // 96 bytes > 64, no final chunk
    await waitFor(() => c.received().includes('payload_too_large'), { message: '413 on chunked overflow' });
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    await c.closed;
  });

  test('a body that does not arrive in time is refused with 400 bad_request', async () => {
    const c = await rawConnect(app.port);
    c.socket.write('POST /slow HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nContent-Length: 50\r\n\r\nabcde');
    await waitFor(() => c.received().includes('bad_request'), { message: 'body timeout' });
    expect(c.received()).toMatch(/^HTTP\/1\.1 400 /);
    expect(c.received()).toContain('took too long');
    c.socket.destroy();
  });

  test('a client that disconnects mid-body is not logged as an error', async () => {
    const before = errorLines(app.lines).length;
    const settledBefore = slowSettled;
    const c = await rawConnect(app.port);
    c.socket.write('POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc');
    await new Promise<void>((r) => c.socket.end(r));
    c.socket.destroy();
    await c.closed;
    // The server is still well.
    const res = await fetch(`${app.url}/echo`, { method: 'POST', headers: json, body: 'ok' });
    expect(res.status).toBe(200);
    await waitFor(() => slowSettled > settledBefore, { message: 'the handler saw the abort' });
    expect(errorLines(app.lines).slice(before)).toEqual([]);
  });

  test('Content-Encoding is refused with 415', async () => {
    const res = await fetch(`${app.url}/echo`, { method: 'POST', headers: { ...json, 'Content-Encoding': 'gzip' }, body: 'x' });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: 'unsupported_media_type' });
  });

  test('reading twice yields the same bytes (one read per request)', async () => {
    const res = await fetch(`${app.url}/twice`, { method: 'POST', headers: json, body: 'abc' });
    expect(await res.json()).toEqual({ same: true, bytes: 3 });
  });
});

describe('text and JSON', () => {
  test('invalid UTF-8 is 415 unsupported_media_type', async () => {
    const res = await fetch(`${app.url}/echo`, { method: 'POST', headers: json, body: new Uint8Array([0x61, 0xff, 0xfe]) });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: 'unsupported_media_type' });
  });

  test('invalid JSON is 400 bad_request; valid JSON is parsed', async () => {
    const bad = await fetch(`${app.url}/json`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'bad_request', message: 'The request body is not valid JSON.' });
    const good = await fetch(`${app.url}/json`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":[1,"é"]}' });
    expect(await good.json()).toEqual({ parsed: { a: [1, 'é'] } });
  });

  test('decodeUtf8Strict keeps text verbatim and rejects overlong / surrogate encodings', () => {
    expect(decodeUtf8Strict(Buffer.from('\uFEFFline1\nline2', 'utf8'))).toBe('\uFEFFline1\nline2');
    expect(() => decodeUtf8Strict(new Uint8Array([0xc0, 0xaf]))).toThrow(expect.objectContaining({ code: 'unsupported_media_type' }));
    expect(() => decodeUtf8Strict(new Uint8Array([0xed, 0xa0, 0x80]))).toThrow(expect.objectContaining({ status: 415 }));
  });
});
