import type { Context } from 'koa';
import type { NodeRuntime, PricedEndpoint } from '@mesh/shared';

/**
 * Makes the request pay `endpoint`'s current price: resolves when the X-PoW
 * proof is accepted, else throws the gate's 402 (fresh token, this
 * endpoint's price). The proof covers the method, the path as sent (no query)
 * and the raw body.
 */
export async function charge(
  ctx: Context, runtime: Pick<NodeRuntime, 'pow' | 'price'>, endpoint: PricedEndpoint, body: Uint8Array,
): Promise<void> {
  const header = ctx.get('X-PoW');
  await runtime.pow.verify({
    header: header === '' ? undefined : header,
    method: ctx.method,
    path: ctx.path,
    body,
    price: runtime.price(endpoint),
    endpoint,
  });
}
