import {
  createLocalBroker, createLocalBus, createLogger, createMemoryBackend, createMemoryStore, createNatsBus,
  createRedisStore,
} from '@mesh/shared';
import { MACHINE_NATS_URL, MACHINE_REDIS_URL, deleteRedisKeys, uniquePrefix } from '@mesh/shared/testing';
import type { Wiring } from './harness.js';

const log = createLogger({ level: 'silent', service: 'api-test' });

/** The machine's real NATS and Redis, under a prefix unique to this call. */
export const natsRedis: Wiring = {
  name: 'NATS + Redis',
  async backends(label) {
    const prefix = uniquePrefix(label);
    const keyPrefix = `${prefix}:`;
    return {
      bus: () => createNatsBus({ url: MACHINE_NATS_URL, prefix, log }),
      store: () => createRedisStore({ url: MACHINE_REDIS_URL, prefix: keyPrefix, log }),
      close: async () => {
        await deleteRedisKeys(MACHINE_REDIS_URL, keyPrefix);
      },
    };
  },
};

/** The embedded node's in-process bus and memory store: one broker and one backend, a client of each per instance. */
export const embedded: Wiring = {
  name: 'embedded (in-process bus, memory store)',
  async backends() {
    const broker = createLocalBroker();
    const backend = createMemoryBackend();
    return {
      bus: async () => createLocalBus({ broker, log }),
      store: () => createMemoryStore({ backend }),
      close: async () => backend.close(),
    };
  },
};
