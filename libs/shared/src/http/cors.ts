import type { Middleware } from 'koa';

/** Header values fixed by PROTOCOL.md "Common rules". */
export const CORS_HEADERS = {
  allowOrigin: '*',
  allowMethods: 'GET, POST, OPTIONS',
  allowHeaders: 'Content-Type, X-PoW, X-Room-Peer, Last-Event-ID',
  maxAgeSeconds: 86400,
  exposeHeaders: 'X-PoW-Token, X-PoW-Work, Retry-After',
} as const;

/**
 * Sets the CORS headers on every response and answers `OPTIONS` on any path
 * with 204. Headers are set before `next()` so they are in place when a
 * stream flushes its headers early; the error handler keeps them on errors.
 */
export function createCors(): Middleware {
  return async (ctx, next) => {
    ctx.set('Access-Control-Allow-Origin', CORS_HEADERS.allowOrigin);
    ctx.set('Access-Control-Expose-Headers', CORS_HEADERS.exposeHeaders);
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Methods', CORS_HEADERS.allowMethods);
      ctx.set('Access-Control-Allow-Headers', CORS_HEADERS.allowHeaders);
      ctx.set('Access-Control-Max-Age', String(CORS_HEADERS.maxAgeSeconds));
      ctx.status = 204;
      return;
    }
    await next();
  };
}
