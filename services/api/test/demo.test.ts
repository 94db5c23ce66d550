import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateDemoBundle } from '../src/demo.js';
import { startApi, type ApiInstance, type Backends } from './support/harness.js';
import { embedded } from './support/wirings.js';

// /demo serves exactly the files of the sigmesh browser bundle directory.

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path sent byte for byte (fetch would normalise `..` away). */
function raw(base: string, path: string, method = 'GET', accept = 'application/json'): Promise<Raw> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers: { accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('/demo', () => {
  let work: string;
  let dir: string;
  let backends: Backends;
  let api: ApiInstance;
  let missing: ApiInstance;
  const html = '<!doctype html><title>demo</title><script type="module" src="./demo.js"></script>';
  const js = 'console.log("demo");';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'api-demo-'));
    dir = join(work, 'browser');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'index.html'), html);
    await writeFile(join(dir, 'demo.js'), js);
    await writeFile(join(dir, 'demo.js.map'), '{"version":3}');
    await writeFile(join(dir, 'notes.txt'), 'not part of the bundle');
    await writeFile(join(dir, 'sub', 'inner.js'), 'nested');
    await writeFile(join(work, 'outside.js'), 'SECRET-outside');
    backends = await embedded.backends('demo');
    api = await startApi(backends, {}, { demoDir: dir });
    missing = await startApi(backends, {}, { demoDir: join(work, 'not-built') });
  });

  afterAll(async () => {
    await api?.stop();
    await missing?.stop();
    await backends?.close();
    await rm(work, { recursive: true, force: true });
  });

  test('GET /demo redirects to /demo/, keeping the query', async () => {
    const r = await raw(api.url, '/demo');
    expect(r.status).toBe(302);
    expect(r.headers['location']).toBe('/demo/');
    const q = await raw(api.url, '/demo?seeds=http%3A%2F%2F127.0.0.1%3A1');
    expect(q.headers['location']).toBe('/demo/?seeds=http%3A%2F%2F127.0.0.1%3A1');
  });

  test('/demo/ is index.html; bundle files with their content types, short caching, CORS', async () => {
    const index = await raw(api.url, '/demo/', 'GET', 'text/html');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body.toString()).toBe(html);
    expect(index.headers['cache-control']).toMatch(/max-age=\d+/);
    expect(index.headers['access-control-allow-origin']).toBe('*');

    const script = await raw(api.url, '/demo/demo.js', 'GET', '*/*');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['x-content-type-options']).toBe('nosniff');
    expect(script.body.toString()).toBe(js);

    const map = await raw(api.url, '/demo/demo.js.map');
    expect(map.status).toBe(200);
    expect(map.headers['content-type']).toBe('application/json; charset=utf-8');

    const head = await raw(api.url, '/demo/demo.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  test.each([
    '/demo/../outside.js',
    '/demo/..%2foutside.js',
    '/demo/%2e%2e/outside.js',
    '/demo/%2e%2e%2foutside.js',
    '/demo//outside.js',
    '/demo/sub/inner.js',
    '/demo/sub%2finner.js',
    '/demo/notes.txt',
    '/demo/./demo.js',
    '/demo/demo.js/',
    '/demo/DEMO.JS',
    '/demo/index.html%00.js',
    '/demo/nope.js',
  ])('%s is 404 not_found', async (path) => {
    const r = await raw(api.url, path);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'not_found' });
    expect(r.body.toString()).not.toContain('SECRET');
  });

  test('other methods are 405 with Allow', async () => {
    const r = await raw(api.url, '/demo/demo.js', 'POST');
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('GET, HEAD');
    expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'method_not_allowed' });
  });

  test('a missing bundle is 503 unavailable saying to run make build; the API still answers', async () => {
    const r = await raw(missing.url, '/demo/');
    expect(r.status).toBe(503);
    const body = JSON.parse(r.body.toString()) as { error: string; message: string };
    expect(body.error).toBe('unavailable');
    expect(body.message).toContain('make build');
    expect((await raw(missing.url, '/')).status).toBe(200);
  });

  test('by default the bundle is @mesh/sigmesh\'s dist/browser', () => {
    const expected = fileURLToPath(new URL('../../../libs/sigmesh/dist/browser', import.meta.url));
    expect(locateDemoBundle()).toBe(expected);
  });
});
