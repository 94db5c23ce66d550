import {
  ProtocolError, StoreError, decodeUtf8Strict,
  type AppendOnceResult, type Bus, type NodeRuntime, type PowTicket, type RoomConfig, type Store,
} from '@mesh/shared';
import type { RoomHistory } from '../history.js';
import type { RoomPrice } from '../price/room-price.js';
import type { RoomMetrics } from '../room-metrics.js';
import { framedBodyBytes } from '../streams/sse.js';
import { encodeWireMessage, roomSubject } from '../wire.js';

export interface PostDeps {
  room: RoomConfig;
  bus: Bus;
  store: Store;
  runtime: Pick<NodeRuntime, 'pow'>;
  history: RoomHistory;
  price: RoomPrice;
  metrics: RoomMetrics;
}

/** One paid post, whichever way it came (HTTP POST or a post channel frame). */
export interface PostRequest {
  /** Validated room hash. */
  hash: string;
  /** The body bytes, already bounded by the transport to room.maxBodyBytes. */
  body: Uint8Array;
  /** The X-PoW proof, bound to `POST /room/<hash>` and these bytes. */
  proof: string | undefined;
  /** The poster's validated peer id: its own streams skip the message. */
  peer: string | undefined;
}

export type AcceptPost = (p: PostRequest) => Promise<{ id: string }>;

/**
 * A post's rules (PROTOCOL.md `POST /room/<hash>`), whatever carried it:
 * strict UTF-8 (415), not empty (400), framed size within the limit (413),
 * refused before it pays while the bus is down (503), PoW at the room's price,
 * then in one store step the proof's replay claim, the room's count and the
 * history append (the store hands out the id), and one publish on
 * `rooms.<hash>`: every worker with subscribers of the room writes it to them.
 */
export function createPostAcceptor(d: PostDeps): AcceptPost {
  return async ({ hash, body, proof, peer }) => {
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
    const ticket: PowTicket = d.runtime.pow.check({ header: proof, method: 'POST', path: `/room/${hash}`, body, price: work, endpoint: 'room' });

    const at = Date.now();
    let r: AppendOnceResult;
    try {
      // One round trip on Redis: a replayed proof writes nothing, an accepted one is counted and kept.
      r = await d.store.appendOnce({ claim: ticket.claim, counter: d.price.counter(hash), log: d.history.log(hash), data: text });
    } catch (err) {
      if (err instanceof StoreError) ticket.fail(err);
      throw err;
    }
    if (!r.first) ticket.replayed();
    ticket.accepted();
    const { count: m, id, prev } = r;
    d.price.noteCount(hash, m);
    d.bus.publish(roomSubject(hash), encodeWireMessage({ id, prev, data: text, at, m, ...(peer !== undefined ? { p: peer } : {}) }));
    d.metrics.accepted.inc();
    return { id };
  };
}
