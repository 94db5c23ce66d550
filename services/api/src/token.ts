import type { Context } from 'koa';
import { ProtocolError, readBody, turnCredentials, type NodeRuntime } from '@mesh/shared';
import { charge } from './charge.js';
import { NAV_LINKS, respond } from './respond.js';

/** `/token` takes an empty body; a few stray bytes are tolerated (and paid for in the proof). */
export const TOKEN_BODY_LIMIT = 256;

export interface TokenDeps {
  runtime: Pick<NodeRuntime, 'pow' | 'price' | 'turnSecret'>;
  /** `stun:`/`turn:` urls of this node's TURN service; empty when it runs none. */
  urls: string[];
  ttlSeconds: number;
  now?: () => number;
}

/**
 * `POST /token`: TURN REST credentials (PROTOCOL.md), paid at the token
 * price. The TURN server recomputes the credential from the username;
 * nothing is stored, and the credential is never logged.
 */
export function createTokenHandler(deps: TokenDeps): (ctx: Context) => Promise<void> {
  const now = deps.now ?? Date.now;
  return async (ctx) => {
    const body = await readBody(ctx, { limit: TOKEN_BODY_LIMIT });
    // Refused before the proof is spent: no amount of work buys credentials for a TURN server that does not run.
    if (deps.urls.length === 0) throw new ProtocolError('unavailable', 'This node runs no TURN service.');
    await charge(ctx, deps.runtime, 'token', body);
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
