import { createLocalBroker, createLocalBus } from '../bus/local.js';
import { createNatsBus } from '../bus/nats.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../log.js';
import { createMemoryBackend, createMemoryStore } from '../store/memory.js';
import { createRedisStore } from '../store/redis.js';
import type { Store } from '../store/store.js';
import { deleteRedisKeys } from './redis-keys.js';

/**
 * The "servers" of one test node: every `bus()` / `store()` call is one more
 * client, as one more service instance would have. `close` removes what the
 * run left behind (the clients themselves are closed by their owners).
 */
export interface TestBackends {
  bus(): Promise<Bus>;
  store(): Store;
  close(): Promise<void>;
}

/** The machine's real NATS and Redis under `prefix` (from `uniquePrefix`). */
export function machineBackends(opts: { natsUrl: string; redisUrl: string; prefix: string; log: Logger }): TestBackends {
  const keyPrefix = `${opts.prefix}:`;
  return {
    bus: () => createNatsBus({ url: opts.natsUrl, prefix: opts.prefix, log: opts.log }),
    store: () => createRedisStore({ url: opts.redisUrl, prefix: keyPrefix, log: opts.log }),
    close: async () => {
      await deleteRedisKeys(opts.redisUrl, keyPrefix);
    },
  };
}

/** The embedded node's in-process bus and memory store: one broker, one backend. */
export function inProcessBackends(opts: { log: Logger; now?: () => number }): TestBackends {
  const broker = createLocalBroker();
  const backend = createMemoryBackend(opts.now ? { now: opts.now } : {});
  return {
    bus: async () => createLocalBus({ broker, log: opts.log }),
    store: () => createMemoryStore({ backend }),
    close: async () => backend.close(),
  };
}
