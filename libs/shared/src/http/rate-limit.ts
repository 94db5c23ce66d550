import type { Middleware } from 'koa';
import { ProtocolError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { clientAddressKey } from '../net/cidr.js';
import { getClientIp } from './client-ip.js';
import { CORS_HEADERS } from './cors.js';
import { writeError } from './errors.js';

/**
 * Requests per client address (PROTOCOL.md "Rate limit"): a token bucket per
 * IPv4 address or IPv6 network. Free requests cost the node cpu, and cpu is
 * load, so without a bound one address could raise everyone's price.
 */
export interface RateLimitConfig {
  /** Sustained requests per second per client address; 0 turns the limit off. */
  perSecond: number;
  /** Requests one address may send at once before the rate applies. */
  burst: number;
  /** Bound on the addresses tracked; the least recently seen is forgotten first. */
  maxClients: number;
  /** How long a refusal is held before it is answered: also its Retry-After. */
  holdMs: number;
  /** IPv6 clients are counted per network of this prefix; 64 by default. */
  ipv6Prefix?: number;
}

export interface TokenBucketLimiter {
  /** Takes one token of `key`'s bucket; false when it is empty. */
  take(key: string): boolean;
  /** Addresses tracked now (for tests and the bound). */
  readonly size: number;
}

/**
 * Buckets start full (`burst`) and refill at `perSecond`. A bucket that has
 * refilled is the same as no entry, so forgetting the least recently seen
 * address when the map is full only ever forgives, never punishes.
 */
export function createTokenBucketLimiter(
  cfg: Pick<RateLimitConfig, 'perSecond' | 'burst' | 'maxClients'>, now: () => number = Date.now,
): TokenBucketLimiter {
  const buckets = new Map<string, { tokens: number; atMs: number }>();
  return {
    take(key) {
      const t = now();
      const b = buckets.get(key);
      let tokens = cfg.burst;
      if (b !== undefined) {
        tokens = Math.min(cfg.burst, b.tokens + ((t - b.atMs) / 1000) * cfg.perSecond);
        buckets.delete(key); // re-inserted below: Map order is recency order
      } else if (buckets.size >= cfg.maxClients) {
        const oldest = buckets.keys().next();
        if (oldest.done !== true) buckets.delete(oldest.value);
      }
      const ok = tokens >= 1;
      buckets.set(key, { tokens: ok ? tokens - 1 : tokens, atMs: t });
      return ok;
    },
    get size() {
      return buckets.size;
    },
  };
}

/**
 * The first layer after the error handler and client IP: a refused request
 * gets no price, no route, no body parsing. The refusal is held for `holdMs`
 * before the 429 `rate_limited` goes out: a client that ignores Retry-After
 * then gets one refusal per connection per hold instead of thousands a
 * second, whose cpu alone would raise the price (the connection cap bounds
 * its connections). Requests of every kind count, paid ones too: a proof
 * header is no proof until verified, and verifying is work.
 */
export function createRateLimit(cfg: RateLimitConfig, metrics: Metrics): Middleware {
  if (cfg.perSecond <= 0) return async (_ctx, next) => next();
  const limiter = createTokenBucketLimiter(cfg);
  const limited = metrics.counter('http_rate_limited_total', 'Public HTTP requests refused by the per-address rate limit.');
  const retryAfterSeconds = String(Math.max(1, Math.ceil(cfg.holdMs / 1000)));
  const prefix = cfg.ipv6Prefix ?? 64;
  // One instance for every refusal: an Error captures a stack when built, and refusals must be cheap.
  const refusal = new ProtocolError('rate_limited', undefined, { retryAfter: Number(retryAfterSeconds) });
  return async (ctx, next) => {
    if (limiter.take(clientAddressKey(getClientIp(ctx), prefix))) {
      await next();
      return;
    }
    limited.inc();
    const socket = ctx.req.socket;
    await new Promise<void>((resolve) => {
      // A client that gave up frees its hold at once.
      const onClose = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        socket.off('close', onClose);
        resolve();
      }, cfg.holdMs);
      socket.once('close', onClose);
    });
    if (!ctx.writable) return;
    // CORS so a browser page can read the refusal and its Retry-After.
    ctx.set('Access-Control-Allow-Origin', CORS_HEADERS.allowOrigin);
    ctx.set('Access-Control-Expose-Headers', CORS_HEADERS.exposeHeaders);
    writeError(ctx, refusal, { 'Retry-After': retryAfterSeconds });
  };
}
