import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHttpServer } from './http/server.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { settleWithin } from './timeout.js';

/**
 * The internal operations port of every service (PROTOCOL.md "Operations"):
 * `/healthz`, `/readyz`, `/metrics`. Never routed by the public proxy.
 */

export interface OpsServerOptions {
  host: string;
  port: number;
  metrics: Metrics;
  /** True when the service can serve; a throw or an answer slower than `readyTimeoutMs` is "not ready". */
  ready: () => Promise<boolean>;
  log: Logger;
  /** Default 2 000 ms: a probe must not hang on a stuck broker. */
  readyTimeoutMs?: number;
}

export interface OpsServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

export const DEFAULT_READY_TIMEOUT_MS = 2_000;

/** ready() within the timeout; false on a throw, a rejection, a non-true answer or a timeout. */
export async function checkReady(ready: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  return settleWithin(Promise.resolve().then(ready).then((v) => v === true), timeoutMs, false);
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

export function createOpsServer(opts: OpsServerOptions): OpsServer {
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/healthz' || path === '/readyz' || path === '/metrics';
    if (!known) return send(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    if (path === '/healthz') return send(res, 200, 'ok\n');
    if (path === '/readyz') {
      const ok = await checkReady(opts.ready, readyTimeoutMs);
      return send(res, ok ? 200 : 503, ok ? 'ready\n' : 'not ready\n');
    }
    try {
      send(res, 200, await opts.metrics.text(), opts.metrics.registry.contentType);
    } catch (err) {
      opts.log.error({ err }, 'metrics collection failed');
      send(res, 500, 'metrics unavailable\n');
    }
  }

  const http = createHttpServer({
    host: opts.host,
    port: opts.port,
    log: opts.log,
    shutdownGraceMs: 1_000,
    handler: (req, res) => {
      handle(req, res).catch((err: unknown) => {
        opts.log.error({ err }, 'ops request failed');
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      });
    },
  });

  return { start: () => http.start(), stop: () => http.stop() };
}
