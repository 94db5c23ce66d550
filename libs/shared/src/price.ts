import type { PowConfig } from './config.js';

/**
 * Prices (PROTOCOL.md "Price"): pure functions of the node load and a room's
 * recent messages. Results are integers in 1..2^53-1 (beyond that nobody can
 * pay anyway, and Number stays exact).
 */

export type PricedEndpoint = 'node' | 'token' | 'dht_put' | 'dht_get';

export const PRICED_ENDPOINTS: readonly PricedEndpoint[] = ['node', 'token', 'dht_put', 'dht_get'];

function clampWork(w: number): number {
  if (!Number.isFinite(w)) return Number.MAX_SAFE_INTEGER;
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, Math.round(w)));
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

/** `round(baseWork * (1 + loadFactor * load))`, load clamped to 0..1. */
export function nodeWork(load: number, pow: PowConfig): number {
  return clampWork(pow.baseWork * (1 + pow.loadFactor * clamp01(load)));
}

/** `round(work_node * (1 + m / roomFree))`, m = messages accepted for the room in the past 60 s. */
export function roomWork(nodeWorkValue: number, messagesLastMinute: number, pow: PowConfig): number {
  const m = Number.isFinite(messagesLastMinute) ? Math.max(0, messagesLastMinute) : 0;
  return clampWork(nodeWorkValue * (1 + m / pow.roomFree));
}

/** The price of an API endpoint given the node price. */
export function endpointWork(endpoint: PricedEndpoint, nodeWorkValue: number, pow: PowConfig): number {
  switch (endpoint) {
    case 'node':
    case 'dht_get':
      return clampWork(nodeWorkValue);
    case 'token':
      return clampWork(nodeWorkValue * pow.tokenFactor);
    case 'dht_put':
      return clampWork(nodeWorkValue * pow.dhtPutFactor);
  }
}

/** log2(work) rounded to 2 decimals, for humans and for clients comparing nodes. */
export function difficulty(work: number): number {
  if (!(work >= 1)) return 0;
  return Math.round(Math.log2(work) * 100) / 100;
}

/**
 * The least `work` a proof may bid against `price`: price * (1 - slack),
 * rounded up (the tiny epsilon absorbs float error such as 0.9 * 1000).
 */
export function minAcceptedWork(price: number, slack: number): number {
  const s = Math.min(0.99, Math.max(0, slack));
  return Math.max(1, Math.ceil(price * (1 - s) - 1e-9));
}
