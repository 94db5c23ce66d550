import { describe, test, expect } from '@jest/globals';
import { parseConfig, type PowConfig } from '../src/config.js';
import { difficulty, endpointWork, minAcceptedWork, nodeWork, roomWork } from '../src/price.js';

const pow: PowConfig = parseConfig({}).pow;

describe('price', () => {
  test('node price: 2^12 idle, about 2^20 at full load, clamped load', () => {
    expect(nodeWork(0, pow)).toBe(4096);
    expect(nodeWork(1, pow)).toBe(4096 * 256);
    expect(nodeWork(0.5, pow)).toBe(Math.round(4096 * (1 + 255 * 0.5)));
    expect(nodeWork(0.001, pow)).toBe(Math.round(4096 * 1.255));
    expect(nodeWork(7, pow)).toBe(4096 * 256);
    expect(nodeWork(-1, pow)).toBe(4096);
    expect(nodeWork(Number.NaN, pow)).toBe(4096);
  });

  test('room price grows with messages of the past minute', () => {
    expect(roomWork(4096, 0, pow)).toBe(4096);
    expect(roomWork(4096, 30, pow)).toBe(8192);
    expect(roomWork(4096, 15, pow)).toBe(6144);
    expect(roomWork(1000, 1, pow)).toBe(Math.round(1000 * (1 + 1 / 30)));
  });

  test('endpoint prices', () => {
    expect(endpointWork('node', 5000, pow)).toBe(5000);
    expect(endpointWork('dht_get', 5000, pow)).toBe(5000);
    expect(endpointWork('dht_put', 5000, pow)).toBe(20000);
    expect(endpointWork('token', 5000, pow)).toBe(80000);
    expect(endpointWork('token', 5000, { ...pow, tokenFactor: 3 })).toBe(15000);
  });

  test('prices stay exact integers even with absurd settings', () => {
    const huge = { ...pow, baseWork: 2 ** 40, loadFactor: 1e6, tokenFactor: 1e6 };
    const w = endpointWork('token', nodeWork(1, huge), huge);
    expect(Number.isSafeInteger(w)).toBe(true);
  });

  test('difficulty is log2 to 2 decimals', () => {
    expect(difficulty(4096)).toBe(12);
    expect(difficulty(4096 * 256)).toBe(20);
    expect(difficulty(5000)).toBe(12.29);
    expect(difficulty(1)).toBe(0);
  });

  test('min accepted work applies the slack, rounded up', () => {
    expect(minAcceptedWork(4096, 0.25)).toBe(3072);
    expect(minAcceptedWork(1000, 0.1)).toBe(900);
    expect(minAcceptedWork(1001, 0.25)).toBe(751);
    expect(minAcceptedWork(4096, 0)).toBe(4096);
    expect(minAcceptedWork(1, 0.5)).toBe(1);
  });
});
