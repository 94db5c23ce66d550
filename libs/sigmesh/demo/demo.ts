// Demo page served by a node at /demo: join a room through this node (and the mesh it
// knows), see peers appear, chat over WebRTC data channels, see which nodes (and at
// what price) carry the room and whether each connection is direct or relayed.
//
// Query parameters: `seeds` (comma-separated node origins; default this page's
// origin), `k` (nodes per room, 1-4), `room`, `relay=1` (pre-fill the form).
import {
  createMesh, joinPeers, SigmeshError, type CloseReason, type PeerConnectionLike, type Peers, type PowChallenge, type Room, type RoomNode,
} from '../src/index.js';

interface DomEl { textContent: string | null; value: string; checked: boolean; disabled: boolean; scrollTop: number; scrollHeight: number;
  className: string; append(...n: unknown[]): void; addEventListener(t: string, fn: (ev: { preventDefault(): void }) => void): void }
interface DomDoc { getElementById(id: string): DomEl | null; createElement(tag: string): DomEl }
/** `<progress>`: its value is a number. */
interface ProgressEl { value: number; max: number }
const doc = (globalThis as unknown as { document: DomDoc }).document;
const $ = (id: string): DomEl => doc.getElementById(id)!;
const bar = doc.getElementById('powbar') as unknown as ProgressEl;
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
let joining = false;
let joins = 0;
const kinds = new Map<string, string>();
const pcs = new Map<string, PeerConnectionLike>();
/** Per peer: ICE candidate errors and how many relayed candidates we gathered, for a failure's cause. */
const ice = new Map<string, { errors: string[]; relayed: number }>();
/** Everything the page showed, for people reading the log and for tests reading the page. */
const received: { from: string; text: string }[] = [];
const events: string[] = [];

function log(text: string, kind: 'sys' | 'cost' | '' = ''): void {
  const line = doc.createElement('div');
  line.textContent = text;
  if (kind) line.className = kind;
  const box = $('log');
  box.append(line);
  box.scrollTop = box.scrollHeight;
  if (kind && events.length < 1000) events.push(text);
}

/** The banner above the facts: what went wrong and what to try; empty hides it. */
function status(text: string, error = false): void {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
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

/** A sentence for a person, from whatever a join or a post threw. */
function explain(err: unknown): string {
  if (err instanceof SigmeshError) {
    if (err.code === 'no_nodes') return `no node answered (seeds: ${(seeds.length ? seeds : [loc.origin]).join(', ')}): is the node running and reachable?`;
    if (err.code === 'pow_exhausted') return 'the node kept refusing our proof of work (its price is rising fast: try again in a minute)';
    if (err.code === 'network') return `network error: ${err.message}`;
    return `${err.code}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function setJoining(on: boolean): void {
  joining = on;
  const button = $('join-button');
  button.disabled = on;
  button.textContent = on ? 'Joining…' : room ? 'Rejoin' : 'Join';
}

$('join').addEventListener('submit', (ev) => {
  ev.preventDefault();
  // One join at a time: clicks while joining made sessions that then met each other.
  if (joining) return;
  setJoining(true);
  status('');
  void join().catch((err: unknown) => {
    const text = `Join failed: ${explain(err)}`;
    log(text, 'sys');
    status(text, true);
  }).finally(() => setJoining(false));
});

async function join(): Promise<void> {
  joins++;
  peers?.close();
  await room?.leave();
  room = null;
  kinds.clear();
  pcs.clear();
  ice.clear();
  const name = $('room').value.trim();
  const password = $('password').value;
  const relayOnly = $('relay').checked;
  log(`joining "${name}"…`, 'sys');
  room = await mesh.joinRoom(name, password ? { password } : {});
  const r = room;
  showNodes(r.nodes());
  r.on('nodes', showNodes);
  r.on('peer', ({ id }) => { log(`peer ${short(id)} joined`, 'sys'); showPeers(); });
  r.on('peer-left', ({ id }) => { log(`peer ${short(id)} left`, 'sys'); kinds.delete(id); showPeers(); });
  r.on('error', (err) => log(`room error: ${explain(err)}`, 'sys'));
  r.on('undecryptable', ({ total }) => {
    status(`${total} undecryptable message${total === 1 ? '' : 's'} in this room: wrong password? (Everyone must type the same one.)`, true);
  });
  log(`joined as ${short(r.selfId)}`, 'sys');
  peers = await joinPeers(r, { relayOnly });
  const p = peers;
  p.on('peer', ({ id, pc }) => {
    pcs.set(id, pc);
    const facts = { errors: [] as string[], relayed: 0 };
    ice.set(id, facts);
    pc.addEventListener('connectionstatechange', () => log(`connection with ${short(id)}: ${pc.connectionState}`, 'sys'));
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate && / typ relay /.test(candidate.toJSON().candidate ?? '')) facts.relayed++;
    });
    // Not in the library's slice of the WebRTC API: the browser's own event.
    (pc as unknown as { addEventListener(t: 'icecandidateerror', fn: (ev: { errorCode: number; errorText: string; url?: string }) => void): void })
      .addEventListener('icecandidateerror', (ev) => {
        if (facts.errors.length < 8) facts.errors.push(`${ev.errorCode} ${ev.errorText}${ev.url ? ` from ${ev.url}` : ''}`.trim());
      });
  });
  p.on('channel', ({ id }) => {
    void p.connectionType(id).then((kind) => { kinds.set(id, kind); showPeers(); log(`data channel with ${short(id)} open (${kind})`, 'sys'); });
    $('text').disabled = false;
    $('send').disabled = false;
  });
  p.on('message', ({ id, data }) => {
    const text = String(data);
    if (received.length < 1000) received.push({ from: id, text });
    log(`${short(id)}: ${text}`);
  });
  p.on('close', ({ id, reason }) => {
    const facts = ice.get(id);
    pcs.delete(id);
    ice.delete(id);
    // Still in the room, but no connection: say so instead of "connecting" forever.
    if (reason === 'failed' || reason === 'stalled') kinds.set(id, 'no connection');
    else kinds.delete(id);
    showPeers();
    if (reason === 'failed' || reason === 'stalled') {
      const text = failure(id, reason, relayOnly, facts ?? { errors: [], relayed: 0 });
      log(text, 'sys');
      status(text, true);
    }
  });
  p.on('error', (err) => log(`peer error: ${explain(err)}`, 'sys'));
}

/** The final word on a connection that never worked, with what to try. */
function failure(id: string, reason: CloseReason, relayOnly: boolean, facts: { errors: string[]; relayed: number }): string {
  let text = `No connection with ${short(id)}: ${reason === 'failed' ? 'ICE found no working path, even after a restart' : 'negotiation made no progress through every restart'}.`;
  if (facts.errors.length) text += ` ICE errors: ${facts.errors.join('; ')}.`;
  if (relayOnly) {
    text += facts.relayed === 0
      ? ' Relay only, and our TURN gave us no relayed address (unreachable, or it refused the allocation):'
      : ' Relay only: the TURN server handed out a relay but refused to relay to the peer (coturn denies private and loopback peer addresses):';
    text += ' the node operator can allow them with TURN_ALLOWED_PEERS, or untick "relay only".';
  }
  return text;
}

$('chat').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  if (!text || !peers) return;
  const n = peers.broadcast(text);
  log(`me → ${n} peer(s): ${text}  (data channel: free)`);
  $('text').value = '';
});

/** Labels of long posts' first parts, by fragment id: the later parts say what they belong to. */
const partOf = new Map<string, string>();

/** What an envelope is, for the log (the whole one, or the start of a long one). */
function envelopeLabel(json: string): string {
  const t = /"t":"(\w+)"/.exec(json)?.[1] ?? '?';
  // The bye is paid ahead, so that a closing tab can still send it (pagehide).
  if (t === 'bye') return 'a "bye" (paid ahead, sent when leaving)';
  if (t !== 'signal') return `a "${t}"${/"to":"/.test(json) ? ' to one peer' : ''}`;
  const d = /"d":\{"type":"(\w+)"/.exec(json)?.[1];
  const c = (json.match(/"candidate":/g) ?? []).length;
  return `a signal (${[d, c ? `${c} candidates` : undefined].filter(Boolean).join(', ') || 'empty'})`;
}

/** What a paid request was, from its challenge (room posts are envelopes unless sealed). */
function paidFor(c: PowChallenge): string {
  if (c.path === '/token') return 'TURN credentials';
  const body = typeof c.body === 'string' ? c.body : '';
  const m = /^f1\.([0-9A-Za-z]+)\.(\d+)\.(\d+)\.([\s\S]*)$/.exec(body);
  if (m) {
    const [, fid, i, n, chunk] = m;
    if (i === '0') partOf.set(fid!, chunk!.startsWith('e1.') ? 'an encrypted room post' : envelopeLabel(chunk!));
    if (partOf.size > 64) partOf.delete(partOf.keys().next().value!);
    return `part ${Number(i) + 1}/${n} of ${partOf.get(fid!) ?? 'a long room post'}`;
  }
  return body.startsWith('e1.') ? 'an encrypted room post' : envelopeLabel(body);
}

const fmt = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(Math.round(n)));
let paidPosts = 0;
let paidHashes = 0;

// PoW progress: a bar, hash rate, ETA, and each paid request's cost in the log.
const solve = mesh.solver.solve.bind(mesh.solver);
mesh.solver.solve = (c, o = {}) => {
  const work = Number(c.work);
  const bits = Math.log2(work).toFixed(1);
  const what = paidFor(c);
  // The rate is measured from the first progress report on (queued behind another
  // solve, this one had not started before it; its first batch was done before it).
  let firstAt = 0;
  let firstTried = 0;
  let shownAt = 0;
  let triedAll = 0;
  $('pow').textContent = `solving 2^${bits} for ${what}…`;
  bar.value = 0;
  const show = (tried: number): void => {
    const now = performance.now();
    triedAll = tried;
    if (firstAt === 0) { firstAt = now; firstTried = tried; return; }
    if (now - shownAt < 100 || now - firstAt < 50) return;
    shownAt = now;
    const rate = (tried - firstTried) / ((now - firstAt) / 1000);
    const eta = Math.max(0, (work - tried) / rate);
    bar.value = Math.min(0.99, tried / work);
    $('pow').textContent = `solving 2^${bits} for ${what}: ${fmt(tried)} of ~${fmt(work)} hashes, ${fmt(rate)}H/s, about ${eta.toFixed(1)} s left`;
  };
  const started = performance.now();
  return solve(c, { ...o, onProgress: (pr) => { o.onProgress?.(pr); show(pr.tried); } }).then((header) => {
    const now = performance.now();
    // Waited for, queue included: what the person felt.
    const ms = Math.round(now - started);
    paidPosts++;
    paidHashes += work;
    bar.value = 1;
    const rate = firstAt > 0 && now - firstAt > 20 ? `, ${fmt((triedAll - firstTried) / ((now - firstAt) / 1000))}H/s` : '';
    $('pow').textContent = `paid 2^${bits} in ${ms} ms${rate} (${mesh.solver.mode()}); ${paidPosts} paid so far, ~${fmt(paidHashes)} hashes`;
    log(`paid 2^${bits} (~${fmt(work)} hashes) for ${what} in ${ms} ms`, 'cost');
    return header;
  });
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
  joins: () => joins,
  status: () => $('status').textContent ?? '',
  pow: () => $('pow').textContent ?? '',
  byeReady: () => room?.byeReady() ?? false,
  connected: () => peers?.connected() ?? [],
  kinds: () => Object.fromEntries(kinds),
  received: () => [...received],
  events: () => [...events],
  selectedPair,
  connections,
};
