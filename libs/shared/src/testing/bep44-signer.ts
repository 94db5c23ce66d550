import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { bep44SignBuffer } from '../bep44.js';
import { ed25519RawPublicKey } from '../identity.js';

/** A signed BEP44 put body as PROTOCOL.md's `/dht-put` takes it. */
export interface SignedBep44Item {
  key: string;
  seq: number;
  v: string;
  sig: string;
  salt?: string;
  cas?: number;
}

/** An ed25519 key that signs BEP44 items, for tests. */
export interface Bep44Signer {
  /** 64 hex: the raw public key. */
  key: string;
  privateKey: KeyObject;
  item(opts: { seq: number; v: string | Buffer; salt?: string; cas?: number }): SignedBep44Item;
}

export function createBep44Signer(): Bep44Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key = ed25519RawPublicKey(publicKey).toString('hex');
  return {
    key,
    privateKey,
    item({ seq, v, salt, cas }) {
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      const sig = sign(null, bep44SignBuffer({ ...(salt !== undefined ? { salt } : {}), seq, v: bytes }), privateKey);
      return {
        key, seq, v: bytes.toString('base64'), sig: sig.toString('hex'),
        ...(salt !== undefined ? { salt } : {}), ...(cas !== undefined ? { cas } : {}),
      };
    },
  };
}
