import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TurnConfig } from './config.js';
import type { ResolvedTurnBackend } from './turn-backend.js';

/**
 * TURN REST credentials (draft-uberti-behave-turn-rest): the username is
 * `<expiry unix s>:<random id>`, the credential `base64 HMAC-SHA1(secret,
 * username)`. Nothing is stored: the TURN server recomputes the credential
 * from the username on every request and refuses it after `expiry`.
 */
export interface TurnCredentials {
  urls: string[];
  username: string;
  credential: string;
  ttl: number;
}

/**
 * Longest TURN allocation lifetime either backend grants (coturn
 * `max-allocate-lifetime`): an allocation made just before its credential
 * expires lives this much longer, so `/token` counts a credential as
 * outstanding for its TTL plus this.
 */
export const TURN_MAX_ALLOCATION_LIFETIME_SECONDS = 3600;

/** Usernames longer than this are refused before any HMAC is computed. */
export const TURN_USERNAME_MAX_LENGTH = 128;

const USERNAME = /^(\d{1,12}):([A-Za-z0-9_-]{1,100})$/;

export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}

export function turnCredentials(opts: {
  secret: string; ttlSeconds: number; nowSeconds: number; urls: string[];
}): TurnCredentials {
  const expiry = Math.floor(opts.nowSeconds) + opts.ttlSeconds;
  // 96 bits from the CSPRNG: ids never repeat in practice, so per-user quotas bind to one token.
  const username = `${expiry}:${randomBytes(12).toString('base64url')}`;
  return { urls: [...opts.urls], username, credential: turnCredential(opts.secret, username), ttl: opts.ttlSeconds };
}

/**
 * The expiry (unix s) of a well-formed, unexpired TURN REST username, else
 * null. Used by TURN servers before computing any HMAC.
 */
export function turnUsernameExpiry(username: string, nowSeconds: number): number | null {
  if (username.length > TURN_USERNAME_MAX_LENGTH) return null;
  const m = USERNAME.exec(username);
  if (!m) return null;
  const expiry = Number(m[1]);
  return expiry > nowSeconds ? expiry : null;
}

/** True when `credential` is the HMAC of `username` and the username has not expired. Constant-time. */
export function checkTurnCredential(secret: string, username: string, credential: string, nowSeconds: number): boolean {
  if (turnUsernameExpiry(username, nowSeconds) === null) return false;
  const expected = Buffer.from(turnCredential(secret, username), 'utf8');
  const given = Buffer.from(credential, 'utf8');
  // Lengths of a base64 SHA-1 are public (28); comparing them first leaks nothing secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `stun:`/`turn:` urls of this node's TURN service, for `/token` and `/`.
 * TCP is listed only for coturn (node-turn speaks UDP only); pass the resolved
 * backend when `turn.backend` is `auto`. No urls when TURN is off.
 */
export function turnUrls(turn: TurnConfig, resolvedBackend?: ResolvedTurnBackend): string[] {
  const backend = resolvedBackend ?? turn.backend;
  if (backend === 'none') return [];
  const host = turn.publicHost.includes(':') && !turn.publicHost.startsWith('[') ? `[${turn.publicHost}]` : turn.publicHost;
  const hp = `${host}:${turn.port}`;
  const urls = [`stun:${hp}`, `turn:${hp}?transport=udp`];
  if (backend === 'coturn') urls.push(`turn:${hp}?transport=tcp`);
  return urls;
}
