import type { Store } from '../store/store.js';

/**
 * The replay guard: a proof hash is accepted at most once across every
 * instance sharing the store. One atomic setIfAbsent per claim; the key
 * outlives the token (TTL), after which the token itself is refused.
 */
export interface ReplayGuard {
  /**
   * True when this call is the first to claim `hashHex` (64 lower-case hex).
   * Rejects (StoreError) when the store is unreachable: callers fail closed.
   */
  claim(hashHex: string): Promise<boolean>;
}

const HASH_HEX = /^[0-9a-f]{64}$/;
export const REPLAY_KEY_PREFIX = 'pow:seen:';

export function createReplayGuard(store: Store, opts: { ttlSeconds: number }): ReplayGuard {
  const ttlSeconds = Math.max(1, Math.ceil(opts.ttlSeconds));
  return {
    async claim(hashHex) {
      if (!HASH_HEX.test(hashHex)) throw new RangeError('replay guard: expected 64 lower-case hex');
      return store.setIfAbsent(REPLAY_KEY_PREFIX + hashHex, '1', { ttlSeconds });
    },
  };
}
