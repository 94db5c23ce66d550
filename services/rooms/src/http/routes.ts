import type { Context, Middleware } from 'koa';
import { setRouteLabel, wantsEventStream } from '@mesh/shared';
import { parseRoomHash } from '../room-hash.js';

type RoomHandler = (ctx: Context, hash: string) => Promise<void>;

const ROOM_PATH = /^\/room\/([^/]*)$/;
const ROUTE_LABEL = '/room/:hash';

/**
 * `/room/<hash>` as one koa middleware (the embedded node mounts it next to
 * the API on one app): the hash is validated here, before any handler, so
 * only lower-case hex reaches a bus subject or a store key.
 */
export function createRoomRoutes(h: { post: RoomHandler; subscribe: RoomHandler; describe: RoomHandler }): Middleware {
  return async (ctx, next) => {
    const m = ROOM_PATH.exec(ctx.path);
    if (m === null) return next();
    setRouteLabel(ctx, ROUTE_LABEL);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && ctx.method !== 'POST') {
      ctx.throw(405, 'Method not allowed.', { headers: { Allow: 'GET, POST, OPTIONS' } });
    }
    const hash = parseRoomHash(m[1] ?? '');
    if (ctx.method === 'POST') return h.post(ctx, hash);
    if (ctx.method === 'GET' && wantsEventStream(ctx)) return h.subscribe(ctx, hash);
    return h.describe(ctx, hash);
  };
}
