import { runMain } from '@mesh/shared';
import { createTurnService } from './service.js';

await runMain({ service: 'turn', build: async (deps) => ({ services: [createTurnService(deps)] }) });
