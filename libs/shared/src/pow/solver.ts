import { createHash, randomBytes, type Hash } from 'node:crypto';
import { bodyHash, formatProofHeader, meetsWork, proofPrefix } from './proof.js';

/**
 * Reference solver. Hashes the fixed preimage prefix once and copies that
 * hash state per nonce, so each attempt hashes only the nonce bytes.
 * Nonces are a random 8-char base62 prefix plus a base36 counter: two
 * clients solving the same challenge do not collide (a collision would be
 * refused as a replay).
 */

export interface SolveOptions {
  token: string;
  work: bigint | number;
  method: string;
  path: string;
  body?: Uint8Array;
  signal?: AbortSignal;
  /** Give up (throw PowGiveUpError) after this many hashes. */
  maxHashes?: number;
}

export interface Solution {
  /** The X-PoW header value. */
  header: string;
  nonce: string;
  hashes: number;
}

export class PowGiveUpError extends Error {
  constructor(readonly hashes: number) {
    super(`no proof found within ${hashes} hashes`);
    this.name = 'PowGiveUpError';
  }
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const EMPTY = new Uint8Array(0);

function randomNoncePrefix(): string {
  // 8 chars of base62 from 8 random bytes (tiny modulo bias is harmless here).
  let s = '';
  for (const b of randomBytes(8)) s += BASE62[b % 62];
  return s;
}

/** The search loop shared by both variants; `budget` hashes at most per call. */
class Search {
  readonly base: Hash;
  readonly work: bigint;
  readonly prefix = randomNoncePrefix();
  /** Threshold on the first 8 bytes: x*work < 2^64  <=>  x <= floor((2^64-1)/work). */
  private readonly hiT: number;
  private readonly loT: number;
  counter = 0;

  constructor(readonly opts: SolveOptions) {
    this.work = BigInt(opts.work);
    if (this.work < 1n) throw new RangeError('work must be >= 1');
    const t = ((1n << 64n) - 1n) / this.work;
    this.hiT = Number(t >> 32n);
    this.loT = Number(t & 0xffffffffn);
    const prefix = proofPrefix({
      token: opts.token, work: this.work, method: opts.method, path: opts.path,
      bodyHash: bodyHash(opts.body ?? EMPTY),
    });
    this.base = createHash('sha256').update(prefix, 'utf8');
  }

  /** Tries up to `n` nonces; returns the winning nonce or undefined. */
  run(n: number): string | undefined {
    const end = this.counter + n;
    while (this.counter < end) {
      const nonce = this.prefix + (this.counter++).toString(36);
      const h = this.base.copy().update(nonce, 'latin1').digest();
      const hi = h.readUInt32BE(0);
      if (hi < this.hiT || (hi === this.hiT && h.readUInt32BE(4) <= this.loT)) {
        // Belt and braces: the exact BigInt rule decides.
        if (meetsWork(h, this.work)) return nonce;
      }
    }
    return undefined;
  }

  solution(nonce: string): Solution {
    return { header: formatProofHeader({ token: this.opts.token, work: this.work, nonce }), nonce, hashes: this.counter };
  }
}

const CHECK_EVERY = 1024;

/** Solves synchronously (blocks the thread). Throws the signal's reason when aborted. */
export function solveProof(opts: SolveOptions): Solution {
  const s = new Search(opts);
  const max = opts.maxHashes ?? Number.MAX_SAFE_INTEGER;
  for (;;) {
    opts.signal?.throwIfAborted();
    const left = max - s.counter;
    if (left <= 0) throw new PowGiveUpError(s.counter);
    const nonce = s.run(Math.min(CHECK_EVERY, left));
    if (nonce !== undefined) return s.solution(nonce);
  }
}

/** Solves in chunks of `chunkHashes`, yielding to the event loop between chunks. */
export async function solveProofAsync(opts: SolveOptions & { chunkHashes?: number }): Promise<Solution> {
  const s = new Search(opts);
  const max = opts.maxHashes ?? Number.MAX_SAFE_INTEGER;
  const chunk = Math.max(1, opts.chunkHashes ?? 16384);
  for (;;) {
    opts.signal?.throwIfAborted();
    const left = max - s.counter;
    if (left <= 0) throw new PowGiveUpError(s.counter);
    const nonce = s.run(Math.min(chunk, left));
    if (nonce !== undefined) return s.solution(nonce);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
