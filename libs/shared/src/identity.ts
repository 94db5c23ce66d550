import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { Store } from './store/store.js';

/**
 * The node's persistent identity (an ed25519 key pair, its raw public key in
 * hex is the node `id`) and its generated secrets. Both live in the store so
 * every instance of one node agrees; setIfAbsent makes concurrent first
 * starts converge on one value.
 */

export interface Identity {
  /** 64 hex: the raw ed25519 public key. */
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const IDENTITY_KEY = 'identity:ed25519';
export const SECRET_KEY_PREFIX = 'secret:';

/** DER prefix of an SPKI ed25519 public key; the raw 32 bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Wraps a raw 32-byte ed25519 public key as a KeyObject. Throws on a wrong length. */
export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError('ed25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw 32 bytes of an ed25519 public KeyObject. */
export function ed25519RawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

/** ed25519 signature check that never throws: false for any malformed input. */
export function verifyEd25519(rawPublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (rawPublicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, ed25519PublicKeyFromRaw(rawPublicKey), signature);
  } catch {
    return false;
  }
}

/** setIfAbsent then read back: every racer ends with the one value that won. */
async function getOrCreate(store: Store, key: string, create: () => string): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await store.get(key);
    if (existing !== null) return existing;
    await store.setIfAbsent(key, create());
    const won = await store.get(key);
    if (won !== null) return won;
    // Deleted between our two calls (an operator reset): try again.
  }
  throw new Error(`store key ${key} could not be created`);
}

/** Loads the node identity from the store, generating it on first start. */
export async function loadIdentity(store: Store): Promise<Identity> {
  const stored = await getOrCreate(store, IDENTITY_KEY, () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    return privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  });
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(stored, 'base64'), format: 'der', type: 'pkcs8' });
  } catch (e) {
    // Never overwrite silently: a new id would make the mesh see a different node.
    throw new Error(`store key ${IDENTITY_KEY} does not hold an ed25519 private key`, { cause: e });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`store key ${IDENTITY_KEY} does not hold an ed25519 private key`);
  }
  const publicKey = createPublicKey(privateKey);
  return { id: ed25519RawPublicKey(publicKey).toString('hex'), privateKey, publicKey };
}

/**
 * The configured secret, else the one kept in the store (generated once:
 * 32 random bytes, base64url).
 */
export async function loadSecret(store: Store, name: 'node' | 'turn', configured: string | undefined): Promise<string> {
  if (configured !== undefined && configured !== '') return configured;
  const key = SECRET_KEY_PREFIX + name;
  const value = await getOrCreate(store, key, () => randomBytes(32).toString('base64url'));
  if (value.length < 16) throw new Error(`store key ${key} holds a secret shorter than 16 characters`);
  return value;
}
