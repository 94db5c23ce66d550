import { describe, test, expect } from '@jest/globals';
import { backoffMs } from '../src/index.js';

describe('backoffMs', () => {
  test('attempt 1 is the base, each attempt doubles, the cap holds', () => {
    const opts = { baseMs: 200, maxMs: 5000 };
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((a) => backoffMs(a, opts))).toEqual([200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  test('huge, infinite, zero, negative and NaN attempts stay finite', () => {
    const opts = { baseMs: 30_000, maxMs: 30 * 60_000 };
    for (const a of [1e6, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity]) expect(backoffMs(a, opts)).toBe(30 * 60_000);
    for (const a of [0, -5, -Infinity, NaN]) expect(backoffMs(a, opts)).toBe(30_000);
    // A zero base with a huge attempt is 0, not NaN (0 * Infinity).
    expect(backoffMs(Infinity, { baseMs: 0, maxMs: 100 })).toBe(0);
  });

  test('jitter multiplies by a factor in [1, 1 + jitter), after the cap', () => {
    const opts = { baseMs: 100, maxMs: 2000, jitter: 0.2 };
    expect(backoffMs(1, { ...opts, random: () => 0 })).toBe(100);
    expect(backoffMs(1, { ...opts, random: () => 0.5 })).toBe(110);
    expect(backoffMs(10, { ...opts, random: () => 0.5 })).toBe(2200);
    expect(backoffMs(10, { ...opts, random: () => 0.999_999 })).toBeLessThanOrEqual(2400);
    for (let i = 0; i < 1000; i++) {
      const d = backoffMs(3, opts);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(480);
    }
  });

  test('no jitter: randomness is not consulted and results are whole milliseconds', () => {
    let calls = 0;
    const random = (): number => { calls += 1; return 0.5; };
    expect(backoffMs(2, { baseMs: 500, maxMs: 30_000, random })).toBe(1000);
    expect(calls).toBe(0);
    expect(Number.isInteger(backoffMs(2, { baseMs: 33, maxMs: 1000, jitter: 0.3 }))).toBe(true);
  });
});
