import * as crypto from 'node:crypto';
import type { ErrorCode } from '../errors.js';
import { MAX_TOKEN_LENGTH } from './token.js';

/**
 * Proofs (PROTOCOL.md "Proof"): header `X-PoW: <token>:<work>:<nonce>`,
 * preimage `<token>:<work>:<METHOD>:<path>:<bodyhash>:<nonce>`, valid iff the
 * first 8 bytes of SHA-256(preimage), big-endian, times `work` is below 2^64.
 */

export interface Proof {
  token: string;
  /** The client's bid, 1..2^64. */
  work: bigint;
  nonce: string;
}

export const TWO_POW_64 = 1n << 64n;
export const MAX_NONCE_LENGTH = 32;
/** token + ':' + 20 digits + ':' + 32 nonce chars, rounded up. */
export const MAX_PROOF_HEADER_LENGTH = 128;

/** Token chars only (its exact syntax is checkToken's job); decimal work without leading zeros; nonce. */
const HEADER_RE = /^([A-Za-z0-9._-]{1,64}):([1-9][0-9]{0,19}):([0-9A-Za-z]{1,32})$/;

/**
 * Parses an X-PoW header value. Returns 'pow_required' when absent or blank,
 * 'pow_malformed' for anything not exactly `<token>:<work>:<nonce>` within bounds.
 */
export function parseProofHeader(value: string | undefined): Proof | Extract<ErrorCode, 'pow_required' | 'pow_malformed'> {
  if (value === undefined) return 'pow_required';
  if (value.length > MAX_PROOF_HEADER_LENGTH) return 'pow_malformed';
  const trimmed = value.trim();
  if (trimmed === '') return 'pow_required';
  const m = HEADER_RE.exec(trimmed);
  if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) return 'pow_malformed';
  if (m[1].length > MAX_TOKEN_LENGTH) return 'pow_malformed';
  const work = BigInt(m[2]);
  if (work > TWO_POW_64) return 'pow_malformed';
  return { token: m[1], work, nonce: m[3] };
}

/** The header value for a proof. */
export function formatProofHeader(p: { token: string; work: bigint | number; nonce: string }): string {
  return `${p.token}:${BigInt(p.work)}:${p.nonce}`;
}

/**
 * One-shot SHA-256 (`crypto.hash`, Node 20.12+): about twice as fast as
 * createHash/update/digest for inputs this small, which is most of a proof
 * check. Older Node 20 releases fall back to createHash.
 */
const oneShot = (crypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex' | 'buffer') => string | Buffer }).hash;

function sha256(data: string | Uint8Array, enc: 'hex'): string;
function sha256(data: string | Uint8Array, enc: 'buffer'): Buffer;
function sha256(data: string | Uint8Array, enc: 'hex' | 'buffer'): string | Buffer {
  if (oneShot !== undefined) return oneShot('sha256', data, enc);
  const h = crypto.createHash('sha256').update(data);
  return enc === 'hex' ? h.digest('hex') : h.digest();
}

/** Lower-case hex SHA-256 of the raw body bytes (of the empty string without body). */
export function bodyHash(body: Uint8Array): string {
  return sha256(body, 'hex');
}

export interface ProofInput {
  token: string;
  work: bigint | number;
  method: string;
  path: string;
  /** bodyHash() of the request body. */
  bodyHash: string;
  nonce: string;
}

/** Everything of the preimage before the nonce: fixed while a solver searches. */
export function proofPrefix(p: Omit<ProofInput, 'nonce'>): string {
  return `${p.token}:${BigInt(p.work)}:${p.method.toUpperCase()}:${p.path}:${p.bodyHash}:`;
}

/** SHA-256 of the preimage. */
export function proofHash(p: ProofInput): Buffer {
  return sha256(proofPrefix(p) + p.nonce, 'buffer');
}

/** True iff the first 8 bytes of `hash` (big-endian) times `work` is below 2^64. */
export function meetsWork(hash: Uint8Array, work: bigint): boolean {
  if (hash.length < 8 || work < 1n) return false;
  // The first 8 bytes as one big-endian integer: one BigInt, not eight shifts.
  const x = new DataView(hash.buffer, hash.byteOffset, 8).getBigUint64(0, false);
  return x * work < TWO_POW_64;
}
