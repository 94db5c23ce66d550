// Demo page served by a node at /demo: join a room through this node (and the mesh it
// knows), see peers appear, chat over WebRTC data channels, see which nodes (and at
// what price) carry the room and whether each connection is direct or relayed.
//
// Query parameters: `seeds` (comma-separated node origins; default this page's
// origin), `k` (nodes per room, 1-4), `room`, `relay=1` (pre-fill the form).
import { createMesh, joinPeers, type PeerConnectionLike, type Peers, type Room, type RoomNode } from '../src/index.js';

interface DomEl { textContent: string | null; value: string; checked: boolean; disabled: boolean; scrollTop: number; scrollHeight: number;
  append(...n: unknown[]): void; addEventListener(t: string, fn: (ev: { preventDefault(): void }) => void): void }
interface DomDoc { getElementById(id: string): DomEl | null; createElement(tag: string): DomEl & { className: string } }
const doc = (globalThis as unknown as { document: DomDoc }).document;
const $ = (id: string): DomEl => doc.getElementById(id)!;
const loc = (globalThis as unknown as { location: { origin: string; search: string } }).location;
const params = new URLSearchParams(loc.search);

const seeds = (params.get('seeds') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '').slice(0, 8);
const kParam = Number(params.get('k'));
const k = Number.isInteger(kParam) && kParam >= 1 && kParam <= 4 ? kParam : 2;
if (params.has('room')) $('room').value = params.get('room')!.slice(0, 100);
if (params.get('relay') === '1') $('relay').checked = true;

const mesh = createMesh({ seeds: seeds.length ? seeds : [loc.origin], appId: 'sigmesh-demo', k });
let room: Room | null = null;
let peers: Peers | null = null;
const kinds = new Map<string, string>();
const pcs = new Map<string, PeerConnectionLike>();
/** Everything the page showed, for people reading the log and for tests reading the page. */
const received: { from: string; text: string }[] = [];
const events: string[] = [];

function log(text: string, sys = false): void {
  const line = doc.createElement('div');
  line.textContent = text;
  if (sys) line.className = 'sys';
  const box = $('log');
  box.append(line);
  box.scrollTop = box.scrollHeight;
  if (sys && events.length < 1000) events.push(text);
}
const short = (id: string): string => id.slice(0, 8);

function showPeers(): void {
  const ids = room?.peerIds() ?? [];
  $('peers').textContent = ids.length ? ids.map((id) => `${short(id)} (${kinds.get(id) ?? 'connecting'})`).join(', ') : 'none';
}

function showNodes(nodes: RoomNode[]): void {
  $('nodes').textContent = nodes.length
    ? nodes.map((n) => `${n.url} [id ${short(n.id)}, difficulty ${n.difficulty.toFixed(2)}${n.connected ? '' : ', down'}]`).join(', ')
    : 'none';
}

$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void join().catch((err: unknown) => log(`join failed: ${String(err)}`, true));
});

async function join(): Promise<void> {
  peers?.close();
  await room?.leave();
  kinds.clear();
  pcs.clear();
  const name = $('room').value.trim();
  const password = $('password').value;
  log(`joining "${name}"…`, true);
  room = await mesh.joinRoom(name, password ? { password } : {});
  const r = room;
  showNodes(r.nodes());
  r.on('nodes', showNodes);
  r.on('peer', ({ id }) => { log(`peer ${short(id)} joined`, true); showPeers(); });
  r.on('peer-left', ({ id }) => { log(`peer ${short(id)} left`, true); kinds.delete(id); showPeers(); });
  r.on('error', (err) => log(`room error: ${String(err)}`, true));
  log(`joined as ${short(r.selfId)}`, true);
  peers = await joinPeers(r, { relayOnly: $('relay').checked });
  const p = peers;
  p.on('peer', ({ id, pc }) => {
    pcs.set(id, pc);
    pc.addEventListener('connectionstatechange', () => log(`connection with ${short(id)}: ${pc.connectionState}`, true));
  });
  p.on('channel', ({ id }) => {
    void p.connectionType(id).then((kind) => { kinds.set(id, kind); showPeers(); log(`data channel with ${short(id)} open (${kind})`, true); });
    $('text').disabled = false;
    $('send').disabled = false;
  });
  p.on('message', ({ id, data }) => {
    const text = String(data);
    if (received.length < 1000) received.push({ from: id, text });
    log(`${short(id)}: ${text}`);
  });
  p.on('close', ({ id }) => { kinds.delete(id); pcs.delete(id); showPeers(); });
  p.on('error', (err) => log(`peer error: ${String(err)}`, true));
}

$('chat').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  if (!text || !peers) return;
  const n = peers.broadcast(text);
  log(`me → ${n} peer(s): ${text}`);
  $('text').value = '';
});

let solving = 0;
// Show solver activity: wrap the mesh's solver once.
const solve = mesh.solver.solve.bind(mesh.solver);
mesh.solver.solve = (c, o = {}) => {
  solving++;
  $('pow').textContent = `solving work ${String(c.work)}…`;
  return solve(c, o).finally(() => { if (--solving === 0) $('pow').textContent = `last paid work ${String(c.work)}`; });
};

/** The ICE pair a connection uses: candidate types and bytes, from getStats. */
async function selectedPair(id: string): Promise<{
  local: string; remote: string; bytesSent: number; bytesReceived: number; localPort: number; remotePort: number;
} | null> {
  const pc = pcs.get(id);
  if (!pc) return null;
  const stats = await pc.getStats();
  let pairId: string | undefined;
  stats.forEach((s) => { if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pairId = s.selectedCandidatePairId; });
  const pair = pairId ? stats.get(pairId) : undefined;
  if (!pair) return null;
  const candidate = (cid: unknown): { candidateType?: unknown; port?: unknown } | undefined => (typeof cid === 'string' ? stats.get(cid) : undefined);
  const type = (cid: unknown): string => String(candidate(cid)?.candidateType ?? 'unknown');
  // A relayed candidate's port is the relay port the TURN server allocated: it shows whose TURN carried the bytes.
  const port = (cid: unknown): number => Number(candidate(cid)?.port ?? 0);
  return {
    local: type(pair.localCandidateId), remote: type(pair.remoteCandidateId),
    bytesSent: Number(pair.bytesSent ?? 0), bytesReceived: Number(pair.bytesReceived ?? 0),
    localPort: port(pair.localCandidateId), remotePort: port(pair.remoteCandidateId),
  };
}

/** States of every connection, for diagnosing one that does not come up. */
function connections(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [id, pc] of pcs) {
    const p = pc as PeerConnectionLike & { iceConnectionState?: string; iceGatheringState?: string; remoteDescription?: { type: string } | null };
    out[id] = {
      signaling: p.signalingState, connection: p.connectionState, ice: p.iceConnectionState, gathering: p.iceGatheringState,
      local: p.localDescription?.type ?? null, remote: p.remoteDescription?.type ?? null,
    };
  }
  return out;
}

// A read-only view of the page's state, for the browser console and end-to-end tests.
(globalThis as unknown as { sigmeshDemo: unknown }).sigmeshDemo = {
  known: () => mesh.discovery.known().map((n) => n.url),
  selfId: () => room?.selfId ?? null,
  nodes: () => room?.nodes() ?? [],
  peers: () => room?.peerIds() ?? [],
  byeReady: () => room?.byeReady() ?? false,
  connected: () => peers?.connected() ?? [],
  kinds: () => Object.fromEntries(kinds),
  received: () => [...received],
  events: () => [...events],
  selectedPair,
  connections,
};
