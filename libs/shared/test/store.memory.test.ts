import { afterAll } from '@jest/globals';
import { storeContract } from './store.contract.js';
import { createMemoryBackend, createMemoryStore } from '../src/store/index.js';

const backend = createMemoryBackend({ sweepMs: 100 });
afterAll(() => backend.close());
storeContract('memory', (prefix) => createMemoryStore({ prefix, backend }));
