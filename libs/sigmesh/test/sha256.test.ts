import { describe, test, expect } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { Sha256, sha256, sha256Hex } from '../src/sha256.js';

const nodeHex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('sha256', () => {
  test('known vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('héllo ✓')).toBe(nodeHex('héllo ✓'));
  });

  test('matches node:crypto on random inputs of every length around block boundaries', () => {
    for (let len = 0; len < 300; len++) {
      const data = randomBytes(len);
      expect(Buffer.from(sha256(data)).toString('hex')).toBe(nodeHex(data));
    }
    for (let i = 0; i < 50; i++) {
      const data = randomBytes(1 + Math.floor(Math.random() * 5000));
      expect(sha256Hex(data)).toBe(nodeHex(data));
    }
  });

  test('incremental updates in random pieces equal one-shot', () => {
    for (let i = 0; i < 100; i++) {
      const data = randomBytes(Math.floor(Math.random() * 700));
      const h = new Sha256();
      let pos = 0;
      while (pos < data.length) {
        const n = Math.floor(Math.random() * 100);
        h.update(data.subarray(pos, pos + n));
        pos += n;
      }
      expect(sha256Hex(h.digest())).toBe(sha256Hex(h.digest())); // digest leaves the state usable
      expect(Buffer.from(h.digest()).toString('hex')).toBe(nodeHex(data));
    }
  });

  test('resuming from a midstate gives the hash of prefix + suffix', () => {
    for (let i = 0; i < 200; i++) {
      const prefix = randomBytes(Math.floor(Math.random() * 300));
      const mid = new Sha256().update(prefix).midstate();
      expect(mid.bytesHashed % 64).toBe(0);
      expect(mid.bytesHashed + mid.tail.length).toBe(prefix.length);
      for (let j = 0; j < 3; j++) {
        const suffix = randomBytes(Math.floor(Math.random() * 100));
        const got = new Sha256(mid).update(suffix).digest();
        expect(Buffer.from(got).toString('hex')).toBe(nodeHex(Buffer.concat([prefix, suffix])));
      }
    }
  });
});
