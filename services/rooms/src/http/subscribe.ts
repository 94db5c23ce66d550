import type { Context } from 'koa';
import { LOG_ID, ProtocolError, getClientIp, type Logger, type Quote, type RoomConfig } from '@mesh/shared';
import type { RoomFeed } from '../feed/room-feed.js';
import type { RoomHistory } from '../history.js';
import type { PriceWatch } from '../price/price-watch.js';
import type { RoomPrice } from '../price/room-price.js';
import type { RoomMetrics } from '../room-metrics.js';
import type { BufferBudget } from '../streams/budget.js';
import type { StreamRegistry } from '../streams/registry.js';
import { frameMessage, framePrice, frameRetry } from '../streams/sse.js';
import { RoomStream, type DropReason, type FramedMessage } from '../streams/stream.js';
import { parsePeerParam } from '../wire.js';

export interface SubscribeDeps {
  room: RoomConfig;
  registry: StreamRegistry;
  budget: BufferBudget;
  feed: RoomFeed;
  history: RoomHistory;
  price: RoomPrice;
  watch: PriceWatch;
  metrics: RoomMetrics;
  log: Logger;
  /** True once the worker is stopping: no new streams. */
  stopping(): boolean;
}

/** Replayed entries written per event-loop turn: a long replay does not hold up other streams. */
const REPLAY_BATCH = 16;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

/**
 * The resume point: the `Last-Event-ID` header (what EventSource sends on a
 * reconnect, so it wins over a stale URL) or `?lastEventId=`. 400 when it is
 * not an id we could have issued.
 */
export function lastEventId(ctx: Pick<Context, 'get' | 'query'>): string | null {
  const header = ctx.get('Last-Event-ID').trim();
  const q = ctx.query['lastEventId'];
  const raw = header !== '' ? header : typeof q === 'string' ? q.trim() : '';
  if (raw === '') return null;
  if (!LOG_ID.test(raw)) throw new ProtocolError('bad_request', 'Last-Event-ID must be a message id <ms>-<seq>.');
  return raw;
}

/**
 * Opens an SSE stream on `/room/<hash>` (hash already validated). Order
 * matters for "no gap, no duplicate": the stream joins its room (so live
 * messages reach it, held while resuming) and the bus subscription is
 * confirmed BEFORE history is read; replayed entries then raise the floor
 * below which held live messages are skipped.
 */
export function createSubscribeHandler(d: SubscribeDeps): (ctx: Context, hash: string) => Promise<void> {
  const written = (msg: FramedMessage): void => {
    d.metrics.delivered.inc();
    d.metrics.fanoutSeconds.observe(Math.max(0, Date.now() - msg.at) / 1000);
  };

  return async (ctx, hash) => {
    if (d.stopping()) throw new ProtocolError('unavailable', 'This worker is shutting down; reconnect.');
    const resumeAfter = lastEventId(ctx);
    const peer = parsePeerParam(ctx.query['peer']);
    const slot = d.registry.admit(getClientIp(ctx));
    if (slot === undefined) throw new ProtocolError('too_many_requests', 'Too many open streams.');

    let quote: Quote;
    try {
      quote = await d.price.quote(hash);
      if (d.stopping()) throw new ProtocolError('unavailable', 'This worker is shutting down; reconnect.');
    } catch (err) {
      slot.release();
      throw err;
    }

    ctx.status = 200;
    ctx.respond = false;
    const res = ctx.res;
    if (res.destroyed || ctx.req.socket.destroyed) {
      // Gone while we asked the store: its 'close' already fired, nothing to clean up later.
      slot.release();
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    ctx.req.socket.setNoDelay(true);

    const onClose = (s: RoomStream, reason: DropReason | undefined): void => {
      if (d.registry.remove(s)) {
        d.watch.forget(s.hash);
        d.metrics.roomsActive.dec();
      }
      d.feed.release(s.hash);
      slot.release();
      d.metrics.streamsOpen.dec();
      if (reason !== undefined) d.metrics.dropped.inc({ reason });
    };
    const stream = new RoomStream({
      hash, ip: slot.ip, peer, res, maxBufferBytes: d.room.maxBufferBytes, budget: d.budget,
      resuming: resumeAfter !== null, onClose, onWritten: written,
    });
    if (d.registry.add(stream)) d.metrics.roomsActive.inc();
    d.metrics.streamsOpen.inc();
    const subscribed = d.feed.retain(hash);
    stream.write(frameRetry(d.room.retryMs));
    // The price event is the client's sign that it is live: sent only once the
    // broker routes the room here, so a post made right after it is not missed.
    await subscribed;
    if (stream.isClosed) return;
    stream.write(framePrice(quote));
    d.watch.told(hash, quote);
    if (resumeAfter === null) return;

    try {
      const entries = await d.history.after(hash, resumeAfter);
      // With backpressure: a full socket is waited for (the slow-reader sweep
      // judges how long), so a replay larger than the socket buffers arrives whole.
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i];
        if (stream.isClosed || e === undefined) return;
        if (stream.replay({ id: e.id, frame: frameMessage(e.id, e.data), at: 0 })) d.metrics.delivered.inc();
        if (stream.stalledSince !== undefined) await stream.whenDrained();
        else if ((i + 1) % REPLAY_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (stream.isClosed) return;
      stream.goLive(resumeAfter);
    } catch (err) {
      // Without history we cannot promise "no gap": end, the client retries the resume.
      d.log.warn({ err, hash }, 'room history unavailable; closing resuming stream');
      stream.close();
    }
  };
}
