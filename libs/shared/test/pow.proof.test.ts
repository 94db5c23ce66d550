import { describe, test, expect } from '@jest/globals';
import { bodyHash, meetsWork, parseProofHeader, proofHash, TWO_POW_64 } from '../src/pow/proof.js';

// Pinned vectors, computed once with Python's hashlib (independent of this code).
const TOKEN = 'v1.1764000060.2iIrqWiP6duPuPhmpuA6bRkcjcjVz67NfWLCPnZmhRg';
const BODY = new TextEncoder().encode('{"hello":"world"}');
const BODY_HASH = '93a23971a914e5eacbf0a8d25154cda309c3c1c72fbb9914d47c60f3cb681588';
const PATH = '/room/' + 'ab'.repeat(20);

function hashOf(x: bigint): Uint8Array {
  const b = Buffer.alloc(32, 0xff);
  b.writeBigUInt64BE(x, 0);
  return b;
}

describe('proof vectors', () => {
  test('body hash', () => {
    expect(bodyHash(BODY)).toBe(BODY_HASH);
    expect(bodyHash(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('valid: work 256, nonce n285', () => {
    const h = proofHash({ token: TOKEN, work: 256n, method: 'post', path: PATH, bodyHash: BODY_HASH, nonce: 'n285' });
    expect(h.toString('hex')).toBe('001ebaefd7574cdaad30c3873080f81cde657aef89951ff4a9156977f865e4bd');
    expect(meetsWork(h, 256n)).toBe(true);
  });

  test('invalid: work 256, nonce n0', () => {
    const h = proofHash({ token: TOKEN, work: 256, method: 'POST', path: PATH, bodyHash: BODY_HASH, nonce: 'n0' });
    expect(h.toString('hex')).toBe('85af91266704531448a852a58156704675d53311968d4214b98d6968e5ce7466');
    expect(meetsWork(h, 256n)).toBe(false);
  });
});

describe('meetsWork boundary (exact integer arithmetic)', () => {
  test('x * work just below 2^64 passes, at 2^64 fails', () => {
    // (2^64 - 1) / 3 is exact: x*3 = 2^64 - 1.
    const x = (TWO_POW_64 - 1n) / 3n;
    expect(meetsWork(hashOf(x), 3n)).toBe(true);
    expect(meetsWork(hashOf(x + 1n), 3n)).toBe(false);
    // 2^62 * 4 = 2^64 exactly: refused; one less passes.
    expect(meetsWork(hashOf(1n << 62n), 4n)).toBe(false);
    expect(meetsWork(hashOf((1n << 62n) - 1n), 4n)).toBe(true);
  });

  test('a case where float arithmetic would get it wrong', () => {
    // work = 2^32 + 1: threshold floor((2^64-1)/work) = 2^32 - 1; in doubles x*work rounds to 2^64.
    const work = (1n << 32n) + 1n;
    const x = (1n << 32n) - 1n;
    expect(x * work).toBe(TWO_POW_64 - 1n);
    expect(meetsWork(hashOf(x), work)).toBe(true);
    expect(meetsWork(hashOf(x + 1n), work)).toBe(false);
  });

  test('work 1 always passes; work 2^64 only for x = 0; work 0 never', () => {
    expect(meetsWork(hashOf(TWO_POW_64 - 1n), 1n)).toBe(true);
    expect(meetsWork(hashOf(0n), TWO_POW_64)).toBe(true);
    expect(meetsWork(hashOf(1n), TWO_POW_64)).toBe(false);
    expect(meetsWork(hashOf(0n), 0n)).toBe(false);
    expect(meetsWork(new Uint8Array(7), 1n)).toBe(false);
  });
});

describe('parseProofHeader', () => {
  test('parses a good header', () => {
    expect(parseProofHeader(`${TOKEN}:4096:abcXYZ019`)).toEqual({ token: TOKEN, work: 4096n, nonce: 'abcXYZ019' });
    expect(parseProofHeader(`${TOKEN}:18446744073709551616:${'z'.repeat(32)}`))
      .toEqual({ token: TOKEN, work: TWO_POW_64, nonce: 'z'.repeat(32) });
  });

  test('absent or blank is required', () => {
    expect(parseProofHeader(undefined)).toBe('pow_required');
    expect(parseProofHeader('')).toBe('pow_required');
    expect(parseProofHeader('   ')).toBe('pow_required');
  });

  test.each([
    ['work 0', `${TOKEN}:0:abc`],
    ['leading zero work', `${TOKEN}:04096:abc`],
    ['negative work', `${TOKEN}:-1:abc`],
    ['fractional work', `${TOKEN}:1.5:abc`],
    ['exponent work', `${TOKEN}:1e6:abc`],
    ['work 2^64 + 1', `${TOKEN}:18446744073709551617:abc`],
    ['huge work', `${TOKEN}:99999999999999999999:abc`],
    ['21-digit work', `${TOKEN}:100000000000000000000:abc`],
    ['empty nonce', `${TOKEN}:4096:`],
    ['nonce 33 chars', `${TOKEN}:4096:${'a'.repeat(33)}`],
    ['nonce with dash', `${TOKEN}:4096:ab-c`],
    ['nonce with underscore', `${TOKEN}:4096:ab_c`],
    ['nonce non-ascii', `${TOKEN}:4096:abé`],
    ['missing part', `${TOKEN}:4096`],
    ['extra part', `${TOKEN}:4096:abc:def`],
    ['empty token', ':4096:abc'],
    ['token with colon-free junk', `v1 x:4096:abc`],
    ['too long', `${TOKEN}:4096:abc${' '.repeat(200)}`],
    ['very long', 'a'.repeat(100000)],
  ])('malformed: %s', (_name, value) => {
    expect(parseProofHeader(value)).toBe('pow_malformed');
  });
});
