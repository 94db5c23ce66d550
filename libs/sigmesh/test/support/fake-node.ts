// A tiny stand-in for a mesh node speaking the parts of PROTOCOL.md sigmesh uses,
// with its own PoW verifier written with node:crypto.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeNodeOptions {
  work?: number;
  roomWork?: number;
  network?: string;
  nodes?: () => string[];
  /** A node that predates `?peer=` / `X-Room-Peer`: ignores both and echoes every post to its poster. */
  legacy?: boolean;
}

export interface FakeNode {
  url: string;
  id: string;
  /** Posts accepted, by room hash. */
  posts: Map<string, string[]>;
  /** 402 refusals sent, by error code. */
  refusals: Map<string, number>;
  streamsOpened: number;
  lastEventIds: string[];
  /** `?peer=` of each room stream opened ('' without). */
  streamPeers: string[];
  /** `X-Room-Peer` of each room post accepted ('' without). */
  postPeers: string[];
  /** Live posts written to a stream tagged with the poster's own peer id (legacy nodes only). */
  ownEchoes: number;
  /** Live posts kept off a stream because it is tagged with the poster's peer id. */
  echoesSkipped: number;
  /** Ends every open SSE response (a drop the client should resume from). */
  dropStreams(): void;
  /** An outage on the same address: while down, every connection (open or new) is cut at once. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

function verify(header: string | undefined, method: string, path: string, body: string, tokens: Set<string>, minWork: number): string {
  if (!header) return 'pow_required';
  const m = /^(.+):([1-9][0-9]*):([0-9A-Za-z]{1,32})$/.exec(header);
  if (!m) return 'pow_malformed';
  const [, token, work, nonce] = m;
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const h = createHash('sha256').update(`${token}:${work}:${method}:${path}:${bodyHash}:${nonce}`).digest();
  if (h.readBigUInt64BE(0) * BigInt(work!) >= 1n << 64n) return 'pow_invalid';
  if (!tokens.has(token!)) return 'pow_expired';
  if (Number(work) < minWork) return 'pow_insufficient';
  return 'ok:' + h.toString('hex');
}

export async function startFakeNode(opts: FakeNodeOptions = {}): Promise<FakeNode> {
  const id = randomBytes(32).toString('hex');
  const network = opts.network ?? 'ab'.repeat(20);
  const work = opts.work ?? 64;
  const roomWork = opts.roomWork ?? work;
  let token = `v1.${Math.floor(Date.now() / 1000)}.${randomBytes(8).toString('base64url')}`;
  const tokens = new Set([token]);
  const seenProofs = new Set<string>();
  const history = new Map<string, { id: string; body: string }[]>();
  const streams = new Map<string, Set<ServerResponse>>();
  const streamPeer = new WeakMap<ServerResponse, string>();
  const PEER = /^[0-9a-f]{16,64}$/;
  const sockets = new Set<Socket>();
  let seq = 0;
  let down = false;
  const node: FakeNode = {
    url: '', id, posts: new Map(), refusals: new Map(), streamsOpened: 0, lastEventIds: [],
    streamPeers: [], postPeers: [], ownEchoes: 0, echoesSkipped: 0,
    dropStreams: () => { for (const set of streams.values()) for (const r of set) r.end(); },
    setDown: (v) => {
      down = v;
      if (v) for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const json = (res: ServerResponse, status: number, v: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
    res.end(JSON.stringify(v));
  };
  const refuse = (res: ServerResponse, code: string, price: number): void => {
    node.refusals.set(code, (node.refusals.get(code) ?? 0) + 1);
    // Rotate the token now and then, as a real node does.
    token = `v1.${Math.floor(Date.now() / 1000)}.${randomBytes(8).toString('base64url')}`;
    tokens.add(token);
    json(res, 402, { error: code, message: 'pay', token, work: price, difficulty: Math.log2(price) });
  };
  const readBody = (req: IncomingMessage): Promise<string> => new Promise((resolve) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { b += c; });
    req.on('end', () => resolve(b));
  });
  const paid = (req: IncomingMessage, res: ServerResponse, path: string, body: string, price: number): boolean => {
    const r = verify(req.headers['x-pow'] as string | undefined, req.method!, path, body, tokens, price);
    if (!r.startsWith('ok:')) { refuse(res, r, price); return false; }
    if (seenProofs.has(r)) { refuse(res, 'pow_replayed', price); return false; }
    seenProofs.add(r);
    return true;
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = await readBody(req);
      const room = /^\/room\/([0-9a-f]{64}|[0-9a-f]{40})$/.exec(url.pathname);
      if (req.method === 'GET' && url.pathname === '/') {
        return json(res, 200, { id, url: node.url, network, token, work, difficulty: Math.log2(work), load: 0, expires: 0, turn: ['stun:127.0.0.1:3478'], version: 'fake' });
      }
      if (req.method === 'GET' && url.pathname === '/nodes') return json(res, 200, opts.nodes?.() ?? [node.url]);
      if (req.method === 'POST' && url.pathname === '/token') {
        if (!paid(req, res, '/token', body, work * 16)) return;
        return json(res, 200, { urls: ['turn:127.0.0.1:3478?transport=udp'], username: '9999999999:x', credential: 'c', ttl: 3600 });
      }
      if (room && req.method === 'POST') {
        const hash = room[1]!;
        const poster = req.headers['x-room-peer'];
        if (typeof poster === 'string' && !opts.legacy && !PEER.test(poster)) return json(res, 400, { error: 'bad_request', message: 'bad X-Room-Peer' });
        // The header is outside the proof: verified on path and body only.
        if (!paid(req, res, url.pathname, body, roomWork)) return;
        node.postPeers.push(typeof poster === 'string' ? poster : '');
        const msgId = `${Date.now()}-${seq++}`;
        const h = history.get(hash) ?? [];
        h.push({ id: msgId, body });
        history.set(hash, h);
        node.posts.set(hash, [...(node.posts.get(hash) ?? []), body]);
        const frame = `id: ${msgId}\n${body.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`;
        for (const r of streams.get(hash) ?? []) {
          const own = typeof poster === 'string' && streamPeer.get(r) === poster;
          if (own && !opts.legacy) { node.echoesSkipped++; continue; }
          if (own) node.ownEchoes++;
          r.write(frame);
        }
        return json(res, 202, { id: msgId });
      }
      if (room && req.method === 'GET') {
        const hash = room[1]!;
        const peers = url.searchParams.getAll('peer');
        if (!opts.legacy && (peers.length > 1 || (peers.length === 1 && !PEER.test(peers[0]!)))) {
          return json(res, 400, { error: 'bad_request', message: 'bad peer' });
        }
        node.streamPeers.push(peers[0] ?? '');
        node.streamsOpened++;
        const last = (req.headers['last-event-id'] as string | undefined) ?? '';
        node.lastEventIds.push(last);
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.write(`retry: 300\nevent: price\ndata: ${JSON.stringify({ token, work: roomWork, difficulty: Math.log2(roomWork) })}\n\n`);
        if (last) {
          for (const m of history.get(hash) ?? []) {
            if (m.id > last) res.write(`id: ${m.id}\n${m.body.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`);
          }
        }
        const set = streams.get(hash) ?? new Set();
        if (peers[0] !== undefined) streamPeer.set(res, peers[0]);
        set.add(res);
        streams.set(hash, set);
        res.on('close', () => set.delete(res));
        return;
      }
      json(res, 404, { error: 'not_found', message: 'no' });
    })();
  });
  server.on('connection', (s: Socket) => {
    if (down) { s.destroy(); return; }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return node;
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
