import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  ERRORS, ProtocolError, answerUpgrade, classifyError, clientAddressKey, clientIp, createCidrMatcher, createSlotLimiter,
  createTokenBucketLimiter, type Logger, type RateLimitSettings, type RoomConfig,
} from '@mesh/shared';
import type { RoomMetrics } from '../room-metrics.js';
import { parseRoomHash } from '../room-hash.js';
import { parsePeerParam } from '../wire.js';
import type { AcceptPost } from './accept.js';

/**
 * The post channel (PROTOCOL.md "Post channel"): a WebSocket on
 * `/room/<hash>` carrying one paid post per text frame, answered in a frame
 * each (a frame without `n` is answered only when refused). Upstream only:
 * messages still come down the SSE stream. A post here
 * follows exactly the rules of `POST /room/<hash>` (same proof, same errors);
 * what it saves is the HTTP request around each one.
 */
export interface PostChannels {
  /** Takes an upgrade of `/room/...`; false for any other path (not ours). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes every channel (going away): clients reconnect elsewhere. */
  closeAll(): void;
  readonly open: number;
}

export interface PostChannelDeps {
  accept: AcceptPost;
  room: RoomConfig;
  trustProxy: readonly string[];
  ipv6Prefix: number;
  rateLimit: RateLimitSettings;
  metrics: RoomMetrics;
  log: Logger;
  stopping(): boolean;
}

const ROOM_PATH = /^\/room\/([^/?]*)(?:\?(.*))?$/;
/** Posts of one channel being verified and stored at once; past it the channel stops reading (backpressure). */
const MAX_IN_FLIGHT = 16;
/**
 * Frames waiting for a free slot or the end of a rate-limit hold. `ws` hands
 * on every frame of a chunk already read, pause or not; more than this is a
 * client that ignores backpressure, and its channel is closed.
 */
const MAX_WAITING = 64;
/** A channel that answers no ping for this long is gone: its socket is freed. */
const PING_INTERVAL_MS = 30_000;

interface PostFrame {
  n: number | undefined;
  pow: string | undefined;
  data: string;
}

/** `{"n"?, "pow"?, "data"}`; a ProtocolError (bad_request) for anything else. */
function parseFrame(text: string): PostFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolError('bad_request', 'A post frame is JSON: {"n", "pow", "data"}.');
  }
  if (typeof v !== 'object' || v === null) throw new ProtocolError('bad_request', 'A post frame is a JSON object.');
  const { n, pow, data } = v as Record<string, unknown>;
  if (n !== undefined && (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)) {
    throw new ProtocolError('bad_request', '"n" must be a non-negative integer.');
  }
  if (pow !== undefined && typeof pow !== 'string') throw new ProtocolError('bad_request', '"pow" must be a string.');
  if (typeof data !== 'string') throw new ProtocolError('bad_request', '"data" must be a string.');
  return { n, pow, data };
}

/** The `n` of a frame that could not be parsed whole, so its answer still finds its request. */
function frameNumber(text: string): number | undefined {
  const m = /"n"\s*:\s*(\d{1,15})\b/.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** Answers a refused upgrade as plain HTTP (the socket is not a WebSocket yet), with the JSON error body. */
function refuse(socket: Duplex, error: ProtocolError): void {
  const retryAfter = error.extra['retryAfter'];
  answerUpgrade(socket, error.status, error.code, {
    'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store',
    ...(typeof retryAfter === 'number' ? { 'Retry-After': String(retryAfter) } : {}),
  }, JSON.stringify(error.toJSON()));
}

export function createPostChannels(d: PostChannelDeps): PostChannels {
  const isTrusted = createCidrMatcher(d.trustProxy);
  // JSON escaping can make a 1024-byte body up to 6 times longer (\u0000); the proof adds a few hundred bytes.
  const wss = new WebSocketServer({
    noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: d.room.maxBodyBytes * 6 + 2048,
  });
  // The same caps as the room's streams: a channel is one more long-lived connection of its client.
  const slots = createSlotLimiter({ max: d.room.maxStreams, maxPerClient: d.room.maxPerIp, ipv6Prefix: d.ipv6Prefix });
  const limiter = d.rateLimit.perSecond > 0 ? createTokenBucketLimiter(d.rateLimit) : undefined;
  const retryAfter = Math.max(1, Math.ceil(d.rateLimit.holdMs / 1000));
  const channels = new Set<WebSocket>();
  const alive = new WeakSet<WebSocket>();
  let pinger: NodeJS.Timeout | undefined;

  function ensurePinger(): void {
    if (pinger !== undefined) return;
    pinger = setInterval(() => {
      for (const ws of channels) {
        if (!alive.has(ws)) {
          ws.terminate();
          continue;
        }
        alive.delete(ws);
        ws.ping();
      }
      if (channels.size === 0) {
        clearInterval(pinger);
        pinger = undefined;
      }
    }, PING_INTERVAL_MS);
    pinger.unref();
  }

  function serve(ws: WebSocket, hash: string, peer: string | undefined, ip: string, release: () => void): void {
    channels.add(ws);
    alive.add(ws);
    ensurePinger();
    d.metrics.channelsOpen.inc();
    const key = clientAddressKey(ip, d.ipv6Prefix);
    let inFlight = 0;
    let held: NodeJS.Timeout | undefined;
    const waiting: string[] = [];

    const send = (n: number | undefined, answer: Record<string, unknown>): void => {
      if (ws.readyState !== ws.OPEN) return;
      // A client that does not read its answers is cut, like a stream that does not read (a memory bound).
      if (ws.bufferedAmount > d.room.maxBufferBytes) {
        ws.terminate();
        return;
      }
      ws.send(JSON.stringify(n === undefined ? answer : { n, ...answer }));
    };
    const fail = (n: number | undefined, err: unknown): void => {
      const c = classifyError(err);
      if (c.internal) d.log.error({ err, hash }, 'room post (channel) failed');
      send(n, c.error.toJSON());
    };

    async function post(text: string): Promise<void> {
      let n: number | undefined;
      try {
        const f = parseFrame(text);
        n = f.n;
        const body = Buffer.from(f.data, 'utf8');
        if (body.length > d.room.maxBodyBytes) {
          throw new ProtocolError('payload_too_large', `The message is larger than ${d.room.maxBodyBytes} bytes.`, { limit: d.room.maxBodyBytes });
        }
        const accepted = await d.accept({ hash, body, proof: f.pow, peer });
        // Without `n` the client asked for no receipt (as a publish on the peers' servers): only refusals are answered.
        if (n !== undefined) send(n, accepted);
      } catch (err) {
        fail(n ?? frameNumber(text), err);
      }
    }

    /** Starts waiting frames while a slot is free and no hold is on; reads the socket again once all are started. */
    function pump(): void {
      while (held === undefined && inFlight < MAX_IN_FLIGHT && waiting.length > 0) {
        const text = waiting.shift() ?? '';
        if (limiter !== undefined && !limiter.take(key)) {
          // Like the HTTP limit: this frame is refused, and the channel is not read for the hold
          // (what is waiting waits): one refusal per hold, whatever the client sends meanwhile.
          send(frameNumber(text), { error: 'rate_limited', message: ERRORS.rate_limited.message, retryAfter });
          held = setTimeout(() => {
            held = undefined;
            pump();
          }, d.rateLimit.holdMs);
          break;
        }
        inFlight++;
        void post(text).finally(() => {
          inFlight--;
          pump();
        });
      }
      const busy = held !== undefined || inFlight >= MAX_IN_FLIGHT || waiting.length > 0;
      if (busy && !ws.isPaused) ws.pause();
      else if (!busy && ws.isPaused) ws.resume();
    }

    ws.on('pong', () => alive.add(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        ws.close(1003, 'text frames only');
        return;
      }
      if (waiting.length >= MAX_WAITING) {
        ws.close(1008, 'too many posts in flight');
        return;
      }
      waiting.push(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
      pump();
    });
    ws.once('close', () => {
      clearTimeout(held);
      channels.delete(ws);
      release();
      d.metrics.channelsOpen.dec();
    });
    ws.on('error', () => ws.terminate());
  }

  return {
    upgrade(req, socket, head) {
      const m = ROOM_PATH.exec(req.url ?? '');
      if (m === null) return false;
      try {
        const hash = parseRoomHash(m[1] ?? '');
        const peer = parsePeerParam(new URLSearchParams(m[2] ?? '').getAll('peer'));
        if (d.stopping()) throw new ProtocolError('unavailable', 'This worker is shutting down; reconnect.');
        const xff = req.headers['x-forwarded-for'];
        const ip = clientIp({ socketIp: req.socket.remoteAddress, xff: Array.isArray(xff) ? xff.join(',') : xff }, isTrusted);
        // An upgrade is a request: it takes a token of the client's bucket, as its frames do.
        if (limiter !== undefined && !limiter.take(clientAddressKey(ip, d.ipv6Prefix))) {
          throw new ProtocolError('rate_limited', undefined, { retryAfter });
        }
        const slot = slots.claim(ip);
        if (slot === undefined) throw new ProtocolError('too_many_requests', 'Too many open channels.');
        // Released once (idempotent) when the socket closes, also when ws refuses the handshake (bad version or key).
        socket.once('close', () => slot.release());
        wss.handleUpgrade(req, socket, head, (ws) => serve(ws, hash, peer, ip, () => slot.release()));
      } catch (err) {
        refuse(socket, classifyError(err).error);
      }
      return true;
    },

    closeAll() {
      for (const ws of channels) ws.close(1001, 'going away');
      clearInterval(pinger);
      pinger = undefined;
    },

    get open() {
      return channels.size;
    },
  };
}
