import { busContract } from './bus.contract.js';
import { createNatsBus } from '../src/bus/index.js';
import { createLogger } from '../src/log.js';
import { MACHINE_NATS_URL } from '../src/testing/index.js';

const log = createLogger({ level: 'silent', service: 'test' });
busContract('nats', (prefix) => createNatsBus({ url: MACHINE_NATS_URL, prefix, log }));
