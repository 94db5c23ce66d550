import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { createMesh, type Mesh } from '../src/mesh.js';
import type { Room, RoomMessage } from '../src/room.js';
import { memoryStorage } from '../src/storage.js';
import { createSolver, type Solver } from '../src/solver.js';
import { NodeClient } from '../src/node-client.js';
import { bundleSolverWorker, type WorkerBundle } from './support/worker-bundle.js';
import { startFakeNode, waitFor, type FakeNode } from './support/fake-node.js';

let bundle: WorkerBundle;
let solver: Solver;
const nodes: FakeNode[] = [];
const meshes: Mesh[] = [];

function mesh(): Mesh {
  // Every fake node is a seed: the failover test closes one of them (whichever
  // rendezvous picked), and later tests must not depend on which.
  const m = createMesh({ seeds: nodes.map((n) => n.url), appId: 'test-app', storage: memoryStorage(), solver, k: 2 });
  meshes.push(m);
  return m;
}

function collect(room: Room): RoomMessage[] {
  const got: RoomMessage[] = [];
  room.on('message', (m) => got.push(m));
  return got;
}

beforeAll(async () => {
  bundle = await bundleSolverWorker();
  solver = createSolver({ workers: 2, workerUrl: bundle.url });
  for (let i = 0; i < 4; i++) nodes.push(await startFakeNode({ work: 64, nodes: () => nodes.map((n) => n.url) }));
});

afterAll(async () => {
  await Promise.all(meshes.map((m) => m.close()));
  solver.close();
  bundle.dispose();
  await Promise.all(nodes.map((n) => n.close().catch(() => undefined)));
});

describe('rooms over fake nodes', () => {
  test('two clients meet on the same k nodes, see each other, and get each message once', async () => {
    const a = await mesh().joinRoom('lobby');
    const b = await mesh().joinRoom('lobby');
    expect(a.hash).toBe(b.hash);
    expect(a.nodes().map((n) => n.id).sort()).toEqual(b.nodes().map((n) => n.id).sort());
    expect(a.nodes()).toHaveLength(2);
    await waitFor(() => a.peerIds().includes(b.selfId) && b.peerIds().includes(a.selfId), 5000, 'presence');

    const gotB = collect(b);
    const gotA = collect(a);
    await a.send({ text: 'hello ✓' });
    await waitFor(() => gotB.length >= 1, 5000, 'message');
    // Both chosen nodes carried it; give the second copy time to arrive, then check dedupe.
    const hash = a.hash;
    await waitFor(() => a.nodes().every((n) => (nodes.find((f) => f.id === n.id)!.posts.get(hash) ?? []).length >= 3), 5000, 'posts');
    await b.send('ping'); // ordered after the duplicate on each stream
    await waitFor(() => gotA.length >= 1, 5000, 'reply');
    expect(gotB).toHaveLength(1);
    expect(gotB[0]!.data).toEqual({ text: 'hello ✓' });
    expect(gotB[0]!.from).toBe(a.selfId);
    expect(gotA.map((m) => m.data)).toEqual(['ping']); // own message not echoed
    await a.leave();
    await waitFor(() => !b.peerIds().includes(a.selfId), 5000, 'bye');
    await b.leave();
  });

  test('presence: a quiet member beats and stays, a silent one is dropped after peerTimeoutMs', async () => {
    const knobs = { heartbeatMs: 100, peerTimeoutMs: 800 };
    const a = await mesh().joinRoom('presence-timeout', knobs);
    const alive = await mesh().joinRoom('presence-timeout', knobs);
    // Never beats (a page whose network went away looks like this from the room).
    const silent = await mesh().joinRoom('presence-timeout', { heartbeatMs: 3_600_000, peerTimeoutMs: 3_600_000 });
    await waitFor(() => a.peerIds().includes(alive.selfId) && a.peerIds().includes(silent.selfId), 5000, 'presence');
    const left: string[] = [];
    a.on('peer-left', ({ id }) => left.push(id));
    await waitFor(() => left.length > 0, 5000, 'the silent member dropped');
    expect(left).toEqual([silent.selfId]);
    expect(a.peerIds()).toEqual([alive.selfId]);
    // `alive` stayed because it beat: its beats are in the node's room history.
    const node = nodes.find((f) => f.id === a.nodes()[0]!.id)!;
    const beats = (node.posts.get(a.hash) ?? []).filter((b) => b.includes('"t":"beat"') && b.includes(alive.selfId));
    expect(beats.length).toBeGreaterThan(0);
    await Promise.all([a.leave(), alive.leave(), silent.leave()]);
  });

  test('messages addressed to one peer are ignored by the others', async () => {
    const [a, b, c] = await Promise.all([mesh().joinRoom('direct'), mesh().joinRoom('direct'), mesh().joinRoom('direct')]);
    await waitFor(() => a.peerIds().includes(b.selfId) && a.peerIds().includes(c.selfId), 5000, 'presence');
    const gotB = collect(b);
    const gotC = collect(c);
    await a.send('for b', { to: b.selfId });
    await a.send('for all');
    await waitFor(() => gotB.length >= 2 && gotC.length >= 1, 5000, 'delivery');
    expect(gotB.map((m) => m.data)).toEqual(['for b', 'for all']);
    expect(gotC.map((m) => m.data)).toEqual(['for all']);
    await Promise.all([a.leave(), b.leave(), c.leave()]);
  });

  test('large messages travel as fragments; encrypted rooms are unreadable without the password', async () => {
    const a = await mesh().joinRoom('secret', { password: 'pw' });
    const b = await mesh().joinRoom('secret', { password: 'pw' });
    const eve = await mesh().joinRoom('secret', { password: 'wrong' });
    const gotB = collect(b);
    const gotEve = collect(eve);
    let eveCannotRead = 0;
    eve.on('undecryptable', ({ total }) => { eveCannotRead = total; });
    const big = 'x'.repeat(3000);
    await a.send(big);
    await waitFor(() => gotB.length === 1, 10_000, 'big message');
    expect(gotB[0]!.data).toBe(big);
    const posted = nodes.flatMap((n) => n.posts.get(a.hash) ?? []);
    expect(posted.every((p) => !p.includes('xxxx'))).toBe(true); // the node sees ciphertext only
    expect(posted.some((p) => p.startsWith('f1.'))).toBe(true);
    expect(gotEve).toEqual([]);
    expect(eve.peerIds()).toEqual([]);
    // What the demo turns into "wrong password?": eve is told, it does not just hear nothing.
    await waitFor(() => eveCannotRead > 0, 5000, 'eve told of posts it cannot read');
    await Promise.all([a.leave(), b.leave(), eve.leave()]);
  });

  test('resumes with Last-Event-ID after a drop, without loss or duplicates', async () => {
    const a = await mesh().joinRoom('resume', { presence: false, k: 1 });
    const node = nodes.find((n) => n.id === a.nodes()[0]!.id)!;
    const got = collect(a);
    const poster = new NodeClient(node.url, { solver });
    const post = (text: string): Promise<string> =>
      poster.postRoom(a.hash, JSON.stringify({ v: 1, mid: `m${text}xxxxxxx`, from: 'f'.repeat(32), t: 'msg', data: text }));
    await post('1');
    await waitFor(() => got.length === 1, 5000, 'first');
    const opened = node.streamsOpened;
    node.dropStreams();
    await post('2'); // posted while the client is disconnected
    await waitFor(() => node.streamsOpened > opened, 5000, 'reconnect');
    await waitFor(() => got.length >= 2, 5000, 'replay');
    await post('3');
    await waitFor(() => got.length >= 3, 5000, 'live');
    expect(got.map((m) => m.data)).toEqual(['1', '2', '3']);
    expect(node.lastEventIds.at(-1)).toMatch(/^\d+-\d+$/);
    await a.leave();
  });

  test('fails over to the next node when a chosen node dies', async () => {
    const a = await mesh().joinRoom('failover');
    const b = await mesh().joinRoom('failover');
    await waitFor(() => a.peerIds().includes(b.selfId), 5000, 'presence');
    const victimId = a.nodes()[0]!.id;
    const victim = nodes.find((n) => n.id === victimId)!;
    await victim.close();
    await waitFor(() => !a.nodes().some((n) => n.id === victimId) && a.nodes().length === 2 && a.nodes().every((n) => n.connected), 15_000, 'failover a');
    await waitFor(() => !b.nodes().some((n) => n.id === victimId) && b.nodes().every((n) => n.connected), 15_000, 'failover b');
    const gotB = collect(b);
    await a.send('after failover');
    await waitFor(() => gotB.length === 1, 5000, 'delivery after failover');
    expect(gotB[0]!.data).toBe('after failover');
    await Promise.all([a.leave(), b.leave()]);
  });
});

describe('a room whose only node has an outage', () => {
  test('finds the node again once it is back, instead of staying without nodes', async () => {
    const solo = await startFakeNode({ work: 64 });
    try {
      const m = createMesh({ seeds: [solo.url], appId: 'test-app', storage: memoryStorage(), solver, k: 1 });
      meshes.push(m);
      const a = await m.joinRoom('outage');
      expect(a.nodes().map((n) => n.url)).toEqual([solo.url]);
      solo.setDown(true);
      await waitFor(() => a.nodes().length === 0, 15_000, 'the node given up');
      await expect(a.send('while down')).rejects.toThrow();
      solo.setDown(false);
      await waitFor(() => a.nodes().some((n) => n.url === solo.url && n.connected), 15_000, 'the node chosen again');
      await a.send('after the outage');
      const hash = a.hash;
      await waitFor(() => (solo.posts.get(hash) ?? []).length > 0, 5000, 'post accepted');
      await a.leave();
    } finally {
      await solo.close();
    }
  });
});

describe('signals before the peers helper attaches', () => {
  test('are kept in order for drainSignals; once someone listens they are emitted, not kept', async () => {
    const a = await mesh().joinRoom('early-signals');
    const b = await mesh().joinRoom('early-signals');
    await waitFor(() => a.peerIds().includes(b.selfId), 5000, 'presence');
    // b has no 'signal' listener yet: an offer and candidates sent now must not be lost.
    await a.send({ d: { type: 'offer', sdp: 'v=0' } }, { type: 'signal', to: b.selfId });
    await a.send({ c: [{ candidate: 'candidate:1' }] }, { type: 'signal', to: b.selfId });
    const kept: RoomMessage[] = [];
    await waitFor(() => { kept.push(...b.drainSignals()); return kept.length >= 2; }, 5000, 'backlog');
    expect(kept.map((m) => m.data)).toEqual([{ d: { type: 'offer', sdp: 'v=0' } }, { c: [{ candidate: 'candidate:1' }] }]);
    expect(kept.every((m) => m.from === a.selfId && m.type === 'signal')).toBe(true);

    const live: RoomMessage[] = [];
    b.on('signal', (m) => live.push(m));
    await a.send({ c: [] }, { type: 'signal', to: b.selfId });
    await waitFor(() => live.length === 1, 5000, 'live signal');
    expect(b.drainSignals()).toEqual([]);
  });
});

describe('own posts and the wire peer id', () => {
  function soloMesh(node: FakeNode): Mesh {
    const m = createMesh({ seeds: [node.url], appId: 'test-app', storage: memoryStorage(), solver, k: 1 });
    meshes.push(m);
    return m;
  }

  test('streams carry ?peer=, posts the same X-Room-Peer, so a node that knows it echoes nothing; replays of own posts are still dropped', async () => {
    const solo = await startFakeNode({ work: 64 });
    try {
      const a = await soloMesh(solo).joinRoom('peer-tag');
      const b = await soloMesh(solo).joinRoom('peer-tag');
      await waitFor(() => a.peerIds().includes(b.selfId) && b.peerIds().includes(a.selfId), 5000, 'presence');
      const [peerA, peerB] = solo.streamPeers; // a's stream opened before b joined
      expect(peerA).toMatch(/^[0-9a-f]{32}$/);
      expect(peerB).toMatch(/^[0-9a-f]{32}$/);
      expect(peerA).not.toBe(peerB);
      expect(peerA).not.toBe(a.selfId); // sealed rooms hide selfId from nodes
      const gotA = collect(a);
      const gotB = collect(b);
      await a.send('from a');
      await waitFor(() => gotB.length === 1, 5000, 'delivery');
      const posts = solo.posts.get(a.hash) ?? [];
      expect(solo.postPeers).toHaveLength(posts.length);
      expect(solo.postPeers.every((p) => p === peerA || p === peerB)).toBe(true);
      expect(solo.postPeers[posts.indexOf(posts.find((p) => p.includes('"from a"'))!)]).toBe(peerA);
      // Every post was kept off exactly its poster's one stream, and written nowhere as an echo.
      expect(solo.echoesSkipped).toBe(solo.postPeers.length);
      expect(solo.ownEchoes).toBe(0);

      // A resume replays what the node holds, own posts included (history keeps no poster).
      const opened = solo.streamsOpened;
      solo.dropStreams();
      await waitFor(() => solo.streamsOpened >= opened + 2, 5000, 'reconnects');
      expect(solo.lastEventIds.slice(-2).every((id) => /^\d+-\d+$/.test(id))).toBe(true);
      expect(solo.streamPeers.slice(-2).sort()).toEqual([peerA, peerB].sort());
      await b.send('after the drop');
      await waitFor(() => gotA.length >= 1, 5000, 'reply');
      expect(gotA.map((m) => m.data)).toEqual(['after the drop']);
      expect(gotB.map((m) => m.data)).toEqual(['from a']);
      await Promise.all([a.leave(), b.leave()]);
    } finally {
      await solo.close();
    }
  });

  test('a node that predates it echoes own posts, and they are still ignored', async () => {
    const old = await startFakeNode({ work: 64, legacy: true });
    try {
      const a = await soloMesh(old).joinRoom('old-node');
      const b = await soloMesh(old).joinRoom('old-node');
      await waitFor(() => a.peerIds().includes(b.selfId) && b.peerIds().includes(a.selfId), 5000, 'presence');
      const gotA = collect(a);
      await a.send({ text: 'mine', parts: 'y'.repeat(2000) }); // fragments echo too
      await b.send('theirs'); // reaches a after the echo of a's post (one stream, in order)
      await waitFor(() => gotA.length >= 1, 5000, 'reply');
      expect(old.ownEchoes).toBeGreaterThan(2); // every post (hellos, each fragment) came back to its poster
      expect(gotA.map((m) => m.data)).toEqual(['theirs']);
      expect(old.postPeers.every((p) => /^[0-9a-f]{32}$/.test(p))).toBe(true);
      await Promise.all([a.leave(), b.leave()]);
    } finally {
      await old.close();
    }
  });
});
