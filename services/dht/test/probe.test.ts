import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { canonicalNodeUrl, PROBE_MAX_BYTES, probePeer, type ProbeOptions } from '../src/index.js';
import { json, otherNetworkInfohash, startHttp, type HttpTestServer } from './support.js';

const network = otherNetworkInfohash('probe-test');
// A peer that answers gets the production timeout (a short one flaked on a busy 2-core machine);
// peers meant to time out get a short one.
const opts: ProbeOptions = { network, allowInsecure: true, timeoutMs: 3000 };
const short: ProbeOptions = { ...opts, timeoutMs: 500 };
const peerOf = (s: { port: number }): { host: string; port: number } => ({ host: '127.0.0.1', port: s.port });

describe('probePeer', () => {
  const servers: HttpTestServer[] = [];
  let genuine: HttpTestServer;
  const genuineId = randomBytes(32).toString('hex');
  let floodBytes = 0;
  let flood: HttpTestServer;
  let rawSilent: Server;
  const rawSockets = new Set<Socket>();

  beforeAll(async () => {
    genuine = await startHttp((_req, res) => json(res, { id: genuineId, url: `${genuine.url}/`, network }));
    flood = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && floodBytes < 2 ** 30) {
          floodBytes += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    servers.push(genuine, flood);
    // Accepts TCP connections and never says a word.
    rawSilent = createServer((sock) => {
      rawSockets.add(sock);
      sock.on('close', () => rawSockets.delete(sock));
    });
    await new Promise<void>((resolve) => rawSilent.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const s of rawSockets) s.destroy();
    await new Promise<void>((resolve) => rawSilent.close(() => resolve()));
    await Promise.all(servers.map((s) => s.close()));
  });

  async function serve(body: unknown, status = 200): Promise<HttpTestServer> {
    const s = await startHttp((_req, res) => json(res, body, status));
    servers.push(s);
    return s;
  }

  test('accepts a node whose url serves the same id, canonicalising the url', async () => {
    expect(await probePeer(peerOf(genuine), opts)).toEqual({ ok: true, id: genuineId, url: genuine.url });
  });

  test('refuses a peer whose / is not a node', async () => {
    const html = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>a blog</body></html>');
    });
    servers.push(html);
    expect(await probePeer(peerOf(html), opts)).toMatchObject({ ok: false, reason: 'not_json' });
    const noId = await serve({ url: 'http://127.0.0.1:1', network });
    expect(await probePeer(peerOf(noId), opts)).toMatchObject({ ok: false, reason: 'not_a_node' });
    const badId = await serve({ id: 'XYZ', url: genuine.url, network });
    expect(await probePeer(peerOf(badId), opts)).toMatchObject({ ok: false, reason: 'not_a_node' });
    const badUrl = await serve({ id: genuineId, url: 'ftp://example.org', network });
    expect(await probePeer(peerOf(badUrl), opts)).toMatchObject({ ok: false, reason: 'not_a_node' });
    const missing = await serve({ error: 'not_found' }, 404);
    expect(await probePeer(peerOf(missing), opts)).toMatchObject({ ok: false, reason: 'bad_status' });
    const array = await serve([genuineId]);
    expect(await probePeer(peerOf(array), opts)).toMatchObject({ ok: false, reason: 'not_a_node' });
  });

  test('refuses a node of another network', async () => {
    const other = await serve({ id: genuineId, url: genuine.url, network: otherNetworkInfohash('elsewhere') });
    expect(await probePeer(peerOf(other), opts)).toMatchObject({ ok: false, reason: 'other_network' });
  });

  test('refuses a node whose url serves another id', async () => {
    const liar = await serve({ id: randomBytes(32).toString('hex'), url: genuine.url, network });
    expect(await probePeer(peerOf(liar), opts)).toMatchObject({ ok: false, reason: 'url_mismatch' });
    const deadUrl = await serve({ id: genuineId, url: 'http://127.0.0.1:1', network });
    expect(await probePeer(peerOf(deadUrl), opts)).toMatchObject({ ok: false, reason: 'url_unreachable' });
  });

  test('refuses a peer that never answers', async () => {
    expect(await probePeer(peerOf(rawSilent.address() as AddressInfo), short)).toMatchObject({ ok: false, reason: 'timeout' });
  });

  test('refuses a peer that drips bytes forever', async () => {
    const drip = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(timer));
    });
    servers.push(drip);
    expect(await probePeer(peerOf(drip), short)).toMatchObject({ ok: false, reason: 'timeout' });
  });

  test('refuses a peer that answers gigabytes, having read little of it', async () => {
    expect(await probePeer(peerOf(flood), { ...opts, timeoutMs: 10_000 })).toMatchObject({ ok: false, reason: 'too_large' });
    // What the server managed to write before we cut it: our cap plus socket buffers, far from 1 GiB.
    expect(floodBytes).toBeLessThan(16 * 1024 * 1024);
    const declared = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 2 ** 30) });
      res.write('{');
    });
    servers.push(declared);
    expect(await probePeer(peerOf(declared), opts)).toMatchObject({ ok: false, reason: 'too_large' });
    expect(PROBE_MAX_BYTES).toBeLessThanOrEqual(64 * 1024);
  });

  test('refuses special-purpose addresses unless insecure nodes are allowed', async () => {
    const strict = { ...opts, allowInsecure: false };
    expect(await probePeer(peerOf(genuine), strict)).toMatchObject({ ok: false, reason: 'special_address' });
    expect(await probePeer({ host: '10.1.2.3', port: 80 }, strict)).toMatchObject({ ok: false, reason: 'special_address' });
    expect(await probePeer({ host: '169.254.169.254', port: 80 }, strict)).toMatchObject({ ok: false, reason: 'special_address' });
  });
});

describe('canonicalNodeUrl', () => {
  test('keeps https urls in canonical form', () => {
    expect(canonicalNodeUrl('HTTPS://Node.Example:443/', false)).toBe('https://node.example');
    expect(canonicalNodeUrl('https://node.example:8443/mesh/', false)).toBe('https://node.example:8443/mesh');
  });

  test('allows http only for insecure meshes', () => {
    expect(canonicalNodeUrl('http://node.example', false)).toBe('insecure');
    expect(canonicalNodeUrl('http://node.example:80', true)).toBe('http://node.example');
  });

  test('refuses anything but a plain http(s) url', () => {
    for (const bad of ['javascript:alert(1)', 'https://user:pw@node.example', 'https://node.example/?q=1',
      'https://node.example/#x', 'not a url', 42, null, `https://${'a'.repeat(600)}.example`]) {
      expect(canonicalNodeUrl(bad, true)).toBeNull();
    }
  });
});
