import {
  createLocalBroker, createLocalBus, createLogger, createMemoryBackend, createMemoryStore, createNatsBus,
  createRedisStore,
} from '@mesh/shared';
import { MACHINE_NATS_URL, MACHINE_REDIS_URL, deleteRedisKeys, uniquePrefix } from '@mesh/shared/testing';
import type { Backends, Wiring } from './harness.js';

const log = createLogger({ level: 'silent', service: 'rooms-test' });

/**
 * The machine's real NATS and Redis, under a prefix unique to this run. The
 * Redis clock cannot be moved, so the room counter window is shortened
 * instead (the service takes it as an option; production uses 60 s).
 */
export const natsRedis: Wiring = {
  name: 'NATS + Redis',
  async backends(label) {
    const prefix = uniquePrefix(label);
    const keyPrefix = `${prefix}:`;
    return {
      bus: () => createNatsBus({ url: MACHINE_NATS_URL, prefix, log }),
      store: () => createRedisStore({ url: MACHINE_REDIS_URL, prefix: keyPrefix, log }),
      options: { priceWindowMs: 1500, priceIntervalMs: 200, priceSettleMs: 50 },
      passWindow: () => undefined,
      close: async () => {
        await deleteRedisKeys(MACHINE_REDIS_URL, keyPrefix);
      },
    };
  },
};

/**
 * The embedded node's in-process bus and in-memory store: one broker and one
 * memory backend (the "servers"), a client of each per worker. The backend's
 * clock is ours, so a minute passes at once.
 */
export const embedded: Wiring = {
  name: 'embedded (in-process bus, memory store)',
  async backends() {
    let offsetMs = 0;
    const broker = createLocalBroker();
    const backend = createMemoryBackend({ now: () => Date.now() + offsetMs });
    return {
      bus: async () => createLocalBus({ broker, log }),
      store: () => createMemoryStore({ backend }),
      options: { priceIntervalMs: 200, priceSettleMs: 50 },
      passWindow: () => {
        offsetMs += 61_000;
      },
      close: async () => backend.close(),
    };
  },
};
