import { describe, expect, test } from '@jest/globals';
import { parseConfig } from '../src/config.js';
import { createLocalBus } from '../src/bus/index.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { createNodeRuntime } from '../src/runtime.js';
import { createMemoryStore } from '../src/store/index.js';

// The urls `/` and `/token` advertise follow the backend the turn service
// really runs: with `auto` on a machine with coturn (make test installs it),
// TURN over TCP is offered too. (`auto` used to advertise UDP only.)
async function advertised(env: Record<string, string>): Promise<string[]> {
  const config = parseConfig({ TURN_PUBLIC_HOST: 'node.example', ...env });
  const store = createMemoryStore();
  const bus = createLocalBus();
  const runtime = await createNodeRuntime({
    config, bus, store, log: createLogger({ level: 'silent', service: 'test' }),
    metrics: createMetrics({ service: 'test', defaultMetrics: false }),
  });
  try {
    return runtime.nodeInfo().turn;
  } finally {
    runtime.stop();
    await bus.close();
    await store.close();
  }
}

describe('advertised TURN urls', () => {
  test('auto with coturn installed offers TCP as the turn service will serve it', async () => {
    expect(await advertised({ TURN_BACKEND: 'auto' })).toEqual([
      'stun:node.example:3478', 'turn:node.example:3478?transport=udp', 'turn:node.example:3478?transport=tcp',
    ]);
  });

  test('node-turn offers UDP only; none offers nothing', async () => {
    expect(await advertised({ TURN_BACKEND: 'node-turn' })).toEqual(['stun:node.example:3478', 'turn:node.example:3478?transport=udp']);
    expect(await advertised({ TURN_BACKEND: 'none' })).toEqual([]);
  });
});
