import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import { createServer as createHttpServer, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { canonicalNodeUrl, PROBE_MAX_BYTES, probePeer, type ProbeOptions } from '../src/index.js';
import { json, otherNetworkInfohash, startHttp, type HttpTestServer } from './support.js';

const network = otherNetworkInfohash('probe-test');
// A peer that answers gets the production timeout (a short one flaked on a busy 2-core machine);
// peers meant to time out get a short one. Loopback is special-purpose: only the allow list lets us probe it.
const opts: ProbeOptions = { network, allowInsecure: true, allowedPeers: ['127.0.0.0/8'], timeoutMs: 3000 };
const short: ProbeOptions = { ...opts, timeoutMs: 500 };
const peerOf = (s: { port: number }): { host: string; port: number } => ({ host: '127.0.0.1', port: s.port });

/** An HTTP server on `host` (any loopback address) that counts the requests it gets. */
interface CountingServer extends HttpTestServer {
  hits: IncomingMessage[];
}
async function listenOn(
  host: string, port: number, handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<CountingServer> {
  const hits: IncomingMessage[] = [];
  const server = createHttpServer((req, res) => {
    hits.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    server, port: bound, url: `http://${host}:${bound}`, hits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Every HTTP request this process starts while `fn` runs, as `protocol//host`. */
async function requestsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const onStart = (msg: unknown): void => {
    const req = (msg as { request: ClientRequest }).request;
    seen.push(`${req.protocol}//${String(req.getHeader('host'))}`);
  };
  dc.subscribe('http.client.request.start', onStart);
  try {
    await fn();
  } finally {
    dc.unsubscribe('http.client.request.start', onStart);
  }
  return seen;
}

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

  test('refuses special-purpose addresses, insecure urls allowed or not, unless MESH_ALLOWED_PEERS covers them', async () => {
    const counted = await listenOn('127.0.0.1', 0, (_req, res) => json(res, { id: genuineId, url: genuine.url, network }));
    servers.push(counted);
    // Production default: no allow list. http urls being accepted changes nothing about addresses.
    for (const o of [{ ...opts, allowedPeers: undefined }, { ...opts, allowedPeers: [] }, { ...opts, allowInsecure: false, allowedPeers: undefined }]) {
      expect(await probePeer(peerOf(counted), o)).toMatchObject({ ok: false, reason: 'special_address' });
      expect(await probePeer({ host: '::ffff:127.0.0.1', port: counted.port }, o)).toMatchObject({ ok: false, reason: 'special_address' });
      for (const host of ['::1', '0.0.0.0', '10.1.2.3', '169.254.169.254', '192.168.1.1', 'fe80::1']) {
        expect(await probePeer({ host, port: 80 }, o)).toMatchObject({ ok: false, reason: 'special_address' });
      }
    }
    // A list that covers other ranges does not cover this one.
    expect(await probePeer(peerOf(counted), { ...opts, allowedPeers: ['127.0.0.2/32', '10.0.0.0/8'] }))
      .toMatchObject({ ok: false, reason: 'special_address' });
    expect(counted.hits).toHaveLength(0);
    // Covered: probed, in either form of the address.
    const only = { ...opts, allowedPeers: ['127.0.0.1/32'] };
    expect(await probePeer(peerOf(counted), only)).toMatchObject({ ok: true, id: genuineId });
    expect(await probePeer({ host: '::ffff:127.0.0.1', port: counted.port }, only)).toMatchObject({ ok: true, id: genuineId });
    expect(counted.hits.length).toBeGreaterThan(0);
  });

  test('tries https after plain http only when something answered that is not HTTP', async () => {
    // Nothing listening: one connection attempt, no TLS retry.
    const closed = await listenOn('127.0.0.1', 0, () => undefined);
    await closed.close();
    let result: unknown;
    const refused = await requestsDuring(async () => { result = await probePeer(peerOf(closed), opts); });
    expect(result).toMatchObject({ ok: false, reason: 'refused' });
    expect(refused).toEqual([`http://127.0.0.1:${closed.port}`]);
    // Silent: the deadline, no second try.
    const silent = (rawSilent.address() as AddressInfo).port;
    const timedOut = await requestsDuring(async () => { result = await probePeer({ host: '127.0.0.1', port: silent }, short); });
    expect(result).toMatchObject({ ok: false, reason: 'timeout' });
    expect(timedOut).toHaveLength(1);
    // A server that takes the connection and hangs up (as a TLS port does to plain http): https next.
    const hangUp = createServer((sock) => sock.once('data', () => sock.destroy()));
    await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
    const port = (hangUp.address() as AddressInfo).port;
    try {
      const retried = await requestsDuring(async () => { result = await probePeer({ host: '127.0.0.1', port }, opts); });
      expect(result).toMatchObject({ ok: false, reason: 'not_http' });
      expect(retried).toEqual([`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`]);
    } finally {
      await new Promise<void>((resolve) => hangUp.close(() => resolve()));
    }
    // An error status: https next too (the plain http answer is kept when TLS finds nothing).
    const status = await serve({ error: 'not_found' }, 400);
    const onStatus = await requestsDuring(async () => { result = await probePeer(peerOf(status), opts); });
    expect(result).toMatchObject({ ok: false, reason: 'bad_status' });
    expect(onStatus).toEqual([`http://127.0.0.1:${status.port}`, `https://127.0.0.1:${status.port}`]);
  });

  describe('the url a peer names must be the probed IP', () => {
    // The peer is probed at 127.0.0.2; "elsewhere" is 127.0.0.1, which must never hear from us.
    let elsewhere: CountingServer;
    const peers: CountingServer[] = [];
    const naming = async (url: (self: CountingServer) => string, port = 0): Promise<CountingServer> => {
      let self: CountingServer | undefined;
      self = await listenOn('127.0.0.2', port, (_req, res) => json(res, { id: genuineId, url: url(self as CountingServer), network }));
      peers.push(self);
      return self;
    };
    const at = (s: CountingServer): { host: string; port: number } => ({ host: '127.0.0.2', port: s.port });

    beforeAll(async () => {
      elsewhere = await listenOn('127.0.0.1', 0, (_req, res) => json(res, { id: genuineId, url: `http://127.0.0.1:${elsewhere.port}`, network }));
    });
    afterAll(async () => {
      await Promise.all([elsewhere, ...peers].map((s) => s.close()));
    });

    test('an IP literal that is another address is refused without a request to it', async () => {
      const liar = await naming(() => elsewhere.url);
      expect(await probePeer(at(liar), opts)).toMatchObject({ ok: false, reason: 'url_elsewhere' });
      const mapped = await naming(() => `http://[::ffff:127.0.0.1]:${elsewhere.port}`);
      expect(await probePeer(at(mapped), opts)).toMatchObject({ ok: false, reason: 'url_elsewhere' });
      const v6 = await naming(() => `http://[::1]:${elsewhere.port}`);
      expect(await probePeer(at(v6), opts)).toMatchObject({ ok: false, reason: 'url_elsewhere' });
      expect(elsewhere.hits).toHaveLength(0);
    });

    test('the same IP in another form, or on another port, is the same host', async () => {
      const self = await naming((s) => `http://127.0.0.2:${s.port}`);
      expect(await probePeer({ host: '::ffff:127.0.0.2', port: self.port }, opts)).toEqual({ ok: true, id: genuineId, url: self.url });
      const mappedUrl = await naming((s) => `http://[::ffff:127.0.0.2]:${s.port}`);
      expect(await probePeer(at(mappedUrl), opts)).toMatchObject({ ok: true, id: genuineId });
      // A hint on another port of the probed IP (a node behind a proxy) is still confirmed there.
      const front = await naming(() => self.url);
      expect(await probePeer(at(front), opts)).toEqual({ ok: true, id: genuineId, url: self.url });
    });

    test('a name must resolve to the probed IP', async () => {
      // localhost is 127.0.0.1 here (/etc/hosts): the peer at 127.0.0.2 cannot claim it.
      const liar = await naming(() => `http://localhost:${elsewhere.port}`);
      expect(await probePeer(at(liar), opts)).toMatchObject({ ok: false, reason: 'url_elsewhere' });
      expect(await probePeer(at(liar), { ...opts, resolve: async () => ['127.0.0.1', '::1'] }))
        .toMatchObject({ ok: false, reason: 'url_elsewhere' });
      const dead = await naming(() => 'http://no-such-host.invalid:1');
      expect(await probePeer(at(dead), { ...opts, resolve: () => Promise.reject(new Error('ENOTFOUND')) }))
        .toMatchObject({ ok: false, reason: 'url_unreachable' });
      expect(elsewhere.hits).toHaveLength(0);
      // The system resolver, production path: localhost at 127.0.0.1 is confirmed.
      const named = await listenOn('127.0.0.1', 0, (_req, res) => json(res, { id: genuineId, url: `http://localhost:${named.port}`, network }));
      peers.push(named);
      expect(await probePeer(peerOf(named), opts)).toEqual({ ok: true, id: genuineId, url: `http://localhost:${named.port}` });
    });

    test('the confirmation connects to the probed IP, whatever the name resolves to by then (DNS rebind)', async () => {
      // The name resolved to the probed IP when checked (the stub); the system now says 127.0.0.1,
      // where a server waits on the same port. It must hear nothing; the probed host gets the confirmation.
      let peer: CountingServer | undefined;
      let trap: CountingServer | undefined;
      for (let i = 0; i < 20 && trap === undefined; i++) {
        peer = await naming((s) => `http://localhost:${s.port}`);
        trap = await listenOn('127.0.0.1', peer.port, (_req, res) => json(res, { id: genuineId, url: `http://localhost:${peer?.port}`, network }))
          .catch(() => undefined);
      }
      if (peer === undefined || trap === undefined) throw new Error('no port free on both loopback addresses');
      peers.push(trap);
      const rebind = { ...opts, resolve: async () => ['127.0.0.2'] };
      expect(await probePeer(at(peer), rebind)).toEqual({ ok: true, id: genuineId, url: `http://localhost:${peer.port}` });
      expect(trap.hits).toHaveLength(0);
      expect(peer.hits.map((r) => r.headers.host)).toEqual([`127.0.0.2:${peer.port}`, `localhost:${peer.port}`]);
    });
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
