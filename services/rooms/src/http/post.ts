import type { Context } from 'koa';
import { readBody } from '@mesh/shared';
import type { AcceptPost } from '../post/accept.js';
import { parsePeerId } from '../wire.js';

/** `POST /room/<hash>` (hash already validated): the body bounded while read, then the post's rules; 202 `{id}`. */
export function createPostHandler(d: { accept: AcceptPost; maxBodyBytes: number }): (ctx: Context, hash: string) => Promise<void> {
  return async (ctx, hash) => {
    const peer = parsePeerId(ctx.get('X-Room-Peer'), 'X-Room-Peer');
    const body = await readBody(ctx, { limit: d.maxBodyBytes });
    const proof = ctx.get('X-PoW');
    ctx.body = await d.accept({ hash, body, proof: proof === '' ? undefined : proof, peer });
    ctx.status = 202;
  };
}
