import type { Context, Middleware } from 'koa';
import { createCidrMatcher, isIp, normalizeIp } from '../net/cidr.js';

/**
 * The client's address (PROTOCOL.md "Client IP"): the socket peer, or, when
 * the peer is a trusted proxy, the right-most untrusted X-Forwarded-For entry.
 */

export interface ClientIpSource {
  socketIp: string | undefined;
  /** The X-Forwarded-For header (repeated headers joined by commas), if any. */
  xff: string | undefined;
}

/** At most this many X-Forwarded-For entries are examined (bounds work per request). */
export const MAX_FORWARDED_HOPS = 32;

/** Shown when the socket is already gone; never a real address. */
export const UNKNOWN_IP = 'unknown';

/** An XFF entry as an address: accepts `a.b.c.d`, `a.b.c.d:port`, `[v6]`, `[v6]:port`, bare v6. */
function entryAddress(entry: string): string | undefined {
  const e = entry.trim();
  if (isIp(e)) return e.includes('%') ? undefined : e;
  const bracket = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(e);
  if (bracket?.[1] !== undefined && isIp(bracket[1])) return bracket[1];
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(e);
  if (v4port?.[1] !== undefined && isIp(v4port[1])) return v4port[1];
  return undefined;
}

function isSource(src: Context | ClientIpSource): src is ClientIpSource {
  return 'socketIp' in src;
}

/**
 * Walks X-Forwarded-For from the right while entries are trusted proxies.
 * A malformed entry ends the walk at the last address known good: whatever
 * stands left of it was not written by a proxy we can vouch for.
 */
export function clientIp(src: Context | ClientIpSource, isTrusted: (ip: string) => boolean): string {
  const socketIp = isSource(src) ? src.socketIp : src.req.socket.remoteAddress;
  const xffHeader = isSource(src) ? src.xff : src.get('X-Forwarded-For');
  if (socketIp === undefined || socketIp === '') return UNKNOWN_IP;
  let current = normalizeIp(socketIp);
  if (!isTrusted(current) || xffHeader === undefined || xffHeader === '') return current;
  const entries = xffHeader.split(',');
  const stop = Math.max(0, entries.length - MAX_FORWARDED_HOPS);
  for (let i = entries.length - 1; i >= stop; i--) {
    const addr = entryAddress(entries[i] ?? '');
    if (addr === undefined) return current;
    current = normalizeIp(addr);
    if (!isTrusted(current)) return current;
  }
  return current;
}

/** Puts the client's address at `ctx.state.clientIp` for every later middleware. */
export function createClientIpMiddleware(trustProxy: readonly string[]): Middleware {
  const isTrusted = createCidrMatcher(trustProxy);
  return async (ctx, next) => {
    (ctx.state as Record<string, unknown>)['clientIp'] = clientIp(ctx, isTrusted);
    await next();
  };
}

/** `ctx.state.clientIp` as set by the middleware, or the socket peer when it did not run. */
export function getClientIp(ctx: Context): string {
  const v: unknown = (ctx.state as Record<string, unknown>)['clientIp'];
  if (typeof v === 'string') return v;
  const peer = ctx.req.socket.remoteAddress;
  return peer === undefined ? UNKNOWN_IP : normalizeIp(peer);
}
