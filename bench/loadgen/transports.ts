/**
 * One client-side interface over the three wire protocols, so the same
 * load generator drives every server:
 * - mesh: SSE `GET /room/<hash>?peer=<id>` to receive, `POST /room/<hash>` with X-PoW and X-Room-Peer to send;
 * - y-webrtc: one WebSocket, `subscribe` / `publish` JSON messages on a topic;
 * - bt-tracker: one WebSocket, `announce` into a swarm, then `answer`s
 *   relayed to one `to_peer_id` (it has no broadcast).
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { solveProof } from '@mesh/shared';
import { PEERS_DIR } from '../lib/paths.js';
import { openStream } from '../lib/sse.js';
import type { TargetKind } from '../lib/targets.js';

export interface ConnectOptions {
  /** Index of the simulated user; spreads connections over the target's ports. */
  index: number;
  /** Room to subscribe to; none for a publisher-only connection. */
  room?: string;
  /** 20 ASCII characters; the tracker's peer_id. */
  peerId: string;
  onMessage?: (body: string) => void;
  /** False for a receive-only connection (idle): no post channel is opened with the stream. */
  sends?: boolean;
}

export interface Conn {
  /** Sends `body` to `room` (to one peer for the tracker). Rejects when the server refused it. */
  send(room: string, body: string, toPeerId?: string): Promise<void>;
  close(): void;
}

export interface Transport {
  /** Resolves once the server holds the subscription (when a room is given). */
  connect(o: ConnectOptions): Promise<Conn>;
  /** Whether a message reaches every subscriber of a room (the tracker relays to one peer). */
  readonly broadcast: boolean;
}

/** The subset of the `ws` client the generator uses. */
interface WsClient {
  send(data: string): void;
  close(): void;
  terminate(): void;
  on(event: 'open' | 'close', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}
type WsConstructor = new (url: string, opts: { perMessageDeflate: boolean }) => WsClient;

let wsCtor: WsConstructor | undefined;
/** `ws` from bench/peers (installed by bench/run.sh), loaded only when a WebSocket peer is driven. */
function loadWs(): WsConstructor {
  wsCtor ??= createRequire(join(PEERS_DIR, 'package.json'))('ws') as WsConstructor;
  return wsCtor;
}

function openWs(port: number): Promise<WsClient> {
  const Ws = loadWs();
  return new Promise((resolve, reject) => {
    const ws = new Ws(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

interface ChannelAnswer { n?: number; id?: string; error?: string; token?: string; message?: string }

/**
 * A post channel (PROTOCOL.md): one WebSocket per room, each post a frame
 * `{n, pow, data}` answered by `n`. A refusal that carries a fresh token (the
 * token rotated) is solved again once, as the HTTP path does.
 */
interface Channel {
  post(body: Buffer, solve: (token?: string) => string): Promise<void>;
  close(): void;
}

/**
 * With `receipts`, each frame carries `n` and the post completes on its answer (as sigmesh
 * posts); without, frames go without `n` and only refusals come back (as a publish on the
 * peers' servers): one of them counts as an error, its message stays undelivered ("lost").
 */
function openChannel(port: number, room: string, peer: string, receipts: boolean, onRefusal: (why: string) => void): Promise<Channel> {
  const Ws = loadWs();
  const ws = new Ws(`ws://127.0.0.1:${port}/room/${room}?peer=${peer}`, { perMessageDeflate: false });
  const pending = new Map<number, (a: ChannelAnswer) => void>();
  let next = 0;
  ws.on('message', (raw) => {
    const a = JSON.parse(raw.toString()) as ChannelAnswer;
    if (a.n === undefined) onRefusal(`${a.error ?? '?'} ${a.message ?? ''}`);
    else {
      const done = pending.get(a.n);
      pending.delete(a.n);
      done?.(a);
    }
  });
  ws.on('close', () => {
    for (const done of pending.values()) done({ error: 'closed' });
    pending.clear();
  });
  const ask = (pow: string, body: Buffer): Promise<ChannelAnswer> => new Promise((resolve) => {
    const n = next++;
    pending.set(n, resolve);
    ws.send(JSON.stringify({ n, pow, data: body.toString('utf8') }));
  });
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => resolve({
      async post(body, solve) {
        if (!receipts) {
          ws.send(JSON.stringify({ pow: solve(), data: body.toString('utf8') }));
          return;
        }
        let a = await ask(solve(), body);
        if (a.error !== undefined && typeof a.token === 'string') a = await ask(solve(a.token), body);
        if (a.error !== undefined) throw new Error(`post refused: ${a.error} ${a.message ?? ''}`);
      },
      close: () => ws.terminate(),
    }));
  });
}

function meshTransport(ports: number[], posts: 'quiet' | 'ack' | 'post', onRefusal: (why: string) => void): Transport {
  // A bounded keep-alive pool per port, like a reverse proxy's upstream pool: thousands of
  // simultaneous connects would overflow the accept queue and measure SYN retries instead.
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let token: string | undefined;

  const fetchToken = (port: number, room: string): Promise<string> => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/room/${room}`, agent, headers: { Accept: 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => {
        try {
          resolve((JSON.parse(text) as { token: string }).token);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });

  const post = (port: number, room: string, body: Buffer, tok: string, peer: string): Promise<{ status: number; text: string }> => {
    const path = `/room/${room}`;
    const { header } = solveProof({ token: tok, work: 1, method: 'POST', path, body });
    return new Promise((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port, path, method: 'POST', agent,
        headers: {
          'X-PoW': header, 'X-Room-Peer': peer, Accept: 'application/json',
          'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length,
        },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  };

  return {
    broadcast: true,
    async connect(o) {
      const port = ports[o.index % ports.length] ?? 0;
      let sock: Socket | undefined;
      // Tagged like sigmesh tags its streams and posts (PROTOCOL.md `peer`): its own posts do not come back.
      const peer = randomBytes(16).toString('hex');
      if (o.room !== undefined) sock = await openStream(port, `/room/${o.room}?peer=${peer}`, o.onMessage);
      const channels = new Map<string, Promise<Channel>>();
      // Opened with the stream, as connections are paced: thousands of first posts at once would
      // overflow the accept queue (SYN retries and resets measured as latency and errors).
      const channel = (room: string): Promise<Channel> => openChannel(port, room, peer, posts === 'ack', onRefusal);
      if (posts !== 'post' && o.room !== undefined && o.sends !== false) {
        const ch = channel(o.room);
        channels.set(o.room, ch);
        await ch;
      }
      return {
        async send(room, text) {
          const body = Buffer.from(text);
          token ??= await fetchToken(port, room);
          if (posts !== 'post') {
            let ch = channels.get(room);
            if (ch === undefined) channels.set(room, (ch = channel(room)));
            const path = `/room/${room}`;
            await (await ch).post(body, (fresh) => {
              if (fresh !== undefined) token = fresh;
              return solveProof({ token: token ?? '', work: 1, method: 'POST', path, body }).header;
            });
            return;
          }
          let res = await post(port, room, body, token, peer);
          if (res.status === 402) {
            // The token rotated: the refusal carries a fresh one.
            token = (JSON.parse(res.text) as { token: string }).token;
            res = await post(port, room, body, token, peer);
          }
          if (res.status !== 202) throw new Error(`post refused: ${res.status} ${res.text.slice(0, 200)}`);
        },
        close() {
          sock?.destroy();
          for (const ch of channels.values()) void ch.then((c) => c.close(), () => undefined);
        },
      };
    },
  };
}

function yWebrtcTransport(ports: number[]): Transport {
  return {
    broadcast: true,
    async connect(o) {
      const ws = await openWs(ports[o.index % ports.length] ?? 0);
      let subscribed: (() => void) | undefined;
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { type?: string; data?: unknown };
        if (msg.type === 'publish' && typeof msg.data === 'string') o.onMessage?.(msg.data);
        else if (msg.type === 'pong') subscribed?.();
      });
      if (o.room !== undefined) {
        // The server answers nothing to subscribe; a ping behind it on the same socket proves it was processed.
        await new Promise<void>((resolve) => {
          subscribed = resolve;
          ws.send(JSON.stringify({ type: 'subscribe', topics: [o.room] }));
          ws.send(JSON.stringify({ type: 'ping' }));
        });
      }
      return {
        send(room, body) {
          ws.send(JSON.stringify({ type: 'publish', topic: room, data: body }));
          return Promise.resolve();
        },
        close() { ws.terminate(); },
      };
    },
  };
}

/** A tracker info_hash: 20 characters, here the first 20 hex digits of the room hash. */
const infoHash = (room: string): string => room.slice(0, 20);

function trackerTransport(ports: number[]): Transport {
  return {
    broadcast: false,
    async connect(o) {
      if (o.room === undefined) throw new Error('the tracker relays only between peers announced in a swarm');
      const room = o.room;
      const ws = await openWs(ports[o.index % ports.length] ?? 0);
      let announced: (() => void) | undefined;
      ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { answer?: { sdp?: unknown }; interval?: unknown };
        if (typeof msg.answer?.sdp === 'string') o.onMessage?.(msg.answer.sdp);
        else if (msg.interval !== undefined) announced?.();
      });
      await new Promise<void>((resolve) => {
        announced = resolve;
        ws.send(JSON.stringify({
          action: 'announce', info_hash: infoHash(room), peer_id: o.peerId, event: 'started',
          uploaded: 0, downloaded: 0, left: 1, numwant: 0, offers: [],
        }));
      });
      return {
        send(to, body, toPeerId) {
          ws.send(JSON.stringify({
            action: 'announce', info_hash: infoHash(to), peer_id: o.peerId, to_peer_id: toPeerId,
            answer: { type: 'answer', sdp: body }, offer_id: 'bench-offer-00000000',
          }));
          return Promise.resolve();
        },
        close() { ws.terminate(); },
      };
    },
  };
}

export function transportFor(kind: TargetKind, ports: number[], onRefusal: (why: string) => void = () => {}): Transport {
  switch (kind) {
    case 'mesh': return meshTransport(ports, 'quiet', onRefusal);
    case 'mesh-ack': return meshTransport(ports, 'ack', onRefusal);
    case 'mesh-post': return meshTransport(ports, 'post', onRefusal);
    case 'ywebrtc': return yWebrtcTransport(ports);
    case 'tracker': return trackerTransport(ports);
  }
}
