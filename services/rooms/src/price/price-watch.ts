import type { Logger, Quote } from '@mesh/shared';
import type { FeedSink } from '../feed/room-feed.js';
import type { RoomPrice } from './room-price.js';

/** Relative move of a room's price that is worth telling its streams about. */
export const PRICE_CHANGE_RATIO = 0.1;

export interface PriceWatchOptions {
  price: RoomPrice;
  log: Logger;
  /** Period of the full recompute of every active room (node load moves prices too). */
  intervalMs: number;
  /** Delay that coalesces the recomputes caused by a burst of messages. */
  settleMs: number;
  /** Hashes with local streams now. */
  activeRooms(): Iterable<string>;
  /** Tells every local stream of `hash` its new price. */
  announce(hash: string, quote: Quote): void;
}

export interface PriceWatch extends FeedSink {
  /**
   * A local stream of `hash` was sent `quote`: later moves are measured from
   * it. Only rooms with streams are remembered (until `forget`), so quotes
   * for plain GETs or aborted subscribes hold no memory.
   */
  told(hash: string, quote: Quote): void;
  /** The room lost its last local stream. */
  forget(hash: string): void;
  /** Rooms whose told price is remembered (those with local streams). */
  readonly roomsTold: number;
  start(): void;
  stop(): void;
}

/**
 * Watches the prices of the rooms with local streams and announces a move of
 * more than 10 % since they were last told (PROTOCOL.md `event: price`). A
 * room's message carries its count when the poster knew it: then the room is
 * repriced at once, without the store; otherwise soon, from the store. Node
 * load moves every price, so active rooms are recomputed every interval too.
 */
export function createPriceWatch(o: PriceWatchOptions): PriceWatch {
  const told = new Map<string, number>();
  const dirty = new Set<string>();
  let settleTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  function tell(hash: string, w: number): void {
    const last = told.get(hash);
    if (last === undefined) {
      told.set(hash, w);
      return;
    }
    if (Math.abs(w - last) > last * PRICE_CHANGE_RATIO) {
      told.set(hash, w);
      o.announce(hash, o.price.quoteWork(w));
    }
  }

  async function flush(): Promise<void> {
    const active = new Set(o.activeRooms());
    const batch = [...dirty].filter((h) => active.has(h));
    dirty.clear();
    const results = await Promise.allSettled(batch.map(async (h) => tell(h, await o.price.work(h))));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) o.log.warn({ failed, rooms: batch.length }, 'room price recompute failed (store?)');
  }

  function schedule(delayMs: number): void {
    if (stopped || settleTimer !== undefined) return;
    settleTimer = setTimeout(() => {
      settleTimer = undefined;
      if (running !== undefined) {
        // One recompute at a time; what got dirty meanwhile waits for the next.
        void running.then(() => schedule(0));
        return;
      }
      running = flush().finally(() => {
        running = undefined;
      });
    }, delayMs);
    settleTimer.unref();
  }

  return {
    onMessage(hash, msg) {
      if (msg.m === undefined) {
        dirty.add(hash);
        schedule(o.settleMs);
        return;
      }
      o.price.noteCount(hash, msg.m);
      tell(hash, o.price.workAt(msg.m));
    },

    told(hash, quote) {
      if (!told.has(hash)) told.set(hash, quote.work);
    },

    forget(hash) {
      told.delete(hash);
      dirty.delete(hash);
    },

    get roomsTold() {
      return told.size;
    },

    start() {
      if (!stopped) return;
      stopped = false;
      sweepTimer = setInterval(() => {
        for (const h of o.activeRooms()) dirty.add(h);
        schedule(0);
      }, o.intervalMs);
      sweepTimer.unref();
    },

    stop() {
      stopped = true;
      clearInterval(sweepTimer);
      clearTimeout(settleTimer);
      sweepTimer = undefined;
      settleTimer = undefined;
      dirty.clear();
      told.clear();
    },
  };
}
