import type { Context, Middleware } from 'koa';
import {
  renderPage, setRouteLabel, wantsEventStream, wantsJson,
  type NodeRuntime, type Service, type ServiceDeps,
} from '@mesh/shared';
import { BufferBudget } from './budget.js';
import { createFanout } from './fanout.js';
import { parseRoomHash } from './hash.js';
import { createRoomHistory } from './history.js';
import { createPostHandler } from './post.js';
import { StreamRegistry } from './registry.js';
import { createRoomMetrics } from './room-metrics.js';
import { createRoomPrice } from './room-price.js';
import { readSendQueues } from './send-queue.js';
import { KEEP_ALIVE_FRAME, frameMessage } from './sse.js';
import { orUnavailable } from './store-errors.js';
import { createSubscribeHandler } from './subscribe.js';

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
  /** Open streams on this worker. */
  readonly streamCount: number;
  /** Rooms with local streams (= bus subscriptions held). */
  readonly roomCount: number;
  /** Unwritten bytes of this worker's streams, and the most seen (ROOM_MAX_BUFFERED_TOTAL_BYTES bounds both). */
  readonly bufferedBytes: number;
  readonly peakBufferedBytes: number;
}

const ROOM_PATH = /^\/room\/([^/]*)$/;
const ROUTE_LABEL = '/room/:hash';

/**
 * SSE signaling rooms (PROTOCOL.md `/room/<hash>`): PoW-paid posts fanned out
 * over the bus to every worker's local streams, resumable from the store's
 * short history. `routes` is a plain koa middleware so the embedded node can
 * mount it next to the API on one app.
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
  let stopping = false;
  let keepAlive: NodeJS.Timeout | undefined;
  let sweep: NodeJS.Timeout | undefined;

  const price = createRoomPrice({
    store, runtime, log,
    windowMs: opts.priceWindowMs ?? 60_000,
    intervalMs: opts.priceIntervalMs ?? 5_000,
    settleMs: opts.priceSettleMs ?? 200,
    activeRooms: () => registry.hashes(),
    broadcast(hash, frame) {
      for (const s of registry.room(hash) ?? []) s.write(frame);
    },
  });

  const fanout = createFanout({
    bus, log, history,
    maxDataLength: room.maxBodyBytes,
    onMessage(hash, msg) {
      const streams = registry.room(hash);
      if (streams === undefined) return;
      // Serialised once, written to every local stream of the room.
      const framed = { id: msg.id, frame: frameMessage(msg.id, msg.data), at: msg.at };
      for (const s of streams) s.deliver(framed);
      price.noteMessage(hash, msg.m);
    },
  });

  const subscribe = createSubscribeHandler({
    room, registry, budget, fanout, history, price, metrics, log, stopping: () => stopping,
  });
  const post = createPostHandler({ room, bus, runtime, history, price, metrics });

  async function describe(ctx: Context, hash: string): Promise<void> {
    const q = await orUnavailable(price.quote(hash));
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
  }

  let sweeping = false;
  /**
   * Partial drains emit no event and the kernel's send queues are seen only
   * here: the budget is re-counted, then a reader whose bytes stayed
   * undrained for slowReaderMs is dropped, then the budget is enforced.
   */
  async function sweepStreams(): Promise<void> {
    if (sweeping) return;
    sweeping = true;
    try {
      const streams = [...registry.streams()];
      const ports = new Set<number>();
      for (const s of streams) {
        s.resample();
        const p = s.peer;
        if (p !== undefined) ports.add(p.localPort);
      }
      for (const port of ports) {
        const queues = await readSendQueues(port);
        if (queues === undefined) break;
        const now = Date.now();
        for (const s of streams) {
          const p = s.peer;
          if (p !== undefined && p.localPort === port) s.noteKernelQueue(queues.get(p.key) ?? 0, now);
        }
      }
      budget.dropStalledSince(Date.now() - room.slowReaderMs);
      budget.enforce();
    } catch (err) {
      log.warn({ err }, 'room stream sweep failed');
    } finally {
      sweeping = false;
    }
  }

  const routes: Middleware = async (ctx, next) => {
    const m = ROOM_PATH.exec(ctx.path);
    if (m === null) return next();
    setRouteLabel(ctx, ROUTE_LABEL);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && ctx.method !== 'POST') {
      ctx.throw(405, 'Method not allowed.', { headers: { Allow: 'GET, POST, OPTIONS' } });
    }
    const hash = parseRoomHash(m[1] ?? '');
    if (ctx.method === 'POST') return post(ctx, hash);
    if (ctx.method === 'GET' && wantsEventStream(ctx)) return subscribe(ctx, hash);
    return describe(ctx, hash);
  };

  return {
    routes,
    async start() {
      stopping = false;
      price.start();
      // One timer per worker, not one per stream.
      keepAlive = setInterval(() => {
        for (const s of registry.streams()) s.write(KEEP_ALIVE_FRAME);
      }, room.keepAliveMs);
      keepAlive.unref();
      sweep = setInterval(() => void sweepStreams(), Math.min(1000, Math.max(50, Math.floor(room.slowReaderMs / 10))));
      sweep.unref();
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(keepAlive);
      clearInterval(sweep);
      keepAlive = undefined;
      sweep = undefined;
      price.stop();
      // Clients reconnect (retry) to another worker and resume by Last-Event-ID.
      const open = [...registry.streams()];
      for (const s of open) s.close('shutdown');
      fanout.clear();
      log.info({ closed: open.length }, 'rooms stopped; streams closed');
    },
    async ready() {
      return !stopping && bus.isReady() && store.isReady();
    },
    get streamCount() {
      return registry.size;
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
