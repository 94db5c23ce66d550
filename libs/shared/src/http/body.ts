import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { ProtocolError } from '../errors.js';

/**
 * Bounded request bodies: size checked from Content-Length before reading,
 * counted while reading (chunked), and the whole read bounded in time.
 */

export interface ReadBodyOptions {
  /** Largest accepted body in bytes. */
  limit: number;
  /** Time allowed to receive the whole body; default 10 000 ms. */
  timeoutMs?: number;
}

export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** A client that disconnected mid-body; the error handler skips it silently. */
class ClientAbortedError extends Error {
  readonly code = 'ECONNABORTED';
  constructor() {
    super('client aborted the request body');
    this.name = 'ClientAbortedError';
  }
}

/** One read per request: a PoW check and the handler can both ask for the body. */
const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

function refuse(ctx: Context, error: ProtocolError): ProtocolError {
  // The rest of the body stays unread: close the connection after answering.
  ctx.set('Connection', 'close');
  return error;
}

function tooLarge(limit: number): ProtocolError {
  return new ProtocolError('payload_too_large', `The request body is larger than ${limit} bytes.`, { limit });
}

function declaredLength(ctx: Context): number | undefined {
  const raw = ctx.get('Content-Length');
  if (raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw refuse(ctx, new ProtocolError('bad_request', 'Invalid Content-Length.'));
  return Number(raw.trim());
}

function collect(ctx: Context, limit: number, timeoutMs: number): Promise<Buffer> {
  const req = ctx.req;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err: Error | undefined, body?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err !== undefined) {
        // Stop pulling bytes we are going to refuse anyway.
        req.pause();
        reject(err);
      } else resolve(body ?? Buffer.alloc(0));
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) return finish(refuse(ctx, tooLarge(limit)));
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined, Buffer.concat(chunks, received));
    const onError = (): void => finish(new ClientAbortedError());
    const onClose = (): void => {
      if (!req.complete) finish(new ClientAbortedError());
    };
    const timer = setTimeout(() => finish(refuse(ctx, new ProtocolError('bad_request', 'The request body took too long to arrive.'))), timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * The raw request body, at most `limit` bytes. 413 `payload_too_large` from
 * Content-Length before reading anything, or as soon as a chunked body passes
 * the limit; 400 `bad_request` when the body does not arrive in time;
 * 415 for a Content-Encoding (bodies are never decompressed).
 */
export async function readBody(ctx: Context, opts: ReadBodyOptions): Promise<Buffer> {
  const cached = bodies.get(ctx.req);
  if (cached !== undefined) {
    const body = await cached;
    if (body.length > opts.limit) throw refuse(ctx, tooLarge(opts.limit));
    return body;
  }
  const encoding = ctx.get('Content-Encoding').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw refuse(ctx, new ProtocolError('unsupported_media_type', 'Compressed request bodies are not accepted.'));
  }
  const declared = declaredLength(ctx);
  if (declared !== undefined && declared > opts.limit) throw refuse(ctx, tooLarge(opts.limit));
  const p = declared === 0 || (declared === undefined && ctx.get('Transfer-Encoding') === '')
    ? Promise.resolve(Buffer.alloc(0))
    : collect(ctx, opts.limit, opts.timeoutMs ?? DEFAULT_BODY_TIMEOUT_MS);
  bodies.set(ctx.req, p);
  return p;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes as a string, verbatim (a BOM is kept); 415 `unsupported_media_type` when not valid UTF-8. */
export function decodeUtf8Strict(buf: Uint8Array): string {
  try {
    return strictUtf8.decode(buf);
  } catch {
    throw new ProtocolError('unsupported_media_type');
  }
}

/** The body parsed as JSON: 415 when not UTF-8, 400 `bad_request` when not JSON. */
export async function readJson(ctx: Context, opts: ReadBodyOptions): Promise<unknown> {
  const text = decodeUtf8Strict(await readBody(ctx, opts));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProtocolError('bad_request', 'The request body is not valid JSON.');
  }
}
