import type { Context } from 'koa';
import { canonicalSelfUrl, NODES_FRESH_MS, NODES_SET, ProtocolError, type Store } from '@mesh/shared';
import { NAV_LINKS, respond } from './respond.js';

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

/**
 * `GET /nodes[?n=]`: this node, then the verified nodes of the mesh, most
 * recently verified first (a node that stopped answering sinks, then goes). The member list is read at most once per
 * `refreshMs` (one read serves concurrent requests), so a burst of requests
 * costs one store round trip.
 */
export function createNodesHandler(deps: NodesDeps): (ctx: Context) => Promise<void> {
  const now = deps.now ?? Date.now;
  const self = canonicalSelfUrl(deps.selfUrl);
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
    // A store outage is answered 503 `unavailable` by classifyError.
    const others = await members();
    // The store answers most recent first.
    const urls = [self, ...others.slice(0, n - 1)];
    respond(ctx, urls, () => ({
      title: 'Mesh nodes',
      intro: `Up to ${n} nodes of this mesh, verified within the last ${NODES_FRESH_MS / 60_000} minutes, `
        + 'this node first, then the most recently verified. '
        + 'Any of them serves the same protocol.',
      facts: urls.map((u, i): [string, string] => [`${i + 1}`, u]),
      links: [...urls.map((u): [string, string] => [u, u]), ...NAV_LINKS],
    }));
  };
}
