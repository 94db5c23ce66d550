import { describe, expect, test } from '@jest/globals';
import { createLogger, createMemoryStore, type Quote, type Store } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { roomCounterKey } from '../src/room-hash.js';
import { createPriceWatch } from '../src/price/price-watch.js';
import { createRoomPrice } from '../src/price/room-price.js';

const HASH = 'c'.repeat(40);
const log = createLogger({ level: 'silent', service: 'rooms-test' });

/** A memory store that counts its `count` reads. */
function countingStore(): { store: Store; reads: () => number } {
  const inner = createMemoryStore();
  let reads = 0;
  const store: Store = Object.create(inner) as Store;
  store.count = (key, opts) => {
    reads++;
    return inner.count(key, opts);
  };
  return { store, reads: () => reads };
}

function setup() {
  const { store, reads } = countingStore();
  const frames: number[] = [];
  const price = createRoomPrice({
    store, windowMs: 60_000,
    runtime: {
      roomPrice: (m) => 100 * (1 + m),
      quoteWork: (work): Quote => ({ token: 't', work, difficulty: Math.log2(work), expires: 0 }),
    },
  });
  const watch = createPriceWatch({
    price, log, intervalMs: 60_000, settleMs: 10,
    activeRooms: () => [HASH],
    announce: (_hash, quote) => frames.push(quote.work),
  });
  /** A bus message of HASH reaching the watch, with the poster's count when given. */
  const message = (m?: number): void => watch.onMessage(HASH, { id: '1-0', data: 'x', at: 0, ...(m !== undefined ? { m } : {}) });
  return { price, watch, message, frames, reads, store };
}

describe('room price', () => {
  test('a count carried by a bus message reprices the room at once, without a store read', async () => {
    const { price, watch, message, frames, reads } = setup();
    expect(await price.work(HASH)).toBe(100);
    watch.told(HASH, await price.quote(HASH)); // the streams were told 100
    const before = reads();
    message(5);
    expect(frames).toEqual([600]);
    expect(reads()).toBe(before);
    // Posting right after uses the known count too.
    expect(await price.work(HASH)).toBe(600);
    expect(reads()).toBe(before);
    // A smaller count arriving late (posts crossed on the bus) does not lower it.
    message(3);
    expect(await price.work(HASH)).toBe(600);
  });

  test('quotes hold no memory: only rooms whose streams were told are remembered, until forgotten', async () => {
    const { price, watch } = setup();
    for (let i = 0; i < 500; i++) await price.quote(i.toString(16).padStart(40, '0'));
    expect(watch.roomsTold).toBe(0);
    watch.told(HASH, await price.quote(HASH));
    expect(watch.roomsTold).toBe(1);
    watch.forget(HASH);
    expect(watch.roomsTold).toBe(0);
  });

  test("a post's own count prices the room on this worker; without one the store is read", async () => {
    const { price, reads } = setup();
    const other = 'd'.repeat(40);
    price.noteCount(HASH, 1); // what a post learns from its own store step
    const before = reads();
    expect(await price.work(HASH)).toBe(200);
    expect(reads()).toBe(before);
    expect(await price.work(other)).toBe(100);
    expect(reads()).toBe(before + 1);
  });

  test('a message without a count reprices the room from the store, and its streams are told', async () => {
    const { price, watch, message, frames, reads, store } = setup();
    watch.start();
    try {
      watch.told(HASH, await price.quote(HASH)); // told 100 (no messages yet)
      // Three posts counted by other workers: this one has no fresh count of its own.
      for (let i = 0; i < 3; i++) await store.hit(roomCounterKey(HASH), { windowMs: 60_000 });
      const before = reads();
      message();
      await waitFor(() => frames.length > 0, { timeoutMs: 2000, message: 'a price event' });
      expect(reads()).toBeGreaterThan(before);
      expect(frames).toEqual([400]);
    } finally {
      watch.stop();
    }
  });
});
