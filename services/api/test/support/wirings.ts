import { createLogger } from '@mesh/shared';
import { MACHINE_NATS_URL, MACHINE_REDIS_URL, inProcessBackends, machineBackends, uniquePrefix } from '@mesh/shared/testing';
import type { Wiring } from './harness.js';

const log = createLogger({ level: 'silent', service: 'api-test' });

/** The machine's real NATS and Redis, under a prefix unique to this call. */
export const natsRedis: Wiring = {
  name: 'NATS + Redis',
  backends: async (label) => machineBackends({
    natsUrl: MACHINE_NATS_URL, redisUrl: MACHINE_REDIS_URL, prefix: uniquePrefix(label), log,
  }),
};

/** The embedded node's in-process bus and memory store: a client of each per instance. */
export const embedded: Wiring = {
  name: 'embedded (in-process bus, memory store)',
  backends: async () => inProcessBackends({ log }),
};
