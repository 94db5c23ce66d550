// Demo page served by a node at /demo: join a room through this node (and the mesh it
// knows), see peers appear, chat over WebRTC data channels.
import { createMesh, joinPeers, type Peers, type Room } from '../src/index.js';

interface DomEl { textContent: string | null; value: string; checked: boolean; disabled: boolean; scrollTop: number; scrollHeight: number;
  append(...n: unknown[]): void; addEventListener(t: string, fn: (ev: { preventDefault(): void }) => void): void }
interface DomDoc { getElementById(id: string): DomEl | null; createElement(tag: string): DomEl & { className: string } }
const doc = (globalThis as unknown as { document: DomDoc }).document;
const $ = (id: string): DomEl => doc.getElementById(id)!;
const origin = (globalThis as unknown as { location: { origin: string } }).location.origin;

const mesh = createMesh({ seeds: [origin], appId: 'sigmesh-demo' });
let room: Room | null = null;
let peers: Peers | null = null;
const kinds = new Map<string, string>();

function log(text: string, sys = false): void {
  const line = doc.createElement('div');
  line.textContent = text;
  if (sys) line.className = 'sys';
  const box = $('log');
  box.append(line);
  box.scrollTop = box.scrollHeight;
}
const short = (id: string): string => id.slice(0, 8);

function showPeers(): void {
  const ids = room?.peerIds() ?? [];
  $('peers').textContent = ids.length ? ids.map((id) => `${short(id)} (${kinds.get(id) ?? 'connecting'})`).join(', ') : 'none';
}

$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void join().catch((err: unknown) => log(`join failed: ${String(err)}`, true));
});

async function join(): Promise<void> {
  peers?.close();
  await room?.leave();
  const name = $('room').value.trim();
  const password = $('password').value;
  log(`joining "${name}"…`, true);
  room = await mesh.joinRoom(name, password ? { password } : {});
  const r = room;
  const showNodes = (): void => {
    $('nodes').textContent = r.nodes().map((n) => `${n.url} (difficulty ${n.difficulty.toFixed(2)}${n.connected ? '' : ', down'})`).join(', ');
  };
  showNodes();
  r.on('nodes', showNodes);
  r.on('peer', ({ id }) => { log(`peer ${short(id)} joined`, true); showPeers(); });
  r.on('peer-left', ({ id }) => { log(`peer ${short(id)} left`, true); kinds.delete(id); showPeers(); });
  log(`joined as ${short(r.selfId)}`, true);
  peers = await joinPeers(r, { relayOnly: $('relay').checked });
  const p = peers;
  p.on('channel', ({ id }) => {
    void p.connectionType(id).then((kind) => { kinds.set(id, kind); showPeers(); log(`data channel with ${short(id)} open (${kind})`, true); });
    $('text').disabled = false;
    $('send').disabled = false;
  });
  p.on('message', ({ id, data }) => log(`${short(id)}: ${String(data)}`));
  p.on('close', ({ id }) => { kinds.delete(id); showPeers(); });
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
