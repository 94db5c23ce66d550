import type { NodeRuntime, Quote, Store } from '@mesh/shared';
import { roomCounterKey } from '../room-hash.js';

export interface RoomPriceOptions {
  store: Store;
  runtime: Pick<NodeRuntime, 'roomPrice' | 'quoteWork'>;
  /** Window of the room message counter (PROTOCOL.md: 60 s). */
  windowMs: number;
}

/**
 * A room's posting price: work_room from the room's messages in the window
 * (PROTOCOL.md). Reads reject with StoreError when the store is down.
 */
export interface RoomPrice {
  /** The room's posting quote now. */
  quote(hash: string): Promise<Quote>;
  /** The room's posting price (work) now. */
  work(hash: string): Promise<number>;
  /** The price (work) at a room count, without the store. */
  workAt(count: number): number;
  /** The quote of a price (token of now). */
  quoteWork(work: number): Quote;
  /** A node-wide count of `hash` (from the bus, or a post's own): prices the room here for the next second. */
  noteCount(hash: string, count: number): void;
  /** The room's message counter as the store names it, with its window (for Store.appendOnce). */
  counter(hash: string): { key: string; windowMs: number };
}

/** How long a count learnt from a post or a bus message prices its room without a store read. */
export const KNOWN_COUNT_MS = 1000;
/** Bound of the known counts (rooms posted to within KNOWN_COUNT_MS, each post paid with PoW). */
const MAX_KNOWN = 50_000;

export function createRoomPrice(o: RoomPriceOptions): RoomPrice {
  /** Fresh node-wide counts: a busy room is priced from these, not from a store read per post. */
  const known = new Map<string, { count: number; atMs: number }>();
  const counterOpts = { windowMs: o.windowMs };

  function remember(hash: string, count: number): void {
    const now = Date.now();
    if (known.size >= MAX_KNOWN && !known.has(hash)) {
      for (const [h, k] of known) if (now - k.atMs > KNOWN_COUNT_MS) known.delete(h);
      if (known.size >= MAX_KNOWN) known.clear();
    }
    const prev = known.get(hash);
    // Counts can arrive out of order (two workers' posts cross); keep the larger.
    if (prev === undefined || now - prev.atMs > KNOWN_COUNT_MS || count >= prev.count) {
      known.set(hash, { count, atMs: now });
    }
  }

  async function work(hash: string): Promise<number> {
    const k = known.get(hash);
    if (k !== undefined && Date.now() - k.atMs <= KNOWN_COUNT_MS) return o.runtime.roomPrice(k.count);
    return o.runtime.roomPrice(await o.store.count(roomCounterKey(hash), counterOpts));
  }

  return {
    async quote(hash) {
      return o.runtime.quoteWork(await work(hash));
    },
    work,
    workAt: (count) => o.runtime.roomPrice(count),
    quoteWork: (w) => o.runtime.quoteWork(w),
    noteCount: remember,
    counter: (hash) => ({ key: roomCounterKey(hash), windowMs: o.windowMs }),
  };
}
