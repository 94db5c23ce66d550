import type { Logger, NodeRuntime, Quote, Store } from '@mesh/shared';
import { roomCounterKey } from './hash.js';
import { frameEvent } from './sse.js';

/** Relative move of a room's price that is worth telling its streams about. */
export const PRICE_CHANGE_RATIO = 0.1;

export interface RoomPriceOptions {
  store: Store;
  runtime: Pick<NodeRuntime, 'roomPrice' | 'quoteWork'>;
  log: Logger;
  /** Window of the room message counter (PROTOCOL.md: 60 s). */
  windowMs: number;
  /** Period of the full recompute of every active room (node load moves prices too). */
  intervalMs: number;
  /** Delay that coalesces the recomputes caused by a burst of messages. */
  settleMs: number;
  /** Hashes with local streams now. */
  activeRooms(): Iterable<string>;
  /** Writes a frame to every local stream of `hash`. */
  broadcast(hash: string, frame: string): void;
}

export interface RoomPrice {
  /** The room's posting quote now. Rejects (StoreError) when the store is down. */
  quote(hash: string): Promise<Quote>;
  /**
   * A local stream of `hash` was sent `quote`: later moves are measured from
   * it. Only rooms with streams are remembered (until `forget`), so quotes
   * for plain GETs or aborted subscribes hold no memory.
   */
  told(hash: string, quote: Quote): void;
  /** The room's posting price (work) now. Rejects (StoreError) when the store is down. */
  work(hash: string): Promise<number>;
  /**
   * Records one accepted message of `hash` (node-wide counter); resolves to
   * the new count, which also prices this room here for the next second.
   */
  count(hash: string): Promise<number>;
  /**
   * A message of `hash` reached this worker, with the room's count when the
   * poster knew it (then the price is updated at once, without the store);
   * otherwise it is recomputed from the store soon.
   */
  noteMessage(hash: string, count?: number): void;
  /** The room lost its last local stream. */
  forget(hash: string): void;
  /** Rooms whose told price is remembered (those with local streams). */
  readonly roomsTold: number;
  start(): void;
  stop(): void;
}

/** `event: price` frame of PROTOCOL.md: `{"token", "work", "difficulty"}`. */
export function framePrice(q: Quote): string {
  return frameEvent('price', JSON.stringify({ token: q.token, work: q.work, difficulty: q.difficulty }));
}

/**
 * Room prices (work_room from the room's messages in the window) and the
 * watcher that sends `event: price` to a room's streams when its price moved
 * by more than 10 % since they were last told.
 */
/** How long a count learnt from a post or a bus message prices its room without a store read. */
export const KNOWN_COUNT_MS = 1000;
/** Bound of the known counts (rooms posted to within KNOWN_COUNT_MS, each post paid with PoW). */
const MAX_KNOWN = 50_000;

export function createRoomPrice(o: RoomPriceOptions): RoomPrice {
  const told = new Map<string, number>();
  /** Fresh node-wide counts: a busy room is priced from these, not from a store read per post. */
  const known = new Map<string, { count: number; atMs: number }>();
  const dirty = new Set<string>();
  let settleTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;
  const counterOpts = { windowMs: o.windowMs };

  function remember(hash: string, count: number): void {
    if (known.size >= MAX_KNOWN && !known.has(hash)) known.clear();
    const prev = known.get(hash);
    // Counts can arrive out of order (two workers' posts cross); keep the larger.
    if (prev === undefined || Date.now() - prev.atMs > KNOWN_COUNT_MS || count >= prev.count) {
      known.set(hash, { count, atMs: Date.now() });
    }
  }

  async function work(hash: string): Promise<number> {
    const k = known.get(hash);
    if (k !== undefined && Date.now() - k.atMs <= KNOWN_COUNT_MS) return o.runtime.roomPrice(k.count);
    return o.runtime.roomPrice(await o.store.count(roomCounterKey(hash), counterOpts));
  }

  function tell(hash: string, w: number): void {
    const last = told.get(hash);
    if (last === undefined) {
      told.set(hash, w);
      return;
    }
    if (Math.abs(w - last) > last * PRICE_CHANGE_RATIO) {
      told.set(hash, w);
      o.broadcast(hash, framePrice(o.runtime.quoteWork(w)));
    }
  }

  async function recompute(hash: string): Promise<void> {
    tell(hash, await work(hash));
  }

  async function flush(): Promise<void> {
    const active = new Set(o.activeRooms());
    const batch = [...dirty].filter((h) => active.has(h));
    dirty.clear();
    const results = await Promise.allSettled(batch.map((h) => recompute(h)));
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
    async quote(hash) {
      return o.runtime.quoteWork(await work(hash));
    },

    told(hash, quote) {
      if (!told.has(hash)) told.set(hash, quote.work);
    },

    work,

    async count(hash) {
      const n = await o.store.hit(roomCounterKey(hash), counterOpts);
      remember(hash, n);
      return n;
    },

    noteMessage(hash, count) {
      if (count === undefined) {
        dirty.add(hash);
        schedule(o.settleMs);
        return;
      }
      remember(hash, count);
      tell(hash, o.runtime.roomPrice(count));
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
        const now = Date.now();
        for (const [h, k] of known) if (now - k.atMs > KNOWN_COUNT_MS) known.delete(h);
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
      known.clear();
    },
  };
}
