import { createSocket } from 'node:dgram';
import { describe, expect, test } from '@jest/globals';
import { createLogger, createMetrics } from '@mesh/shared';
import { createTurnMetrics } from '../src/metrics.js';
import { createNodeTurnBackend } from '../src/node-turn/backend.js';
import { TESTED_NODE_TURN_VERSIONS, assertTestedNodeTurn, installedNodeTurnVersion } from '../src/node-turn/modules.js';
import { testTurnConfig } from './tools.js';

describe('node-turn version guard', () => {
  test('the installed node-turn (read from its package.json) is a tested version', () => {
    expect(TESTED_NODE_TURN_VERSIONS).toContain(installedNodeTurnVersion());
    expect(() => assertTestedNodeTurn(installedNodeTurnVersion())).not.toThrow();
  });

  test.each(['0.0.7', '0.1.0', '1.0.0', 'unknown'])('%s is refused with a message naming both versions and the way out', (v) => {
    expect(() => assertTestedNodeTurn(v)).toThrow(`node-turn ${v} is installed, but the node-turn backend is patched for and tested with 0.0.6 only: install node-turn@0.0.6 or use TURN_BACKEND=coturn.`);
  });

  test('a backend at an untested version refuses to start and binds nothing', async () => {
    const config = await testTurnConfig();
    const backend = createNodeTurnBackend({
      config, secret: 'version-test-secret-0123', log: createLogger({ level: 'silent', service: 'turn' }),
      metrics: createTurnMetrics(createMetrics({ service: 'turn', defaultMetrics: false })), nodeTurnVersion: () => '0.0.7',
    });
    await expect(backend.start()).rejects.toThrow('node-turn 0.0.7 is installed');
    expect(backend.stats().running).toBe(false);
    const free = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(config.port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    expect(free).toBe(true);
  });
});
