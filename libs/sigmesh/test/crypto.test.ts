import { describe, test, expect } from '@jest/globals';
import { deriveRoomKey, fromBase64Url, open, seal, toBase64Url } from '../src/crypto.js';

describe('room encryption', () => {
  test('base64url round-trips every length', () => {
    for (let n = 0; n < 40; n++) {
      const b = new Uint8Array(n).map((_, i) => (i * 37 + n) & 255);
      const s = toBase64Url(b);
      expect(s).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64Url(s)).toEqual(b);
    }
    expect(fromBase64Url('a+b/')).toBeNull();
  });

  test('seal/open with the same password and room; refuses other keys, rooms and tampering', async () => {
    const room = 'a'.repeat(64);
    const k = await deriveRoomKey('secret', room);
    const sealed = await seal(k, '{"hi":"✓"}');
    expect(sealed.startsWith('e1.')).toBe(true);
    expect(await open(await deriveRoomKey('secret', room), sealed)).toBe('{"hi":"✓"}');
    expect(await open(await deriveRoomKey('wrong', room), sealed)).toBeNull();
    expect(await open(await deriveRoomKey('secret', 'b'.repeat(64)), sealed)).toBeNull();
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.at(-1);
    expect(await open(k, flipped)).toBeNull();
    expect(await open(k, '{"plain":1}')).toBeNull();
    expect(await seal(k, 'x')).not.toBe(await seal(k, 'x')); // fresh IV each time
  });
});
