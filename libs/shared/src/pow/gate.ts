import type { PowConfig } from '../config.js';
import { ProtocolError, type ErrorCode } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { difficulty, minAcceptedWork } from '../price.js';
import type { Store } from '../store/store.js';
import { bodyHash, meetsWork, parseProofHeader, proofHash } from './proof.js';
import { createReplayGuard } from './replay.js';
import { FUTURE_SKEW_SECONDS, checkToken, issueToken, tokenExpires } from './token.js';

/**
 * The PoW gate of a priced endpoint: issues the current token and verifies
 * X-PoW headers in PROTOCOL.md order, refusing with 402 and a fresh
 * challenge. The replay guard is consulted last, so only an otherwise
 * accepted proof ever occupies a store key.
 */

export interface PowVerifyRequest {
  /** The X-PoW header value, undefined when absent. */
  header: string | undefined;
  method: string;
  /** The request path without query string, as sent to the public origin. */
  path: string;
  /** Raw body bytes (empty for none). */
  body: Uint8Array;
  /** This endpoint's current price (work). */
  price: number;
  /** Metric label: `node`, `token`, `dht_put`, `dht_get`, `room`. */
  endpoint: string;
}

export interface PowGate {
  /** The token to hand out now and the unix second after which it is refused. */
  current(): { token: string; expires: number };
  /** Resolves when the proof is accepted; throws ProtocolError (402, or 503 `unavailable`). */
  verify(req: PowVerifyRequest): Promise<void>;
  /**
   * Every check of `verify` but the replay guard, which the caller claims
   * itself (in one store step with its own writes: Store.appendOnce) and
   * reports back. Throws the same 402s as verify.
   */
  check(req: PowVerifyRequest): PowTicket;
}

/** A proof that passed every check but the replay guard. */
export interface PowTicket {
  /** The replay-guard key to claim (setIfAbsent semantics) and how long it must live. */
  claim: { key: string; ttlSeconds: number };
  /** The claim was free: the proof is accepted (counted). */
  accepted(): void;
  /** The claim was taken: throws 402 `pow_replayed`. */
  replayed(): never;
  /** The claim could not be made (store down): throws 503 `unavailable` (fail closed). */
  fail(cause: unknown): never;
}

export interface PowGateDeps {
  secret: string;
  store: Store;
  pow: PowConfig;
  metrics?: Metrics;
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number;
}

export function createPowGate(deps: PowGateDeps): PowGate {
  const now = deps.now ?? Date.now;
  const { pow } = deps;
  // A proof is remembered as long as its token can still be accepted: through
  // its last second (now - ts <= ttl), and a token stamped by an instance whose
  // clock runs up to FUTURE_SKEW_SECONDS ahead lives that much longer here.
  const guard = createReplayGuard(deps.store, { ttlSeconds: pow.tokenTtlSeconds + FUTURE_SKEW_SECONDS + 1 });
  const outcomes = deps.metrics?.counter('pow_outcomes_total', 'PoW verifications by outcome', ['endpoint', 'outcome'] as const);

  const nowSeconds = (): number => Math.floor(now() / 1000);
  // The accepted series of each endpoint, resolved once: label lookup per request is measurable here.
  const acceptedOf = new Map<string, { inc(): void }>();
  const countAccepted = (endpoint: string): void => {
    if (outcomes === undefined) return;
    let c = acceptedOf.get(endpoint);
    if (c === undefined) acceptedOf.set(endpoint, (c = outcomes.labels({ endpoint, outcome: 'accepted' })));
    c.inc();
  };

  function current(): { token: string; expires: number } {
    const { token, ts } = issueToken(deps.secret, nowSeconds(), pow.rotationSeconds);
    return { token, expires: tokenExpires(ts, pow.tokenTtlSeconds) };
  }

  function refuse(code: ErrorCode, req: PowVerifyRequest, cause?: unknown): never {
    outcomes?.inc({ endpoint: req.endpoint, outcome: code });
    const extra = code === 'unavailable'
      ? {}
      : { token: current().token, work: req.price, difficulty: difficulty(req.price) };
    throw new ProtocolError(code, undefined, extra, cause === undefined ? undefined : { cause });
  }

  function check(req: PowVerifyRequest): PowTicket {
    const proof = parseProofHeader(req.header);
    if (typeof proof === 'string') refuse(proof, req);

    const verdict = checkToken(deps.secret, proof.token, nowSeconds(), pow.tokenTtlSeconds);
    if (verdict === 'malformed') refuse('pow_malformed', req);
    if (verdict !== 'ok') refuse('pow_expired', req);

    if (proof.work < BigInt(minAcceptedWork(req.price, pow.slack))) refuse('pow_insufficient', req);

    const hash = proofHash({
      token: proof.token, work: proof.work, method: req.method, path: req.path,
      bodyHash: bodyHash(req.body), nonce: proof.nonce,
    });
    if (!meetsWork(hash, proof.work)) refuse('pow_invalid', req);

    return {
      claim: { key: guard.keyOf(hash.toString('hex')), ttlSeconds: guard.ttlSeconds },
      accepted: () => countAccepted(req.endpoint),
      replayed: () => refuse('pow_replayed', req),
      // Fail closed: without the guard a proof could be spent many times.
      fail: (cause) => refuse('unavailable', req, cause),
    };
  }

  async function verify(req: PowVerifyRequest): Promise<void> {
    const ticket = check(req);
    const first = await guard.claim(ticket.claim.key).catch((e: unknown) => ticket.fail(e));
    if (!first) ticket.replayed();
    ticket.accepted();
  }

  return { current, verify, check };
}
