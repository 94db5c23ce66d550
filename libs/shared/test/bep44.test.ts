import { describe, expect, test } from '@jest/globals';
import {
  bep44SignBuffer, bep44Target, decodeBep44Value, parseBep44GetRequest, parseBep44PutRequest, verifyBep44,
} from '../src/bep44.js';

// Test vectors of BEP44 (bittorrent.org/beps/bep_0044.html, "test vectors").
const KEY = '77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548';
const V = Buffer.from('Hello World!').toString('base64');
const SIG_PLAIN = '305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff'
  + '1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01';
const SIG_SALTED = '6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d'
  + 'df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08';

describe('bep44SignBuffer', () => {
  test('builds the bencoded {salt, seq, v} without its dict markers', () => {
    expect(bep44SignBuffer({ seq: 1, v: Buffer.from('Hello World!') }).toString('latin1')).toBe('3:seqi1e1:v12:Hello World!');
    expect(bep44SignBuffer({ salt: 'foobar', seq: 1, v: Buffer.from('Hello World!') }).toString('latin1'))
      .toBe('4:salt6:foobar3:seqi1e1:v12:Hello World!');
    // Lengths are byte lengths, and an empty salt is no salt.
    expect(bep44SignBuffer({ salt: 'é', seq: 0, v: Buffer.from([0xff]) })).toEqual(
      Buffer.concat([Buffer.from('4:salt2:'), Buffer.from('é'), Buffer.from('3:seqi0e1:v1:'), Buffer.from([0xff])]));
    expect(bep44SignBuffer({ salt: '', seq: 2, v: Buffer.alloc(0) }).toString()).toBe('3:seqi2e1:v0:');
  });
});

describe('verifyBep44', () => {
  test('accepts the BEP44 test vectors', () => {
    expect(verifyBep44({ key: KEY, seq: 1, v: V, sig: SIG_PLAIN })).toBe(true);
    expect(verifyBep44({ key: KEY, salt: 'foobar', seq: 1, v: V, sig: SIG_SALTED })).toBe(true);
  });

  test('refuses any change, and malformed input, without throwing', () => {
    expect(verifyBep44({ key: KEY, seq: 2, v: V, sig: SIG_PLAIN })).toBe(false);
    expect(verifyBep44({ key: KEY, salt: 'foobaz', seq: 1, v: V, sig: SIG_SALTED })).toBe(false);
    expect(verifyBep44({ key: KEY, seq: 1, v: Buffer.from('Hello World?').toString('base64'), sig: SIG_PLAIN })).toBe(false);
    expect(verifyBep44({ key: KEY, seq: 1, v: V, sig: '00'.repeat(64) })).toBe(false);
    expect(verifyBep44({ key: 'ff'.repeat(32), seq: 1, v: V, sig: SIG_PLAIN })).toBe(false);
    expect(verifyBep44({ key: 'nothex', seq: 1, v: V, sig: SIG_PLAIN })).toBe(false);
    expect(verifyBep44({ key: KEY, seq: -1, v: V, sig: SIG_PLAIN })).toBe(false);
    expect(verifyBep44({ key: KEY, seq: 1, v: '!!', sig: SIG_PLAIN })).toBe(false);
  });
});

describe('bep44Target', () => {
  test('is SHA-1 of key then salt (BEP44 test vectors)', () => {
    expect(bep44Target(KEY)).toBe('4a533d47ec9c7d95b1ad75f576cffc641853b750');
    expect(bep44Target(KEY, 'foobar')).toBe('411eba73b6f087ca51a3795d9c8c938d365e32c1');
  });
});

describe('request validation', () => {
  const good = { key: KEY, seq: 1, v: V, sig: SIG_PLAIN };

  test('normalises hex to lower case and drops an empty salt', () => {
    expect(parseBep44PutRequest({ ...good, key: KEY.toUpperCase(), sig: SIG_PLAIN.toUpperCase(), salt: '' }))
      .toEqual({ ok: true, value: good });
    expect(parseBep44GetRequest({ key: KEY, salt: 'foobar' })).toEqual({ ok: true, value: { key: KEY, salt: 'foobar' } });
  });

  test.each([
    ['not an object', 'x'], ['an array', [good]], ['a short key', { ...good, key: 'ab' }],
    ['a negative seq', { ...good, seq: -1 }], ['a fractional seq', { ...good, seq: 0.5 }],
    ['an unsafe seq', { ...good, seq: 2 ** 60 }], ['a string seq', { ...good, seq: '1' }],
    ['v not base64', { ...good, v: 'a b' }], ['v unpadded', { ...good, v: 'YQ' }],
    ['v over 1000 bytes', { ...good, v: Buffer.alloc(1001).toString('base64') }],
    ['a short sig', { ...good, sig: 'ab' }], ['a salt over 64 bytes', { ...good, salt: 'é'.repeat(33) }],
    ['a lone surrogate salt', { ...good, salt: '\uD800' }], ['a non-string salt', { ...good, salt: 5 }],
    ['a bad cas', { ...good, cas: 'x' }],
  ])('refuses %s', (_what, input) => {
    expect(parseBep44PutRequest(input)).toMatchObject({ ok: false, error: 'bad_request' });
  });

  test('accepts a 1000-byte value, refuses 1001', () => {
    expect(decodeBep44Value(Buffer.alloc(1000, 1).toString('base64'))?.length).toBe(1000);
    expect(decodeBep44Value(Buffer.alloc(1001, 1).toString('base64'))).toBeNull();
    expect(decodeBep44Value('')?.length).toBe(0);
  });
});
