import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { turnCredential, turnUsernameExpiry } from '@mesh/shared';
import type { TurnMetrics } from '../metrics.js';
import type { NtMessage } from './modules.js';

const NONCE_TTL_SECONDS = 600;

/**
 * Stateless nonces. Defects fixed: node-turn drew nonces from Math.random
 * and kept each in a map with its own one-hour timer (unbounded memory and
 * timers under a flood of unauthenticated requests). Ours are 64 random bits
 * from the CSPRNG, an expiry and a MAC under a per-process random key: checking
 * one needs no state at all.
 */
export function createNonces(nowSeconds: () => number = () => Math.floor(Date.now() / 1000)) {
  const key = randomBytes(32);
  const mac = (body: string): string => createHmac('sha256', key).update(body).digest('hex').slice(0, 32);
  return {
    issue(): string {
      const body = `${randomBytes(8).toString('hex')}${(nowSeconds() + NONCE_TTL_SECONDS).toString(16).padStart(10, '0')}`;
      return body + mac(body);
    },
    valid(nonce: string): boolean {
      if (!/^[0-9a-f]{58}$/.test(nonce)) return false;
      const body = nonce.slice(0, 26);
      const expected = Buffer.from(mac(body));
      if (!timingSafeEqual(expected, Buffer.from(nonce.slice(26)))) return false;
      return parseInt(body.slice(16), 16) > nowSeconds();
    },
  };
}

export interface RestAuth {
  /** node-turn's authentification contract: answers errors itself, calls back with the reply to fill. */
  auth(msg: NtMessage, cb: (err: Error | null, reply?: NtMessage) => void): void;
  integrityKey(username: string): Buffer | undefined;
}

/**
 * Long-term credentials over TURN REST usernames. Defects fixed: node-turn's
 * user table (`addUser`) is gone, so nothing is stored and no prototype key
 * (`constructor`, `__proto__`) can match; expired usernames are refused; an
 * allocation stays bound to the username that created it (441).
 */
export function createRestAuth(opts: {
  secret: string; realm: string; metrics: TurnMetrics; nowSeconds?: () => number;
}): RestAuth {
  const now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const nonces = createNonces(now);

  function challenge(reply: NtMessage, code: number, reason: string): void {
    reply.addAttribute('realm', opts.realm);
    reply.addAttribute('nonce', nonces.issue());
    reply.reject(code, reason);
  }

  return {
    integrityKey(username) {
      if (turnUsernameExpiry(username, now()) === null) return undefined;
      const password = turnCredential(opts.secret, username);
      return createHash('md5').update(`${username}:${opts.realm}:${password}`).digest();
    },
    auth(msg, cb) {
      const reply = msg.reply();
      const integrity = msg.getAttribute('message-integrity');
      const username = msg.getAttribute('username');
      const fail = (reason: Parameters<TurnMetrics['authFailure']>[0], code: number, text: string, withChallenge = true): void => {
        opts.metrics.authFailure(reason);
        if (withChallenge) challenge(reply, code, text);
        else reply.reject(code, text);
        cb(new Error(text));
      };
      // The first request of every client carries no credentials: the normal challenge, not a failure.
      if (integrity === undefined) {
        challenge(reply, 401, 'Unauthorized');
        return cb(new Error('Unauthorized'));
      }
      if (typeof username !== 'string' || msg.getAttribute('realm') === undefined || typeof msg.getAttribute('nonce') !== 'string') {
        return fail('malformed', 400, 'Bad Request', false);
      }
      if (!nonces.valid(msg.getAttribute('nonce') as string)) return fail('stale_nonce', 438, 'Stale Nonce');
      if (turnUsernameExpiry(username, now()) === null) return fail('expired', 401, 'Unauthorized');
      if (integrity === false) return fail('bad_integrity', 401, 'Unauthorized');
      const owner = (msg.allocation as { username?: string } | null)?.username;
      if (owner !== undefined && owner !== username) return fail('wrong_user', 441, 'Wrong Credentials', false);
      const user = { username, password: turnCredential(opts.secret, username) };
      msg.setUser(user);
      reply.setUser(user);
      cb(null, reply);
    },
  };
}
