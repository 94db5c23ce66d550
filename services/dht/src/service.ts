import { performance } from 'node:perf_hooks';
import {
  API_LISTENING_SUBJECT, canonicalSelfUrl, decodeHint, MESH_HINT_SUBJECT, withTimeout, type Service, type ServiceDeps, type Subscription,
} from '@mesh/shared';
import { DHT_GET_SUBJECT, DHT_PUT_SUBJECT } from './protocol.js';
import { createBep44Handlers } from './bep44-handlers.js';
import { createDhtNode, type DhtNode, type DhtNodeFactory } from './dht-node.js';
import { createDiscovery, type Discovery } from './discovery.js';
import { probePeer, type ProbeFn } from './probe.js';
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
  onListening(): void;
  info(): DhtInfo;
}

const DEFAULT_ANNOUNCE_INTERVAL_MS = 15 * 60_000;
/** Routing gauge refresh and state save period. */
const STATE_INTERVAL_MS = 60_000;
/** How often listed nodes are checked for a due re-probe (discovery.ts). */
const REVERIFY_TICK_MS = 30_000;
/**
 * Extra lookups after joining, before the regular interval: nodes that
 * joined at the same moment may each have looked up before the other's
 * announce was stored.
 */
const EARLY_LOOKUPS_MS = [15_000, 60_000];
/** Waits between asks whether the API listens (it may start after us, in compose). */
const API_WAIT_MIN_MS = 500;
const API_WAIT_MAX_MS = 10_000;
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
  const selfUrl = canonicalSelfUrl(config.publicUrl);

  const routing = metrics.gauge('dht_routing_nodes', 'Nodes in the DHT routing table');
  const lookups = metrics.counter('dht_lookups_total', 'Infohash lookups');
  const lookupSeconds = metrics.histogram('dht_lookup_seconds', 'Infohash lookup durations', [],
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

  let node: DhtNode | null = null;
  let discovery: Discovery | null = null;
  let subs: Subscription[] = [];
  let unsubPeer: (() => void) | undefined;
  /** Intervals and the early lookups' timeouts (clearInterval and clearTimeout are interchangeable in Node). */
  const timers: NodeJS.Timeout[] = [];
  let started = false;
  let stopped = false;
  let lookupRunning = false;
  /** Whether an announce has succeeded since start (until then every lookup and new contact retries it). */
  let announced = false;
  let announcing: Promise<void> | undefined;
  /** Set when the public HTTP server listens: announcing before would send probers to a closed port. */
  let listening = false;
  let joined = false;
  let unsubContact: (() => void) | undefined;
  let contactWhileLooking = false;

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

  function announce(): Promise<void> {
    announcing ??= (async () => {
      if (node === null || stopped || !listening) return;
      try {
        await node.announce(cfg.infohash, cfg.announcePort);
        if (!announced) log.info({ infohash: cfg.infohash, port: cfg.announcePort }, 'announced to the DHT');
        announced = true;
      } catch (err) {
        // Typically "No nodes to query": the routing table is still empty.
        // The next lookup or the first new contact tries again.
        log.debug({ err }, 'announce failed');
      }
    })().finally(() => {
      announcing = undefined;
    });
    return announcing;
  }

  async function lookupCycle(): Promise<void> {
    if (node === null || discovery === null || stopped || lookupRunning) return;
    lookupRunning = true;
    const t0 = performance.now();
    try {
      contactWhileLooking = false;
      if (!announced) await announce();
      lookups.inc();
      discovery.newRound();
      await withTimeout(node.lookup(cfg.infohash), LOOKUP_MAX_MS);
    } catch (err) {
      log.debug({ err }, 'lookup failed');
    } finally {
      lookupSeconds.observe((performance.now() - t0) / 1000);
      lookupRunning = false;
    }
    if (stopped) return;
    routing.set(node.routingNodes());
    await refreshList();
    if (!announced && contactWhileLooking) {
      contactWhileLooking = false;
      await lookupCycle();
    }
  }

  async function refreshList(): Promise<void> {
    if (discovery === null || stopped) return;
    try {
      await discovery.touchSelf(selfUrl);
      await discovery.reverify();
      await discovery.sweep();
    } catch (err) {
      log.warn({ err }, 'could not update the mesh node list');
    }
  }

  /**
   * Resolves once the API answers that its public server listens (at once in
   * the embedded node; in compose the api container may start after us).
   */
  async function apiListening(): Promise<void> {
    let waitMs = API_WAIT_MIN_MS;
    let told = false;
    while (!stopped) {
      try {
        await bus.request(API_LISTENING_SUBJECT, new Uint8Array(0), { timeoutMs: 2000 });
        return;
      } catch {
        if (!told) log.info('waiting for the API to listen before announcing the node');
        told = true;
      }
      await new Promise((resolve) => {
        const t = setTimeout(resolve, waitMs);
        t.unref();
      });
      waitMs = Math.min(API_WAIT_MAX_MS, waitMs * 2);
    }
  }

  /** Once listening and bootstrapped: announce, look up, then the early lookups and the regular cycle. */
  async function join(dht: DhtNode): Promise<void> {
    await dht.whenBootstrapped(cfg.requestTimeoutMs);
    if (stopped || joined) return;
    joined = true;
    await lookupCycle();
    await saveState();
    for (const ms of EARLY_LOOKUPS_MS) {
      const t = setTimeout(() => void lookupCycle(), ms);
      t.unref();
      timers.push(t);
    }
    every(cfg.lookupIntervalMs, lookupCycle);
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
        probeOptions: {
          network: cfg.infohash, allowInsecure: cfg.allowInsecure, allowedPeers: cfg.allowedPeers, timeoutMs: cfg.probeTimeoutMs,
          proberUrl: selfUrl,
        },
        maxNodes: cfg.maxNodes,
      });
      discovery = disc;
      unsubPeer = dht.onPeer(cfg.infohash, (peer) => disc.offer(peer, 'dht'));
      // A node that could not announce (no contact yet) tries as soon as one comes,
      // and looks up with it: nothing else would for a whole lookup interval.
      unsubContact = dht.onContact(() => {
        if (announced || !listening || !joined) return;
        // A lookup under way (perhaps still waiting on dead bootstrap nodes) runs again when it ends.
        if (lookupRunning) contactWhileLooking = true;
        else void lookupCycle();
      });
      subs = [
        bus.respond(DHT_GET_SUBJECT, handlers.get),
        bus.respond(DHT_PUT_SUBJECT, handlers.put),
        // A prober told its API who it is: verify it like any DHT peer (never trusted unprobed).
        bus.subscribe(MESH_HINT_SUBJECT, (data) => {
          const hint = decodeHint(data);
          if (hint !== null) disc.offer(hint, 'hint');
        }),
      ];

      every(announceIntervalMs, async () => {
        if (listening) await announce();
      });
      every(STATE_INTERVAL_MS, saveState);
      every(REVERIFY_TICK_MS, refreshList);
    },

    onListening() {
      if (listening || stopped || node === null) return;
      const dht = node;
      void (async () => {
        await apiListening();
        if (stopped) return;
        listening = true;
        await join(dht);
      })();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const s of subs) s.unsubscribe();
      unsubPeer?.();
      unsubContact?.();
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
