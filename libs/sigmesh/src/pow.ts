/**
 * Proof of work as PROTOCOL.md defines it, and the nonce search the solver workers run.
 *
 * Preimage `<token>:<work>:<METHOD>:<path>:<bodyhash>:<nonce>`; valid iff the first
 * 8 bytes of its SHA-256, as a big-endian u64 `x`, satisfy `x * work < 2^64`.
 */
import { Sha256, compress, sha256Hex, utf8 } from './sha256.js';

export interface PowChallenge {
  /** `v1.<ts>.<mac>` from the node. */
  token: string;
  /** The work to pay (the endpoint's price); a decimal integer >= 1. */
  work: number | string | bigint;
  method: string;
  /** Request path without query string, e.g. `/room/<hash>`. */
  path: string;
  /** Raw request body; absent or empty for requests without body. */
  body?: string | Uint8Array;
}

/** Letters a nonce may use (PROTOCOL: 1 to 32 of `[0-9A-Za-z]`). */
export const NONCE_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ALPHABET_CODES = Array.from(NONCE_ALPHABET, (c) => c.charCodeAt(0));
const TWO_64_MINUS_1 = (1n << 64n) - 1n;

/** Normalizes `work` to its canonical decimal string; throws on anything but an integer >= 1. */
export function workString(work: number | string | bigint): string {
  const s = typeof work === 'string' ? work : typeof work === 'number' ? (Number.isSafeInteger(work) ? String(work) : '') : work.toString();
  if (!/^[1-9][0-9]{0,30}$/.test(s)) throw new RangeError(`work must be an integer >= 1, got ${String(work)}`);
  return s;
}

export function bodyHashHex(body?: string | Uint8Array): string {
  return sha256Hex(body ?? '');
}

/** The fixed part of the preimage: everything before the nonce. */
export function powPrefix(c: PowChallenge): string {
  return `${c.token}:${workString(c.work)}:${c.method.toUpperCase()}:${c.path}:${bodyHashHex(c.body)}:`;
}

/** `X-PoW` header value. */
export function powHeader(token: string, work: number | string | bigint, nonce: string): string {
  return `${token}:${workString(work)}:${nonce}`;
}

/** Largest valid `x` as two unsigned 32-bit halves: `x * work < 2^64` iff `x <= floor((2^64-1)/work)`. */
export interface Threshold {
  readonly hi: number;
  readonly lo: number;
}

export function powThreshold(work: number | string | bigint): Threshold {
  const t = TWO_64_MINUS_1 / BigInt(workString(work));
  return { hi: Number(t >> 32n), lo: Number(t & 0xffffffffn) };
}

/** Exact check with BigInt, as the node does it (not used in the hot loop). */
export function isValidProofHash(hash: Uint8Array, work: number | string | bigint): boolean {
  let x = 0n;
  for (let i = 0; i < 8; i++) x = (x << 8n) | BigInt(hash[i] ?? 0);
  return x * BigInt(workString(work)) < 1n << 64n;
}

export function isValidNonce(nonce: string): boolean {
  return /^[0-9A-Za-z]{1,32}$/.test(nonce);
}

const COUNTER_LEN = 8;
/** Longest salt `saltLength` can ask for; callers pass at least this many random alphabet letters. */
export const MAX_SALT_LEN = 24;

/**
 * Salt length so that the final block holds tail + counter + padding:
 * `(prefixLen + salt) mod 64 <= 64 - 9 - COUNTER_LEN`, with at least 4 salt letters so
 * two solvers of the same challenge (other clients, other workers) try different nonces.
 */
export function saltLength(prefixBytes: number): number {
  const r = prefixBytes % 64;
  return r <= 43 ? 4 : 68 - r;
}

/**
 * Nonce search for one challenge: nonce = salt + 8-letter base-62 counter. The prefix
 * and salt are hashed once; each attempt patches the counter letters into the last
 * block and runs a single compression from the saved state.
 */
export class PowSearch {
  private readonly mid: Int32Array;
  private readonly w = new Int32Array(64);
  private readonly out = new Int32Array(8);
  private readonly digits = new Uint8Array(COUNTER_LEN);
  /** Byte offset of the counter's first letter inside the last block. */
  private readonly counterOffset: number;
  private readonly thHi: number;
  private readonly thLo: number;
  private readonly salt: string;
  private exhausted = false;
  /** Attempts made so far. */
  tried = 0;

  /** @param saltSource at least MAX_SALT_LEN letters of NONCE_ALPHABET (random per solver/worker). */
  constructor(prefix: string, work: number | string | bigint, saltSource: string) {
    const prefixBytes = utf8(prefix);
    const sl = saltLength(prefixBytes.length);
    if (saltSource.length < sl || !isValidNonce(saltSource.slice(0, sl))) throw new RangeError('bad salt source');
    this.salt = saltSource.slice(0, sl);
    const hasher = new Sha256().update(prefixBytes).update(this.salt);
    const m = hasher.midstate();
    this.mid = Int32Array.from(m.state);
    this.counterOffset = m.tail.length;
    const total = prefixBytes.length + sl + COUNTER_LEN;
    const block = new Uint8Array(64);
    block.set(m.tail, 0);
    block.fill(ALPHABET_CODES[0]!, m.tail.length, m.tail.length + COUNTER_LEN);
    block[m.tail.length + COUNTER_LEN] = 0x80;
    const view = new DataView(block.buffer);
    view.setUint32(56, Math.floor((total * 8) / 0x1_0000_0000));
    view.setUint32(60, (total * 8) >>> 0);
    for (let i = 0; i < 16; i++) this.w[i] = view.getInt32(i * 4);
    const th = powThreshold(work);
    this.thHi = th.hi;
    this.thLo = th.lo;
  }

  /** The nonce the next attempt will try. */
  currentNonce(): string {
    let s = this.salt;
    for (const d of this.digits) s += NONCE_ALPHABET[d];
    return s;
  }

  /** Tries up to `attempts` nonces; returns the first valid one, or null (call again to continue). */
  run(attempts: number): string | null {
    const { w, out, mid, thHi, thLo } = this;
    for (let n = 0; n < attempts; n++) {
      if (this.exhausted) throw new RangeError('nonce space exhausted');
      compress(mid, w, out);
      const h0 = out[0]! >>> 0;
      if (h0 < thHi || (h0 === thHi && out[1]! >>> 0 <= thLo)) {
        const nonce = this.currentNonce();
        this.increment();
        this.tried += n + 1;
        return nonce;
      }
      this.increment();
    }
    this.tried += attempts;
    return null;
  }

  private increment(): void {
    for (let i = COUNTER_LEN - 1; i >= 0; i--) {
      const d = this.digits[i]! + 1;
      const carry = d === NONCE_ALPHABET.length;
      this.digits[i] = carry ? 0 : d;
      this.setCounterByte(i, ALPHABET_CODES[carry ? 0 : d]!);
      if (!carry) return;
    }
    this.exhausted = true;
  }

  private setCounterByte(i: number, code: number): void {
    const p = this.counterOffset + i;
    const shift = 24 - 8 * (p & 3);
    const word = p >> 2;
    this.w[word] = (this.w[word]! & ~(0xff << shift)) | (code << shift);
  }
}
