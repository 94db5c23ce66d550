import type { Quote } from '@mesh/shared';
import type { FeedSink } from '../feed/room-feed.js';
import type { StreamRegistry } from './registry.js';
import { KEEP_ALIVE_FRAME, frameMessage, framePrice } from './sse.js';

export interface Broadcaster extends FeedSink {
  /** `event: price` to every local stream of `hash`. */
  announce(hash: string, quote: Quote): void;
  /** Starts the keep-alive comments (one timer per worker, not one per stream). */
  start(): void;
  stop(): void;
}

/**
 * From a room to its local streams: a message is framed once per worker and
 * the same string is written to every stream of the room.
 */
export function createBroadcaster(o: { registry: StreamRegistry; keepAliveMs: number }): Broadcaster {
  let keepAlive: NodeJS.Timeout | undefined;
  return {
    onMessage(hash, msg) {
      const streams = o.registry.room(hash);
      if (streams === undefined) return;
      const framed = { id: msg.id, frame: frameMessage(msg.id, msg.data), at: msg.at, late: msg.late, from: msg.p };
      for (const s of streams) s.deliver(framed);
    },

    announce(hash, quote) {
      const streams = o.registry.room(hash);
      if (streams === undefined) return;
      const frame = framePrice(quote);
      for (const s of streams) s.write(frame);
    },

    start() {
      clearInterval(keepAlive);
      keepAlive = setInterval(() => {
        for (const s of o.registry.streams()) s.write(KEEP_ALIVE_FRAME);
      }, o.keepAliveMs);
      keepAlive.unref();
    },

    stop() {
      clearInterval(keepAlive);
      keepAlive = undefined;
    },
  };
}
