import { describe, expect, test } from '@jest/globals';
import { parseCount } from '../src/nodes.js';
import { createTtlCache } from '../src/ttl-cache.js';

describe('ttl cache', () => {
  test('entries expire after ttl', () => {
    let now = 1000;
    const c = createTtlCache<number>({ maxEntries: 10, ttlMs: 60_000, now: () => now });
    c.set('a', 1);
    now += 59_999;
    expect(c.get('a')).toBe(1);
    now += 1;
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  test('bounded: the oldest entry goes first; a set refreshes', () => {
    const c = createTtlCache<number>({ maxEntries: 3, ttlMs: 60_000 });
    for (const k of ['a', 'b', 'c']) c.set(k, 1);
    c.set('a', 2);
    c.set('d', 3);
    expect(c.size).toBe(3);
    expect(c.get('b')).toBeUndefined();
    expect([c.get('a'), c.get('c'), c.get('d')]).toEqual([2, 1, 3]);
    for (let i = 0; i < 10_000; i++) c.set(`k${i}`, i);
    expect(c.size).toBe(3);
  });
});

describe('/nodes helpers', () => {
  test('n: default 20, integers 1..100, else bad_request', () => {
    expect(parseCount('')).toBe(20);
    expect(parseCount('n=1')).toBe(1);
    expect(parseCount('n=100')).toBe(100);
    for (const q of ['n=0', 'n=101', 'n=1&n=1', 'n=+5', 'n=0x10']) expect(() => parseCount(q)).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

});
