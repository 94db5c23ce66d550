/**
 * Pure TypeScript SHA-256 (FIPS 180-4) with an exportable midstate.
 *
 * Why our own: `crypto.subtle` is async (far too slow per attempt for proof of work),
 * absent on insecure origins, and cannot resume from a saved state. Here the state
 * after the fixed prefix can be saved once and every attempt only compresses the
 * last block(s).
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** Saved hash state: `state` after hashing `bytesHashed` bytes (a multiple of 64), plus the unhashed tail. */
export interface Midstate {
  readonly state: Int32Array;
  readonly bytesHashed: number;
  readonly tail: Uint8Array;
}

/**
 * One compression: reads the 16 message words in `w[0..15]` (big-endian values), uses
 * `w[16..63]` as scratch (so `w[0..15]` survive and can be reused), and writes
 * `state + compress(state, block)` into `out` (which may be `state`).
 */
export function compress(state: Int32Array, w: Int32Array, out: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!, b = state[1]!, c = state[2]!, d = state[3]!;
  let e = state[4]!, f = state[5]!, g = state[6]!, h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i]! + w[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  out[0] = (state[0]! + a) | 0; out[1] = (state[1]! + b) | 0;
  out[2] = (state[2]! + c) | 0; out[3] = (state[3]! + d) | 0;
  out[4] = (state[4]! + e) | 0; out[5] = (state[5]! + f) | 0;
  out[6] = (state[6]! + g) | 0; out[7] = (state[7]! + h) | 0;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (bytes pass through). */
export function utf8(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/** Incremental SHA-256. */
export class Sha256 {
  private readonly state: Int32Array;
  private readonly w = new Int32Array(64);
  private readonly buf = new Uint8Array(64);
  private bufLen = 0;
  private bytes = 0;

  constructor(from?: Midstate) {
    this.state = from ? Int32Array.from(from.state) : Int32Array.from(IV);
    if (from) {
      if (from.bytesHashed % 64 !== 0 || from.tail.length >= 64) throw new RangeError('bad midstate');
      this.bytes = from.bytesHashed;
      this.update(from.tail);
    }
  }

  update(data: string | Uint8Array): this {
    const bytes = utf8(data);
    let pos = 0;
    this.bytes += bytes.length;
    while (pos < bytes.length) {
      const take = Math.min(64 - this.bufLen, bytes.length - pos);
      this.buf.set(bytes.subarray(pos, pos + take), this.bufLen);
      this.bufLen += take;
      pos += take;
      if (this.bufLen === 64) {
        this.compressBuffer();
        this.bufLen = 0;
      }
    }
    return this;
  }

  /** The state after every complete block so far, and the bytes still buffered. */
  midstate(): Midstate {
    return {
      state: Int32Array.from(this.state),
      bytesHashed: this.bytes - this.bufLen,
      tail: this.buf.slice(0, this.bufLen),
    };
  }

  /** Final digest; leaves this hasher untouched (a copy is finalized). */
  digest(): Uint8Array {
    const copy = new Sha256(this.midstate());
    return copy.finish();
  }

  private finish(): Uint8Array {
    const bits = this.bytes * 8;
    const pad = new Uint8Array(((this.bufLen + 9 + 63) & ~63) - this.bufLen);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, Math.floor(bits / 0x1_0000_0000));
    view.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setInt32(i * 4, this.state[i]!);
    return out;
  }

  private compressBuffer(): void {
    const b = this.buf;
    for (let i = 0; i < 16; i++) {
      this.w[i] = (b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!;
    }
    compress(this.state, this.w, this.state);
  }
}

export function sha256(data: string | Uint8Array): Uint8Array {
  return new Sha256().update(data).digest();
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b];
  return s;
}

export function sha256Hex(data: string | Uint8Array): string {
  return toHex(sha256(data));
}
