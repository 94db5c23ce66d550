import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createMesh, type Mesh } from '../src/mesh.js';
import { NodeClient } from '../src/node-client.js';
import { joinPeers } from '../src/peers.js';
import type { DataChannelLike, PeerConnectionLike, RtcConfiguration } from '../src/rtc-types.js';
import { createSolver, type Solver } from '../src/solver.js';
import { memoryStorage } from '../src/storage.js';
import { startFakeNode, waitFor, type FakeNode } from './support/fake-node.js';
import { bundleSolverWorker, type WorkerBundle } from './support/worker-bundle.js';

/** An RTCPeerConnection that never connects: the test only counts how many are made. */
class CountingPeerConnection implements PeerConnectionLike {
  static made = 0;
  localDescription = null;
  remoteDescription = null;
  signalingState = 'stable';
  connectionState = 'new';
  constructor(_config: RtcConfiguration) { CountingPeerConnection.made++; }
  async setLocalDescription(): Promise<void> {}
  async setRemoteDescription(): Promise<void> {}
  async addIceCandidate(): Promise<void> {}
  createDataChannel(): DataChannelLike {
    return { readyState: 'connecting', send() {}, close() {}, addEventListener() {} } as unknown as DataChannelLike;
  }
  restartIce(): void {}
  async getStats(): Promise<never> { throw new Error('no stats'); }
  close(): void {}
  addEventListener(): void {}
}

let bundle: WorkerBundle;
let solver: Solver;
let node: FakeNode;
let mesh: Mesh;

beforeAll(async () => {
  bundle = await bundleSolverWorker();
  solver = createSolver({ workers: 1, workerUrl: bundle.url });
  node = await startFakeNode({ work: 64 });
  mesh = createMesh({ seeds: [node.url], appId: 'test-app', storage: memoryStorage(), solver, k: 1 });
});

afterAll(async () => {
  await mesh?.close();
  solver?.close();
  bundle?.dispose();
  await node?.close();
});

describe('peers helper', () => {
  test('made-up peer ids posted to the room open at most maxLinks connections', async () => {
    const room = await mesh.joinRoom('crowd');
    const peers = await joinPeers(room, { RTCPeerConnection: CountingPeerConnection, rtcConfig: { iceServers: [] }, maxLinks: 4 });
    try {
      // Anyone who pays can post: ten signals from ten invented ids, addressed to us.
      const poster = new NodeClient(node.url, { solver });
      for (let i = 0; i < 10; i++) {
        const from = i.toString(16).padStart(32, 'a');
        await poster.postRoom(room.hash, JSON.stringify({ v: 1, mid: `spam${i}xxxxxxxx`, from, to: room.selfId, t: 'signal', data: { c: [] } }));
      }
      await waitFor(() => room.peerIds().length === 10, 5000, 'all ten seen by the room');
      expect(CountingPeerConnection.made).toBe(4);
    } finally {
      peers.close();
      await room.leave();
    }
  });
});
