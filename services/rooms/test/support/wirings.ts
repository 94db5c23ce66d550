import { createLogger } from '@mesh/shared';
import { MACHINE_NATS_URL, MACHINE_REDIS_URL, inProcessBackends, machineBackends, uniquePrefix } from '@mesh/shared/testing';
import type { Wiring } from './harness.js';

const log = createLogger({ level: 'silent', service: 'rooms-test' });

/**
 * The machine's real NATS and Redis, under a prefix unique to this run. The
 * Redis clock cannot be moved, so the room counter window is shortened
 * instead (the service takes it as an option; production uses 60 s).
 */
export const natsRedis: Wiring = {
  name: 'NATS + Redis',
  async backends(label) {
    return {
      ...machineBackends({ natsUrl: MACHINE_NATS_URL, redisUrl: MACHINE_REDIS_URL, prefix: uniquePrefix(label), log }),
      options: { priceWindowMs: 1500, priceIntervalMs: 200, priceSettleMs: 50 },
      passWindow: () => undefined,
    };
  },
};

/**
 * The embedded node's in-process bus and in-memory store, a client of each
 * per worker. The backend's clock is ours, so a minute passes at once.
 */
export const embedded: Wiring = {
  name: 'embedded (in-process bus, memory store)',
  async backends() {
    let offsetMs = 0;
    return {
      ...inProcessBackends({ log, now: () => Date.now() + offsetMs }),
      options: { priceIntervalMs: 200, priceSettleMs: 50 },
      passWindow: () => {
        offsetMs += 61_000;
      },
    };
  },
};
