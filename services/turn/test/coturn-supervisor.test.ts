import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLogger, createMetrics } from '@mesh/shared';
import { createCoturnBackend } from '../src/coturn/backend.js';
import { createTurnMetrics } from '../src/metrics.js';
import { stunBinding } from '../src/stun-probe.js';
import { testTurnConfig } from './tools.js';

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('coturn supervisor', () => {
  const metrics = createMetrics({ service: 'turn', defaultMetrics: false });
  let backend: ReturnType<typeof createCoturnBackend>;
  let port = 0;

  beforeAll(async () => {
    const config = await testTurnConfig();
    port = config.port;
    backend = createCoturnBackend({
      config, secret: 'supervisor-test-secret-0123', log: createLogger({ level: 'silent', service: 'turn' }),
      metrics: createTurnMetrics(metrics),
    });
    await backend.start();
  }, 20_000);

  afterAll(async () => {
    await backend?.stop();
  });

  test('restarts a killed turnserver, counts the restart, stops it cleanly', async () => {
    const pid = backend.pid();
    expect(pid).toBeDefined();
    process.kill(pid as number, 'SIGKILL');
    await waitFor(async () => /mesh_turn_backend_restarts_total\{service="turn"\} 1/.test(await metrics.text()), 10_000);
    await waitFor(() => stunBinding('127.0.0.1', port, 300).then(() => true, () => false), 10_000);
    await backend.stop();
    await expect(stunBinding('127.0.0.1', port, 300)).rejects.toThrow();
    expect(await metrics.text()).toMatch(/mesh_turn_backend_up\{backend="coturn",service="turn"\} 0/);
  }, 30_000);
});

