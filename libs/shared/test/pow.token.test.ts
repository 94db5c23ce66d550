import { describe, test, expect } from '@jest/globals';
import { FUTURE_SKEW_SECONDS, checkToken, issueToken, tokenExpires, tokenTimestamp } from '../src/pow/token.js';

// Pinned vector, computed once with Python's hmac/hashlib (independent of this code).
const SECRET = 'test-secret-0123456789';
const NOW = 1764000100;
const TOKEN = 'v1.1764000060.2iIrqWiP6duPuPhmpuA6bRkcjcjVz67NfWLCPnZmhRg';

describe('challenge token', () => {
  test('fixed secret and time give the pinned token', () => {
    expect(issueToken(SECRET, NOW, 60)).toEqual({ token: TOKEN, ts: 1764000060 });
    expect(checkToken(SECRET, TOKEN, NOW, 300)).toBe('ok');
  });

  test('rotates on the period boundary and stays stable within it', () => {
    const a = issueToken(SECRET, 1764000060, 60).token;
    expect(issueToken(SECRET, 1764000119.9, 60).token).toBe(a);
    const b = issueToken(SECRET, 1764000120, 60);
    expect(b.ts).toBe(1764000120);
    expect(b.token).not.toBe(a);
    // The old one is still accepted after rotation, within the TTL.
    expect(checkToken(SECRET, a, 1764000120, 300)).toBe('ok');
  });

  test('accepted while now - ts <= ttl, then expired', () => {
    expect(checkToken(SECRET, TOKEN, 1764000060 + 300, 300)).toBe('ok');
    expect(checkToken(SECRET, TOKEN, 1764000060 + 301, 300)).toBe('expired');
    expect(tokenExpires(1764000060, 300)).toBe(1764000360);
  });

  test('a token from the future is refused beyond the clock skew, even with a good mac', () => {
    expect(checkToken(SECRET, TOKEN, 1764000060 - FUTURE_SKEW_SECONDS, 300)).toBe('ok');
    expect(checkToken(SECRET, TOKEN, 1764000060 - FUTURE_SKEW_SECONDS - 1, 300)).toBe('invalid');
  });

  test('another secret or a tampered mac or ts is invalid', () => {
    expect(checkToken('another-secret-0123456789', TOKEN, NOW, 300)).toBe('invalid');
    const flipped = TOKEN.slice(0, -1) + (TOKEN.endsWith('g') ? 'h' : 'g');
    expect(checkToken(SECRET, flipped, NOW, 300)).toBe('invalid');
    expect(checkToken(SECRET, TOKEN.replace('1764000060', '1764000000'), NOW, 300)).toBe('invalid');
  });

  test.each([
    ['empty', ''],
    ['wrong version', TOKEN.replace('v1.', 'v2.')],
    ['leading zero ts', TOKEN.replace('v1.', 'v1.0')],
    ['negative ts', TOKEN.replace('v1.', 'v1.-')],
    ['padded mac', TOKEN + '='],
    ['short mac', TOKEN.slice(0, -1)],
    ['long mac', TOKEN + 'A'],
    ['standard base64 chars', TOKEN.slice(0, -1) + '+'],
    ['too long ts', 'v1.1234567890123.' + TOKEN.split('.')[2]],
    ['huge', 'v1.' + '1'.repeat(10000)],
    ['spaces', ` ${TOKEN}`],
  ])('malformed: %s', (_name, token) => {
    expect(checkToken(SECRET, token, NOW, 300)).toBe('malformed');
    expect(tokenTimestamp(token)).toBeUndefined();
  });

  test('ts zero is well-formed', () => {
    const { token } = issueToken(SECRET, 30, 60);
    expect(token.startsWith('v1.0.')).toBe(true);
    expect(checkToken(SECRET, token, 30, 300)).toBe('ok');
    expect(tokenTimestamp(token)).toBe(0);
  });
});
