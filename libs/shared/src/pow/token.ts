import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Challenge tokens (PROTOCOL.md "Challenge token"): `v1.<ts>.<mac>`, `ts`
 * unix seconds rounded down to the rotation period, `mac` base64url (no
 * padding) of HMAC-SHA256(node_secret, "v1." + ts). Stateless: any instance
 * holding the node secret can check any instance's token.
 */

export type TokenVerdict = 'ok' | 'expired' | 'malformed' | 'invalid';

/** Longest token we ever parse: "v1." + 12 digits + "." + 43 mac chars. */
export const MAX_TOKEN_LENGTH = 59;

/** Strict shape: no leading zeros, at most 12 digits of ts, exactly 43 base64url chars of mac. */
const TOKEN_RE = /^v1\.(0|[1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})$/;

/**
 * MACs of recent periods, so issuing (on every response) and checking
 * (on every proof) cost a map lookup instead of an HMAC. Keyed by secret and
 * ts; bounded, oldest evicted first.
 */
const MAC_CACHE_MAX = 64;
const macCache = new Map<string, string>();

function macFor(secret: string, ts: number): string {
  const key = `${ts}\u0000${secret}`;
  const hit = macCache.get(key);
  if (hit !== undefined) return hit;
  const mac = createHmac('sha256', secret).update(`v1.${ts}`, 'utf8').digest('base64url');
  if (macCache.size >= MAC_CACHE_MAX) {
    const oldest = macCache.keys().next().value;
    if (oldest !== undefined) macCache.delete(oldest);
  }
  macCache.set(key, mac);
  return mac;
}

/** Clock difference between instances tolerated for a token's timestamp. */
export const FUTURE_SKEW_SECONDS = 5;

/**
 * Tokens whose MAC was checked, by their whole text: every proof of a
 * rotation period carries the same token, so its MAC is compared once, not
 * per request. Keyed by the full string (MAC included): a hit can only be a
 * token that compared equal before. Bounded like the MAC cache.
 */
const verified = new Map<string, { secret: string; ts: number }>();

/** The token of the rotation period containing `nowSeconds`. */
export function issueToken(secret: string, nowSeconds: number, rotationSeconds: number): { token: string; ts: number } {
  const rotation = Math.max(1, Math.floor(rotationSeconds));
  const ts = Math.floor(Math.floor(nowSeconds) / rotation) * rotation;
  return { token: `v1.${ts}.${macFor(secret, ts)}`, ts };
}

/** The unix second after which a token of `ts` is refused. */
export function tokenExpires(ts: number, ttlSeconds: number): number {
  return ts + ttlSeconds;
}

/** The `ts` of a syntactically valid token, else undefined. */
export function tokenTimestamp(token: string): number | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const m = TOKEN_RE.exec(token);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * Checks a token: 'malformed' for bad syntax, 'expired' when older than
 * `ttlSeconds`, 'invalid' for a wrong mac or a timestamp further in the
 * future than the tolerated clock skew. Time is checked before the mac: it is free, and
 * `ts` is public anyway.
 */
export function checkToken(secret: string, token: string, nowSeconds: number, ttlSeconds: number): TokenVerdict {
  const known = verified.get(token);
  if (known !== undefined && known.secret === secret) return timeVerdict(known.ts, nowSeconds, ttlSeconds);
  if (token.length > MAX_TOKEN_LENGTH) return 'malformed';
  const m = TOKEN_RE.exec(token);
  if (m === null || m[1] === undefined || m[2] === undefined) return 'malformed';
  const ts = Number(m[1]);
  const byTime = timeVerdict(ts, nowSeconds, ttlSeconds);
  if (byTime !== 'ok') return byTime;
  const expected = Buffer.from(macFor(secret, ts), 'latin1');
  const given = Buffer.from(m[2], 'latin1');
  // Both are 43 chars by construction; the length check keeps timingSafeEqual from throwing.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
  if (verified.size >= MAC_CACHE_MAX) {
    const oldest = verified.keys().next().value;
    if (oldest !== undefined) verified.delete(oldest);
  }
  verified.set(token, { secret, ts });
  return 'ok';
}

function timeVerdict(ts: number, nowSeconds: number, ttlSeconds: number): TokenVerdict {
  const now = Math.floor(nowSeconds);
  // Instances' clocks differ by a little: a token another instance issued
  // just after its rotation must not bounce here.
  if (ts > now + FUTURE_SKEW_SECONDS) return 'invalid';
  if (now - ts > ttlSeconds) return 'expired';
  return 'ok';
}
