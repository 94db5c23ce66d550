import { afterAll, describe, expect, test } from '@jest/globals';
import { storeContract } from './store.contract.js';
import { createMemoryBackend, createMemoryStore } from '../src/store/index.js';
import { waitFor } from '../src/testing/index.js';

const backend = createMemoryBackend({ sweepMs: 100 });
afterAll(() => backend.close());
storeContract('memory', (prefix) => createMemoryStore({ prefix, backend }));

describe('memory store: clock and bounds (injected clock)', () => {
  test('ids strictly increase when the clock stands still or goes back', async () => {
    let t = 1000;
    const s = createMemoryStore({ now: () => t });
    const opt = { maxLen: 100, maxAgeMs: 60_000 };
    const ids = [(await s.append('l', 'a', opt)).id, (await s.append('l', 'b', opt)).id];
    t = 900;
    ids.push((await s.append('l', 'c', opt)).id);
    t = 1001;
    ids.push((await s.append('l', 'd', opt)).id);
    expect(ids).toEqual(['1000-0', '1000-1', '1000-2', '1001-0']);
    await s.close();
  });

  test('the sweep drops expired keys, logs and counters without any read', async () => {
    let t = 0;
    const backend = createMemoryBackend({ now: () => t, sweepMs: 10 });
    const s = createMemoryStore({ backend });
    await s.set('v', 'x', { ttlSeconds: 1 });
    await s.set('forever', 'x');
    await s.hit('h', { windowMs: 500 });
    await s.append('l', 'x', { maxLen: 10, maxAgeMs: 500 });
    expect(backend.keyCount).toBe(4);
    t = 1000;
    await waitFor(() => backend.keyCount === 1, { message: 'sweep ran' });
    await s.close();
    backend.close();
  });

  test('a counter keeps only its window', async () => {
    let t = 0;
    const s = createMemoryStore({ now: () => t });
    for (let i = 0; i < 5; i++) {
      t = i * 100;
      await s.hit('h', { windowMs: 250 });
    }
    // Events at 200, 300, 400 are within (150, 400].
    expect(await s.count('h', { windowMs: 250 })).toBe(3);
    t = 10_000;
    expect(await s.count('h', { windowMs: 250 })).toBe(0);
    await s.close();
  });
});
