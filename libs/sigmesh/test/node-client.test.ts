import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { NodeClient, normalizeNodeUrl } from '../src/node-client.js';
import { SigmeshError } from '../src/errors.js';
import { createSolver, type Solver } from '../src/solver.js';
import { bundleSolverWorker, type WorkerBundle } from './support/worker-bundle.js';
import { startFakeNode, type FakeNode } from './support/fake-node.js';

let bundle: WorkerBundle;
let solver: Solver;
let node: FakeNode;

beforeAll(async () => {
  bundle = await bundleSolverWorker();
  solver = createSolver({ workers: 1, workerUrl: bundle.url });
  node = await startFakeNode({ work: 256, roomWork: 512 });
});

afterAll(async () => {
  solver.close();
  bundle.dispose();
  await node.close();
});

describe('node client', () => {
  test('normalizes node URLs to origins and refuses others', () => {
    expect(normalizeNodeUrl('https://a.example/')).toBe('https://a.example');
    expect(normalizeNodeUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(normalizeNodeUrl('ftp://a.example')).toBeNull();
    expect(normalizeNodeUrl('https://u:p@a.example')).toBeNull();
    expect(normalizeNodeUrl('https://a.example/x')).toBeNull();
    expect(normalizeNodeUrl('nonsense')).toBeNull();
  });

  test('reads GET / and /nodes', async () => {
    const c = new NodeClient(node.url, { solver });
    const info = await c.info();
    expect(info.id).toBe(node.id);
    expect(info.work).toBe(256);
    expect(info.turn).toEqual(['stun:127.0.0.1:3478']);
    expect(await c.nodes()).toEqual([node.url]);
  });

  test('402 flow: learns the price from the refusal, solves, and the next post reuses the price', async () => {
    const c = new NodeClient(node.url, { solver });
    const hash = 'c'.repeat(64);
    const before = node.refusals.get('pow_required') ?? 0;
    const id1 = await c.postRoom(hash, 'first');
    expect(id1).toMatch(/^\d+-\d+$/);
    expect(node.refusals.get('pow_required')).toBe(before + 1);
    await c.postRoom(hash, 'second');
    expect(node.refusals.get('pow_required')).toBe(before + 1); // no second round trip
    expect(node.posts.get(hash)).toEqual(['first', 'second']);
  });

  test('re-solves with the fresh token after an expired or underpaid proof', async () => {
    const c = new NodeClient(node.url, { solver });
    const hash = 'd'.repeat(64);
    c.setPrice(`/room/${hash}`, { token: 'v1.1.stale', work: '600' }); // token the node never issued
    await c.postRoom(hash, 'x');
    expect(node.refusals.get('pow_expired')).toBeGreaterThanOrEqual(1);
    c.setPrice(`/room/${hash}`, { token: (await c.info()).token, work: '2' }); // far below the price
    await c.postRoom(hash, 'y');
    expect(node.refusals.get('pow_insufficient')).toBeGreaterThanOrEqual(1);
    expect(node.posts.get(hash)).toEqual(['x', 'y']);
  });

  test('gets TURN credentials from the paid /token', async () => {
    const creds = await new NodeClient(node.url, { solver }).turnCredentials();
    expect(creds).toEqual({ urls: ['turn:127.0.0.1:3478?transport=udp'], username: '9999999999:x', credential: 'c', ttl: 3600 });
  });

  test('gives up after maxPowAttempts and reports the last refusal code', async () => {
    const c = new NodeClient(node.url, { maxPowAttempts: 1 });
    const err = await c.postRoom('e'.repeat(64), 'z').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigmeshError);
    expect((err as SigmeshError).code).toBe('pow_exhausted');
    expect((err as SigmeshError).remoteCode).toBe('pow_required');
  });

  test('postRoom sends the peer id as X-Room-Peer, outside the proof; a malformed one is refused before any request', async () => {
    const c = new NodeClient(node.url, { solver });
    const hash = 'a'.repeat(64);
    const peer = '0123456789abcdef'.repeat(2);
    await c.postRoom(hash, 'tagged', { peer }); // the fake node checks the proof against path and body only
    expect(node.postPeers.at(-1)).toBe(peer);
    await c.postRoom(hash, 'untagged');
    expect(node.postPeers.at(-1)).toBe('');
    const before = node.postPeers.length;
    await expect(c.postRoom(hash, 'bad', { peer: 'ABC' })).rejects.toMatchObject({ code: 'bad_response' });
    expect(node.postPeers).toHaveLength(before);
    expect(node.posts.get(hash)).toEqual(['tagged', 'untagged']);
  });

  test('a node whose CORS refuses X-Room-Peer (a browser fails such a fetch): the post goes again without it, and later ones go without', async () => {
    let refused = 0;
    const sent: boolean[] = [];
    // What a browser does when the preflight of an older node does not allow the header.
    const corsFetch = (input: string, init?: RequestInit): Promise<Response> => {
      const tagged = 'X-Room-Peer' in ((init?.headers ?? {}) as Record<string, string>);
      sent.push(tagged);
      if (tagged) { refused++; return Promise.reject(new TypeError('Failed to fetch')); }
      return fetch(input, init);
    };
    const c = new NodeClient(node.url, { solver, fetch: corsFetch });
    const hash = 'b'.repeat(64);
    const peer = 'fe'.repeat(16);
    const before = node.refusals.get('pow_required') ?? 0;
    await c.postRoom(hash, 'one', { peer });
    await c.postRoom(hash, 'two', { peer });
    expect(refused).toBe(1);
    // Tagged try, its untagged retry (402: learns the price), the paid post, the second post.
    expect(sent).toEqual([true, false, false, false]);
    expect(node.refusals.get('pow_required')).toBe(before + 1);
    expect(node.posts.get(hash)).toEqual(['one', 'two']);
    expect(node.postPeers.slice(-2)).toEqual(['', '']);
  });

  test('a tagged post that reached the node though its fetch failed: the untagged retry (same proof) told pow_replayed counts as delivered', async () => {
    const sent: boolean[] = [];
    // The tagged request gets through and is taken, then its fetch fails anyway: its fate is unknown to the client.
    const lostAnswer = async (input: string, init?: RequestInit): Promise<Response> => {
      const tagged = 'X-Room-Peer' in ((init?.headers ?? {}) as Record<string, string>);
      sent.push(tagged);
      const res = await fetch(input, init);
      if (tagged && res.status === 202) { await res.body?.cancel(); throw new TypeError('Failed to fetch'); }
      return res;
    };
    const c = new NodeClient(node.url, { solver, fetch: lostAnswer });
    const hash = '8'.repeat(64);
    const peer = '34'.repeat(16);
    c.setPrice(`/room/${hash}`, { token: (await c.info()).token, work: '512' }); // paid from the first try
    sent.length = 0;
    const replayed = node.refusals.get('pow_replayed') ?? 0;
    const proofs = node.httpProofs.length;
    await expect(c.postRoom(hash, 'once', { peer })).resolves.toBe('');
    expect(sent).toEqual([true, false]); // no solve and post again
    expect(node.refusals.get('pow_replayed')).toBe(replayed + 1);
    const [first, retry] = node.httpProofs.slice(proofs);
    expect(retry).toBe(first);
    expect(node.posts.get(hash)).toEqual(['once']);
  });

  test('once a node answered a tagged post, a failed fetch is not retried without the header', async () => {
    let fail = false;
    const calls: boolean[] = [];
    const flaky = (input: string, init?: RequestInit): Promise<Response> => {
      calls.push('X-Room-Peer' in ((init?.headers ?? {}) as Record<string, string>));
      return fail ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init);
    };
    const c = new NodeClient(node.url, { solver, fetch: flaky });
    const hash = '9'.repeat(64);
    const peer = '12'.repeat(16);
    await c.postRoom(hash, 'ok', { peer });
    expect(node.postPeers.at(-1)).toBe(peer);
    fail = true;
    calls.length = 0;
    await expect(c.postRoom(hash, 'lost', { peer })).rejects.toMatchObject({ code: 'network' });
    expect(calls).toEqual([true]);
  });

  test('an unreachable node is a network error', async () => {
    const err = await new NodeClient('http://127.0.0.1:1', { timeoutMs: 2000 }).info().catch((e: unknown) => e);
    expect((err as SigmeshError).code).toBe('network');
  });
});
