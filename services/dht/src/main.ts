import { runMain } from '@mesh/shared';
import { createDhtService } from './service.js';

// The dht container: no public HTTP, only the ops port (health, metrics).
await runMain({
  service: 'dht',
  build: async (deps) => ({ services: [createDhtService(deps)] }),
});
