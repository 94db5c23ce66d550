import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { clientAddressKey, createCidrMatcher, normalizeIp } from '../net/cidr.js';

/**
 * At most `perClient` open connections (idle keep-alive sockets and streams
 * alike) per client address: per IPv4 address, per IPv6 network of
 * `ipv6Prefix` bits. Peers in `trustProxy` carry many clients and are not
 * counted (the proxy caps its own clients; streams are still capped per
 * forwarded address by the rooms service).
 */
export interface ConnectionCap {
  perClient: number;
  ipv6Prefix: number;
  trustProxy: readonly string[];
}

/**
 * Takes an HTTP upgrade (a WebSocket): true when it took the socket (answered
 * or upgraded), false when the path is not its own.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/**
 * Answers an upgrade request as plain HTTP and closes its socket. The
 * server's sockets allow half-open: without the destroy once the answer is
 * out, the socket would stay open until the client closes it.
 */
export function answerUpgrade(
  socket: Duplex, status: number, reason: string, headers: Readonly<Record<string, string>> = {}, body = '',
): void {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export interface HttpServerOptions {
  host: string;
  port: number;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  log: Logger;
  /** Time to receive the request headers; default 10 000 ms. */
  headersTimeoutMs?: number;
  /**
   * Time to receive the whole request (headers and body); default 30 000 ms.
   * Node stops this clock once the request is received, so it never cuts a
   * long response such as an SSE stream.
   */
  requestTimeoutMs?: number;
  /** How long `stop` lets busy connections finish before destroying them; default 5 000 ms. */
  shutdownGraceMs?: number;
  /** Per-client connection cap; none when absent. */
  connectionCap?: ConnectionCap;
  /** Upgrades, asked in order; one none takes is answered 404. Without any, Node refuses upgrades. */
  upgrades?: readonly UpgradeHandler[];
}

export interface HttpServer {
  /** Listens; resolves with the bound port (useful with port 0). */
  start(): Promise<{ port: number }>;
  /** Stops listening, closes idle connections, destroys the rest after the grace period. */
  stop(): Promise<void>;
  server: Server;
  /** Connections destroyed on accept by the connection cap. */
  readonly refusedConnections: number;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
/**
 * Idle keep-alive of client connections. Longer than the reverse proxy keeps
 * idle upstream connections (infra/caddy/Caddyfile: 60 s), so the proxy never
 * sends a request on a connection we are closing (a stray 502).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // Node refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout);
  const graceMs = opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  const server = createServer({
    requestTimeout,
    headersTimeout,
    // Node checks both timeouts on this interval (default 30 s): keep it finer than the timeouts.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 2))),
    maxHeaderSize: 16 * 1024,
  }, opts.handler);
  server.maxHeadersCount = 100;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // No 'clientError' listener: Node's default answers 400 / 408 / 431 and closes the socket.
  const refused = opts.connectionCap === undefined ? () => 0 : capConnections(server, opts.connectionCap);
  const upgrades = opts.upgrades ?? [];
  if (upgrades.length > 0) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      for (const u of upgrades) if (u(req, socket, head)) return;
      answerUpgrade(socket, 404, 'Not Found');
    });
  }

  let running = false;

  return {
    server,
    get refusedConnections() {
      return refused();
    },
    start() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(opts.port, opts.host, () => {
          server.off('error', onError);
          running = true;
          const port = (server.address() as AddressInfo).port;
          opts.log.info({ host: opts.host, port }, 'http listening');
          resolve({ port });
        });
      });
    },
    stop() {
      if (!running) return Promise.resolve();
      running = false;
      return new Promise<void>((resolve) => {
        // Connections finishing a response become idle one by one: sweep them until all are gone.
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * Counts sockets per client key from accept to close; one past the cap is
 * destroyed before a byte is read (no answer: an answer would cost as much
 * as the connection). Returns the count of refused sockets.
 */
function capConnections(server: Server, cap: ConnectionCap): () => number {
  const exempt = createCidrMatcher(cap.trustProxy);
  const open = new Map<string, number>();
  let refused = 0;
  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress;
    if (peer === undefined) return; // already gone
    const ip = normalizeIp(peer);
    if (exempt(ip)) return;
    const key = clientAddressKey(ip, cap.ipv6Prefix);
    const n = open.get(key) ?? 0;
    if (n >= cap.perClient) {
      refused++;
      socket.destroy();
      return;
    }
    open.set(key, n + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
  return () => refused;
}
