import { describe, test, expect } from '@jest/globals';
import { bodyHash, meetsWork, parseProofHeader, proofHash } from '../src/pow/proof.js';
import { PowGiveUpError, solveProof, solveProofAsync } from '../src/pow/solver.js';

const TOKEN = 'v1.1764000060.2iIrqWiP6duPuPhmpuA6bRkcjcjVz67NfWLCPnZmhRg';
const body = new TextEncoder().encode('hello room');

function verifies(header: string, method: string, path: string, b: Uint8Array, work: bigint): boolean {
  const p = parseProofHeader(header);
  if (typeof p === 'string') return false;
  expect(p.work).toBe(work);
  return meetsWork(proofHash({ token: p.token, work: p.work, method, path, bodyHash: bodyHash(b), nonce: p.nonce }), p.work);
}

describe('solver', () => {
  test('sync solution verifies and binds method, path and body', () => {
    const s = solveProof({ token: TOKEN, work: 4096, method: 'post', path: '/token', body });
    expect(s.header).toBe(`${TOKEN}:4096:${s.nonce}`);
    expect(s.hashes).toBeGreaterThan(0);
    expect(verifies(s.header, 'POST', '/token', body, 4096n)).toBe(true);
    // With p = 1/4096 per hash, the odds of these still passing by chance are negligible together.
    const others = [
      verifies(s.header, 'POST', '/dht-put', body, 4096n),
      verifies(s.header, 'POST', '/token', new Uint8Array(0), 4096n),
      verifies(s.header, 'GET', '/token', body, 4096n),
    ];
    expect(others.filter(Boolean).length).toBeLessThan(2);
  });

  test('async solution verifies and yields to the event loop', async () => {
    let ticks = 0;
    const iv = setInterval(() => ticks++, 0);
    try {
      const s = await solveProofAsync({ token: TOKEN, work: 1n << 16n, method: 'GET', path: '/dht-get', chunkHashes: 256 });
      expect(verifies(s.header, 'GET', '/dht-get', new Uint8Array(0), 1n << 16n)).toBe(true);
      if (s.hashes > 256 * 8) expect(ticks).toBeGreaterThan(0);
    } finally {
      clearInterval(iv);
    }
  });

  test('two solves of one challenge use different nonces', () => {
    const a = solveProof({ token: TOKEN, work: 2, method: 'POST', path: '/token' });
    const b = solveProof({ token: TOKEN, work: 2, method: 'POST', path: '/token' });
    expect(a.nonce).not.toBe(b.nonce);
  });

  test('maxHashes gives up; an aborted signal stops', async () => {
    expect(() => solveProof({ token: TOKEN, work: 1n << 60n, method: 'POST', path: '/token', maxHashes: 500 }))
      .toThrow(PowGiveUpError);
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(solveProofAsync({ token: TOKEN, work: 1n << 60n, method: 'POST', path: '/token', signal: ac.signal }))
      .rejects.toThrow('stop');
  });
});
