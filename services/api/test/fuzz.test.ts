import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLogger, solveProof } from '@mesh/shared';
import { call, nodeQuote, startApi, type ApiInstance, type Backends } from './support/harness.js';
import { embedded } from './support/wirings.js';

/**
 * Thousands of malformed requests (random methods, paths, query values,
 * headers, PoW strings and bodies, plus raw garbage on sockets) against one
 * API process: no answer is a 5xx, nothing is logged at error level, and the
 * process still serves afterwards. The PRNG is seeded: a failure names its seed.
 */
const REQUESTS = 3000;
const CONCURRENCY = 16;
// A failure prints the seed in the test name; put it here to replay that run.
const SEED = Date.now() % 2 ** 31;

/** mulberry32: small, seedable, good enough to pick fuzz inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
function pick<T>(xs: readonly T[]): T {
  return xs[int(xs.length)] as T;
}
const PRINTABLE = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const printable = (max: number): string => Array.from({ length: int(max + 1) }, () => pick([...PRINTABLE])).join('');
const hex = (n: number): string => Array.from({ length: n }, () => pick([...'0123456789abcdefABCDEFxg'])).join('');
const pct = (max: number): string => Array.from({ length: int(max + 1) }, () => pick(['%ZZ', '%FF', '%00', '%E2%82', 'a', '%2F', '+', '&', '=', '%F0%9F%98%80', '%ED%A0%80'])).join('');

function randomPath(): string {
  const base = pick(['/', '/nodes', '/ip', '/dht-get', '/dht-put', '/token', '/token/', '/room/abc', '/demo', '//', '/%2e%2e/etc', `/${printable(20).replace(/[^A-Za-z0-9._~-]/g, '')}`, '/nodes/../ip', '/' + 'a'.repeat(int(3000))]);
  const params: string[] = [];
  for (let i = int(5); i > 0; i--) {
    params.push(pick([
      `key=${hex(pick([0, 63, 64, 65, 128]))}`, `salt=${pct(40)}`, `salt=${'s'.repeat(int(80))}`, `n=${pick(['0', '1', '100', '101', '-1', '1e2', 'abc', '', '99999999999999999999'])}`,
      'format=json', `format=${pct(5)}`, `${pct(5)}=${pct(5)}`, 'key', '=', '&&',
    ]));
  }
  return params.length > 0 ? `${base}?${params.join('&')}` : base;
}

function randomBody(): Buffer {
  switch (int(6)) {
    case 0: return Buffer.alloc(0);
    case 1: return randomBytes(int(3000));
    case 2: return Buffer.from(printable(200));
    case 3: return Buffer.from(JSON.stringify({
      key: pick([hex(64), 5, null, [], 'x']), seq: pick([0, -1, 1.5, '3', 2 ** 60, null]),
      v: pick(['', 'AAAA', '!!', randomBytes(int(1100)).toString('base64'), 7]),
      sig: pick([hex(128), hex(127), {}]), salt: pick([undefined, '', 'x'.repeat(int(80)), 3]), cas: pick([undefined, -1, 'a', 2]),
    }));
    case 4: return Buffer.from(pick(['{', '[]', 'null', '"x"', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '1e309']));
    default: return Buffer.from(JSON.stringify({ nested: Array.from({ length: int(200) }, () => ({ a: printable(5) })) }));
  }
}

function randomPow(token: string): string {
  return pick([
    printable(140), `${token}:${pick(['0', '1', '16', '256', '18446744073709551617', '-5', 'x'])}:${printable(40).replace(/[^0-9A-Za-z]/g, '')}`,
    `${token}:${token}:${token}`, '::', `v1.${int(2 ** 31)}.${printable(43)}:16:abc`, ' ', `${token}:256:${'a'.repeat(33)}`,
  ]);
}

function randomHeaders(token: string, body: Buffer): Record<string, string> {
  const h: Record<string, string> = {};
  if (rnd() < 0.7) h['Accept'] = pick(['application/json', 'text/html', '*/*', 'application/json;q=0', printable(30), 'text/event-stream', '']);
  if (rnd() < 0.6) h['Content-Type'] = pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', printable(30), 'application/foo+json; charset=latin1']);
  if (rnd() < 0.6) h['X-PoW'] = randomPow(token);
  if (rnd() < 0.3) h['X-Forwarded-For'] = pick(['203.0.113.7', '::ffff:1.2.3.4', printable(50), '1.2.3.4, 5.6.7.8, ' + printable(10), Array.from({ length: 40 }, () => '10.0.0.1').join(','), '[::1]:80', 'fe80::1%eth0']);
  if (rnd() < 0.1) h['Content-Encoding'] = pick(['gzip', 'identity', printable(10)]);
  if (rnd() < 0.1) h['Last-Event-ID'] = printable(30);
  if (rnd() < 0.1) h[`X-${printable(10).replace(/[^A-Za-z0-9-]/g, '') || 'Junk'}`] = printable(100);
  if (rnd() < 0.1) h['Content-Length'] = pick(['abc', '-1', '99999999999999999999', String(body.length)]);
  return h;
}

interface Outcome { status: number | 'client_error' }

function send(agent: Agent, port: number, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    let req;
    try {
      req = request({ host: '127.0.0.1', port, method, path, headers, agent, timeout: 5000 });
    } catch {
      resolve({ status: 'client_error' }); // the client refused to build it (invalid header characters)
      return;
    }
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 'client_error' }));
    if (method === 'GET' || method === 'HEAD') req.end();
    else req.end(body);
  });
}

function rawGarbage(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.setTimeout(2000, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('close', () => resolve());
    sock.on('data', () => undefined);
    sock.end(bytes);
  });
}

describe(`fuzz (seed ${SEED})`, () => {
  let backends: Backends;
  let api: ApiInstance;
  const errorLogs: string[] = [];

  beforeAll(async () => {
    backends = await embedded.backends('fuzz');
    const log = createLogger({ level: 'error', service: 'api' }, { write: (line: string) => { errorLogs.push(line); } });
    api = await startApi(backends, {}, { dhtTimeoutMs: 200 }, log);
  });
  afterAll(async () => {
    await api?.stop();
    await backends?.close();
  });

  test(`${REQUESTS} random malformed requests: no 5xx, nothing logged as an error, still serving`, async () => {
    const port = Number(new URL(api.url).port);
    const { token } = await nodeQuote(api.url);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const statuses = new Map<string, number>();
    const fives: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < REQUESTS) {
        const i = next++;
        const method = pick(['GET', 'GET', 'POST', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'PROPFIND', 'LOCK', 'QUERY', 'M-SEARCH']);
        const path = randomPath();
        const body = randomBody();
        const headers = randomHeaders(token, body);
        // A declared body the client then does not send would swallow the next request on the connection.
        if (method === 'GET' || method === 'HEAD') delete headers['Content-Length'];
        // Some /token requests carry a real proof: paid paths run under the same load.
        if (i % 25 === 0) {
          headers['X-PoW'] = solveProof({ token, work: 256, method: 'POST', path: '/token', body }).header;
          const r = await send(agent, port, 'POST', '/token', { 'Content-Type': 'application/json' }, body);
          statuses.set(String(r.status), (statuses.get(String(r.status)) ?? 0) + 1);
        }
        const r = await send(agent, port, method, path, headers, body);
        statuses.set(String(r.status), (statuses.get(String(r.status)) ?? 0) + 1);
        if (typeof r.status === 'number' && r.status >= 500) fives.push(`${r.status} ${method} ${path.slice(0, 100)} ${JSON.stringify(headers).slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await Promise.all(Array.from({ length: 50 }, () => rawGarbage(port, pick([
      randomBytes(int(2000)), Buffer.from(`GET /${printable(50)} HTTP/1.1\r\n${printable(100)}\r\n\r\n`),
      Buffer.from('POST /dht-put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'),
    ]))));
    agent.destroy();

    expect(fives).toEqual([]);
    expect(errorLogs).toEqual([]);
    // The inputs reached the handlers, not only the parser.
    for (const s of ['200', '204', '400', '402', '404', '405']) expect({ s, seen: (statuses.get(s) ?? 0) > 0 }).toEqual({ s, seen: true });
    const home = await call(api.url, 'GET', '/');
    expect(home.status).toBe(200);
    expect(home.body['work']).toBe(16);
  }, 60_000);
});
