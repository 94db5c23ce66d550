import { randomInt } from 'node:crypto';
import type { Context } from 'koa';
import { ProtocolError, StoreError, type Store } from '@mesh/shared';
import { NAV_LINKS, respond } from './respond.js';

/** The dht service's verified node list (services/dht/src/discovery.ts `NODES_SET`). */
export const NODES_SET = 'nodes';
/** PROTOCOL.md: nodes verified within the last 30 minutes. */
export const NODES_FRESH_MS = 30 * 60_000;
export const NODES_DEFAULT_N = 20;
export const NODES_MAX_N = 100;

export interface NodesDeps {
  store: Store;
  /** This node's public URL; always part of the answer. */
  selfUrl: string;
  /** Most members read from the store per refresh (the dht service keeps at most MESH_MAX_NODES). */
  maxNodes: number;
  /** The list read from the store is reused this long (ms); 0 reads on every request. */
  refreshMs: number;
  now?: () => number;
}

/** The form the dht service stores: origin plus path without trailing slashes. */
export function canonicalUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return raw;
  }
}

/** `n` of the query: absent -> default; anything but an integer in 1..100 is a 400. */
export function parseCount(querystring: string): number {
  const all = new URLSearchParams(querystring).getAll('n');
  if (all.length === 0) return NODES_DEFAULT_N;
  const raw = all[0] ?? '';
  if (all.length > 1 || !/^\d{1,3}$/.test(raw)) {
    throw new ProtocolError('bad_request', `n must be an integer from 1 to ${NODES_MAX_N}.`);
  }
  const n = Number(raw);
  if (n < 1 || n > NODES_MAX_N) throw new ProtocolError('bad_request', `n must be an integer from 1 to ${NODES_MAX_N}.`);
  return n;
}

/** Fisher-Yates with the CSPRNG: a client cannot predict which nodes others are sent to. */
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  }
  return items;
}

/**
 * `GET /nodes[?n=]`: a random sample of the verified nodes of the mesh, this
 * node always included. The member list is read at most once per
 * `refreshMs` (one read serves concurrent requests), so a burst of requests
 * costs one store round trip.
 */
export function createNodesHandler(deps: NodesDeps): (ctx: Context) => Promise<void> {
  const now = deps.now ?? Date.now;
  const self = canonicalUrl(deps.selfUrl);
  let cached: { atMs: number; urls: string[] } | undefined;
  let loading: Promise<string[]> | undefined;

  async function members(): Promise<string[]> {
    const t = now();
    if (cached !== undefined && t - cached.atMs < deps.refreshMs) return cached.urls;
    loading ??= (async () => {
      try {
        const seen = await deps.store.seenSince(NODES_SET, t - NODES_FRESH_MS, deps.maxNodes);
        const urls = seen.map((m) => m.member).filter((u) => u !== self);
        cached = { atMs: t, urls };
        return urls;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  return async (ctx) => {
    const n = parseCount(ctx.querystring);
    let others: string[];
    try {
      others = await members();
    } catch (err) {
      if (err instanceof StoreError) throw new ProtocolError('unavailable', undefined, {}, { cause: err });
      throw err;
    }
    // Self always, then a random sample of the others (copied: the cached list stays as read).
    const urls = shuffle([self, ...shuffle([...others]).slice(0, n - 1)]);
    respond(ctx, urls, () => ({
      title: 'Mesh nodes',
      intro: `Up to ${n} nodes of this mesh, verified within the last 30 minutes, in random order. `
        + 'Any of them serves the same protocol.',
      facts: urls.map((u, i): [string, string] => [`${i + 1}`, u]),
      links: [...urls.map((u): [string, string] => [u, u]), ...NAV_LINKS],
    }));
  };
}
