import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createMemoryStore } from './memory.js';
import { createRedisStore } from './redis.js';
import type { Store } from './store.js';

/** Redis when `REDIS_URL` is set, else the in-memory store (embedded node). */
export function createStore(config: Config, log: Logger): Store {
  const storeLog = log.child({ component: 'store' });
  if (config.redisUrl !== undefined) {
    return createRedisStore({ url: config.redisUrl, prefix: config.storePrefix, log: storeLog });
  }
  return createMemoryStore({ prefix: config.storePrefix });
}
