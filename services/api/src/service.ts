import Router from '@koa/router';
import type { Middleware } from 'koa';
import {
  API_LISTENING_SUBJECT, createSlotLimiter, type Bep44Item, type NodeRuntime, type Service, type ServiceDeps, type Subscription,
} from '@mesh/shared';
import { createDhtClient } from './dht-client.js';
import { createDemoRoutes, locateDemoBundle } from './demo.js';
import { createDhtRoutes } from './dht-routes.js';
import { ipHandler } from './ip.js';
import { createNodeInfoHandler } from './node-info.js';
import { createNodesHandler } from './nodes.js';
import { createTokenHandler } from './token.js';
import { createTtlCache } from './ttl-cache.js';

/** Knobs that are not settings of the node; tests and benchmarks change them. */
export interface ApiServiceOptions {
  /** Found BEP44 items kept (default 5000, ~1.5 KB each). */
  dhtCacheEntries?: number;
  /** How long a found item is served from the cache (PROTOCOL.md: at most 60 000 ms). */
  dhtCacheTtlMs?: number;
  /** Bus timeout of a dht request (default DHT_REQUEST_TIMEOUT_MS + 1000: the dht service answers `dht_timeout` first). */
  dhtTimeoutMs?: number;
  /** DHT requests in flight, in all (default 256) and per client (default 8; IPv6 by CLIENT_IPV6_PREFIX network). */
  dhtMaxInFlight?: number;
  dhtMaxInFlightPerIp?: number;
  /** The verified node list is re-read from the store at most this often (default 5000 ms). */
  nodesRefreshMs?: number;
  /** Directory of the sigmesh browser bundle served at /demo (default: @mesh/sigmesh's dist/browser; null: none). */
  demoDir?: string | null;
}

export type ApiServiceDeps = ServiceDeps & { runtime: NodeRuntime; options?: ApiServiceOptions };

export interface ApiService extends Service {
  /** The API's routes (and 405s for their other methods), mountable beside the rooms routes. */
  routes: Middleware;
  ready(): Promise<boolean>;
  onListening(): void;
}

/**
 * The public API of a node (PROTOCOL.md, every endpoint except rooms):
 * `GET /`, `/nodes`, `/ip`, `/dht-get`, `POST /dht-put`, `/token`. It holds
 * no background work: start/stop only open and close it for requests.
 */
export function createApiService(deps: ApiServiceDeps): ApiService {
  const { config, bus, store, log: parentLog, runtime } = deps;
  const log = parentLog.child({ component: 'api' });
  const opts = deps.options ?? {};

  const cache = createTtlCache<Bep44Item>({
    maxEntries: opts.dhtCacheEntries ?? 5000,
    ttlMs: Math.min(60_000, opts.dhtCacheTtlMs ?? 60_000),
  });
  const dht = createDhtRoutes({
    runtime,
    cache,
    dht: createDhtClient({ bus, log, timeoutMs: opts.dhtTimeoutMs ?? config.dht.requestTimeoutMs + 1000 }),
    limiter: createSlotLimiter({
      max: opts.dhtMaxInFlight ?? 256,
      maxPerClient: opts.dhtMaxInFlightPerIp ?? 8,
      ipv6Prefix: config.clientIpv6Prefix,
    }),
  });

  // strict: the PoW path is the path as sent, so `/token/` is not `/token`.
  const router = new Router({ strict: true });
  router.get('/', createNodeInfoHandler(runtime, { bus, allowInsecure: config.dht.allowInsecure }));
  router.get('/nodes', createNodesHandler({
    store,
    selfUrl: config.publicUrl,
    maxNodes: config.dht.maxNodes,
    refreshMs: opts.nodesRefreshMs ?? 5000,
  }));
  router.get('/ip', ipHandler);
  router.get('/dht-get', dht.get);
  router.post('/dht-put', dht.put);
  router.post('/token', createTokenHandler({
    runtime,
    store,
    urls: runtime.nodeInfo().turn,
    ttlSeconds: config.turn.credentialTtlSeconds,
    perClient: config.turn.credentialsPerClient,
    ipv6Prefix: config.clientIpv6Prefix,
  }));

  const demo = createDemoRoutes({ dir: opts.demoDir !== undefined ? opts.demoDir : locateDemoBundle(), log });

  const matched = router.routes();
  const methods = router.allowedMethods();
  // As app.use(routes) then app.use(allowedMethods): the 405 check runs after every later layer.
  const apiRoutes: Middleware = (ctx, next) => matched(ctx as Parameters<typeof matched>[0], () => methods(ctx as Parameters<typeof methods>[0], next));
  const routes: Middleware = (ctx, next) => demo.routes(ctx, () => apiRoutes(ctx, next));
  let listening: Subscription | undefined;

  return {
    routes,
    async start() {
      await demo.load();
      log.debug('api routes ready');
    },
    async stop() {
      listening?.unsubscribe();
      listening = undefined;
      cache.clear();
    },
    onListening() {
      // The dht service waits for this answer before it announces the node.
      listening ??= bus.respond(API_LISTENING_SUBJECT, () => Uint8Array.of(1));
    },
    async ready() {
      return bus.isReady() && store.isReady();
    },
  };
}
