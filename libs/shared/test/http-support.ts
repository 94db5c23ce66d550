// Shared by the http*.test.ts files: a public app on a real port, a log sink, raw sockets.
import { connect, type Socket } from 'node:net';
import type { DefaultContext, DefaultState, Middleware } from 'koa';
import { createPublicApp } from '../src/http/app.js';
import type { RateLimitConfig } from '../src/http/rate-limit.js';
import { createHttpServer } from '../src/http/server.js';
import { createLogger, type Logger } from '../src/log.js';
import { createMetrics, type Metrics } from '../src/metrics.js';

export interface LogLine {
  level: number;
  msg?: string;
  err?: { message?: string; stack?: string; code?: string };
  [k: string]: unknown;
}

export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({ level: 'debug', service: 'test' }, {
    write(s: string) {
      lines.push(JSON.parse(s) as LogLine);
    },
  });
  return { log, lines };
}

export const PRICE = { token: 'v1.1700000000.testmac', work: 4096 };

export interface RunningApp {
  url: string;
  port: number;
  lines: LogLine[];
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function startPublicApp<C = DefaultContext>(
  routes: Array<Middleware<DefaultState, C>>, opts: { trustProxy?: string[]; rateLimit?: RateLimitConfig } = {},
): Promise<RunningApp> {
  const { log, lines } = captureLog();
  const metrics = createMetrics({ service: 'test', defaultMetrics: false });
  const app = createPublicApp({
    log, metrics, trustProxy: opts.trustProxy ?? ['127.0.0.0/8', '::1/128'], price: () => PRICE,
    ...(opts.rateLimit !== undefined ? { rateLimit: opts.rateLimit } : {}),
  }, routes);
  const server = createHttpServer({ host: '127.0.0.1', port: 0, handler: app.callback(), log, shutdownGraceMs: 200 });
  const { port } = await server.start();
  return { url: `http://127.0.0.1:${port}`, port, lines, metrics, stop: () => server.stop() };
}

/** A raw TCP connection, for what fetch cannot do (slow bodies, half-sent requests). */
export function rawConnect(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => { data += d; });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', () => { /* reset by the server after a refusal: expected in some tests */ });
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

export function errorLines(lines: LogLine[]): LogLine[] {
  return lines.filter((l) => l.level >= 50);
}
