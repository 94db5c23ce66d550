import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Metrics, Store } from '@mesh/shared';
import type { ProbeFn, ProbeRejection } from './probe.js';

/**
 * Turns peer addresses found under the network infohash into verified mesh
 * nodes in the store, at a bounded cost:
 * - a queue of at most `MAX_QUEUE` addresses (deduplicated; extra offers are
 *   dropped) served by at most `CONCURRENCY` probes at a time, and no more
 *   than `RATE_PER_SECOND` probe starts per second (token bucket);
 * - per-address memory (bounded) of when it may be probed again: a verified
 *   address after `REVERIFY_MS`, a refused one after an exponential backoff;
 * - at most `maxNodes` nodes kept; nodes unseen for 30 minutes are forgotten.
 *
 * Store layout:
 * - sorted set `nodes`: member = canonical node URL, score = last verified
 *   (ms). The API's `/nodes` reads `seenSince('nodes', now - 30 min, n)`.
 * - `node:<sha1 hex of url>`: JSON `{"id", "url", "addr", "seenMs"}`, TTL 30 min.
 */
export const NODES_SET = 'nodes';
export const NODE_KEY_PREFIX = 'node:';
export const NODE_TTL_MS = 30 * 60_000;

const CONCURRENCY = 4;
const MAX_QUEUE = 256;
const RATE_PER_SECOND = 10;
const RATE_BURST = 20;
const MAX_TRACKED_ADDRESSES = 4096;
const REVERIFY_MS = 5 * 60_000;
const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 30 * 60_000;

/** `full`: verified but maxNodes reached; `dropped`: the probe queue was full. */
export type ProbeOutcome = 'verified' | ProbeRejection | 'full' | 'dropped' | 'error';

export interface DiscoveryOptions {
  store: Store;
  log: Logger;
  metrics: Metrics;
  probe: ProbeFn;
  network: string;
  allowInsecure: boolean;
  probeTimeoutMs: number;
  maxNodes: number;
  now?: () => number;
}

export interface Discovery {
  /** Queues a peer address for probing unless it is queued, in flight or backing off. */
  offer(peer: { host: string; port: number }): void;
  /** Records `url` as seen now without probing (this node itself). */
  touchSelf(url: string): Promise<void>;
  /** Forgets nodes unseen for 30 minutes; returns the number of nodes kept. */
  sweep(): Promise<number>;
  /** Resolves when no probe is queued or running (for tests). */
  idle(): Promise<void>;
  stop(): void;
}

interface AddressState {
  nextAtMs: number;
  failures: number;
}

export function nodeKey(url: string): string {
  return NODE_KEY_PREFIX + createHash('sha1').update(url, 'utf8').digest('hex');
}

export function createDiscovery(opts: DiscoveryOptions): Discovery {
  const { store, log, metrics } = opts;
  const now = opts.now ?? Date.now;
  const probes = metrics.counter<'outcome'>('mesh_probes_total', 'Mesh node probes by outcome', ['outcome']);
  const meshNodes = metrics.gauge('mesh_nodes', 'Verified mesh nodes known');

  const addresses = new Map<string, AddressState>();
  const queue: { key: string; host: string; port: number }[] = [];
  /** Addresses queued or being probed: offered again meanwhile, they are ignored. */
  const pending = new Set<string>();
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
      const next = queue.shift() as { key: string; host: string; port: number };
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

  async function run(peer: { key: string; host: string; port: number }): Promise<void> {
    let outcome: ProbeOutcome;
    try {
      const result = await opts.probe(
        { host: peer.host, port: peer.port },
        { network: opts.network, allowInsecure: opts.allowInsecure, timeoutMs: opts.probeTimeoutMs },
      );
      if (stopped) return;
      if (result.ok) {
        outcome = (await keep(result.url, result.id, peer.key)) ? 'verified' : 'full';
      } else {
        outcome = result.reason;
        log.debug({ peer: peer.key, reason: result.reason, detail: result.detail }, 'mesh peer refused');
      }
    } catch (err) {
      outcome = 'error';
      log.warn({ err, peer: peer.key }, 'mesh probe failed');
    }
    probes.inc({ outcome });
    const prev = addresses.get(peer.key);
    if (outcome === 'verified') {
      remember(peer.key, { nextAtMs: now() + REVERIFY_MS, failures: 0 });
    } else {
      const failures = (prev?.failures ?? 0) + 1;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16));
      remember(peer.key, { nextAtMs: now() + backoff, failures });
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
    await store.set(key, JSON.stringify({ id, url, addr, seenMs: t }), { ttlSeconds: NODE_TTL_MS / 1000 });
    await store.touch(NODES_SET, url, t);
    if (!known) log.info({ url, id, addr }, 'mesh node verified');
    return true;
  }

  return {
    offer(peer) {
      if (stopped) return;
      const key = `${peer.host}:${peer.port}`;
      if (pending.has(key)) return;
      const state = addresses.get(key);
      if (state !== undefined && state.nextAtMs > now()) return;
      if (queue.length >= MAX_QUEUE) {
        probes.inc({ outcome: 'dropped' satisfies ProbeOutcome });
        return;
      }
      pending.add(key);
      queue.push({ key, host: peer.host, port: peer.port });
      pump();
    },

    async touchSelf(url) {
      await store.touch(NODES_SET, url, now());
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
