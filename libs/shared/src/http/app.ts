import Koa from 'koa';
import type { DefaultState, Middleware } from 'koa';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { MAX_FORWARDED_HOPS, createClientIpMiddleware } from './client-ip.js';
import { createCors } from './cors.js';
import { createErrorHandler, installAppErrorHandler, notFound } from './errors.js';
import { createRequestMetrics } from './metrics.js';
import { createPriceHeaders, type PlainPrice } from './price-headers.js';
import { createRateLimit, type RateLimitConfig } from './rate-limit.js';

export interface PublicAppDeps {
  log: Logger;
  metrics: Metrics;
  /** CIDRs whose X-Forwarded-For is believed (Config.trustProxy). */
  trustProxy: string[];
  /** The node's current plain price, for the headers of every response. */
  price: () => PlainPrice;
  /** Per-address request limit (Config.rateLimit); none when absent (service tests' own apps). */
  rateLimit?: RateLimitConfig;
}

/**
 * The public koa app: the shared outer layers, then each service's routes
 * (api, rooms, or both in the embedded node), then `not_found`. Order:
 * errors (outermost, so every layer's failure is answered), client IP, the
 * rate limit (before any work is done for a request, pricing included),
 * request metrics, price headers, CORS / OPTIONS (after the price headers, so
 * the 204 of a preflight carries them too), routes, notFound.
 * `C` lets routers with a richer context (@koa/router's `routes()`) be
 * passed as they are, without casts.
 */
export function createPublicApp<C = Koa.DefaultContext>(
  deps: PublicAppDeps,
  routes: ReadonlyArray<Middleware<DefaultState, C>>,
): Koa {
  // XFF is resolved by our own client-ip layer (right-most untrusted), not koa's.
  const app = new Koa({ proxy: false, maxIpsCount: MAX_FORWARDED_HOPS });
  installAppErrorHandler(app, deps.log);
  app.use(createErrorHandler(deps.log));
  app.use(createClientIpMiddleware(deps.trustProxy));
  if (deps.rateLimit !== undefined) app.use(createRateLimit(deps.rateLimit, deps.metrics));
  app.use(createRequestMetrics(deps.metrics));
  app.use(createPriceHeaders(deps.price));
  app.use(createCors());
  for (const r of routes) app.use(r);
  app.use(notFound());
  return app;
}
