import { performance } from 'node:perf_hooks';
import { withTimeout, type Service, type ServiceDeps, type Subscription } from '@mesh/shared';
import { DHT_GET_SUBJECT, DHT_PUT_SUBJECT } from './protocol.js';
import { createBep44Handlers } from './bep44-handlers.js';
import { createDhtNode, type DhtNode, type DhtNodeFactory } from './dht-node.js';
import { createDiscovery, type Discovery } from './discovery.js';
import { canonicalNodeUrl, probePeer, type ProbeFn } from './probe.js';
import { DHT_STATE_MAX_NODES, loadDhtState, saveDhtState } from './state.js';

export interface DhtServiceOptions {
  /** Builds the DHT node (tests may wrap it); default bittorrent-dht. */
  dhtFactory?: DhtNodeFactory;
  /** Verifies a peer address (tests may stub it); default `probePeer`. */
  probe?: ProbeFn;
  /**
   * Re-announce period. Default 15 min: common DHT implementations drop
   * announced peers after 30 min.
   */
  announceIntervalMs?: number;
}

export interface DhtInfo {
  /** 40 hex, persisted across restarts. */
  nodeId: string | null;
  /** The bound UDP address, null until started. */
  address: { host: string; port: number } | null;
  /** Contacts in the routing table. */
  routingNodes: number;
}

export interface DhtService extends Service {
  ready(): Promise<boolean>;
  info(): DhtInfo;
}

const DEFAULT_ANNOUNCE_INTERVAL_MS = 15 * 60_000;
/** Routing gauge refresh and state save period. */
const STATE_INTERVAL_MS = 60_000;
/** A lookup that never calls back must not stop the cycle (and with it the node's own last-seen). */
const LOOKUP_MAX_MS = 120_000;

/**
 * The dht service: a bittorrent-dht node that announces this node under the
 * network infohash, finds and verifies other mesh nodes (discovery.ts), and
 * answers BEP44 `dht.get` / `dht.put` for the API (protocol.ts).
 */
export function createDhtService(deps: ServiceDeps & DhtServiceOptions): DhtService {
  const { config, bus, store, log: parentLog, metrics } = deps;
  const log = parentLog.child({ component: 'dht' });
  const cfg = config.dht;
  const factory = deps.dhtFactory ?? createDhtNode;
  const announceIntervalMs = deps.announceIntervalMs ?? DEFAULT_ANNOUNCE_INTERVAL_MS;
  const selfUrl = (() => {
    const c = canonicalNodeUrl(config.publicUrl, true);
    return typeof c === 'string' && c !== 'insecure' ? c : config.publicUrl;
  })();

  const routing = metrics.gauge('dht_routing_nodes', 'Nodes in the DHT routing table');
  const lookups = metrics.counter('dht_lookups_total', 'Infohash lookups');
  const lookupSeconds = metrics.histogram('dht_lookup_seconds', 'Infohash lookup durations', [],
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

  let node: DhtNode | null = null;
  let discovery: Discovery | null = null;
  let subs: Subscription[] = [];
  let unsubPeer: (() => void) | undefined;
  const timers: NodeJS.Timeout[] = [];
  let started = false;
  let stopped = false;
  let lookupRunning = false;

  const handlers = createBep44Handlers({
    dht: () => (stopped ? null : node),
    timeoutMs: cfg.requestTimeoutMs,
    metrics,
    log,
  });

  function every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => void fn(), ms);
    t.unref();
    timers.push(t);
  }

  async function persist(dht: DhtNode): Promise<void> {
    const nodes = dht.contacts(DHT_STATE_MAX_NODES);
    // An empty table (an outage) must not overwrite the contacts a restart rejoins by.
    if (nodes.length === 0) return;
    try {
      await saveDhtState(store, { id: dht.nodeId, nodes });
    } catch (err) {
      log.warn({ err }, 'could not save the DHT state');
    }
  }

  async function saveState(): Promise<void> {
    if (node === null || stopped) return;
    routing.set(node.routingNodes());
    await persist(node);
  }

  async function announce(): Promise<void> {
    if (node === null || stopped) return;
    try {
      await node.announce(cfg.infohash, cfg.announcePort);
      log.debug({ infohash: cfg.infohash, port: cfg.announcePort }, 'announced');
    } catch (err) {
      // Isolated or not yet joined: the next period tries again.
      log.debug({ err }, 'announce failed');
    }
  }

  async function lookupCycle(): Promise<void> {
    if (node === null || discovery === null || stopped || lookupRunning) return;
    lookupRunning = true;
    const t0 = performance.now();
    try {
      lookups.inc();
      await withTimeout(node.lookup(cfg.infohash), LOOKUP_MAX_MS);
    } catch (err) {
      log.debug({ err }, 'lookup failed');
    } finally {
      lookupSeconds.observe((performance.now() - t0) / 1000);
      lookupRunning = false;
    }
    if (stopped) return;
    routing.set(node.routingNodes());
    try {
      await discovery.touchSelf(selfUrl);
      await discovery.sweep();
    } catch (err) {
      log.warn({ err }, 'could not update the mesh node list');
    }
  }

  return {
    async start() {
      if (started) return;
      started = true;
      const state = await loadDhtState(store, log);
      const dht = factory({
        ...(state !== null ? { nodeId: state.id } : {}),
        bootstrap: cfg.bootstrap,
        log,
      });
      try {
        const addr = await dht.listen(cfg.port, cfg.host);
        log.info({ address: addr, nodeId: dht.nodeId, bootstrap: cfg.bootstrap, infohash: cfg.infohash }, 'DHT listening');
      } catch (err) {
        await dht.destroy();
        throw err;
      }
      node = dht;
      // An isolated node stays isolated; otherwise the last known contacts
      // refill the routing table without waiting for the routers.
      if (cfg.bootstrap.length > 0) for (const c of state?.nodes ?? []) dht.addContact(c);

      const disc = createDiscovery({
        store, log, metrics,
        probe: deps.probe ?? probePeer,
        network: cfg.infohash,
        allowInsecure: cfg.allowInsecure,
        probeTimeoutMs: cfg.probeTimeoutMs,
        maxNodes: cfg.maxNodes,
      });
      discovery = disc;
      unsubPeer = dht.onPeer(cfg.infohash, (peer) => disc.offer(peer));
      subs = [bus.respond(DHT_GET_SUBJECT, handlers.get), bus.respond(DHT_PUT_SUBJECT, handlers.put)];

      every(cfg.lookupIntervalMs, lookupCycle);
      every(announceIntervalMs, announce);
      every(STATE_INTERVAL_MS, saveState);
      void (async () => {
        await dht.whenBootstrapped(cfg.requestTimeoutMs);
        await announce();
        await lookupCycle();
        await saveState();
      })();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const s of subs) s.unsubscribe();
      unsubPeer?.();
      discovery?.stop();
      if (node !== null) {
        routing.set(0);
        await persist(node);
        await node.destroy();
      }
    },

    async ready() {
      return node !== null && !stopped && node.isListening() && bus.isReady() && store.isReady();
    },

    info() {
      return {
        nodeId: node?.nodeId ?? null,
        address: node?.address() ?? null,
        routingNodes: node?.routingNodes() ?? 0,
      };
    },
  };
}
