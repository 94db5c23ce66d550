import { storeContract } from './store.contract.js';
import { createRedisStore } from '../src/store/index.js';
import { createLogger } from '../src/log.js';
import { MACHINE_REDIS_URL, deleteRedisKeys } from '../src/testing/index.js';

const log = createLogger({ level: 'silent', service: 'test' });
storeContract('redis', (prefix) => createRedisStore({ url: MACHINE_REDIS_URL, prefix, log }), {
  cleanup: async (prefix) => { await deleteRedisKeys(MACHINE_REDIS_URL, prefix); },
});
