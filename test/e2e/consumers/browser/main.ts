// A browser app that installed @mesh/sigmesh from its tarball and bundles it with esbuild.
// It joins a room, opens WebRTC data channels with the browser's own RTCPeerConnection
// (passed in, so the DOM class is checked against the library's types), and says hi.
import { createMesh, joinPeers, type Peers, type Room, type SolverMode } from '@mesh/sigmesh';

interface ConsumerState {
  selfId: string | null;
  connected: string[];
  received: { from: string; text: string }[];
  solver: SolverMode;
  errors: string[];
}

const params = new URLSearchParams(location.search);
const seed = params.get('seed') ?? location.origin;
const state: ConsumerState = { selfId: null, connected: [], received: [], solver: 'idle', errors: [] };
(window as unknown as { consumer: ConsumerState }).consumer = state;

const mesh = createMesh({ seeds: [seed], appId: 'scratch-consumer' });

async function main(): Promise<void> {
  const room: Room = await mesh.joinRoom(params.get('room') ?? 'lobby');
  state.selfId = room.selfId;
  const peers: Peers = await joinPeers(room, { RTCPeerConnection });
  peers.on('channel', ({ id, channel }) => {
    state.connected = peers.connected();
    channel.send(`hi from ${room.selfId} to ${id}`);
  });
  peers.on('message', ({ id, data }) => {
    state.received.push({ from: id, text: typeof data === 'string' ? data : JSON.stringify(data) });
  });
  peers.on('error', (err) => state.errors.push(String(err)));
  state.solver = mesh.solver.mode();
  addEventListener('pagehide', () => void mesh.close());
}

main().catch((err: unknown) => state.errors.push(err instanceof Error ? err.message : String(err)));
