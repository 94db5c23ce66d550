import { describe, expect, test } from '@jest/globals';
import { parseConfig } from '../src/config.js';
import { createLocalBus } from '../src/bus/index.js';
import { createLoadMonitor } from '../src/load.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { PRICED_ENDPOINTS, endpointWork, nodeWork } from '../src/price.js';
import { createNodeRuntime } from '../src/runtime.js';
import { createMemoryBackend, createMemoryStore } from '../src/store/memory.js';

// Issue 13: mesh_price_work was set only when a request was priced, so a
// dashboard showed a price long gone. It is computed at scrape now.
describe('mesh_price_work', () => {
  test('a scrape shows the current price of every priced endpoint, with no request priced since the load changed', async () => {
    const config = parseConfig({ PUBLIC_URL: 'http://127.0.0.1:1', TURN_BACKEND: 'none' });
    const backend = createMemoryBackend();
    const store = createMemoryStore({ backend });
    const otherStore = createMemoryStore({ backend });
    const bus = createLocalBus();
    const log = createLogger({ level: 'silent', service: 'test' });
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const runtime = await createNodeRuntime({ config, bus, store, log, metrics });
    // Another instance of the node, loaded to 0.4: shared through the store like any instance.
    const other = createLoadMonitor({
      store: otherStore, instanceId: 'other', intervalMs: 60_000, log,
      sampler: { sample: () => ({ cpu: 0.4, mem: 0 }), close() {} },
      smoothing: { alphaUp: 1, alphaDown: 1 },
    });
    const gauge = async (endpoint: string): Promise<number | undefined> => {
      const m = new RegExp(`^mesh_price_work\\{endpoint="${endpoint}",service="test"\\} (\\d+)$`, 'm').exec(await metrics.text());
      return m?.[1] === undefined ? undefined : Number(m[1]);
    };
    try {
      await other.tick();
      await runtime.load.tick();
      // This test process's own cpu may add to it; the other instance's 0.4 is the floor.
      expect(runtime.load.nodeLoad()).toBeGreaterThanOrEqual(0.4);
      for (const endpoint of PRICED_ENDPOINTS) {
        expect(await gauge(endpoint)).toBe(endpointWork(endpoint, nodeWork(runtime.load.nodeLoad(), config.pow), config.pow));
      }
    } finally {
      other.stop();
      runtime.stop();
      await bus.close();
      await store.close();
      await otherStore.close();
      backend.close();
    }
  });
});
