import {
  createLogger, createMetrics, parseConfig, solveProof,
  type Bus, type Launched, type Logger, type Metrics, type Store,
} from '@mesh/shared';
import { launchInTest, metricSample } from '@mesh/shared/testing';
import { createDhtNode, createDhtService, type DhtNode, type DhtService } from '@mesh/dht';
import { apiNodeSpec, type ApiServiceOptions } from '../../src/index.js';

/**
 * API instances in one test process, each launched as its `main.ts` would
 * (shared `launch`, public server and ops server on port 0), each with its
 * own bus and store client on one shared backend: a NATS subject prefix +
 * Redis key prefix, or one in-process broker + one memory backend.
 */
export interface Backends {
  bus(): Promise<Bus>;
  store(): Store;
  close(): Promise<void>;
}

export interface Wiring {
  name: string;
  backends(label: string): Promise<Backends>;
}

/** Small PoW, a price that does not move with load, known secrets (tests recompute TURN credentials). */
export const TEST_ENV: Record<string, string> = {
  NODE_SECRET: 'api-test-node-secret-0123456789',
  TURN_SECRET: 'api-test-turn-secret-0123456789',
  POW_BASE_WORK: '16',
  POW_LOAD_FACTOR: '0',
  PUBLIC_URL: 'https://api-test.example',
  TURN_PUBLIC_HOST: 'turn.example',
  TURN_BACKEND: 'node-turn',
  HOST: '127.0.0.1',
  PORT: '0',
  METRICS_HOST: '127.0.0.1',
  METRICS_PORT: '0',
  LOG_LEVEL: 'silent',
  // Every request of these suites comes from 127.0.0.1: the per-address rate limit (its own tests,
  // on production defaults: test/abuse-price.serial.test.ts, libs/shared/test/http-rate-limit.test.ts) is off.
  RATE_LIMIT_PER_SECOND: '0',
};

export interface ApiInstance {
  url: string;
  opsUrl: string;
  metrics: Metrics;
  store: Store;
  launched: Launched;
  stop(): Promise<void>;
}

export async function startApi(
  b: Backends, env: Record<string, string> = {}, options?: ApiServiceOptions, logger?: Logger,
): Promise<ApiInstance> {
  const bus = await b.bus();
  const store = b.store();
  const metrics = createMetrics({ service: 'api', defaultMetrics: false });
  const log = logger ?? createLogger({ level: 'silent', service: 'api' });
  const l = await launchInTest(apiNodeSpec(options), { ...TEST_ENV, ...env }, { bus, store, metrics, log });
  return { url: l.url, opsUrl: l.opsUrl, metrics, store, launched: l.launched, stop: l.stop };
}

/** A private BEP44-capable DHT on loopback: two plain nodes and the real dht service answering the bus. */
export interface DhtFixture {
  service: DhtService;
  stop(): Promise<void>;
}

export async function startDht(b: Backends): Promise<DhtFixture> {
  const log = createLogger({ level: 'silent', service: 'dht' });
  const nodes: DhtNode[] = [];
  const bootstrap: string[] = [];
  for (let i = 0; i < 2; i++) {
    const node = createDhtNode({ bootstrap: [...bootstrap], log });
    nodes.push(node);
    bootstrap.push(`127.0.0.1:${(await node.listen(0, '127.0.0.1')).port}`);
  }
  const bus = await b.bus();
  const store = b.store();
  const config = parseConfig({
    ...TEST_ENV, DHT_BOOTSTRAP: bootstrap.join(','), DHT_HOST: '127.0.0.1', DHT_PORT: '0', DHT_REQUEST_TIMEOUT_MS: '3000',
  }, 'dht');
  const service = createDhtService({ config, bus, store, log, metrics: createMetrics({ service: 'dht', defaultMetrics: false }) });
  await service.start();
  return {
    service,
    async stop() {
      await service.stop();
      await Promise.all(nodes.map((n) => n.destroy()));
      await bus.close();
      await store.close();
    },
  };
}

export interface Quote { token: string; work: number; difficulty: number }

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, { headers: { Accept: 'application/json', ...headers } });
  return { status: res.status, body: await res.json() as unknown, headers: res.headers };
}

export async function nodeQuote(url: string): Promise<Quote> {
  const { body } = await getJson(`${url}/`);
  return body as Quote;
}

/** An X-PoW header paying `work` for `method path body` with the node's current token. */
export async function proof(url: string, method: string, path: string, work: number, body: Uint8Array = new Uint8Array(0)): Promise<string> {
  const { token } = await nodeQuote(url);
  return solveProof({ token, work, method, path, body }).header;
}

export interface Reply { status: number; body: Record<string, unknown> }

export async function call(
  url: string, method: string, path: string, opts: { body?: string | Uint8Array; pow?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  if (opts.pow !== undefined) headers['X-PoW'] = opts.pow;
  if (opts.body !== undefined && headers['Content-Type'] === undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

/** Pays and sends: the proof covers exactly the body sent. */
export async function paid(url: string, method: string, path: string, work: number, body?: string): Promise<Reply> {
  const bytes = body === undefined ? new Uint8Array(0) : Buffer.from(body, 'utf8');
  const pow = await proof(url, method, path.split('?')[0] ?? path, work, bytes);
  return call(url, method, path, { pow, ...(body !== undefined ? { body } : {}) });
}

/** The value of the sample `name` whose labels include `labels`, from Prometheus text. */
export const sample = metricSample;
