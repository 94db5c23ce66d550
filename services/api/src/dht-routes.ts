import type { Context } from 'koa';
import {
  ProtocolError, getClientIp, readBody, readJson, type NodeRuntime,
  parseBep44GetRequest, parseBep44PutRequest, verifyBep44,
  type Bep44GetRequest, type Bep44Item, type SlotLimiter,
} from '@mesh/shared';
import { charge } from './charge.js';
import type { DhtClient } from './dht-client.js';
import { NAV_LINKS, respond } from './respond.js';
import type { TtlCache } from './ttl-cache.js';

/** PROTOCOL.md: a `/dht-put` body is at most 2048 bytes. */
export const DHT_PUT_BODY_LIMIT = 2048;

export interface DhtRouteDeps {
  runtime: Pick<NodeRuntime, 'pow' | 'price'>;
  dht: DhtClient;
  /** Found items by `cacheKey`, for up to 60 s (PROTOCOL.md). */
  cache: TtlCache<Bep44Item>;
  /** DHT requests in flight, in all and per client. */
  limiter: SlotLimiter;
}

function cacheKey(key: string, salt: string | undefined): string {
  return `${key}/${salt ?? ''}`;
}

/** key and salt from the query: each at most once, then the shared BEP44 validators. */
export function parseGetQuery(querystring: string): Bep44GetRequest {
  const q = new URLSearchParams(querystring);
  const keys = q.getAll('key');
  const salts = q.getAll('salt');
  if (keys.length !== 1 || salts.length > 1) {
    throw new ProtocolError('bad_request', 'Give exactly one key and at most one salt.');
  }
  const parsed = parseBep44GetRequest({ key: keys[0], ...(salts.length === 1 ? { salt: salts[0] } : {}) });
  if (!parsed.ok) throw new ProtocolError('bad_request', `Invalid query: ${parsed.message}.`);
  return parsed.value;
}

function itemPage(item: Bep44Item): Array<[string, string | number]> {
  return [['key', item.key], ['salt', item.salt], ['seq', item.seq], ['v (base64)', item.v], ['sig', item.sig]];
}

/**
 * `GET /dht-get` and `POST /dht-put` (PROTOCOL.md). Inputs are validated and
 * a put's signature verified (node:crypto) before anything else; a request
 * that cannot reach the dht service is refused (503) before it pays; then it
 * pays; then the dht service is asked over the bus, with a cap on
 * requests in flight. Gets are served from a 60 s cache of found items, and
 * concurrent gets of one item share one bus request.
 */
export function createDhtRoutes(deps: DhtRouteDeps): {
  get: (ctx: Context) => Promise<void>;
  put: (ctx: Context) => Promise<void>;
} {
  const { runtime, dht, cache, limiter } = deps;
  const pending = new Map<string, Promise<Bep44Item>>();

  async function slot<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
    const claimed = limiter.claim(getClientIp(ctx));
    if (claimed === undefined) throw new ProtocolError('too_many_requests', 'Too many DHT requests in flight; try again shortly.');
    try {
      return await work();
    } finally {
      claimed.release();
    }
  }

  async function lookup(ctx: Context, req: Bep44GetRequest): Promise<Bep44Item> {
    const k = cacheKey(req.key, req.salt);
    const hit = cache.get(k);
    if (hit !== undefined) return hit;
    const shared = pending.get(k);
    if (shared !== undefined) return shared;
    const p = slot(ctx, () => dht.get(req)).then((item) => {
      cache.set(k, item);
      return item;
    }).finally(() => pending.delete(k));
    pending.set(k, p);
    return p;
  }

  /** Without a bus the request could only time out: refused before it pays (a cached item still answers). */
  function requireDht(): void {
    if (!dht.reachable()) throw new ProtocolError('unavailable', 'The DHT service is not reachable right now.');
  }

  return {
    async get(ctx) {
      const req = parseGetQuery(ctx.querystring);
      if (!cache.get(cacheKey(req.key, req.salt))) requireDht();
      await charge(ctx, runtime, 'dht_get', new Uint8Array(0));
      const item = await lookup(ctx, req);
      respond(ctx, item, () => ({
        title: 'DHT item',
        intro: 'The newest BEP44 mutable item stored in the DHT under this key and salt; its signature verified.',
        facts: itemPage(item),
        links: NAV_LINKS,
      }));
    },

    async put(ctx) {
      const body = await readJson(ctx, { limit: DHT_PUT_BODY_LIMIT });
      const parsed = parseBep44PutRequest(body);
      if (!parsed.ok) throw new ProtocolError('bad_request', `Invalid item: ${parsed.message}.`);
      const req = parsed.value;
      if (!verifyBep44(req)) throw new ProtocolError('bad_signature');
      requireDht();
      // readJson cached the raw bytes: the proof is over exactly what was sent.
      await charge(ctx, runtime, 'dht_put', await readBody(ctx, { limit: DHT_PUT_BODY_LIMIT }));
      const result = await slot(ctx, () => dht.put(req));
      // This instance now answers gets of the item with what it just stored, never an older cached one.
      const k = cacheKey(req.key, req.salt);
      const cached = cache.get(k);
      if (cached === undefined || cached.seq <= req.seq) {
        cache.set(k, { key: req.key, salt: req.salt ?? '', seq: req.seq, v: req.v, sig: req.sig });
      }
      respond(ctx, result, () => ({
        title: 'DHT item stored',
        intro: 'The BEP44 mutable item was sent to the DHT nodes closest to its target.',
        facts: [['target', result.target], ['stored by (DHT nodes)', result.stored]],
        links: NAV_LINKS,
      }));
    },
  };
}
