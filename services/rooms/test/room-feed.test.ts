import { describe, expect, test } from '@jest/globals';
import { createLocalBroker, createLocalBus, createLogger, createMemoryStore, type Bus } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createRoomFeed } from '../src/feed/room-feed.js';
import { decodeWireMessage, encodeWireMessage, type WireMessage } from '../src/wire.js';
import { createRoomHistory } from '../src/history.js';

/** A room history on its own memory store, which `append` writes as post/accept's store step does. */
function history(historyMax = 100) {
  const store = createMemoryStore();
  const h = createRoomHistory(store, { historyMax, historySeconds: 120 });
  return { ...h, append: (hash: string, data: string) => { const log = h.log(hash); return store.append(log.key, data, log); } };
}

const log = createLogger({ level: 'silent', service: 'test' });
const HASH = 'b'.repeat(40);

type History = ReturnType<typeof history>;

/**
 * A fan-out on one in-process broker, subscribed to HASH, recording the data
 * it delivers; `publish` plays the other workers; `close` ends it all.
 */
async function sequenced(h: History, wrap: (bus: Bus) => Bus = (b) => b): Promise<{
  got: string[]; broker: ReturnType<typeof createLocalBroker>; publish(msg: Uint8Array): void; close(): Promise<void>;
}> {
  const broker = createLocalBroker();
  const bus = createLocalBus({ broker });
  const publisher = createLocalBus({ broker });
  const got: string[] = [];
  const f = createRoomFeed({ bus: wrap(bus), log, history: h, maxDataLength: 1024, sinks: [{ onMessage: (_h, m) => got.push(m.data) }] });
  await f.retain(HASH);
  return {
    got, broker,
    publish: (msg) => publisher.publish(`rooms.${HASH}`, msg),
    async close() {
      f.clear();
      await bus.close();
      await publisher.close();
    },
  };
}

/** A wire message for an entry just appended to `h`. */
async function appended(h: History, data: string): Promise<Uint8Array> {
  return encodeWireMessage({ ...(await h.append(HASH, data)), data, at: Date.now() });
}

// The sequencing rules themselves (empty room, failed gap fill, ...) are sequencer.test.ts; here, through a real bus.
describe('room feed (bus, refcount, sequencing through the bus)', () => {
  test('subscribes with the first local subscriber, unsubscribes with the last', async () => {
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const got: WireMessage[] = [];
    const f = createRoomFeed({ bus, log, history: history(), maxDataLength: 1024, sinks: [{ onMessage: (_h, m) => got.push(m) }] });
    await f.retain(HASH);
    await f.retain(HASH);
    expect(broker.subscriptionCount).toBe(1);
    const publisher = createLocalBus({ broker });
    publisher.publish(`rooms.${HASH}`, encodeWireMessage({ id: '1-0', data: 'hi', at: 1 }));
    await waitFor(() => got.length === 1);
    f.release(HASH);
    expect(broker.subscriptionCount).toBe(1);
    f.release(HASH);
    expect(broker.subscriptionCount).toBe(0);
    expect(f.subscriptions).toBe(0);
    await bus.close();
    await publisher.close();
  });

  test('a message overtaken on the bus is delivered first, from history; its late copy is dropped', async () => {
    const h = history();
    await h.append(HASH, 'before the subscription');
    const { got, publish, close } = await sequenced(h);
    const [w, x, y] = [await appended(h, 'W'), await appended(h, 'X'), await appended(h, 'Y')];
    // X (accepted on another worker) arrives before W: W is read from history first.
    publish(x);
    publish(w);
    publish(y);
    await waitFor(() => got.length >= 3, { message: 'three messages' });
    // Then the late copy of W comes again: nothing more is delivered.
    publish(w);
    publish(await appended(h, 'Z'));
    await waitFor(() => got.includes('Z'), { message: 'Z' });
    expect(got).toEqual(['W', 'X', 'Y', 'Z']);
    await close();
  });

  test('arrivals beyond the sequencing queue while history is slow are read back from history, none lost or repeated', async () => {
    // History longer than the queue, so the overflow is still there to read back.
    const h = history(2000);
    let stall: Promise<void> | undefined;
    let release = (): void => {};
    const slow = { ...h, after: async (hash: string, id: string | null) => { await stall; return h.after(hash, id); } };
    const { got, broker, publish, close } = await sequenced(slow);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 1100; i++) sent.push(await appended(h, `m${i}`));
    stall = new Promise((r) => { release = r; });
    // m1 overtakes m0: its gap fill stalls while 1099 more arrive (over the queue's 1000).
    let seen = 0;
    const watcher = createLocalBus({ broker });
    watcher.subscribe(`rooms.${HASH}`, () => { seen++; });
    for (const m of [sent[1], sent[0], ...sent.slice(2)]) publish(m as Uint8Array);
    await waitFor(() => seen === 1100, { message: 'every copy on the bus' });
    expect(got).toEqual([]);
    release();
    await waitFor(() => got.length >= 1100, { message: 'all 1100 messages' });
    expect(got).toEqual(sent.map((_m, i) => `m${i}`));
    await close();
    await watcher.close();
  });

  test('after a bus outage, a quiet room is sent what history holds past its last delivered message', async () => {
    const h = history();
    let reconnected = (): void => {};
    const { got, publish, close } = await sequenced(h, (bus) => ({
      ...bus, onReconnect: (fn: () => void) => { reconnected = fn; return () => {}; },
    }));
    publish(await appended(h, 'live'));
    await waitFor(() => got.length === 1, { message: 'live' });
    // Accepted by another worker while this one was cut off from the bus: its copy never comes.
    await appended(h, 'missed');
    reconnected();
    await waitFor(() => got.includes('missed'), { message: 'missed, read from history' });
    expect(got).toEqual(['live', 'missed']);
    await close();
  });

  test('bus payloads are checked before use', () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v));
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5 }), 10)).toEqual({ id: '12-3', data: 'x', at: 5 });
    expect(decodeWireMessage(enc({ id: '12-3\nid: 1', data: 'x', at: 5 }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x'.repeat(11), at: 5 }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 1, at: 5 }), 10)).toBeUndefined();
    expect(decodeWireMessage(Buffer.from('not json'), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, m: 7 }), 10)).toEqual({ id: '12-3', data: 'x', at: 5, m: 7 });
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, m: -1 }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, m: 1.5 }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, m: '7' }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', prev: '12-2', data: 'x', at: 5 }), 10)).toEqual({ id: '12-3', prev: '12-2', data: 'x', at: 5 });
    expect(decodeWireMessage(enc({ id: '12-3', prev: null, data: 'x', at: 5 }), 10)).toEqual({ id: '12-3', prev: null, data: 'x', at: 5 });
    expect(decodeWireMessage(enc({ id: '12-3', prev: 'x\nid: 9', data: 'x', at: 5 }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, p: 'ab'.repeat(8) }), 10)).toEqual({ id: '12-3', data: 'x', at: 5, p: 'ab'.repeat(8) });
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, p: 'AB'.repeat(8) }), 10)).toBeUndefined();
    expect(decodeWireMessage(enc({ id: '12-3', data: 'x', at: 5, p: 7 }), 10)).toBeUndefined();
  });
});
