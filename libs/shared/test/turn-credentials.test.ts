import { createHmac } from 'node:crypto';
import { describe, test, expect } from '@jest/globals';
import { parseConfig } from '../src/config.js';
import { checkTurnCredential, turnCredentials, turnUrls, turnUsernameExpiry } from '../src/turn-credentials.js';

const secret = 'a-turn-secret-of-some-length';
const now = 1_764_000_000;

describe('turnCredentials', () => {
  test('username is <expiry>:<id> and credential is base64 HMAC-SHA1(secret, username)', () => {
    const c = turnCredentials({ secret, ttlSeconds: 3600, nowSeconds: now, urls: ['stun:h:1'] });
    expect(c.username).toMatch(/^1764003600:[A-Za-z0-9_-]{16}$/);
    expect(c.credential).toBe(createHmac('sha1', secret).update(c.username).digest('base64'));
    expect(c.ttl).toBe(3600);
    expect(c.urls).toEqual(['stun:h:1']);
  });

  test('ids are random', () => {
    const a = turnCredentials({ secret, ttlSeconds: 60, nowSeconds: now, urls: [] });
    const b = turnCredentials({ secret, ttlSeconds: 60, nowSeconds: now, urls: [] });
    expect(a.username).not.toBe(b.username);
  });

  test('checkTurnCredential accepts its own credentials until expiry', () => {
    const c = turnCredentials({ secret, ttlSeconds: 60, nowSeconds: now, urls: [] });
    expect(checkTurnCredential(secret, c.username, c.credential, now)).toBe(true);
    expect(checkTurnCredential(secret, c.username, c.credential, now + 59)).toBe(true);
    expect(checkTurnCredential(secret, c.username, c.credential, now + 60)).toBe(false);
  });

  test('refuses forged, wrong-secret and malformed credentials', () => {
    const c = turnCredentials({ secret, ttlSeconds: 60, nowSeconds: now, urls: [] });
    expect(checkTurnCredential('another-secret-xxxxxx', c.username, c.credential, now)).toBe(false);
    expect(checkTurnCredential(secret, c.username, c.credential.slice(0, -2) + 'AA', now)).toBe(false);
    expect(checkTurnCredential(secret, c.username, '', now)).toBe(false);
    // A later expiry with the old credential: the HMAC covers the expiry.
    const [, id] = c.username.split(':');
    expect(checkTurnCredential(secret, `9999999999:${id}`, c.credential, now)).toBe(false);
    expect(checkTurnCredential(secret, 'constructor', createHmac('sha1', secret).update('constructor').digest('base64'), now)).toBe(false);
    expect(turnUsernameExpiry('x'.repeat(200), now)).toBeNull();
    expect(turnUsernameExpiry(`${now + 5}:abc`, now)).toBe(now + 5);
  });

  test('turnUrls lists tcp only for coturn, nothing when off, brackets IPv6', () => {
    const cfg = parseConfig({ PUBLIC_URL: 'https://node.example', TURN_PORT: '3478' }).turn;
    expect(turnUrls(cfg, 'node-turn')).toEqual(['stun:node.example:3478', 'turn:node.example:3478?transport=udp']);
    expect(turnUrls(cfg, 'coturn')).toContain('turn:node.example:3478?transport=tcp');
    expect(turnUrls({ ...cfg, backend: 'none' })).toEqual([]);
    expect(turnUrls({ ...cfg, publicHost: '2001:db8::1' }, 'node-turn')[0]).toBe('stun:[2001:db8::1]:3478');
  });
});
