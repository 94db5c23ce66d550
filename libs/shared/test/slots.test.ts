import { describe, test, expect } from '@jest/globals';
import { createSlotLimiter } from '../src/index.js';

describe('createSlotLimiter', () => {
  test('caps per client and in all', () => {
    const l = createSlotLimiter({ max: 3, maxPerClient: 2, ipv6Prefix: 64 });
    expect(l.claim('1.1.1.1')).toBeDefined();
    expect(l.claim('1.1.1.1')).toBeDefined();
    expect(l.claim('1.1.1.1')).toBeUndefined(); // per-client cap
    expect(l.claim('2.2.2.2')).toBeDefined();
    expect(l.claim('3.3.3.3')).toBeUndefined(); // total cap
    expect([l.used, l.clients]).toEqual([3, 2]);
  });

  test('release is idempotent and frees exactly one slot', () => {
    const l = createSlotLimiter({ max: 2, maxPerClient: 2, ipv6Prefix: 64 });
    const a = l.claim('1.1.1.1');
    const b = l.claim('1.1.1.1');
    expect(a?.ip).toBe('1.1.1.1');
    a?.release();
    a?.release();
    expect(l.used).toBe(1);
    expect(l.clients).toBe(1);
    // The second release did not free b's slot: one claim fits, the next does not.
    expect(l.claim('2.2.2.2')).toBeDefined();
    expect(l.claim('3.3.3.3')).toBeUndefined();
    b?.release();
    expect(l.used).toBe(1);
  });

  test('the per-client map empties with the last slot', () => {
    const l = createSlotLimiter({ max: 100, maxPerClient: 5, ipv6Prefix: 64 });
    const slots = [];
    for (let i = 0; i < 50; i++) slots.push(l.claim(`10.0.${i % 10}.1`));
    expect([l.used, l.clients]).toEqual([50, 10]);
    for (const s of slots) s?.release();
    expect([l.used, l.clients]).toEqual([0, 0]);
  });

  test('an IPv6 network of ipv6Prefix bits is one client; the slot keeps the address as given', () => {
    const l = createSlotLimiter({ max: 10, maxPerClient: 2, ipv6Prefix: 64 });
    const s = l.claim('2001:db8:1:2::1');
    expect(s?.ip).toBe('2001:db8:1:2::1');
    expect(l.claim('2001:db8:1:2:ffff::9')).toBeDefined();
    expect(l.claim('2001:db8:1:2::abcd')).toBeUndefined(); // same /64
    expect(l.claim('2001:db8:1:3::1')).toBeDefined(); // another /64
    expect(l.clients).toBe(2);

    const wide = createSlotLimiter({ max: 10, maxPerClient: 1, ipv6Prefix: 48 });
    expect(wide.claim('2001:db8:1:2::1')).toBeDefined();
    expect(wide.claim('2001:db8:1:3::1')).toBeUndefined(); // same /48
  });

  test('an IPv4-mapped address counts as its IPv4 client', () => {
    const l = createSlotLimiter({ max: 10, maxPerClient: 1, ipv6Prefix: 64 });
    expect(l.claim('1.2.3.4')).toBeDefined();
    expect(l.claim('::ffff:1.2.3.4')).toBeUndefined();
  });
});
