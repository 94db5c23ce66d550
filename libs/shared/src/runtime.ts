import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { backoffMs } from './backoff.js';
import { createLoadMonitor, type LoadMonitor } from './load.js';
import { loadIdentity, loadSecret } from './identity.js';
import { createPowGate, type PowGate } from './pow/index.js';
import { PRICED_ENDPOINTS, difficulty, endpointWork, nodeWork, roomWork, type PricedEndpoint } from './price.js';
import { resolveTurnBackend } from './turn-backend.js';
import { turnUrls } from './turn-credentials.js';
import type { ServiceDeps } from './service.js';

/** `GET /` of PROTOCOL.md. */
export interface NodeInfo {
  id: string;
  url: string;
  network: string;
  token: string;
  work: number;
  difficulty: number;
  load: number;
  expires: number;
  turn: string[];
  version: string;
}

/** A price quote: what a client must pay and with which token. */
export interface Quote {
  token: string;
  work: number;
  difficulty: number;
  expires: number;
}

/**
 * What every public-facing instance of one node shares: identity, secrets,
 * load, PoW gate and prices. Built once per process: the embedded node hands
 * one runtime to both api and rooms; each container builds its own.
 */
export interface NodeRuntime {
  readonly id: string;
  readonly privateKey: KeyObject;
  readonly nodeSecret: string;
  readonly turnSecret: string;
  readonly load: LoadMonitor;
  readonly pow: PowGate;
  /** Current work of a priced endpoint (from the node load). */
  price(endpoint: PricedEndpoint): number;
  /** Current work of posting to a room with `messagesLastMinute` recent messages. */
  roomPrice(messagesLastMinute: number): number;
  /** Token + work of `endpoint` (default: the plain node price). */
  quote(endpoint?: PricedEndpoint): Quote;
  quoteWork(work: number): Quote;
  nodeInfo(): NodeInfo;
  start(): void;
  stop(): void;
}

export interface RuntimeOptions {
  /** Distinguishes this process's load sample from the other instances'. */
  instanceId?: string;
  /** Gives up waiting for the store after this long (default: wait forever). */
  signal?: AbortSignal;
}

/**
 * Builds the runtime. Identity and secrets live in the store, so this waits
 * (with capped backoff) until the store answers: a service without its node
 * secret cannot check a single proof.
 */
export async function createNodeRuntime(deps: ServiceDeps, opts: RuntimeOptions = {}): Promise<NodeRuntime> {
  const { config, store, log, metrics } = deps;
  const loaded = await retryUntilStore(log, opts.signal, async () => ({
    identity: await loadIdentity(store),
    nodeSecret: await loadSecret(store, 'node', config.nodeSecret),
    turnSecret: await loadSecret(store, 'turn', config.turnSecret),
  }));
  const instanceId = opts.instanceId ?? `${config.service}-${randomBytes(6).toString('hex')}`;
  const load = createLoadMonitor({
    store, instanceId, intervalMs: config.loadSampleMs, log, metrics, noiseFloor: config.loadNoiseFloor,
  });
  const pow = createPowGate({ secret: loaded.nodeSecret, store, pow: config.pow, metrics });
  const turn = turnUrls(config.turn, resolveTurnBackend(config.turn.backend));
  const price = (endpoint: PricedEndpoint): number =>
    endpointWork(endpoint, nodeWork(load.nodeLoad(), config.pow), config.pow);
  metrics.gaugeAtScrape('price_work', 'Current price (work) of an endpoint, computed at scrape', ['endpoint'], (g) => {
    for (const endpoint of PRICED_ENDPOINTS) g.set({ endpoint }, price(endpoint));
  });
  const quoteWork = (work: number): Quote => {
    const { token, expires } = pow.current();
    return { token, work, difficulty: difficulty(work), expires };
  };

  return {
    id: loaded.identity.id,
    privateKey: loaded.identity.privateKey,
    nodeSecret: loaded.nodeSecret,
    turnSecret: loaded.turnSecret,
    load,
    pow,
    price,
    roomPrice: (m) => roomWork(price('node'), m, config.pow),
    quote: (endpoint = 'node') => quoteWork(price(endpoint)),
    quoteWork,
    nodeInfo() {
      const q = quoteWork(price('node'));
      return {
        id: loaded.identity.id,
        url: config.publicUrl,
        network: config.dht.infohash,
        token: q.token,
        work: q.work,
        difficulty: q.difficulty,
        load: Math.round(load.nodeLoad() * 1000) / 1000,
        expires: q.expires,
        turn,
        version: config.version,
      };
    },
    start: () => load.start(),
    stop: () => load.stop(),
  };
}

async function retryUntilStore<T>(
  log: ServiceDeps['log'], signal: AbortSignal | undefined, fn: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw err;
      const delayMs = backoffMs(attempt, { baseMs: 200, maxMs: 5000 });
      log.warn({ err, retryInMs: delayMs }, 'store not answering; waiting for it to load the node identity');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
