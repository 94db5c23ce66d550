import type Koa from 'koa';
import type { Context, Middleware } from 'koa';
import { BusError } from '../bus/bus.js';
import { ERRORS, ProtocolError, isProtocolError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { StoreError } from '../store/store.js';
import { renderPage } from './html.js';
import { wantsJson } from './negotiate.js';

/**
 * The one place where thrown errors become responses (STYLE.md "Errors in one
 * place"): ProtocolError -> its status and body; a store or bus outage
 * (StoreError, BusError) -> 503 `unavailable`; koa / http-errors errors ->
 * the nearest catalogue code; anything else -> logged, generic 500 `internal`.
 */

/** Error codes of a peer that went away; never worth a log line or a response. */
const ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

function errCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/**
 * True for a client disconnect. `ERR_STREAM_PREMATURE_CLOSE` and request
 * parser errors (`HPE_*`, e.g. a body cut short) always are; socket error codes count only when
 * the request's socket is really gone, since a handler's own outbound call
 * (store, bus) can fail with the same codes and that is a real error.
 */
export function isClientAbort(err: unknown, ctx?: Pick<Context, 'req'>): boolean {
  const code = errCode(err);
  // Koa's pipeline of a stream body (docs/FINDINGS.md), and the request parser failing on what the client sent or cut.
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || (typeof code === 'string' && code.startsWith('HPE_'))) return true;
  const aborted = (typeof code === 'string' && ABORT_CODES.has(code))
    || (typeof err === 'object' && err !== null && (err as { type?: unknown }).type === 'request.aborted');
  if (!aborted) return false;
  if (ctx === undefined) return true;
  const sock = ctx.req.socket;
  return ctx.req.destroyed || sock.destroyed || !sock.writable;
}

/** Catalogue code for an http-errors status (koa `ctx.throw`, body parsers, router). */
const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'bad_request', 404: 'not_found', 405: 'method_not_allowed', 406: 'not_acceptable',
  408: 'bad_request', 413: 'payload_too_large', 414: 'bad_request', 415: 'unsupported_media_type',
  429: 'too_many_requests', 431: 'bad_request', 503: 'unavailable',
};

interface HttpErrorLike {
  status: number;
  expose: boolean;
  message: string;
  headers?: Record<string, string>;
}

function asHttpError(err: unknown): HttpErrorLike | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { status?: unknown; statusCode?: unknown; expose?: unknown; headers?: unknown };
  const status = typeof e.status === 'number' ? e.status : e.statusCode;
  if (typeof status !== 'number' || status < 400 || status > 599) return undefined;
  const headers: Record<string, string> = {};
  if (typeof e.headers === 'object' && e.headers !== null) {
    for (const [k, v] of Object.entries(e.headers as Record<string, unknown>)) {
      if (typeof v === 'string' || typeof v === 'number') headers[k] = String(v);
    }
  }
  return { status, expose: e.expose === true, message: e.message, headers };
}

export interface ClassifiedError {
  error: ProtocolError;
  /** Extra response headers the error asked for (e.g. `Allow` on 405). */
  headers: Record<string, string>;
  /** True when this is our fault: logged, and answered without details. */
  internal: boolean;
}

/** Maps anything thrown to the catalogue error the client will see. */
export function classifyError(err: unknown): ClassifiedError {
  if (isProtocolError(err)) return { error: err, headers: {}, internal: err.status >= 500 && err.code === 'internal' };
  // A backend that is down is not a bug here: the client may retry, or use another node; the clients log the outage.
  if (err instanceof StoreError || err instanceof BusError) {
    return { error: new ProtocolError('unavailable', undefined, {}, { cause: err }), headers: {}, internal: false };
  }
  const http = asHttpError(err);
  if (http !== undefined) {
    const code: ErrorCode = STATUS_CODES[http.status] ?? (http.status < 500 ? 'bad_request' : 'internal');
    const message = http.expose && http.status < 500 ? http.message : ERRORS[code].message;
    return { error: new ProtocolError(code, message), headers: http.headers ?? {}, internal: code === 'internal' };
  }
  return { error: new ProtocolError('internal'), headers: {}, internal: true };
}

/** Headers set by outer layers that an error response keeps; everything else a handler set is dropped. */
const KEPT_HEADERS = /^(access-control-|x-pow-token$|x-pow-work$|vary$|connection$)/;

function factValue(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v) ?? '';
}

/** Writes a catalogue error as JSON or as the HTML page, per the request's negotiation. */
export function writeError(ctx: Context, error: ProtocolError, headers: Record<string, string> = {}): void {
  for (const name of ctx.res.getHeaderNames()) {
    if (!KEPT_HEADERS.test(name)) ctx.res.removeHeader(name);
  }
  for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
  // An unread request body would otherwise be drained to keep the connection alive.
  if (!ctx.req.complete) ctx.set('Connection', 'close');
  ctx.set('Cache-Control', 'no-store');
  ctx.status = error.status;
  if (wantsJson(ctx)) {
    ctx.body = error.toJSON();
    return;
  }
  ctx.type = 'html';
  ctx.body = renderPage({
    title: `${error.status} ${error.code}`,
    intro: error.message,
    facts: [
      ['error', error.code],
      ['message', error.message],
      ...Object.entries(error.extra).map(([k, v]): [string, string] => [k, factValue(v)]),
    ],
    links: [['Node home', '/']],
  });
}

function requestContext(ctx: Context): Record<string, unknown> {
  const clientIp: unknown = (ctx.state as Record<string, unknown> | undefined)?.['clientIp'];
  return { method: ctx.method, path: ctx.path, ...(typeof clientIp === 'string' ? { clientIp } : {}) };
}

/**
 * A response no route gave a body: 404 (no route) and 405 (e.g. set by
 * @koa/router's `allowedMethods()`, whose `Allow` header is kept) get their
 * catalogue body like any thrown error. The router's 501 for a method it
 * knows nothing of (PROPFIND, LOCK, ...) is the client's error, not ours:
 * 405 where the path has routes (its `Allow`), else 404.
 */
function answerUnhandled(ctx: Context): void {
  if (ctx.body != null || ctx.respond === false || ctx.headerSent) return;
  const allow = ctx.response.get('Allow');
  if (ctx.status === 404 || (ctx.status === 501 && allow === '')) writeError(ctx, new ProtocolError('not_found'));
  else if (ctx.status === 405 || ctx.status === 501) {
    writeError(ctx, new ProtocolError('method_not_allowed'), allow !== '' ? { Allow: allow } : {});
  }
}

/**
 * The outermost middleware. Never throws: every error is answered here, or,
 * when headers are already out (a stream), only logged.
 */
export function createErrorHandler(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      answerUnhandled(ctx);
    } catch (err) {
      if (isClientAbort(err, ctx)) return;
      try {
        const c = classifyError(err);
        if (c.internal) log.error({ err, ...requestContext(ctx) }, 'request failed');
        if (ctx.headerSent || !ctx.writable) return;
        writeError(ctx, c.error, c.headers);
      } catch (inner) {
        // Last resort: the error path itself failed; answer a bare 500.
        log.error({ err: inner, ...requestContext(ctx) }, 'error handler failed');
        if (!ctx.headerSent && ctx.writable) {
          ctx.status = 500;
          ctx.type = 'text';
          ctx.body = ERRORS.internal.message;
        }
      }
    }
  };
}

/**
 * Replaces koa's default `app.on('error')` (which prints to stderr) with
 * logging that skips client disconnects: koa emits these for stream bodies
 * (SSE) after the middleware chain has returned. Call before `app.callback()`.
 */
export function installAppErrorHandler(app: Koa, log: Logger): void {
  app.on('error', (err: unknown, ctx?: Context) => {
    if (isClientAbort(err, ctx)) return;
    const http = asHttpError(err);
    const context = ctx !== undefined ? requestContext(ctx) : {};
    if (http !== undefined && http.status < 500) log.debug({ err, ...context }, 'client error');
    else log.error({ err, ...context }, 'http error');
  });
}

/**
 * Terminal middleware: whatever no route answered stays a 404, which the
 * error handler renders as `not_found`. It does not throw, so routers'
 * after-`next()` logic (`allowedMethods()` turning a 404 into a 405) still runs.
 */
export function notFound(): Middleware {
  return async (ctx) => {
    if (ctx.body == null && ctx.respond !== false) ctx.status = 404;
  };
}
