import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLogger } from '../src/log.js';
import { createNatsBus, natsConnectTarget } from '../src/bus/nats.js';
import { freePort, spawnChild, waitFor, type ChildHandle } from '../src/testing/index.js';
import { connect as tcpConnect } from 'node:net';

// nats.js ignores user:pass in a server URL: NATS_URL's credentials must be
// passed as connect options, or an authenticated server refuses the bus.
const silent = createLogger({ level: 'silent', service: 'test' });
let server: ChildHandle | undefined;
let port = 0;

beforeAll(async () => {
  port = await freePort();
  server = spawnChild({
    name: 'nats-auth', command: 'nats-server', cwd: '/',
    args: ['-a', '127.0.0.1', '-p', String(port), '--user', 'mesh', '--pass', 'p%40ss:w0rd'],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' },
  });
  await waitFor(() => new Promise<boolean>((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeoutMs: 10_000, message: 'nats-server listening' });
});

afterAll(async () => {
  await server?.stop();
});

describe('NATS_URL with credentials', () => {
  test('user:pass and a lone token become connect options; the servers url carries none', () => {
    expect(natsConnectTarget('nats://u:p%2Fq@h:4222')).toEqual({ servers: 'nats://h:4222', user: 'u', pass: 'p/q' });
    expect(natsConnectTarget('nats://tok@h:4222')).toEqual({ servers: 'nats://h:4222', token: 'tok' });
    expect(natsConnectTarget('nats://h:4222')).toEqual({ servers: 'nats://h:4222' });
  });

  test('the bus connects with the URL\'s credentials and is refused without them', async () => {
    // The password 'p%40ss:w0rd' on the server's command line is literal; in a URL '%' is '%25'.
    const good = await createNatsBus({ url: `nats://mesh:p%2540ss%3Aw0rd@127.0.0.1:${port}`, prefix: 't', log: silent });
    const bad = await createNatsBus({ url: `nats://127.0.0.1:${port}`, prefix: 't', log: silent, firstConnectWaitMs: 500 });
    try {
      expect(good.isReady()).toBe(true);
      expect(bad.isReady()).toBe(false);
    } finally {
      await good.close();
      await bad.close();
    }
  });
});
