import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { bodyHash, meetsWork, parseProofHeader, proofHash, proofPrefix } from '@mesh/shared';
import { powPrefix } from '../src/pow.js';
import { createSolver, type Solver } from '../src/solver.js';
import { bundleSolverWorker, type WorkerBundle } from './support/worker-bundle.js';

// The node's own verifier (libs/shared), so client and node agree on PROTOCOL's proof.
function verify(header: string, method: string, path: string, body: string): boolean {
  const proof = parseProofHeader(header);
  if (typeof proof === 'string') return false;
  const h = proofHash({ ...proof, method, path, bodyHash: bodyHash(new TextEncoder().encode(body)) });
  return meetsWork(h, proof.work);
}

let bundle: WorkerBundle;
let solver: Solver;

beforeAll(async () => {
  bundle = await bundleSolverWorker();
  solver = createSolver({ workers: 2, workerUrl: bundle.url, batch: 4096 });
});

afterAll(() => {
  solver.close();
  bundle.dispose();
});

describe('solver (worker_threads)', () => {
  test('the fixed prefix is the one the node hashes', () => {
    const body = 'héllo';
    expect(powPrefix({ token: 'v1.1.m', work: 4096, method: 'post', path: '/room/ab', body }))
      .toBe(proofPrefix({ token: 'v1.1.m', work: 4096n, method: 'POST', path: '/room/ab', bodyHash: bodyHash(new TextEncoder().encode(body)) }));
  });

  test('produces headers the PROTOCOL verifier accepts', async () => {
    for (let i = 0; i < 5; i++) {
      const body = `{"n":${i},"text":"héllo"}`;
      const header = await solver.solve({ token: `v1.${1700000000 + i}.mac-${i}`, work: 5000, method: 'POST', path: '/room/' + 'a'.repeat(64), body });
      expect(header.startsWith(`v1.${1700000000 + i}.mac-${i}:5000:`)).toBe(true);
      expect(verify(header, 'POST', '/room/' + 'a'.repeat(64), body)).toBe(true);
      expect(verify(header, 'POST', '/room/' + 'b'.repeat(64), body)).toBe(false);
    }
  });

  test('concurrent solves are queued and all valid', async () => {
    const jobs = Array.from({ length: 4 }, (_, i) =>
      solver.solve({ token: `tok${i}`, work: 2000, method: 'POST', path: '/token' }));
    const headers = await Promise.all(jobs);
    headers.forEach((h, i) => expect(verify(h, 'POST', '/token', '')).toBe(true));
    expect(new Set(headers).size).toBe(4);
  });

  test('reports progress and cancels on abort', async () => {
    const ac = new AbortController();
    let last = 0;
    const progress: number[] = [];
    const p = solver.solve(
      // Work far beyond reach: only the abort can end it.
      { token: 't', work: '1000000000000000', method: 'POST', path: '/token' },
      { signal: ac.signal, onProgress: ({ tried }) => { progress.push(tried); last = tried; if (tried > 50_000) ac.abort(new Error('stop')); } },
    );
    await expect(p).rejects.toThrow('stop');
    expect(last).toBeGreaterThan(50_000);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // The pool still works after a cancel.
    const h = await solver.solve({ token: 't2', work: 100, method: 'GET', path: '/dht-get' });
    expect(verify(h, 'GET', '/dht-get', '')).toBe(true);
  });

  test('an already aborted signal rejects at once', async () => {
    const ac = new AbortController();
    ac.abort(new Error('early'));
    await expect(solver.solve({ token: 't', work: 10, method: 'POST', path: '/token' }, { signal: ac.signal })).rejects.toThrow('early');
  });

  test('a missing worker file falls back to solving on the calling thread', async () => {
    const broken = createSolver({ workers: 1, workerUrl: new URL('file:///nonexistent/solver-worker.js') });
    try {
      expect(broken.mode()).toBe('idle');
      const h = await broken.solve({ token: 't', work: 3000, method: 'POST', path: '/token' });
      expect(verify(h, 'POST', '/token', '')).toBe(true);
      expect(broken.mode()).toBe('same-thread');
    } finally {
      broken.close();
    }
  });

  test('the pool says it runs in workers', async () => {
    await solver.solve({ token: 'mode', work: 50, method: 'POST', path: '/token' });
    expect(solver.mode()).toBe('workers');
  });
});

describe('solver (same thread)', () => {
  test('solves, reports progress and cancels like the workers', async () => {
    const inline = createSolver({ sameThread: true, batch: 4096 });
    try {
      const body = '{"x":1}';
      const h = await inline.solve({ token: 'v1.1.m', work: 8000, method: 'POST', path: '/room/' + 'c'.repeat(64), body });
      expect(verify(h, 'POST', '/room/' + 'c'.repeat(64), body)).toBe(true);
      expect(inline.mode()).toBe('same-thread');
      const ac = new AbortController();
      const p = inline.solve({ token: 't', work: '1000000000000000', method: 'POST', path: '/token' },
        { signal: ac.signal, onProgress: ({ tried }) => { if (tried > 20_000) ac.abort(new Error('stop')); } });
      await expect(p).rejects.toThrow('stop');
      const after = await inline.solve({ token: 't3', work: 100, method: 'POST', path: '/token' });
      expect(verify(after, 'POST', '/token', '')).toBe(true);
    } finally {
      inline.close();
    }
  });
});
