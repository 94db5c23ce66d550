import type { Logger } from 'pino';
import {
  NODE_MAX_FAILURES, NODE_RETRY_MS, NODE_REVERIFY_MS, NODE_TTL_MS, NODES_SET, backoffMs, nodeKey,
  type Metrics, type NodeRecord, type Store,
} from '@mesh/shared';
import type { ProbeFn, ProbeOptions, ProbeRejection } from './probe.js';

/**
 * Turns peer addresses (found under the network infohash, announced to us,
 * or hinted by a prober) into verified mesh nodes in the store, and keeps
 * that list true, at a bounded cost:
 * - a queue of at most `MAX_QUEUE` addresses (deduplicated; extra offers are
 *   dropped) served by at most `CONCURRENCY` probes at a time, and no more
 *   than `RATE_PER_SECOND` probe starts per second (token bucket);
 * - at most `MAX_PORTS_PER_IP` ports of one IP per round (a round starts
 *   with each lookup), per source, so one DHT answer listing many ports of
 *   one host cannot make us connect to it many times;
 * - per-address memory (bounded) of when it may be probed again: a verified
 *   address after `NODE_REVERIFY_MS`, a refused one after an exponential backoff;
 * - every listed node is probed again once `NODE_REVERIFY_MS` old (`reverify`),
 *   and leaves the list after `NODE_MAX_FAILURES` failed re-probes in a row,
 *   `NODE_RETRY_MS` apart: a dead node is gone within about four minutes and no
 *   node is probed more than once a minute;
 * - at most `maxNodes` nodes kept.
 *
 * The store layout is `@mesh/shared`'s mesh-nodes.ts.
 */
const CONCURRENCY = 4;
const MAX_QUEUE = 256;
const RATE_PER_SECOND = 10;
const RATE_BURST = 20;
const MAX_TRACKED_ADDRESSES = 4096;
export const MAX_PORTS_PER_IP = 2;
const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 30 * 60_000;

/** `full`: verified but maxNodes reached; `dropped`: the probe queue was full; `capped`: too many ports of one IP this round. */
export type ProbeOutcome = 'verified' | ProbeRejection | 'full' | 'dropped' | 'capped' | 'error';

/** Where an address came from: a DHT lookup or announce, or a prober's own header. */
export type OfferSource = 'dht' | 'hint';

export interface DiscoveryOptions {
  store: Store;
  log: Logger;
  metrics: Metrics;
  probe: ProbeFn;
  /** Options of every probe (our network, what is allowed, timeout, our own URL). */
  probeOptions: ProbeOptions;
  maxNodes: number;
  now?: () => number;
}

export interface Discovery {
  /** Queues a peer address for probing unless it is queued, in flight, backing off or over its IP's cap. */
  offer(peer: { host: string; port: number }, source?: OfferSource): void;
  /** Starts a new round of the per-IP port cap (called as each lookup starts). */
  newRound(): void;
  /** Records `url` as seen now without probing (this node itself). */
  touchSelf(url: string): Promise<void>;
  /** Queues a re-probe of every listed node last verified `NODE_REVERIFY_MS` ago or more. */
  reverify(): Promise<void>;
  /** Forgets nodes unseen for `NODE_TTL_MS`; returns the number of nodes kept. */
  sweep(): Promise<number>;
  /** Resolves when no probe is queued or running (for tests). */
  idle(): Promise<void>;
  stop(): void;
}

interface AddressState {
  nextAtMs: number;
  failures: number;
}

interface QueuedProbe {
  key: string;
  host: string;
  port: number;
  /** Set for a re-probe of listed nodes: the URLs listed at this address (one must still be served). */
  listedUrls?: string[];
}

export function createDiscovery(opts: DiscoveryOptions): Discovery {
  const { store, log, metrics } = opts;
  const now = opts.now ?? Date.now;
  const probes = metrics.counter<'outcome'>('mesh_probes_total', 'Mesh node probes by outcome', ['outcome']);
  const meshNodes = metrics.gauge('mesh_nodes', 'Verified mesh nodes known');
  const removed = metrics.counter('mesh_nodes_removed_total', 'Listed nodes removed after failed re-probes');

  const addresses = new Map<string, AddressState>();
  /** Consecutive failed re-probes of each listed URL. */
  const listedFailures = new Map<string, number>();
  /**
   * Listed URLs by the address they were verified at: a probe of that
   * address that fails counts against them whoever offered it (a DHT answer
   * may re-offer a dead node's address before its re-probe is due).
   */
  const listedAt = new Map<string, Set<string>>();
  const queue: QueuedProbe[] = [];
  /** Addresses queued or being probed: offered again meanwhile, they are ignored. */
  const pending = new Set<string>();
  /** This round's ports per `source|ip`. */
  let roundPorts = new Map<string, Set<number>>();
  let selfUrl: string | undefined;
  let running = 0;
  let stopped = false;
  let tokens = RATE_BURST;
  let refilledAtMs = now();
  let refillTimer: NodeJS.Timeout | undefined;
  let idleWaiters: (() => void)[] = [];

  function remember(key: string, state: AddressState): void {
    addresses.delete(key);
    addresses.set(key, state);
    // Oldest entries go first: an address we have not heard of in a while.
    while (addresses.size > MAX_TRACKED_ADDRESSES) {
      const oldest = addresses.keys().next().value as string;
      addresses.delete(oldest);
    }
  }

  function takeToken(): boolean {
    const t = now();
    tokens = Math.min(RATE_BURST, tokens + ((t - refilledAtMs) / 1000) * RATE_PER_SECOND);
    refilledAtMs = t;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }

  /** False when this round already saw `MAX_PORTS_PER_IP` other ports of the IP from this source. */
  function withinPortCap(host: string, port: number, source: OfferSource): boolean {
    const k = `${source}|${host}`;
    let ports = roundPorts.get(k);
    if (ports === undefined) {
      // Bounded like the queue: a flood of distinct IPs in one round is dropped past it.
      if (roundPorts.size >= MAX_TRACKED_ADDRESSES) return false;
      ports = new Set();
      roundPorts.set(k, ports);
    }
    if (ports.has(port)) return true;
    if (ports.size >= MAX_PORTS_PER_IP) return false;
    ports.add(port);
    return true;
  }

  function enqueue(entry: QueuedProbe): boolean {
    if (queue.length >= MAX_QUEUE) {
      probes.inc({ outcome: 'dropped' satisfies ProbeOutcome });
      return false;
    }
    pending.add(entry.key);
    queue.push(entry);
    pump();
    return true;
  }

  function pump(): void {
    while (!stopped && running < CONCURRENCY && queue.length > 0) {
      if (!takeToken()) {
        if (refillTimer === undefined) {
          refillTimer = setTimeout(() => {
            refillTimer = undefined;
            pump();
          }, Math.ceil(1000 / RATE_PER_SECOND));
          refillTimer.unref();
        }
        return;
      }
      const next = queue.shift() as QueuedProbe;
      running++;
      void run(next).finally(() => {
        running--;
        pending.delete(next.key);
        pump();
        if (running === 0 && queue.length === 0) {
          const waiters = idleWaiters;
          idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  async function run(peer: QueuedProbe): Promise<void> {
    let outcome: ProbeOutcome;
    let verifiedUrl: string | undefined;
    try {
      const result = await opts.probe({ host: peer.host, port: peer.port }, opts.probeOptions);
      if (stopped) return;
      if (result.ok) {
        outcome = (await keep(result.url, result.id, peer.key)) ? 'verified' : 'full';
        if (outcome === 'verified') verifiedUrl = result.url;
      } else {
        outcome = result.reason;
        log.debug({ peer: peer.key, reason: result.reason, detail: result.detail }, 'mesh peer refused');
      }
    } catch (err) {
      outcome = 'error';
      log.warn({ err, peer: peer.key }, 'mesh probe failed');
    }
    if (stopped) return;
    probes.inc({ outcome });
    if (verifiedUrl !== undefined) listedFailures.delete(verifiedUrl);
    const listed = new Set([...(peer.listedUrls ?? []), ...(listedAt.get(peer.key) ?? [])]);
    for (const url of listed) if (url !== verifiedUrl) await listedProbeFailed(url, peer.key);

    const prev = addresses.get(peer.key);
    if (outcome === 'verified') {
      remember(peer.key, { nextAtMs: now() + NODE_REVERIFY_MS, failures: 0 });
    } else if (listed.size > 0) {
      // A listed node gets its second chance a minute later, not after a backoff.
      remember(peer.key, { nextAtMs: now() + NODE_RETRY_MS, failures: (prev?.failures ?? 0) + 1 });
    } else {
      const failures = (prev?.failures ?? 0) + 1;
      const backoff = backoffMs(failures, { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS });
      remember(peer.key, { nextAtMs: now() + backoff, failures });
    }
  }

  async function listedProbeFailed(url: string, addr: string): Promise<void> {
    const failures = (listedFailures.get(url) ?? 0) + 1;
    if (failures < NODE_MAX_FAILURES) {
      listedFailures.set(url, failures);
      return;
    }
    listedFailures.delete(url);
    const urls = listedAt.get(addr);
    urls?.delete(url);
    if (urls?.size === 0) listedAt.delete(addr);
    try {
      await store.forget(NODES_SET, url);
      await store.del(nodeKey(url));
      removed.inc();
      log.info({ url, failures }, 'mesh node removed: re-probes failed');
    } catch (err) {
      // The sweep and the /nodes window still drop it.
      log.warn({ err, url }, 'could not remove a mesh node');
    }
  }

  /**
   * Stores a verified node; false when the list is full and the node is new.
   * Serialised: concurrent probes would all read the size below the cap.
   */
  let keeping: Promise<unknown> = Promise.resolve();
  function keep(url: string, id: string, addr: string): Promise<boolean> {
    const next = keeping.then(() => keepNow(url, id, addr));
    keeping = next.catch(() => undefined);
    return next;
  }

  async function keepNow(url: string, id: string, addr: string): Promise<boolean> {
    const t = now();
    const key = nodeKey(url);
    const known = (await store.get(key)) !== null;
    if (!known && (await store.size(NODES_SET)) >= opts.maxNodes) return false;
    const record: NodeRecord = { id, url, addr, seenMs: t };
    await store.set(key, JSON.stringify(record), { ttlSeconds: NODE_TTL_MS / 1000 });
    await store.touch(NODES_SET, url, t);
    let urls = listedAt.get(addr);
    if (urls === undefined) {
      // Bounded by what the store keeps (maxNodes), plus addresses forgotten by the sweep.
      if (listedAt.size >= MAX_TRACKED_ADDRESSES) listedAt.delete(listedAt.keys().next().value as string);
      urls = new Set();
      listedAt.set(addr, urls);
    }
    urls.add(url);
    if (!known) log.info({ url, id, addr }, 'mesh node verified');
    return true;
  }

  function readRecord(raw: string | null): NodeRecord | null {
    if (raw === null) return null;
    try {
      const r = JSON.parse(raw) as Partial<NodeRecord>;
      return typeof r.url === 'string' && typeof r.addr === 'string' ? (r as NodeRecord) : null;
    } catch {
      return null;
    }
  }

  /** `host:port` (IPv6 hosts contain colons: the port is after the last one). */
  function splitAddr(addr: string): { host: string; port: number } | null {
    const i = addr.lastIndexOf(':');
    const port = Number(addr.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) return null;
    return { host: addr.slice(0, i), port };
  }

  return {
    offer(peer, source = 'dht') {
      if (stopped) return;
      const key = `${peer.host}:${peer.port}`;
      if (pending.has(key)) return;
      const state = addresses.get(key);
      if (state !== undefined && state.nextAtMs > now()) return;
      if (!withinPortCap(peer.host, peer.port, source)) {
        probes.inc({ outcome: 'capped' satisfies ProbeOutcome });
        return;
      }
      enqueue({ key, host: peer.host, port: peer.port });
    },

    newRound() {
      roundPorts = new Map();
    },

    async touchSelf(url) {
      selfUrl = url;
      await store.touch(NODES_SET, url, now());
    },

    async reverify() {
      if (stopped) return;
      const due = now() - NODE_REVERIFY_MS;
      const members = (await store.seenSince(NODES_SET, 0, opts.maxNodes))
        .filter((m) => m.atMs <= due && m.member !== selfUrl);
      if (members.length === 0) return;
      const records = await store.getMany(members.map((m) => nodeKey(m.member)));
      const byAddress = new Map<string, QueuedProbe & { listedUrls: string[] }>();
      for (const [i, m] of members.entries()) {
        const record = readRecord(records[i] ?? null);
        const addr = record === null ? null : splitAddr(record.addr);
        if (addr === null) {
          // Nothing to probe it at: it cannot be verified again.
          await store.forget(NODES_SET, m.member);
          continue;
        }
        const key = `${addr.host}:${addr.port}`;
        const entry = byAddress.get(key);
        if (entry !== undefined) entry.listedUrls.push(m.member);
        else byAddress.set(key, { key, ...addr, listedUrls: [m.member] });
      }
      for (const entry of byAddress.values()) {
        if (stopped) return;
        const state = addresses.get(entry.key);
        if (pending.has(entry.key) || (state !== undefined && state.nextAtMs > now())) continue;
        if (!enqueue(entry)) return;
      }
    },

    async sweep() {
      await store.forgetBefore(NODES_SET, now() - NODE_TTL_MS);
      const size = await store.size(NODES_SET);
      meshNodes.set(size);
      return size;
    },

    idle() {
      if (running === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },

    stop() {
      stopped = true;
      queue.length = 0;
      pending.clear();
      if (refillTimer !== undefined) clearTimeout(refillTimer);
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    },
  };
}
