import type { Context } from 'koa';
import {
  ProtocolError, TURN_MAX_ALLOCATION_LIFETIME_SECONDS, clientAddressKey, getClientIp, readBody, turnCredentials,
  type NodeRuntime, type Store,
} from '@mesh/shared';
import { charge } from './charge.js';
import { NAV_LINKS, respond } from './respond.js';

/** `/token` takes an empty body; a few stray bytes are tolerated (and paid for in the proof). */
export const TOKEN_BODY_LIMIT = 256;

/** Store counter of the credentials handed to one client address (per /64 for IPv6). */
const ISSUED_KEY_PREFIX = 'turn-credentials:';

export interface TokenDeps {
  runtime: Pick<NodeRuntime, 'pow' | 'price' | 'turnSecret'>;
  /** Shared by every api instance of the node: the per-client count holds across them. */
  store: Pick<Store, 'hit' | 'count'>;
  /** `stun:`/`turn:` urls of this node's TURN service; empty when it runs none. */
  urls: string[];
  ttlSeconds: number;
  /** Outstanding credentials one client address may hold (TURN_CREDENTIALS_PER_CLIENT). */
  perClient: number;
  /** An IPv6 client is its network of this prefix (CLIENT_IPV6_PREFIX). */
  ipv6Prefix: number;
  now?: () => number;
}

/**
 * `POST /token`: TURN REST credentials (PROTOCOL.md), paid at the token
 * price. The TURN server recomputes the credential from the username;
 * nothing is stored but a count per client address, and the credential is
 * never logged.
 *
 * Every credential opens up to TURN_USER_QUOTA allocations, so the count per
 * address is what bounds one buyer's share of TURN_TOTAL_QUOTA. A credential
 * counts until its allocations can have ended: its TTL, plus the longest
 * allocation lifetime (one made just before expiry lives that long).
 */
export function createTokenHandler(deps: TokenDeps): (ctx: Context) => Promise<void> {
  const now = deps.now ?? Date.now;
  const windowSeconds = deps.ttlSeconds + TURN_MAX_ALLOCATION_LIFETIME_SECONDS;
  const windowMs = windowSeconds * 1000;
  const refuse = (): ProtocolError => new ProtocolError('credential_limit', undefined, { limit: deps.perClient, windowSeconds });
  return async (ctx) => {
    const body = await readBody(ctx, { limit: TOKEN_BODY_LIMIT });
    // Refused before the proof is spent: no amount of work buys credentials for a TURN server that does not run.
    if (deps.urls.length === 0) throw new ProtocolError('unavailable', 'This node runs no TURN service.');
    const key = ISSUED_KEY_PREFIX + clientAddressKey(getClientIp(ctx), deps.ipv6Prefix);
    // Also before the proof: a client at its cap keeps its work.
    if ((await deps.store.count(key, { windowMs })) >= deps.perClient) throw refuse();
    await charge(ctx, deps.runtime, 'token', body);
    // Concurrent purchases passed the check together: the atomic hit decides (those over the cap lose their proof).
    if ((await deps.store.hit(key, { windowMs })) > deps.perClient) throw refuse();
    const creds = turnCredentials({
      secret: deps.runtime.turnSecret,
      ttlSeconds: deps.ttlSeconds,
      nowSeconds: now() / 1000,
      urls: deps.urls,
    });
    respond(ctx, creds, () => ({
      title: 'TURN credentials',
      intro: `Credentials for this node's TURN service, valid for ${creds.ttl} seconds.`,
      facts: [
        ['urls', creds.urls.join(' ')],
        ['username', creds.username],
        ['credential', creds.credential],
        ['ttl (s)', creds.ttl],
      ],
      links: NAV_LINKS,
    }));
  };
}
