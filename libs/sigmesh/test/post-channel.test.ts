import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { WebSocket } from 'ws';
import { NodeClient } from '../src/node-client.js';
import { createMesh, type Mesh } from '../src/mesh.js';
import { memoryStorage } from '../src/storage.js';
import { SigmeshError } from '../src/errors.js';
import { createSolver, type Solver } from '../src/solver.js';
import type { Room, RoomMessage } from '../src/room.js';
import { bundleSolverWorker, type WorkerBundle } from './support/worker-bundle.js';
import { startFakeNode, waitFor, type FakeNode } from './support/fake-node.js';

let bundle: WorkerBundle;
let solver: Solver;
let node: FakeNode;
let old: FakeNode;
const meshes: Mesh[] = [];
const peer = '5a'.repeat(16);
let hashes = 0;
/** A room of its own per test: the node's post lists stay apart. */
const freshHash = (): string => (++hashes).toString(16).padStart(64, 'c');

beforeAll(async () => {
  bundle = await bundleSolverWorker();
  solver = createSolver({ workers: 1, workerUrl: bundle.url });
  node = await startFakeNode({ work: 64, roomWork: 128, channel: true });
  old = await startFakeNode({ work: 64, roomWork: 128 });
});

afterAll(async () => {
  await Promise.all(meshes.map((m) => m.close()));
  solver.close();
  bundle.dispose();
  await Promise.all([node.close(), old.close()]);
});

describe('room posts over the post channel', () => {
  test('go over one channel per room when the node offers it, none over HTTP, refusals (402) handled as over HTTP', async () => {
    const c = new NodeClient(node.url, { solver, webSocket: WebSocket });
    const hash = freshHash();
    const before = { http: node.httpPosts, opened: node.channelsOpened, required: node.refusals.get('pow_required') ?? 0 };
    // No price known: the first frame goes unpaid, is refused pow_required with the price, and goes again paid.
    const id1 = await c.postRoom(hash, 'one', { peer });
    const id2 = await c.postRoom(hash, 'two', { peer });
    expect([id1, id2].every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    expect(node.refusals.get('pow_required')).toBe(before.required + 1);
    expect(node.posts.get(hash)).toEqual(['one', 'two']);
    expect(node.httpPosts).toBe(before.http);
    expect(node.channelsOpened).toBe(before.opened + 1); // reused
    expect(node.channelPeers.at(-1)).toBe(peer);
    expect(c.channelCount).toBe(1);
    c.closeRoomChannel(hash, peer);
    expect(c.channelCount).toBe(0);
    await waitFor(() => node.channelsOpen === 0, 5000, 'channel closed');
  });

  test('give up after maxPowAttempts with the last refusal code, as over HTTP', async () => {
    const c = new NodeClient(node.url, { webSocket: WebSocket, maxPowAttempts: 1 });
    const err = await c.postRoom(freshHash(), 'z').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigmeshError);
    expect((err as SigmeshError).code).toBe('pow_exhausted');
    expect((err as SigmeshError).remoteCode).toBe('pow_required');
    c.closeChannels();
  });

  test('an old node (upgrade 404) gets HTTP posts, and is not asked for a channel again for a while', async () => {
    const c = new NodeClient(old.url, { solver, webSocket: WebSocket });
    const hash = freshHash();
    await c.postRoom(hash, 'a', { peer });
    await c.postRoom(hash, 'b', { peer });
    await c.postRoom(freshHash(), 'c', { peer }); // another room on that node: no upgrade either
    expect(old.upgrades).toBe(1);
    expect(old.httpPosts).toBe(3);
    expect(old.posts.get(hash)).toEqual(['a', 'b']);
    expect(old.postPeers.slice(-3)).toEqual([peer, peer, peer]);
    expect(c.channelCount).toBe(0);
  });

  test('a channel dying after the node took a post: sent again over HTTP with the same proof, pow_replayed there counts as delivered', async () => {
    const c = new NodeClient(node.url, { solver, webSocket: WebSocket });
    const hash = freshHash();
    await c.postRoom(hash, 'warm', { peer });
    const opened = node.channelsOpened;
    const replayed = node.refusals.get('pow_replayed') ?? 0;
    const http = node.httpProofs.length;
    node.channelFault = 'accept_then_drop';
    await expect(c.postRoom(hash, 'taken', { peer })).resolves.toBe('');
    expect(node.posts.get(hash)).toEqual(['warm', 'taken']); // once
    expect(node.refusals.get('pow_replayed')).toBe(replayed + 1);
    expect(node.httpProofs.slice(http)).toEqual([node.channelProofs.at(-1)]);
    // The channel had answered before it died: the next post opens a new one.
    await c.postRoom(hash, 'after', { peer });
    expect(node.channelsOpened).toBe(opened + 1);
    expect(node.httpProofs.length).toBe(http + 1);
    expect(node.posts.get(hash)).toEqual(['warm', 'taken', 'after']);
    c.closeChannels();
  });

  test('a channel dying before the node took a post: the same proof is accepted over HTTP', async () => {
    const c = new NodeClient(node.url, { solver, webSocket: WebSocket });
    const hash = freshHash();
    c.setPrice(`/room/${hash}`, { token: (await c.info()).token, work: '128' }); // paid from the first frame
    const http = { posts: node.httpPosts, proofs: node.httpProofs.length };
    const replayed = node.refusals.get('pow_replayed') ?? 0;
    node.channelFault = 'drop';
    const id = await c.postRoom(hash, 'lost in the channel', { peer });
    expect(id).toMatch(/^\d+-\d+$/);
    expect(node.posts.get(hash)).toEqual(['lost in the channel']);
    expect(node.httpPosts).toBe(http.posts + 1);
    expect(node.httpProofs.slice(http.proofs)).toEqual([node.channelProofs.at(-1)]);
    expect(node.refusals.get('pow_replayed') ?? 0).toBe(replayed);
    expect(node.postPeers.at(-1)).toBe(peer);
    // It had opened: not a node without channels, so the next post reopens it (no switch to HTTP).
    const upgrades = node.upgrades;
    node.channelFault = 'drop';
    await c.postRoom(hash, 'next', { peer });
    expect(node.upgrades).toBe(upgrades + 1);
    expect(node.httpPosts).toBe(http.posts + 2); // dropped again: over HTTP
    // Reopened once already, moments ago: this room posts over HTTP for a few seconds, no reopen storm.
    await c.postRoom(hash, 'third', { peer });
    expect(node.upgrades).toBe(upgrades + 1);
    expect(node.httpPosts).toBe(http.posts + 3);
    // The node is not switched to HTTP: another room opens its channel.
    const channelPosts = node.channelPosts;
    await c.postRoom(freshHash(), 'other room', { peer });
    expect(node.upgrades).toBe(upgrades + 2);
    expect(node.channelPosts).toBe(channelPosts + 1);
    expect(node.posts.get(hash)).toEqual(['lost in the channel', 'next', 'third']);
    c.closeChannels();
  });

  test('the first post on a new channel timing out (a slow store): delivered via pow_replayed over HTTP, and the next post reopens the channel', async () => {
    const c = new NodeClient(node.url, { solver, webSocket: WebSocket, timeoutMs: 300 });
    const hash = freshHash();
    c.setPrice(`/room/${hash}`, { token: (await c.info()).token, work: '128' });
    const opened = node.channelsOpened;
    const http = { posts: node.httpPosts, proofs: node.httpProofs.length };
    node.channelFault = 'stall';
    await expect(c.postRoom(hash, 'slow', { peer })).resolves.toBe(''); // taken on the channel, answered too late
    expect(node.httpProofs.slice(http.proofs)).toEqual([node.channelProofs.at(-1)]);
    expect(node.httpPosts).toBe(http.posts);
    expect(c.channelCount).toBe(0); // the timeout closed it
    const id = await c.postRoom(hash, 'after', { peer });
    expect(id).toMatch(/^\d+-\d+$/);
    expect(node.channelsOpened).toBe(opened + 2);
    expect(node.httpPosts).toBe(http.posts);
    expect(node.posts.get(hash)).toEqual(['slow', 'after']);
    c.closeChannels();
  });

  test('without a WebSocket constructor every post is HTTP; a global one (browsers) is used by default', async () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    const upgrades = node.upgrades;
    try {
      delete g.WebSocket;
      const hash = freshHash();
      await new NodeClient(node.url, { solver }).postRoom(hash, 'no global');
      await new NodeClient(node.url, { solver, webSocket: null }).postRoom(hash, 'explicitly none');
      // A room that let the node go says so: no channel is opened for it.
      const released = new NodeClient(node.url, { solver, webSocket: WebSocket });
      await released.postRoom(hash, 'released', { viaChannel: () => false });
      expect(released.channelCount).toBe(0);
      expect(node.upgrades).toBe(upgrades);
      expect(node.posts.get(hash)).toEqual(['no global', 'explicitly none', 'released']);

      g.WebSocket = WebSocket;
      const c = new NodeClient(node.url, { solver });
      const channelPosts = node.channelPosts;
      await c.postRoom(hash, 'global');
      expect(node.upgrades).toBe(upgrades + 1);
      expect(node.channelPosts).toBe(channelPosts + 1);
      c.closeChannels();
    } finally {
      if (saved === undefined) delete g.WebSocket;
      else g.WebSocket = saved;
    }
  });

  test('at most 8 channels to one node; rooms past that post over HTTP', async () => {
    await waitFor(() => node.channelsOpen === 0, 5000, 'earlier channels closed');
    const c = new NodeClient(node.url, { solver, webSocket: WebSocket });
    const http = node.httpPosts;
    for (let i = 0; i < 9; i++) await c.postRoom(freshHash(), `room ${i}`);
    expect(c.channelCount).toBe(8);
    expect(node.channelsOpen).toBe(8);
    expect(node.httpPosts).toBe(http + 1);
    c.closeChannels();
    expect(c.channelCount).toBe(0);
    await waitFor(() => node.channelsOpen === 0, 5000, 'channels closed');
  });
});

describe('a room on a node with post channels', () => {
  test('posts its messages over its channel, not HTTP, and closes it on leave', async () => {
    const solo = await startFakeNode({ work: 64, channel: true });
    try {
      const join = (): Promise<Room> => {
        const m = createMesh({ seeds: [solo.url], appId: 'test-app', storage: memoryStorage(), solver, k: 1, webSocket: WebSocket });
        meshes.push(m);
        return m.joinRoom('channel-room');
      };
      const a = await join();
      const b = await join();
      await waitFor(() => a.peerIds().includes(b.selfId) && b.peerIds().includes(a.selfId), 5000, 'presence');
      const got: RoomMessage[] = [];
      b.on('message', (m) => got.push(m));
      await a.send({ text: 'over the channel', pad: 'p'.repeat(1500) }); // two fragments
      await waitFor(() => got.length === 1, 5000, 'delivery');
      expect(got[0]!.data).toEqual({ text: 'over the channel', pad: 'p'.repeat(1500) });
      expect(solo.channelsOpened).toBe(2); // one per member, reused for every post
      expect(solo.channelPeers.slice().sort()).toEqual(solo.streamPeers.slice().sort()); // same wire peer ids
      expect(solo.echoesSkipped).toBe(solo.channelPosts); // each kept off its poster's own stream
      await a.leave();
      await waitFor(() => !b.peerIds().includes(a.selfId), 5000, 'bye');
      await waitFor(() => solo.channelsOpen === 1, 5000, "a's channel closed");
      await b.leave();
      await waitFor(() => solo.channelsOpen === 0, 5000, "b's channel closed");
      expect(solo.httpPosts).toBe(0);
      expect(solo.channelPosts).toBeGreaterThanOrEqual(6); // hellos, two fragments, byes
    } finally {
      await solo.close();
    }
  });
});
