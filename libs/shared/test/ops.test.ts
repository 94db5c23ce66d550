import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { createMetrics } from '../src/metrics.js';
import { createOpsServer, type OpsServer } from '../src/ops.js';
import { captureLog } from './http-support.js';

type Mode = 'true' | 'false' | 'throws' | 'rejects' | 'slow';
let mode: Mode = 'true';
const ready = (): Promise<boolean> => {
  switch (mode) {
    case 'true': return Promise.resolve(true);
    case 'false': return Promise.resolve(false);
    case 'throws': throw new Error('broker down');
    case 'rejects': return Promise.reject(new Error('store down'));
    case 'slow': return new Promise<boolean>(() => { /* never answers: a stuck broker */ });
  }
};

const metrics = createMetrics({ service: 'opstest' });
metrics.counter('ops_test_total', 'A counter only this test has.').inc(3);
let ops: OpsServer;
let base: string;

beforeAll(async () => {
  const { log } = captureLog();
  ops = createOpsServer({ host: '127.0.0.1', port: 0, metrics, ready, log, readyTimeoutMs: 150 });
  const { port } = await ops.start();
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await ops.stop();
});

describe('ops server', () => {
  test('/healthz is 200 whatever readiness says', async () => {
    mode = 'throws';
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  test.each<[Mode, number]>([['true', 200], ['false', 503], ['throws', 503], ['rejects', 503], ['slow', 503]])(
    '/readyz when ready() %s -> %i', async (m, status) => {
      mode = m;
      // A ready() that never answers is cut by the 150 ms timeout; without it this request would hang.
      const res = await fetch(`${base}/readyz`);
      expect(res.status).toBe(status);
      await res.text();
    },
  );

  test('/metrics is Prometheus text with the right content type', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('# TYPE mesh_ops_test_total counter');
    expect(text).toContain('mesh_ops_test_total{service="opstest"} 3');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  test('HEAD works; other methods are 405; other paths 404', async () => {
    expect((await fetch(`${base}/healthz`, { method: 'HEAD' })).status).toBe(200);
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    for (const path of ['/', '/metrics/x', '/healthz/', '/favicon.ico']) {
      const res = await fetch(base + path);
      expect(res.status).toBe(404);
      await res.text();
    }
    expect((await fetch(`${base}/readyz?verbose=1`)).status).not.toBe(404);
  });
});
