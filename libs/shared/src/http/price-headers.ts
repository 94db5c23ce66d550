import type { Middleware } from 'koa';

export interface PlainPrice {
  token: string;
  work: number;
}

/**
 * Sets `X-PoW-Token` / `X-PoW-Work` (the node's plain price) on every
 * response. Set before `next()`, so SSE responses carry them when their
 * headers flush; the error handler keeps them on errors. A failing price
 * source leaves the headers out rather than failing the request.
 */
export function createPriceHeaders(price: () => PlainPrice): Middleware {
  return async (ctx, next) => {
    let p: PlainPrice | undefined;
    try {
      p = price();
    } catch {
      p = undefined;
    }
    if (p !== undefined) {
      ctx.set('X-PoW-Token', p.token);
      ctx.set('X-PoW-Work', String(p.work));
    }
    await next();
  };
}
