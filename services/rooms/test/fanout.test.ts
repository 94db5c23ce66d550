import { describe, expect, test } from '@jest/globals';
import { createLocalBroker, createLocalBus, createLogger } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createFanout, decodeWireMessage, encodeWireMessage, type WireMessage } from '../src/fanout.js';

const log = createLogger({ level: 'silent', service: 'test' });
const HASH = 'b'.repeat(40);

describe('fan-out', () => {
  test('subscribes with the first local subscriber, unsubscribes with the last', async () => {
    const broker = createLocalBroker();
    const bus = createLocalBus({ broker });
    const got: WireMessage[] = [];
    const f = createFanout({ bus, log, maxDataLength: 1024, onMessage: (_h, m) => got.push(m) });
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
  });
});
