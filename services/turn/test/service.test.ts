import { afterAll, describe, expect, test } from '@jest/globals';
import {
  createLoadMonitor, createLocalBus, createLogger, createMemoryStore, createMetrics, endpointWork, nodeWork, parseConfig, turnCredentials,
  type ServiceDeps,
} from '@mesh/shared';
import { resolveTurnBackend } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createTurnService } from '../src/service.js';
import { stunBinding } from '../src/stun-probe.js';
import { ALLOCATE, REQUESTED_UDP, TurnTestClient } from './stun-client.js';
import { freePort } from './tools.js';

const log = createLogger({ level: 'silent', service: 'turn' });

function deps(env: Record<string, string>): ServiceDeps {
  return {
    config: parseConfig(env, 'turn'), bus: createLocalBus(), store: createMemoryStore(),
    log, metrics: createMetrics({ service: 'turn', defaultMetrics: false }),
  };
}

describe('createTurnService', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  test('auto picks coturn when turnserver is installed, node-turn otherwise', () => {
    expect(resolveTurnBackend('auto', true)).toBe('coturn');
    expect(resolveTurnBackend('auto', false)).toBe('node-turn');
    expect(resolveTurnBackend('none', true)).toBe('none');
  });

  test('none: nothing listens, ready', async () => {
    const s = createTurnService(deps({ TURN_BACKEND: 'none' }));
    await s.start();
    stops.push(() => s.stop());
    expect(s.backend()).toBeUndefined();
    expect(await s.ready?.()).toBe(true);
  });

  test('node-turn: serves STUN, reports backend_up, secret from the store', async () => {
    const port = await freePort();
    const d = deps({ TURN_BACKEND: 'node-turn', TURN_PORT: String(port), TURN_LISTEN_HOST: '127.0.0.1' });
    const s = createTurnService(d);
    await s.start();
    stops.push(() => s.stop());
    expect((await stunBinding('127.0.0.1', port)).address).toBe('127.0.0.1');
    expect(await s.ready?.()).toBe(true);
    expect(await d.metrics.text()).toMatch(/mesh_turn_backend_up\{backend="node-turn",service="turn"\} 1/);
    expect(await d.store.get('secret:turn')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await s.stop();
    expect(await d.metrics.text()).toMatch(/mesh_turn_backend_up\{backend="node-turn",service="turn"\} 0/);
    expect(await s.ready?.()).toBe(false);
  });

  test.each(['node-turn', 'coturn'])('%s: live allocations / TURN_TOTAL_QUOTA is load, shared through the store: the node price rises', async (backend) => {
    const port = await freePort();
    const d = deps({
      TURN_BACKEND: backend, TURN_PORT: String(port), TURN_LISTEN_HOST: '127.0.0.1', TURN_PUBLIC_HOST: '127.0.0.1',
      TURN_TOTAL_QUOTA: '4', TURN_USER_QUOTA: '4', TURN_SECRET: 'occupancy-test-secret-0123',
      TURN_RELAY_MIN_PORT: String(port + 1), TURN_RELAY_MAX_PORT: String(port + 20),
    });
    const s = createTurnService(d);
    await s.start();
    stops.push(() => s.stop());
    // Another instance of the node (api, rooms): its own sample is zero, so its node load is what the turn service shared.
    const reader = createLoadMonitor({
      store: d.store, instanceId: 'reader', intervalMs: 1000, log, sampler: { sample: () => ({ cpu: 0, mem: 0 }), close: () => {} },
    });
    const clients: TurnTestClient[] = [];
    try {
      await reader.tick();
      expect(reader.nodeLoad()).toBe(0);
      const c = turnCredentials({ secret: 'occupancy-test-secret-0123', ttlSeconds: 600, nowSeconds: Date.now() / 1000, urls: [] });
      for (let i = 0; i < 3; i++) {
        const client = new TurnTestClient(port, c.username, c.credential);
        clients.push(client);
        expect((await client.authed(ALLOCATE, [REQUESTED_UDP])).cls).toBe(2);
      }
      await waitFor(async () => { await reader.tick(); return reader.nodeLoad() === 0.75; }, { timeoutMs: 10_000, message: 'occupancy 3/4 shared as load' });
      expect(await d.metrics.text()).toMatch(/mesh_turn_occupancy\{service="turn"\} 0\.75/);
      // The /token price at that load: idle price times (1 + POW_LOAD_FACTOR * 0.75).
      const pow = d.config.pow;
      expect(endpointWork('token', nodeWork(reader.nodeLoad(), pow), pow)).toBe(Math.round(pow.baseWork * (1 + pow.loadFactor * 0.75)) * pow.tokenFactor);
    } finally {
      for (const c of clients) c.close();
      reader.stop();
      await s.stop();
    }
  }, 30_000);
});
