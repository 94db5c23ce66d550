// A tiny stand-in for a mesh node speaking the parts of PROTOCOL.md sigmesh uses,
// with its own PoW verifier written with node:crypto.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData } from 'ws';

export interface FakeNodeOptions {
  work?: number;
  roomWork?: number;
  network?: string;
  nodes?: () => string[];
  /** A node that predates `?peer=` / `X-Room-Peer`: ignores both and echoes every post to its poster. */
  legacy?: boolean;
  /** Offers the post channel (a WebSocket on /room/<hash>); without it an upgrade gets 404, as from an older node. */
  channel?: boolean;
}

/**
 * What the next channel post meets: taken then the socket cut before the answer,
 * cut before it is taken, or taken and never answered (a slow store; the socket stays open).
 */
export type ChannelFault = 'accept_then_drop' | 'drop' | 'stall';

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
  /** WebSocket upgrade requests received (answered 404 without `channel`). */
  upgrades: number;
  channelsOpened: number;
  /** Channels open now. */
  channelsOpen: number;
  /** `?peer=` of each channel opened ('' without). */
  channelPeers: string[];
  /** X-PoW of each HTTP room post, and `pow` of each channel frame, as received (accepted or not). */
  httpProofs: string[];
  channelProofs: string[];
  /** Room posts accepted over HTTP and over channels. */
  httpPosts: number;
  channelPosts: number;
  /** Set to make the next channel post fail so (cleared once used). */
  channelFault: ChannelFault | null;
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
    upgrades: 0, channelsOpened: 0, channelsOpen: 0, channelPeers: [], httpProofs: [], channelProofs: [],
    httpPosts: 0, channelPosts: 0, channelFault: null,
    dropStreams: () => { for (const set of streams.values()) for (const r of set) r.end(); },
    setDown: (v) => {
      down = v;
      if (v) for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const json = (res: ServerResponse, status: number, v: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
    res.end(JSON.stringify(v));
  };
  /** A 402 body; counts the refusal. */
  const refusal = (code: string, price: number): Record<string, unknown> => {
    node.refusals.set(code, (node.refusals.get(code) ?? 0) + 1);
    // Rotate the token now and then, as a real node does.
    token = `v1.${Math.floor(Date.now() / 1000)}.${randomBytes(8).toString('base64url')}`;
    tokens.add(token);
    return { error: code, message: 'pay', token, work: price, difficulty: Math.log2(price) };
  };
  const refuse = (res: ServerResponse, code: string, price: number): void => json(res, 402, refusal(code, price));
  /** Checks a proof and spends it (one replay set for HTTP and channels); null when paid, else the refusal code. */
  const spend = (header: string | undefined, method: string, path: string, body: string, price: number): string | null => {
    const r = verify(header, method, path, body, tokens, price);
    if (!r.startsWith('ok:')) return r;
    if (seenProofs.has(r)) return 'pow_replayed';
    seenProofs.add(r);
    return null;
  };
  /** Stores a paid room post and writes it to the room's streams (not to the poster's own, unless legacy). */
  const acceptPost = (hash: string, body: string, poster: string | undefined): string => {
    node.postPeers.push(poster ?? '');
    const msgId = `${Date.now()}-${seq++}`;
    const h = history.get(hash) ?? [];
    h.push({ id: msgId, body });
    history.set(hash, h);
    node.posts.set(hash, [...(node.posts.get(hash) ?? []), body]);
    const frame = `id: ${msgId}\n${body.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`;
    for (const r of streams.get(hash) ?? []) {
      const own = poster !== undefined && streamPeer.get(r) === poster;
      if (own && !opts.legacy) { node.echoesSkipped++; continue; }
      if (own) node.ownEchoes++;
      r.write(frame);
    }
    return msgId;
  };
  const readBody = (req: IncomingMessage): Promise<string> => new Promise((resolve) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { b += c; });
    req.on('end', () => resolve(b));
  });
  const paid = (req: IncomingMessage, res: ServerResponse, path: string, body: string, price: number): boolean => {
    const code = spend(req.headers['x-pow'] as string | undefined, req.method!, path, body, price);
    if (code !== null) { refuse(res, code, price); return false; }
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
        node.httpProofs.push((req.headers['x-pow'] as string | undefined) ?? '');
        // The header is outside the proof: verified on path and body only.
        if (!paid(req, res, url.pathname, body, roomWork)) return;
        node.httpPosts++;
        return json(res, 202, { id: acceptPost(hash, body, typeof poster === 'string' ? poster : undefined) });
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
  // The post channel (PROTOCOL "Post channel"), as far as sigmesh uses it: frames {n, pow, data}, answers {n, id} or {n, ...402 body}.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    node.upgrades++;
    const url = new URL(req.url ?? '/', 'http://x');
    const room = /^\/room\/([0-9a-f]{64}|[0-9a-f]{40})$/.exec(url.pathname);
    const peer = url.searchParams.get('peer') ?? undefined;
    if (!opts.channel || !room || (peer !== undefined && !PEER.test(peer))) {
      const status = opts.channel && room ? '400 Bad Request' : '404 Not Found';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
      return;
    }
    const hash = room[1]!;
    wss.handleUpgrade(req, socket, head, (ws) => {
      node.channelsOpened++;
      node.channelsOpen++;
      node.channelPeers.push(peer ?? '');
      ws.on('close', () => { node.channelsOpen--; });
      ws.on('message', (raw: RawData) => {
        const f = JSON.parse(raw.toString()) as { n: number; pow?: string; data: string };
        node.channelProofs.push(f.pow ?? '');
        const fault = node.channelFault;
        node.channelFault = null;
        if (fault === 'drop') { ws.terminate(); return; }
        const code = spend(f.pow, 'POST', url.pathname, f.data, roomWork);
        if (code !== null) { ws.send(JSON.stringify({ n: f.n, ...refusal(code, roomWork) })); return; }
        node.channelPosts++;
        const id = acceptPost(hash, f.data, peer);
        if (fault === 'accept_then_drop') { ws.terminate(); return; }
        if (fault === 'stall') return;
        ws.send(JSON.stringify({ n: f.n, id }));
      });
    });
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
