import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  API_LISTENING_SUBJECT, createLocalBus, createLogger, createMemoryStore, createMetrics, networkInfohash, NODES_SET, parseConfig,
  type Bus, type Config, type Logger, type Metrics, type Store,
} from '@mesh/shared';
import { createDhtNode, createDhtService, type DhtNode, type DhtService, type DhtServiceOptions } from '../src/index.js';

export const silentLog: Logger = createLogger({ level: 'silent', service: 'dht-test' });

/** A private DHT swarm of bootstrap-only nodes on loopback. */
export interface Swarm {
  nodes: DhtNode[];
  /** `127.0.0.1:<port>` of each node. */
  bootstrap: string[];
  destroy(): Promise<void>;
}

export async function startSwarm(size: number): Promise<Swarm> {
  const nodes: DhtNode[] = [];
  const bootstrap: string[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const node = createDhtNode({ bootstrap: [...bootstrap], log: silentLog });
      nodes.push(node);
      const addr = await node.listen(0, '127.0.0.1');
      bootstrap.push(`127.0.0.1:${addr.port}`);
    }
    await Promise.all(nodes.map((n) => n.whenBootstrapped(5000)));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.destroy()));
    throw err;
  }
  return { nodes, bootstrap, destroy: async () => { await Promise.all(nodes.map((n) => n.destroy())); } };
}

export interface HttpTestServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startHttp(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpTestServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export function json(res: ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function testConfig(env: Record<string, string>): Config {
  return parseConfig({
    LOG_LEVEL: 'silent',
    DHT_HOST: '127.0.0.1',
    DHT_PORT: '0',
    MESH_ALLOW_INSECURE: 'true',
    MESH_ALLOWED_PEERS: '127.0.0.0/8',
    DHT_LOOKUP_INTERVAL_MS: '200',
    MESH_PROBE_TIMEOUT_MS: '1000',
    DHT_REQUEST_TIMEOUT_MS: '3000',
    ...env,
  }, 'dht');
}

/**
 * A stand-in for the embedded mesh node (until the real one replaces it in
 * these tests): the dht service plus a real HTTP server answering
 * PROTOCOL.md's `GET /` and `GET /nodes` from the store.
 */
export interface MeshNode {
  id: string;
  url: string;
  config: Config;
  bus: Bus;
  store: Store;
  metrics: Metrics;
  dht: DhtService;
  stop(): Promise<void>;
}

export async function startMeshNode(opts: {
  network: string;
  bootstrap: string[];
  bus?: Bus;
  store?: Store;
  service?: DhtServiceOptions;
  log?: Logger;
}): Promise<MeshNode> {
  const id = randomBytes(32).toString('hex');
  const store = opts.store ?? createMemoryStore({ prefix: 'mesh:' });
  let info: { url: string; network: string } = { url: '', network: '' };
  const http = await startHttp((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') {
      json(res, { id, url: info.url, network: info.network, token: 'v1.0.x', work: 4096, difficulty: 12, load: 0, expires: 0, turn: [], version: '1.0.0' });
    } else if (path === '/nodes') {
      void store.seenSince(NODES_SET, Date.now() - 30 * 60_000, 100).then(
        (seen) => json(res, seen.map((s) => s.member)),
        () => json(res, { error: 'unavailable' }, 503),
      );
    } else {
      json(res, { error: 'not_found' }, 404);
    }
  });
  const config = testConfig({
    MESH_NETWORK: opts.network,
    DHT_BOOTSTRAP: opts.bootstrap.join(','),
    PUBLIC_URL: http.url,
    DHT_ANNOUNCE_PORT: String(http.port),
  });
  info = { url: config.publicUrl, network: config.dht.infohash };
  const bus = opts.bus ?? createLocalBus();
  const metrics = createMetrics({ service: 'dht', defaultMetrics: false });
  const dht = createDhtService({ config, bus, store, log: opts.log ?? silentLog, metrics, ...opts.service });
  try {
    await dht.start();
    // The stand-in's HTTP server already listens, and says so as the API would.
    bus.respond(API_LISTENING_SUBJECT, () => Uint8Array.of(1));
    dht.onListening();
  } catch (err) {
    await http.close();
    throw err;
  }
  return {
    id, url: http.url, config, bus, store, metrics, dht,
    async stop() {
      await dht.stop();
      await http.close();
      if (opts.bus === undefined) await bus.close();
      if (opts.store === undefined) await store.close();
    },
  };
}

export async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  return res.json() as Promise<unknown>;
}

/** Value of a counter or gauge series in the registry (0 when absent). */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  const hit = data.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}

export const otherNetworkInfohash = (name: string): string => networkInfohash(name);
