import { describe, expect, test } from '@jest/globals';
import { busContract } from './bus.contract.js';
import { createLocalBroker, createLocalBus } from '../src/bus/index.js';

const broker = createLocalBroker();
busContract('local', (prefix) => createLocalBus({ prefix, broker }));

describe('local bus: no leaks', () => {
  test('close and unsubscribe remove every subscription from the broker', async () => {
    const own = createLocalBroker();
    const a = createLocalBus({ prefix: 'p', broker: own });
    const sub = a.subscribe('x', () => {});
    a.respond('y', () => new Uint8Array(0));
    a.subscribe('z', () => {}, { queue: 'q' });
    expect(own.subscriptionCount).toBe(3);
    sub.unsubscribe();
    expect(own.subscriptionCount).toBe(2);
    await a.close();
    expect(own.subscriptionCount).toBe(0);
  });
});
