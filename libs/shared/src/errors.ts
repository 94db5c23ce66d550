/**
 * The one catalogue of PROTOCOL.md error codes: code → HTTP status → default
 * message. Code raises `ProtocolError`; one koa middleware (http/errors.ts)
 * turns it into the JSON or HTML body.
 */
export const ERRORS = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  bad_signature: { status: 400, message: 'The ed25519 signature does not verify.' },
  pow_required: { status: 402, message: 'This request needs a proof of work (X-PoW header).' },
  pow_malformed: { status: 402, message: 'The X-PoW header is malformed.' },
  pow_invalid: { status: 402, message: 'The proof of work does not meet its claimed work.' },
  pow_expired: { status: 402, message: 'The proof of work token has expired or is unknown.' },
  pow_insufficient: { status: 402, message: 'The proof of work pays less than the current price.' },
  pow_replayed: { status: 402, message: 'This proof of work was already used.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  not_acceptable: { status: 406, message: 'Not acceptable.' },
  seq_conflict: { status: 409, message: 'The sequence number is not newer, or cas does not match.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The request body must be UTF-8 text.' },
  too_many_requests: { status: 429, message: 'Too many open streams or requests.' },
  rate_limited: { status: 429, message: 'Too many requests from this address; retry after Retry-After seconds.' },
  credential_limit: { status: 429, message: 'This address holds as many unexpired TURN credentials as one client may.' },
  internal: { status: 500, message: 'Internal error.' },
  unavailable: { status: 503, message: 'The service is temporarily unavailable.' },
  dht_timeout: { status: 504, message: 'The DHT lookup ran out of time.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** A refusal with a stable code; `extra` fields are merged into the JSON body. */
export class ProtocolError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'ProtocolError';
    this.status = ERRORS[code].status;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.extra };
  }
}

export function isProtocolError(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}
