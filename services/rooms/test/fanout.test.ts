import { describe, expect, test } from '@jest/globals';
import { createLocalBroker, createLocalBus, createLogger, createMemoryStore } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createFanout, decodeWireMessage, encodeWireMessage, type WireMessage } from '../src/fanout.js';
import { createRoomHistory } from '../src/history.js';

const history = () => createRoomHistory(createMemoryStore(), { historyMax: 100, historySeconds: 120 });

const log = createLogger({ level: 'silent', service: 'test' });
const HASH = 'b'.repeat(40);

describe('fan-out', () => {
  test('subscribes with the first local subscriber, unsubscribes with the last', async () => {
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const got: WireMessage[] = [];
    const f = createFanout({ bus, log, history: history(), maxDataLength: 1024, onMessage: (_h, m) => got.push(m) });
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
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const publisher = createLocalBus({ broker });
    const h = history();
    const got: string[] = [];
    const f = createFanout({ bus, log, history: h, maxDataLength: 1024, onMessage: (_h, m) => got.push(m.data) });
    await h.append(HASH, 'before the subscription');
    await f.retain(HASH);
    const wire = async (data: string) => {
      const { id, prev } = await h.append(HASH, data);
      return encodeWireMessage({ id, prev, data, at: Date.now() });
    };
    const [w, x, y] = [await wire('W'), await wire('X'), await wire('Y')];
    // X (accepted on another worker) arrives before W: W is read from history first.
    publisher.publish(`rooms.${HASH}`, x);
    publisher.publish(`rooms.${HASH}`, w);
    publisher.publish(`rooms.${HASH}`, y);
    await waitFor(() => got.length >= 3, { message: 'three messages' });
    // Then the late copy of W comes again: nothing more is delivered.
    publisher.publish(`rooms.${HASH}`, w);
    const after = await wire('Z');
    publisher.publish(`rooms.${HASH}`, after);
    await waitFor(() => got.includes('Z'), { message: 'Z' });
    expect(got).toEqual(['W', 'X', 'Y', 'Z']);
    f.clear();
    await bus.close();
    await publisher.close();
  });

  test('in a room with no history yet, a second post overtaking the first on the bus loses neither', async () => {
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const publisher = createLocalBus({ broker });
    const h = history();
    const got: string[] = [];
    const f = createFanout({ bus, log, history: h, maxDataLength: 1024, onMessage: (_h, m) => got.push(m.data) });
    await f.retain(HASH);
    const first = await h.append(HASH, 'first');
    const second = await h.append(HASH, 'second');
    expect(first.prev).toBeNull();
    // Two workers accepted one post each; the second one's copy arrives first.
    publisher.publish(`rooms.${HASH}`, encodeWireMessage({ ...second, data: 'second', at: Date.now() }));
    publisher.publish(`rooms.${HASH}`, encodeWireMessage({ ...first, data: 'first', at: Date.now() }));
    const third = await h.append(HASH, 'third');
    publisher.publish(`rooms.${HASH}`, encodeWireMessage({ ...third, data: 'third', at: Date.now() }));
    await waitFor(() => got.includes('third'), { message: 'third' });
    expect(got).toEqual(['first', 'second', 'third']);
    f.clear();
    await bus.close();
    await publisher.close();
  });

  test('arrivals beyond the sequencing queue while history is slow are read back from history, none lost or repeated', async () => {
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const publisher = createLocalBus({ broker });
    // History longer than the queue, so the overflow is still there to read back.
    const h = createRoomHistory(createMemoryStore(), { historyMax: 2000, historySeconds: 120 });
    let stall: Promise<void> | undefined;
    let release = (): void => {};
    const slow = { ...h, after: async (hash: string, id: string | null) => { await stall; return h.after(hash, id); } };
    const got: string[] = [];
    const f = createFanout({ bus, log, history: slow, maxDataLength: 1024, onMessage: (_h, m) => got.push(m.data) });
    await f.retain(HASH);
    const sent = [];
    for (let i = 0; i < 1100; i++) sent.push({ ...(await h.append(HASH, `m${i}`)), data: `m${i}`, at: 1 });
    stall = new Promise((r) => { release = r; });
    // m1 overtakes m0: its gap fill stalls while 1099 more arrive (over the queue's 1000).
    let seen = 0;
    const watcher = createLocalBus({ broker });
    watcher.subscribe(`rooms.${HASH}`, () => { seen++; });
    for (const m of [sent[1], sent[0], ...sent.slice(2)]) publisher.publish(`rooms.${HASH}`, encodeWireMessage(m as WireMessage));
    await waitFor(() => seen === 1100, { message: 'every copy on the bus' });
    expect(got).toEqual([]);
    release();
    await waitFor(() => got.length >= 1100, { message: 'all 1100 messages' });
    expect(got).toEqual(sent.map((m) => m.data));
    f.clear();
    await bus.close();
    await publisher.close();
    await watcher.close();
  });

  test('when history fails during a gap fill, the overtaken message is still delivered when it comes', async () => {
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const publisher = createLocalBus({ broker });
    const h = history();
    let failing = false;
    const flaky = { ...h, after: async (hash: string, id: string | null) => {
      if (failing) throw new Error('store down');
      return h.after(hash, id);
    } };
    const got: string[] = [];
    const f = createFanout({ bus, log, history: flaky, maxDataLength: 1024, onMessage: (_h, m) => got.push(m.data) });
    await f.retain(HASH);
    const wire = async (data: string) => encodeWireMessage({ ...(await h.append(HASH, data)), data, at: Date.now() });
    const [w, x] = [await wire('W'), await wire('X')];
    failing = true;
    publisher.publish(`rooms.${HASH}`, x);
    await waitFor(() => got.includes('X'), { message: 'X' });
    failing = false;
    publisher.publish(`rooms.${HASH}`, w);
    publisher.publish(`rooms.${HASH}`, await wire('Y'));
    await waitFor(() => got.includes('Y'), { message: 'Y' });
    expect(got).toEqual(['X', 'W', 'Y']);
    f.clear();
    await bus.close();
    await publisher.close();
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
  });
});
