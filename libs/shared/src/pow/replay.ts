import type { Store } from '../store/store.js';

/**
 * The replay guard: a proof hash is accepted at most once across every
 * instance sharing the store. One atomic setIfAbsent per claim; the key
 * outlives the token (TTL), after which the token itself is refused.
 */
export interface ReplayGuard {
  /** The store key of a proof hash (64 lower-case hex). */
  keyOf(hashHex: string): string;
  /** How long a claim lives. */
  readonly ttlSeconds: number;
  /**
   * True when this call is the first to claim `key` (from keyOf).
   * Rejects (StoreError) when the store is unreachable: callers fail closed.
   */
  claim(key: string): Promise<boolean>;
}

const HASH_HEX = /^[0-9a-f]{64}$/;
export const REPLAY_KEY_PREFIX = 'pow:seen:';

export function createReplayGuard(store: Store, opts: { ttlSeconds: number }): ReplayGuard {
  const ttlSeconds = Math.max(1, Math.ceil(opts.ttlSeconds));
  return {
    keyOf(hashHex) {
      if (!HASH_HEX.test(hashHex)) throw new RangeError('replay guard: expected 64 lower-case hex');
      return REPLAY_KEY_PREFIX + hashHex;
    },
    ttlSeconds,
    claim: (key) => store.setIfAbsent(key, '1', { ttlSeconds }),
  };
}
