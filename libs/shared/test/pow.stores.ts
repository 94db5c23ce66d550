import { MACHINE_REDIS_URL, uniquePrefix } from '@mesh/shared/testing';
import { createLogger } from '../src/log.js';
import { createMemoryBackend, createMemoryStore } from '../src/store/memory.js';
import { createRedisStore } from '../src/store/redis.js';
import type { Store } from '../src/store/store.js';

/**
 * Two clients of one store server, per implementation, so the PoW tests run
 * the same cases on the in-memory store and on the machine's real Redis
 * (under a unique key prefix; every key the tests write has a TTL).
 */
export type StorePair = { a: Store; b: Store; close(): Promise<void> };

export function storeKinds(): [string, () => Promise<StorePair>][] {
  return [
    ['memory', async () => {
      const backend = createMemoryBackend();
      const a = createMemoryStore({ prefix: 'race:', backend });
      const b = createMemoryStore({ prefix: 'race:', backend });
      return { a, b, close: async () => { await a.close(); await b.close(); backend.close(); } };
    }],
    ['redis', async () => {
      const log = createLogger({ level: 'silent', service: 'test' });
      const prefix = `${uniquePrefix('pow')}:`;
      const a = createRedisStore({ url: MACHINE_REDIS_URL, prefix, log });
      const b = createRedisStore({ url: MACHINE_REDIS_URL, prefix, log });
      return { a, b, close: async () => { await a.close(); await b.close(); } };
    }],
  ];
}
