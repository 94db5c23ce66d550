import { randomBytes } from 'node:crypto';
import {
  createLogger, createMetrics, createNodeRuntime, solveProof, type Bus, type LaunchSpec, type Metrics, type Store,
} from '@mesh/shared';
import { launchInTest, metricSample } from '@mesh/shared/testing';
import { WebSocket } from 'ws';
import { createRoomsService, type RoomsService, type RoomsServiceOptions } from '../../src/index.js';

/**
 * Two (or more) rooms workers in one test process: each launched as
 * main.ts launches one (public server on port 0), each its own bus and store client, all
 * on the same backends (one NATS subject prefix + one Redis key prefix, or
 * one in-process broker + one memory backend).
 */
export interface Backends {
  /** A new bus client for one worker. */
  bus(): Promise<Bus>;
  /** A new store client for one worker. */
  store(): Store;
  /** Service options this wiring needs (a short price window where the clock cannot be moved). */
  options: RoomsServiceOptions;
  /** Makes the room counters' window pass: a clock jump, or nothing when the window is short. */
  passWindow(): void;
  close(): Promise<void>;
}

export interface Wiring {
  name: string;
  backends(label: string): Promise<Backends>;
}

export interface Worker {
  url: string;
  service: RoomsService;
  metrics: Metrics;
  /** Stops the service (graceful), then the HTTP server and the clients. */
  stop(): Promise<void>;
}

/** Small PoW and a price that only moves with room traffic: tests stay fast and exact. */
export const TEST_ENV: Record<string, string> = {
  NODE_SECRET: 'rooms-test-secret-0123456789abcdef',
  POW_BASE_WORK: '16',
  POW_LOAD_FACTOR: '0',
  // The price test lowers this; elsewhere a room's price stays put while tests post.
  POW_ROOM_FREE: '1000',
  ROOM_KEEPALIVE_MS: '15000',
  LOG_LEVEL: 'silent',
  // Every test client is 127.0.0.1: the per-address rate limit is off here; its own test turns it back on (undefined: the default).
  RATE_LIMIT_PER_SECOND: '0',
};

export async function startWorker(b: Backends, env: Record<string, string | undefined> = {}): Promise<Worker> {
  const metrics = createMetrics({ service: 'rooms', defaultMetrics: false });
  const bus = await b.bus();
  const store = b.store();
  let service: RoomsService | undefined;
  // The rooms process as main.ts runs it (launch: outer layers, connection cap, upgrades), with this wiring's options.
  const spec: LaunchSpec = {
    service: 'rooms',
    async build(deps) {
      const runtime = await createNodeRuntime(deps);
      const rooms = createRoomsService({ ...deps, runtime, options: b.options });
      service = rooms;
      const runtimeService = { start: async () => runtime.start(), stop: async () => runtime.stop() };
      return { services: [runtimeService, rooms], routes: [rooms.routes], upgrades: [rooms.upgrade], price: () => runtime.quote() };
    },
  };
  const l = await launchInTest(spec, { ...TEST_ENV, ...env }, {
    bus, store, metrics, log: createLogger({ level: 'silent', service: 'rooms' }),
  });
  if (service === undefined) throw new Error('rooms service not built');
  return { url: l.url, service, metrics, stop: l.stop };
}

export function randomRoom(bytes: 20 | 32 = 20): string {
  return randomBytes(bytes).toString('hex');
}

export interface RoomQuote {
  hash: string;
  token: string;
  work: number;
  difficulty: number;
}

export async function roomQuote(url: string, hash: string): Promise<RoomQuote> {
  const res = await fetch(`${url}/room/${hash}`, { headers: { Accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`quote: ${res.status}`);
  return (await res.json()) as RoomQuote;
}

export interface PostResult {
  status: number;
  body: Record<string, unknown>;
  /** The X-PoW header that was sent. */
  proof: string;
}

/** Solves the room's current price and posts; `proof` reuses a header instead (replay tests). */
export async function postMessage(
  url: string, hash: string, body: string | Uint8Array, opts: { proof?: string; peer?: string } = {},
): Promise<PostResult> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  let proof = opts.proof;
  if (proof === undefined) {
    const q = await roomQuote(url, hash);
    proof = solveProof({ token: q.token, work: q.work, method: 'POST', path: `/room/${hash}`, body: bytes }).header;
  }
  const res = await fetch(`${url}/room/${hash}`, {
    method: 'POST',
    headers: {
      'X-PoW': proof, 'Content-Type': 'text/plain; charset=utf-8', Accept: 'application/json',
      ...(opts.peer !== undefined ? { 'X-Room-Peer': opts.peer } : {}),
    },
    body: bytes,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, proof };
}

/** Posts and insists on 202; returns the message id. */
export async function postOk(url: string, hash: string, body: string, opts: { peer?: string } = {}): Promise<string> {
  const r = await postMessage(url, hash, body, opts);
  if (r.status !== 202 || typeof r.body['id'] !== 'string') {
    throw new Error(`post refused: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return r.body['id'];
}

/** The value of the sample `name` whose labels include `labels`, or undefined. */
export async function metricValue(
  metrics: Metrics, name: string, labels: Record<string, string> = {},
): Promise<number | undefined> {
  return metricSample(await metrics.text(), name, labels);
}

/** A client of the post channel (WebSocket on `/room/<hash>`): sends frames, collects answers by `n`. */
export class ChannelClient {
  readonly answers: Record<string, unknown>[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(private readonly ws: WebSocket, readonly url: string, readonly hash: string) {
    ws.on('message', (data) => {
      this.answers.push(JSON.parse(String(data)) as Record<string, unknown>);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
  }

  /** Opens a channel; rejects with the HTTP status of a refused upgrade (`Error.message` = `refused <status> <body>`). */
  static open(url: string, hash: string, query = '', headers: Record<string, string> = {}): Promise<ChannelClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/room/${hash}${query}`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new ChannelClient(ws, url, hash)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        const retry = res.headers['retry-after'];
        res.on('end', () => reject(new Error(`refused ${res.statusCode ?? 0} ${body}${retry !== undefined ? ` retry-after=${String(retry)}` : ''}`)));
      });
      ws.once('error', reject);
    });
  }

  /** Sends a frame as given (a string is sent verbatim; an object as JSON). */
  send(frame: string | Record<string, unknown> | Buffer): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Solves the room's price and sends `data` as post `n`; resolves to its answer. */
  async post(n: number, data: string, proof?: string): Promise<Record<string, unknown>> {
    let pow = proof;
    if (pow === undefined) {
      const q = await roomQuote(this.url, this.hash);
      pow = solveProof({ token: q.token, work: q.work, method: 'POST', path: `/room/${this.hash}`, body: Buffer.from(data) }).header;
    }
    this.send({ n, pow, data });
    return this.answer(n);
  }

  /** The answer to post `n`, once it came. */
  async answer(n: number, timeoutMs = 5000): Promise<Record<string, unknown>> {
    await this.until(() => this.answers.some((a) => a['n'] === n), timeoutMs, `answer ${n}`);
    return this.answers.find((a) => a['n'] === n) ?? {};
  }

  async until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`channel: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
