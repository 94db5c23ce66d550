import type { Context } from 'koa';
import { renderPage, wantsJson } from '@mesh/shared';
import type { RoomPrice } from '../price/room-price.js';

/** `GET /room/<hash>` without `Accept: text/event-stream`: the room's posting price, as JSON or a page. */
export function createDescribeHandler(price: RoomPrice): (ctx: Context, hash: string) => Promise<void> {
  return async (ctx, hash) => {
    const q = await price.quote(hash);
    if (wantsJson(ctx)) {
      ctx.body = { hash, token: q.token, work: q.work, difficulty: q.difficulty };
      return;
    }
    ctx.type = 'html';
    ctx.body = renderPage({
      title: 'Room',
      intro: 'Subscribe with EventSource (Accept: text/event-stream); post with a proof of work at this price.',
      facts: [['hash', hash], ['token', q.token], ['work', q.work], ['difficulty', q.difficulty]],
      links: [['Node home', '/']],
    });
  };
}
