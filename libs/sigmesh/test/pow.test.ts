import { describe, test, expect } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import {
  MAX_SALT_LEN, NONCE_ALPHABET, PowSearch, isValidNonce, isValidProofHash, powHeader, powPrefix, powThreshold, saltLength, workString,
} from '../src/pow.js';

const u64 = (h: Buffer): bigint => h.readBigUInt64BE(0);
const nodeValid = (preimage: string, work: bigint): boolean =>
  u64(createHash('sha256').update(preimage, 'utf8').digest()) * work < 1n << 64n;

function randomSalt(): string {
  return Array.from(randomBytes(MAX_SALT_LEN), (b) => NONCE_ALPHABET[b % 62]).join('');
}

/** Reference enumeration of the nonces PowSearch tries, hashed with node:crypto. */
function* referenceNonces(salt: string): Generator<string> {
  const digits = new Array<number>(8).fill(0);
  for (;;) {
    yield salt + digits.map((d) => NONCE_ALPHABET[d]).join('');
    for (let i = 7; i >= 0; i--) { digits[i] = (digits[i]! + 1) % 62; if (digits[i] !== 0) break; }
  }
}

describe('pow', () => {
  test('prefix and header follow PROTOCOL', () => {
    const body = 'hello';
    const bodyHash = createHash('sha256').update(body).digest('hex');
    expect(powPrefix({ token: 'v1.1.abc', work: 4096, method: 'post', path: '/room/ab', body }))
      .toBe(`v1.1.abc:4096:POST:/room/ab:${bodyHash}:`);
    expect(powPrefix({ token: 't', work: '7', method: 'GET', path: '/x' }))
      .toBe(`t:7:GET:/x:${createHash('sha256').update('').digest('hex')}:`);
    expect(powHeader('t', 12n, 'abc')).toBe('t:12:abc');
    expect(() => workString(0)).toThrow(RangeError);
    expect(() => workString('01')).toThrow(RangeError);
    expect(() => workString(1.5)).toThrow(RangeError);
  });

  test('threshold is floor((2^64-1)/work) split in halves', () => {
    for (const w of [1n, 2n, 3n, 4096n, 1048576n, 12345678901n, (1n << 64n) + 5n]) {
      const t = powThreshold(w);
      const x = (BigInt(t.hi) << 32n) | BigInt(t.lo);
      expect(x * w < 1n << 64n).toBe(true);
      expect((x + 1n) * w < 1n << 64n).toBe(false);
    }
  });

  test('exact check at the boundary', () => {
    const h = new Uint8Array(32);
    const view = new DataView(h.buffer);
    const work = 4096n;
    const max = ((1n << 64n) - 1n) / work;
    view.setBigUint64(0, max);
    expect(isValidProofHash(h, work)).toBe(true);
    view.setBigUint64(0, max + 1n);
    expect(isValidProofHash(h, work)).toBe(false);
  });

  test('salt keeps the counter and padding in one final block', () => {
    for (let len = 0; len < 200; len++) {
      const s = saltLength(len);
      expect(s).toBeGreaterThanOrEqual(4);
      expect(s + 8).toBeLessThanOrEqual(32);
      expect(((len + s) % 64) + 8 + 9).toBeLessThanOrEqual(64);
    }
  });

  test('search returns exactly the first valid nonce of its sequence (checked with node:crypto)', () => {
    const work = 64n;
    for (let plen = 0; plen < 130; plen += 3) {
      const prefix = `v1.1.${'x'.repeat(plen)}:64:POST:/room/ab:${'0'.repeat(64)}:`;
      const salt = randomSalt();
      const search = new PowSearch(prefix, work, salt);
      const found = search.run(100_000);
      expect(found).not.toBeNull();
      const expected = referenceFirstValid(prefix, salt.slice(0, saltLength(Buffer.byteLength(prefix))), work);
      expect(found).toBe(expected.nonce);
      expect(search.tried).toBe(expected.index + 1);
      expect(isValidNonce(found!)).toBe(true);
    }
  });

  test('finds valid proofs for multibyte prefixes and resumes across batches', () => {
    const work = 1000n;
    const prefix = powPrefix({ token: 'v1.17.ü€', work, method: 'POST', path: '/room/ff', body: 'ünïcode ✓' });
    const search = new PowSearch(prefix, work, randomSalt());
    const nonces: string[] = [];
    while (nonces.length < 5) {
      const n = search.run(97); // small batches: the counter must continue, not restart
      if (n) nonces.push(n);
    }
    expect(new Set(nonces).size).toBe(5);
    for (const n of nonces) expect(nodeValid(prefix + n, work)).toBe(true);
  });

  test('work 1 accepts the first nonce', () => {
    const s = new PowSearch('p:', 1, randomSalt());
    expect(s.run(1)).not.toBeNull();
  });
});

function referenceFirstValid(prefix: string, salt: string, work: bigint): { nonce: string; index: number } {
  let index = 0;
  for (const nonce of referenceNonces(salt)) {
    if (nodeValid(prefix + nonce, work)) return { nonce, index };
    index++;
  }
  throw new Error('unreachable');
}
