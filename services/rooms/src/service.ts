import type { Middleware } from 'koa';
import type { NodeRuntime, Service, ServiceDeps, UpgradeHandler } from '@mesh/shared';
import { createRoomFeed } from './feed/room-feed.js';
import { createRoomHistory } from './history.js';
import { createDescribeHandler } from './http/describe.js';
import { createPostHandler } from './http/post.js';
import { createPostAcceptor } from './post/accept.js';
import { createPostChannels } from './post/channel.js';
import { createRoomRoutes } from './http/routes.js';
import { createSubscribeHandler } from './http/subscribe.js';
import { createPriceWatch } from './price/price-watch.js';
import { createRoomPrice } from './price/room-price.js';
import { createRoomMetrics } from './room-metrics.js';
import { createBroadcaster } from './streams/broadcaster.js';
import { BufferBudget } from './streams/budget.js';
import { createReaderSweep } from './streams/reader-sweep.js';
import { StreamRegistry } from './streams/registry.js';

/** Knobs that are not settings of the node: tests and benchmarks shorten them. */
export interface RoomsServiceOptions {
  /** Window of the room message counter behind the room price (PROTOCOL.md: 60 000 ms). */
  priceWindowMs?: number;
  /** Full recompute of every active room's price (default 5 000 ms). */
  priceIntervalMs?: number;
  /** Coalescing delay of recomputes after messages (default 200 ms). */
  priceSettleMs?: number;
}

export type RoomsServiceDeps = ServiceDeps & { runtime: NodeRuntime; options?: RoomsServiceOptions };

/** The rooms service plus what tests and the bench look at. */
export interface RoomsService extends Service {
  routes: Middleware;
  /** The post channel (WebSocket on `/room/<hash>`). */
  upgrade: UpgradeHandler;
  /** Open post channels on this worker. */
  readonly channelCount: number;
  /** Open streams on this worker. */
  readonly streamCount: number;
  /** Rooms with local streams (= bus subscriptions held). */
  readonly roomCount: number;
  /** Unwritten bytes of this worker's streams, and the most seen (ROOM_MAX_BUFFERED_TOTAL_BYTES bounds both). */
  readonly bufferedBytes: number;
  readonly peakBufferedBytes: number;
}

/**
 * SSE signaling rooms (PROTOCOL.md `/room/<hash>`). Wiring only; data flows
 * one way: http/post or post/channel -> post/accept -> store + bus; bus -> feed (sequenced per room) ->
 * streams/broadcaster and price/price-watch -> broadcaster -> local streams.
 */
export function createRoomsService(deps: RoomsServiceDeps): RoomsService {
  const { config, bus, store, log, runtime } = deps;
  const room = config.room;
  const opts = deps.options ?? {};
  const metrics = createRoomMetrics(deps.metrics);
  const registry = new StreamRegistry({
    maxPerIp: room.maxPerIp, maxStreams: room.maxStreams, ipv6Prefix: config.clientIpv6Prefix,
  });
  const budget = new BufferBudget(room.maxBufferedTotalBytes);
  const history = createRoomHistory(store, room);
  const price = createRoomPrice({ store, runtime, windowMs: opts.priceWindowMs ?? 60_000 });
  const broadcaster = createBroadcaster({ registry, keepAliveMs: room.keepAliveMs });
  const watch = createPriceWatch({
    price, log,
    intervalMs: opts.priceIntervalMs ?? 5_000,
    settleMs: opts.priceSettleMs ?? 200,
    activeRooms: () => registry.hashes(),
    announce: (hash, quote) => broadcaster.announce(hash, quote),
  });
  const feed = createRoomFeed({ bus, log, history, maxDataLength: room.maxBodyBytes, sinks: [broadcaster, watch] });
  const sweep = createReaderSweep({ registry, budget, slowReaderMs: room.slowReaderMs, log });
  let stopping = false;

  const accept = createPostAcceptor({ room, bus, store, runtime, history, price, metrics });
  const channels = createPostChannels({
    accept, room, metrics, log, trustProxy: config.trustProxy, ipv6Prefix: config.clientIpv6Prefix,
    rateLimit: config.rateLimit, stopping: () => stopping,
  });
  const routes = createRoomRoutes({
    post: createPostHandler({ accept, maxBodyBytes: room.maxBodyBytes }),
    subscribe: createSubscribeHandler({
      room, registry, budget, feed, history, price, watch, metrics, log, stopping: () => stopping,
    }),
    describe: createDescribeHandler(price),
  });

  return {
    routes,
    upgrade: (req, socket, head) => channels.upgrade(req, socket, head),
    async start() {
      stopping = false;
      watch.start();
      broadcaster.start();
      sweep.start();
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      sweep.stop();
      broadcaster.stop();
      watch.stop();
      // Clients reconnect (retry) to another worker and resume by Last-Event-ID.
      const open = [...registry.streams()];
      for (const s of open) s.close('shutdown');
      channels.closeAll();
      feed.clear();
      log.info({ closed: open.length }, 'rooms stopped; streams closed');
    },
    async ready() {
      return !stopping && bus.isReady() && store.isReady();
    },
    get streamCount() {
      return registry.size;
    },
    get channelCount() {
      return channels.open;
    },
    get roomCount() {
      return registry.roomCount;
    },
    get bufferedBytes() {
      return budget.bytes;
    },
    get peakBufferedBytes() {
      return budget.peakBytes;
    },
  };
}
