import type { Context } from 'koa';
import { ProtocolError, decodeUtf8Strict, readBody, type Bus, type NodeRuntime, type RoomConfig } from '@mesh/shared';
import type { RoomHistory } from '../history.js';
import type { RoomPrice } from '../price/room-price.js';
import type { RoomMetrics } from '../room-metrics.js';
import { framedBodyBytes } from '../streams/sse.js';
import { encodeWireMessage, parsePeerId, roomSubject } from '../wire.js';

export interface PostDeps {
  room: RoomConfig;
  bus: Bus;
  runtime: Pick<NodeRuntime, 'pow'>;
  history: RoomHistory;
  price: RoomPrice;
  metrics: RoomMetrics;
}

/**
 * `POST /room/<hash>` (hash already validated): bounded body, framed size included (413), strict
 * UTF-8 (415), PoW at the room's price, then count + append (the store hands
 * out the id) and publish once on `rooms.<hash>`; every worker with
 * subscribers of the room writes it to them.
 */
export function createPostHandler(d: PostDeps): (ctx: Context, hash: string) => Promise<void> {
  return async (ctx, hash) => {
    const peer = parsePeerId(ctx.get('X-Room-Peer'), 'X-Room-Peer');
    const body = await readBody(ctx, { limit: d.room.maxBodyBytes });
    const text = decodeUtf8Strict(body);
    // SSE never dispatches an event whose data is empty: such a post could reach nobody.
    if (text === '') throw new ProtocolError('bad_request', 'The message is empty.');
    // The limit bounds what a post costs every reader (history replays included), so it counts the frame.
    if (framedBodyBytes(text) > d.room.maxBodyBytes) {
      throw new ProtocolError('payload_too_large', `The message frames to more than ${d.room.maxBodyBytes} bytes (a line break counts 7).`, { limit: d.room.maxBodyBytes });
    }

    // Without the bus the message would be kept but reach no live stream: refused before it pays.
    if (!d.bus.isReady()) throw new ProtocolError('unavailable', 'Room delivery is not available right now; try again.');
    const work = await d.price.work(hash);
    const header = ctx.get('X-PoW');
    await d.runtime.pow.verify({
      header: header === '' ? undefined : header,
      method: 'POST', path: `/room/${hash}`, body, price: work, endpoint: 'room',
    });

    const at = Date.now();
    const [m, { id, prev }] = await Promise.all([d.price.count(hash), d.history.append(hash, text)]);
    d.bus.publish(roomSubject(hash), encodeWireMessage({ id, prev, data: text, at, m, ...(peer !== undefined ? { p: peer } : {}) }));
    d.metrics.accepted.inc();
    ctx.status = 202;
    ctx.body = { id };
  };
}
