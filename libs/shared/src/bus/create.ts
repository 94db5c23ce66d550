import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Bus } from './bus.js';
import { createLocalBus } from './local.js';
import { createNatsBus } from './nats.js';

/**
 * NATS when `NATS_URL` is set, else the in-process bus (embedded node).
 * With NATS, resolves once connected or after a short wait; a bus that is
 * not connected yet keeps trying and reports `isReady() === false`.
 */
export function createBus(config: Config, log: Logger): Promise<Bus> {
  const busLog = log.child({ component: 'bus' });
  if (config.natsUrl !== undefined) {
    return createNatsBus({ url: config.natsUrl, prefix: config.busPrefix, log: busLog, name: `mesh-${config.service}` });
  }
  return Promise.resolve(createLocalBus({ prefix: config.busPrefix, log: busLog }));
}
