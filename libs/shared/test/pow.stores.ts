import { createMemoryBackend, createMemoryStore } from '../src/store/memory.js';
import type { Store } from '../src/store/store.js';

/** Two clients of one store server, per implementation, for the replay race tests. */
export type StorePair = { a: Store; b: Store; close(): Promise<void> };

export function storeKinds(): [string, () => Promise<StorePair>][] {
  return [
    ['memory', async () => {
      const backend = createMemoryBackend();
      const a = createMemoryStore({ prefix: 'race:', backend });
      const b = createMemoryStore({ prefix: 'race:', backend });
      return { a, b, close: async () => { await a.close(); await b.close(); backend.close(); } };
    }],
  ];
}
