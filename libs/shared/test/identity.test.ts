import { describe, test, expect, afterAll } from '@jest/globals';
import { sign } from 'node:crypto';
import { ed25519PublicKeyFromRaw, loadIdentity, loadSecret, verifyEd25519 } from '../src/identity.js';
import { createMemoryBackend, createMemoryStore } from '../src/store/memory.js';
import type { Store } from '../src/store/store.js';
import { storeKinds } from './pow.stores.js';

const stores: Store[] = [];
const backends: { close(): void }[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const b of backends) b.close();
});

function twoClients(): [Store, Store] {
  const backend = createMemoryBackend();
  backends.push(backend);
  const a = createMemoryStore({ prefix: 'id:', backend });
  const b = createMemoryStore({ prefix: 'id:', backend });
  stores.push(a, b);
  return [a, b];
}

/**
 * A client whose first setIfAbsent is held until `release()`: lets a test
 * run the worst interleaving (B read "absent", A created and returned, then
 * B writes), which a plain `set` would lose.
 */
function heldClient(store: Store): { store: Store; reached: Promise<void>; release: () => void } {
  let release = (): void => {};
  const held = new Promise<void>((r) => { release = r; });
  let arrived = (): void => {};
  const reached = new Promise<void>((r) => { arrived = r; });
  const wrapped: Store = {
    ...store,
    async setIfAbsent(key, value, opts) {
      arrived();
      await held;
      return store.setIfAbsent(key, value, opts);
    },
  };
  return { store: wrapped, reached, release };
}

describe('identity', () => {
  test('generated once: the second load returns the same key', async () => {
    const [store] = twoClients();
    const first = await loadIdentity(store);
    expect(first.id).toMatch(/^[0-9a-f]{64}$/);
    const second = await loadIdentity(store);
    expect(second.id).toBe(first.id);
    // The key pair signs what the raw id verifies.
    const msg = Buffer.from('hello mesh');
    expect(verifyEd25519(Buffer.from(second.id, 'hex'), msg, sign(null, msg, first.privateKey))).toBe(true);
  });

  test('concurrent first loads on one store and on two clients agree', async () => {
    const [a, b] = twoClients();
    const ids = await Promise.all([loadIdentity(a), loadIdentity(b), loadIdentity(a), loadIdentity(b)]);
    expect(new Set(ids.map((i) => i.id)).size).toBe(1);
  });

  test('worst interleaving: the late writer adopts the winner\'s key', async () => {
    const [a, b] = twoClients();
    const late = heldClient(b);
    const pending = loadIdentity(late.store);
    await late.reached;
    const winner = await loadIdentity(a);
    late.release();
    expect((await pending).id).toBe(winner.id);
    expect((await loadIdentity(a)).id).toBe(winner.id);
  });

  test('a corrupt stored identity is refused, not replaced', async () => {
    const [store] = twoClients();
    await store.set('identity:ed25519', 'bm90IGEga2V5');
    await expect(loadIdentity(store)).rejects.toThrow(/does not hold an ed25519 private key/);
    expect(await store.get('identity:ed25519')).toBe('bm90IGEga2V5');
  });
});

describe.each(storeKinds())('identity and secret on two clients (%s)', (_kind, makePair) => {
  test('concurrent first loads agree', async () => {
    const { a, b, close } = await makePair();
    try {
      const ids = await Promise.all([loadIdentity(a), loadIdentity(b)]);
      expect(ids[0].id).toBe(ids[1].id);
      const secrets = await Promise.all([loadSecret(a, 'node', undefined), loadSecret(b, 'node', undefined)]);
      expect(secrets[0]).toBe(secrets[1]);
      expect((await loadIdentity(b)).id).toBe(ids[0].id);
    } finally {
      // These keys have no TTL: do not leave them on a shared server.
      await a.del('identity:ed25519').catch(() => undefined);
      await a.del('secret:node').catch(() => undefined);
      await close();
    }
  });
});

describe('secrets', () => {
  test('the configured value wins and nothing is stored', async () => {
    const [store] = twoClients();
    expect(await loadSecret(store, 'node', 'configured-secret-123')).toBe('configured-secret-123');
    expect(await store.get('secret:node')).toBeNull();
  });

  test('generated once per name, shared by concurrent instances', async () => {
    const [a, b] = twoClients();
    const [x, y] = await Promise.all([loadSecret(a, 'node', undefined), loadSecret(b, 'node', undefined)]);
    expect(x).toBe(y);
    expect(Buffer.from(x, 'base64url')).toHaveLength(32);
    expect(await loadSecret(a, 'node', undefined)).toBe(x);
    const [c, d] = twoClients();
    const late = heldClient(d);
    const pending = loadSecret(late.store, 'turn', undefined);
    await late.reached;
    const winner = await loadSecret(c, 'turn', undefined);
    late.release();
    expect(await pending).toBe(winner);
    const turn = await loadSecret(a, 'turn', undefined);
    expect(turn).not.toBe(x);
  });
});

describe('ed25519 helpers', () => {
  test('verify never throws and refuses bad input', async () => {
    const [store] = twoClients();
    const { id, privateKey } = await loadIdentity(store);
    const pub = Buffer.from(id, 'hex');
    const msg = Buffer.from('3:seqi1e1:v5:hello');
    const sig = sign(null, msg, privateKey);
    expect(verifyEd25519(pub, msg, sig)).toBe(true);
    expect(verifyEd25519(pub, Buffer.from('3:seqi2e1:v5:hello'), sig)).toBe(false);
    const bad = Buffer.from(sig);
    bad[0] = (bad[0] ?? 0) ^ 1;
    expect(verifyEd25519(pub, msg, bad)).toBe(false);
    expect(verifyEd25519(pub.subarray(1), msg, sig)).toBe(false);
    expect(verifyEd25519(pub, msg, sig.subarray(1))).toBe(false);
    expect(verifyEd25519(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
    expect(verifyEd25519(new Uint8Array(0), msg, new Uint8Array(0))).toBe(false);
  });

  test('raw key wrapping', async () => {
    const [store] = twoClients();
    const { id, publicKey } = await loadIdentity(store);
    const k = ed25519PublicKeyFromRaw(Buffer.from(id, 'hex'));
    expect(k.equals(publicKey)).toBe(true);
    expect(() => ed25519PublicKeyFromRaw(new Uint8Array(31))).toThrow(RangeError);
  });
});
