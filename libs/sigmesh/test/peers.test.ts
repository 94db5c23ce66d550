import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createMesh, type Mesh } from '../src/mesh.js';
import { NodeClient } from '../src/node-client.js';
import { joinPeers } from '../src/peers.js';
import type { DataChannelLike, IceCandidateInit, PeerConnectionLike, RtcConfiguration, SessionDescription } from '../src/rtc-types.js';
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

type Listener = (ev: { candidate: { toJSON(): IceCandidateInit } | null }) => void;

/**
 * An RTCPeerConnection that negotiates with its twin through the real Peers code and
 * gathers candidates on a fixed script (ms after each local description): three at
 * once, one a little later, one after a long while, then the end of gathering.
 */
class ScriptedPeerConnection implements PeerConnectionLike {
  static script: (number | null)[] = [0, 0, 20, 500, 900, null];
  static endMs = 1000;
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  signalingState = 'stable';
  connectionState = 'new';
  private readonly listeners = new Map<string, ((ev: never) => void)[]>();
  private readonly timers: ReturnType<typeof setTimeout>[] = [];
  private gen = 0;
  constructor(_config: RtcConfiguration) {
    // Like browsers: the negotiated channel makes negotiation needed, on a later task.
    this.timers.push(setTimeout(() => this.fire('negotiationneeded', {} as never), 0));
  }
  async setLocalDescription(desc?: SessionDescription): Promise<void> {
    if (desc?.type === 'rollback') { this.localDescription = null; this.signalingState = 'stable'; return; }
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer';
    this.localDescription = { type, sdp: `fake ${type}` };
    this.signalingState = type === 'offer' ? 'have-local-offer' : 'stable';
    const gen = ++this.gen;
    ScriptedPeerConnection.script.forEach((at, i) => {
      this.timers.push(setTimeout(() => {
        if (this.gen === gen) this.fire('icecandidate', { candidate: { toJSON: () => ({ candidate: `candidate:${i} ${type}`, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'uf' }) } } as never);
      }, at ?? ScriptedPeerConnection.endMs));
    });
    this.timers.push(setTimeout(() => { if (this.gen === gen) this.fire('icecandidate', { candidate: null } as never); }, ScriptedPeerConnection.endMs));
  }
  async setRemoteDescription(desc: SessionDescription): Promise<void> {
    this.remoteDescription = { type: desc.type, sdp: desc.sdp ?? '' };
    this.signalingState = desc.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  async addIceCandidate(): Promise<void> {}
  createDataChannel(): DataChannelLike {
    return { readyState: 'connecting', send() {}, close() {}, addEventListener() {} } as unknown as DataChannelLike;
  }
  restartIce(): void {}
  async getStats(): Promise<never> { throw new Error('no stats'); }
  close(): void { for (const t of this.timers) clearTimeout(t); this.gen = -1; }
  addEventListener(type: string, fn: (ev: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  private fire(type: string, ev: never): void {
    for (const fn of this.listeners.get(type) ?? []) (fn as Listener)(ev);
  }
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
  test('in Node, without an RTCPeerConnection passed in, joinPeers says what to pass', async () => {
    const room = await mesh.joinRoom('no-webrtc', { presence: false });
    try {
      await expect(joinPeers(room, { rtcConfig: { iceServers: [] } })).rejects.toThrow(/pass joinPeers\(room, \{ RTCPeerConnection \}\)/);
    } finally {
      await room.leave();
    }
  });

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

  test('one connection costs each side at most 3 signal posts: the impolite offers, the polite answers, candidates batched (default window)', async () => {
    const ra = await mesh.joinRoom('batching');
    const rb = await mesh.joinRoom('batching');
    await waitFor(() => ra.peerIds().includes(rb.selfId) && rb.peerIds().includes(ra.selfId), 5000, 'presence');
    const opts = { RTCPeerConnection: ScriptedPeerConnection, rtcConfig: { iceServers: [] } };
    const [pa, pb] = await Promise.all([joinPeers(ra, opts), joinPeers(rb, opts)]);
    try {
      // Candidates of the first m-line travel as bare strings (a third of the bytes).
      type Sig = { from: string; data: { d?: SessionDescription; c?: (string | IceCandidateInit)[] } };
      const signals = (): Sig[] => (node.posts.get(ra.hash) ?? []).map((b) => JSON.parse(b) as Sig & { t: string })
        .filter((e) => e.t === 'signal');
      const candidates = (from: string): string[] => signals().filter((e) => e.from === from).flatMap((e) => (e.data.c ?? []).map((c) => {
        if (typeof c !== 'string') throw new Error(`a candidate posted as an object: ${JSON.stringify(c)}`);
        return c;
      }));
      const all = ScriptedPeerConnection.script.length;
      // Every candidate of both gatherings arrives (the end of gathering flushes the last).
      await waitFor(() => candidates(ra.selfId).length === all && candidates(rb.selfId).length === all, 8000, 'all candidates posted');
      const [polite, impolite] = ra.selfId < rb.selfId ? [ra.selfId, rb.selfId] : [rb.selfId, ra.selfId];
      const by = (from: string): Sig[] => signals().filter((e) => e.from === from);
      expect(by(impolite).map((e) => e.data.d?.type ?? null)).toEqual(['offer', null, null]);
      expect(by(polite).map((e) => e.data.d?.type ?? null)).toEqual(['answer', null, null]);
      // The description carried what gathered within the window (the first three).
      expect(by(impolite)[0]!.data.c).toHaveLength(3);
      expect(by(polite)[0]!.data.c).toHaveLength(3);
    } finally {
      pa.close();
      pb.close();
      await Promise.all([ra.leave(), rb.leave()]);
    }
  });
});
