import { afterAll, describe, expect, test } from '@jest/globals';
import { createLocalBus, createLogger, createMemoryStore, createMetrics, parseConfig, type ServiceDeps } from '@mesh/shared';
import { resolveTurnBackend } from '@mesh/shared';
import { createTurnService } from '../src/service.js';
import { stunBinding } from '../src/stun-probe.js';
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
});
