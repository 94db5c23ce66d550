import type { Context, Middleware } from 'koa';
import type { Metrics } from '../metrics.js';
import { classifyError, isClientAbort } from './errors.js';

/** Route label of requests that matched no route: the raw path is never a label. */
export const UNMATCHED_ROUTE = 'other';

/**
 * Names the route of this request for metrics, for handlers not mounted
 * with @koa/router (which sets the matched template itself).
 */
export function setRouteLabel(ctx: Context, route: string): void {
  (ctx.state as Record<string, unknown>)['route'] = route;
}

function routeLabel(ctx: Context): string {
  const own: unknown = (ctx.state as Record<string, unknown>)['route'];
  if (typeof own === 'string') return own;
  const matched: unknown = (ctx as unknown as { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === 'string' ? matched : UNMATCHED_ROUTE;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * `mesh_http_requests_total{route,status}` and
 * `mesh_http_request_duration_seconds{route}` (docs/METRICS.md). Measured
 * when the handlers return: that is when headers go out, so a long SSE stream
 * counts its time to answer, not its lifetime. A thrown error counts with the
 * status the error handler will send; a client that vanished is not counted.
 */
export function createRequestMetrics(metrics: Metrics): Middleware {
  const requests = metrics.counter('http_requests_total', 'Public HTTP requests answered.', ['route', 'status']);
  const duration = metrics.histogram(
    'http_request_duration_seconds', 'Time to answer a public HTTP request (headers).', ['route'], DURATION_BUCKETS,
  );
  return async (ctx, next) => {
    const start = process.hrtime.bigint();
    const record = (status: number): void => {
      const route = routeLabel(ctx);
      requests.inc({ route, status: String(status) });
      duration.observe({ route }, Number(process.hrtime.bigint() - start) / 1e9);
    };
    try {
      await next();
    } catch (err) {
      if (!isClientAbort(err, ctx)) record(classifyError(err).error.status);
      throw err;
    }
    record(ctx.status);
  };
}
