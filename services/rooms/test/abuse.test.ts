import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SseClient, waitFor } from '@mesh/shared/testing';
import { roomHistoryKey } from '../src/room-hash.js';
import { readSendQueues } from '../src/streams/send-queue.js';
import { metricValue, randomRoom, startWorker, type Backends, type Worker } from './support/harness.js';
import { embedded } from './support/wirings.js';

/**
 * What an attacker on many addresses can do to a worker, on production room
 * settings (only PoW is lowered by the harness). Linux routes all of 127/8
 * locally, so 127.0.0.x are distinct client addresses here.
 */

const JSON_TOO = { Accept: 'text/event-stream, application/json' };

/** A raw SSE request from `localAddress` that never reads its answer. */
function neverReader(port: number, localAddress: string, hash: string): Socket {
  const sock = connect({ port, host: '127.0.0.1', localAddress });
  sock.on('error', () => undefined);
  sock.write(`GET /room/${hash} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  sock.pause();
  return sock;
}

/** A raw keep-alive socket: resolves with it once it got an answer, or with 'closed' when the server cut it. */
function keepAliveSocket(port: number, localAddress: string, path: string): Promise<Socket | 'closed'> {
  return new Promise((resolve) => {
    const sock = connect({ port, host: '127.0.0.1', localAddress });
    sock.on('error', () => undefined);
    sock.once('close', () => resolve('closed'));
    sock.once('data', () => resolve(sock));
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n`);
  });
}

describe('rooms under abuse (embedded wiring, production room settings)', () => {
  let backends: Backends;
  const workers: Worker[] = [];
  const sockets: Socket[] = [];
  const clients: SseClient[] = [];

  beforeAll(async () => {
    backends = await embedded.backends('abuse');
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(clients.map((c) => c.close()));
    for (const w of workers) await w.stop();
    await backends?.close();
  });

  async function worker(env: Record<string, string> = {}): Promise<Worker> {
    const w = await startWorker(backends, env);
    workers.push(w);
    return w;
  }

  async function reader(url: string, hash: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = await SseClient.connect(`${url}/room/${hash}`, { headers });
    clients.push(c);
    await c.until((x) => x.ofType('price').length > 0, 5000, 'the price event');
    return c;
  }

  test('640 streams that never read (20 addresses) stay inside the worker budget; honest readers keep up', async () => {
    const w = await worker();
    const port = Number(new URL(w.url).port);
    const hash = randomRoom();
    const honest = await Promise.all([1, 2, 3].map(() => reader(w.url, hash)));
    for (let a = 2; a <= 21; a++) {
      for (let i = 0; i < 32; i++) sockets.push(neverReader(port, `127.0.0.${a}`, hash));
    }
    await waitFor(() => w.service.streamCount === 643, { timeoutMs: 20_000, message: '640 never-reading streams open' });

    // Straight onto the bus, as another worker would: 1 KB bodies, in batches the honest readers must keep up with.
    const publisher = await backends.bus();
    const body = 'z'.repeat(1000);
    const total = 1000;
    try {
      for (let n = 0; n < total;) {
        for (let i = 0; i < 50; i++, n++) {
          publisher.publish(`rooms.${hash}`, Buffer.from(JSON.stringify({ id: `${n + 1}-0`, data: body, at: Date.now() })));
        }
        const want = n;
        await Promise.all(honest.map((c) => c.until((x) => x.messages().length === want, 20_000, `message ${want}`)));
      }
    } finally {
      await publisher.close();
    }
    const budget = 64 * 1024 * 1024;
    // The sweep sees the kernel's send queues (where a never-reader's bytes pile up) and drops the stalest.
    const kernelQueued = async (): Promise<number> =>
      [...((await readSendQueues(port)) ?? new Map<string, number>()).values()].reduce((x, y) => x + y, 0);
    let kernel = Infinity;
    await waitFor(async () => (kernel = await kernelQueued()) <= budget && w.service.bufferedBytes <= budget, {
      timeoutMs: 15_000, message: 'the worker back inside its budget',
    });
    expect(kernel).toBeLessThanOrEqual(budget);
    for (const c of honest) {
      expect(c.messages().map((m) => m.lastEventId)).toEqual(Array.from({ length: total }, (_, i) => `${i + 1}-0`));
      expect(c.endedByServer).toBe(false);
    }
    // The budget had to act: never-readers were dropped, the honest ones were not.
    const dropped = (await metricValue(w.metrics, 'mesh_room_streams_dropped_total', { reason: 'slow' })) ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(w.service.streamCount).toBe(643 - dropped);
  });

  test('a resume far larger than the socket buffers arrives whole: the replay waits for drain', async () => {
    // A long history and a small per-stream bound: without backpressure the replay, written in one
    // go, passes the bound before the socket can drain and the reader is reset.
    const w = await worker({ ROOM_HISTORY_MAX: '8000', ROOM_MAX_BUFFER_BYTES: '65536' });
    const hash = randomRoom();
    const store = backends.store();
    const body = 'h'.repeat(1000);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 8000; i++) {
        ids.push((await store.append(roomHistoryKey(hash), `${i}:${body}`, { maxLen: 8000, maxAgeMs: 120_000 })).id);
      }
    } finally {
      await store.close();
    }
    const c = await SseClient.connect(`${w.url}/room/${hash}`, { lastEventId: '1-0' });
    clients.push(c);
    await c.until((x) => x.messages().length === 8000 || x.endedByServer, 30_000, 'the whole replay');
    expect(c.endedByServer).toBe(false);
    expect(c.messages().map((m) => m.lastEventId)).toEqual(ids);
    expect(await metricValue(w.metrics, 'mesh_room_streams_dropped_total', { reason: 'slow' })).toBe(0);
  });

  test('the stream cap counts an IPv6 client by its /64 (through X-Forwarded-For from a trusted proxy)', async () => {
    const w = await worker();
    const hash = randomRoom();
    // Loopback is a trusted proxy by default: each stream claims a different address of one /64.
    const as = (ip: string) => ({ 'X-Forwarded-For': ip, ...JSON_TOO });
    for (let i = 1; i <= 32; i++) await reader(w.url, hash, as(`2001:db8:1:2::${i.toString(16)}`));
    const rotated = await SseClient.open(`${w.url}/room/${hash}`, { headers: as('2001:db8:1:2:ffff:ffff:ffff:ffff') });
    expect(rotated).toMatchObject({ status: 429, body: { error: 'too_many_requests' } });
    // The next /64 is another client; IPv4 clients are counted per address.
    await reader(w.url, hash, as('2001:db8:1:3::1'));
    await reader(w.url, hash, as('203.0.113.1'));
  });

  test('CLIENT_IPV6_PREFIX widens the IPv6 unit', async () => {
    const w = await worker({ CLIENT_IPV6_PREFIX: '56', ROOM_MAX_PER_IP: '2' });
    const hash = randomRoom();
    const as = (ip: string) => ({ 'X-Forwarded-For': ip, ...JSON_TOO });
    await reader(w.url, hash, as('2001:db8:1:2::1'));
    await reader(w.url, hash, as('2001:db8:1:3::1'));
    expect(await SseClient.open(`${w.url}/room/${hash}`, { headers: as('2001:db8:1:ff::1') })).toMatchObject({ status: 429 });
    await reader(w.url, hash, as('2001:db8:1:100::1'));
  });

  test('open connections per client address are capped (keep-alive sockets and streams alike)', async () => {
    // Loopback must not be a trusted proxy here: it stands for direct clients. The cap is the default (64).
    const w = await worker({ TRUST_PROXY: '10.0.0.0/8' });
    const port = Number(new URL(w.url).port);
    const hash = randomRoom();
    const client = '127.0.0.50';
    for (let i = 0; i < 32; i++) sockets.push(neverReader(port, client, hash));
    const idle: Socket[] = [];
    for (let i = 0; i < 32; i++) {
      const s = await keepAliveSocket(port, client, `/room/${hash}`);
      if (s === 'closed') throw new Error(`keep-alive socket ${i} was refused under the cap`);
      idle.push(s);
      sockets.push(s);
    }
    await waitFor(() => w.service.streamCount === 32, { message: '32 streams open' });
    expect(await keepAliveSocket(port, client, `/room/${hash}`)).toBe('closed');
    // Another address is another client.
    const other = await keepAliveSocket(port, '127.0.0.51', `/room/${hash}`);
    expect(other).not.toBe('closed');
    if (other !== 'closed') sockets.push(other);
    // A closed socket frees its place.
    const gone = new Promise((resolve) => idle[0]?.once('close', resolve));
    idle[0]?.destroy();
    await gone;
    await waitFor(async () => {
      const s = await keepAliveSocket(port, client, `/room/${hash}`);
      if (s !== 'closed') sockets.push(s);
      return s !== 'closed';
    }, { message: 'a place freed' });
  });
});
