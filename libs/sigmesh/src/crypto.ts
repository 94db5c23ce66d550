/**
 * Optional end-to-end encryption of a room's messages with a shared password:
 * AES-256-GCM, key from PBKDF2-SHA-256(password, salt = "sigmesh/v1:" + room hash).
 * The room hash is also the additional data, so a sealed message cannot be replayed
 * into another room. Needs WebCrypto (secure contexts in browsers; Node 20).
 */

const PBKDF2_ITERATIONS = 200_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Opaque key handle (a WebCrypto CryptoKey). */
export interface RoomKey {
  readonly roomHash: string;
  readonly key: unknown;
}

type Subtle = typeof globalThis.crypto.subtle;
type Key = Parameters<Subtle['encrypt']>[1];

function subtle(): Subtle {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto is unavailable (browsers offer it on https:// and localhost only)');
  return s;
}

export async function deriveRoomKey(password: string, roomHash: string): Promise<RoomKey> {
  const base = await subtle().importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveKey']);
  const key = await subtle().deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: encoder.encode(`sigmesh/v1:${roomHash}`), iterations: PBKDF2_ITERATIONS },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
  return { roomHash, key };
}

/** `e1.<base64url(iv || ciphertext)>` */
export async function seal(k: RoomKey, plaintext: string): Promise<string> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(k.roomHash) }, k.key as Key, encoder.encode(plaintext)));
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return 'e1.' + toBase64Url(out);
}

/** The plaintext, or null when the message is not ours (wrong key, tampered, malformed). */
export async function open(k: RoomKey, sealed: string): Promise<string | null> {
  if (!sealed.startsWith('e1.')) return null;
  const bytes = fromBase64Url(sealed.slice(3));
  if (!bytes || bytes.length < 12 + 16) return null;
  try {
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: encoder.encode(k.roomHash) }, k.key as Key, bytes.subarray(12));
    return decoder.decode(pt);
  } catch {
    return null;
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function toBase64Url(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    if (i + 1 < bytes.length) s += B64[(n >> 6) & 63]!;
    if (i + 2 < bytes.length) s += B64[n & 63]!;
  }
  return s;
}

export function fromBase64Url(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const c = [0, 1, 2, 3].map((j) => (i + j < s.length ? B64.indexOf(s[i + j]!) : 0));
    const n = (c[0]! << 18) | (c[1]! << 12) | (c[2]! << 6) | c[3]!;
    out[o++] = (n >> 16) & 255;
    if (i + 2 < s.length) out[o++] = (n >> 8) & 255;
    if (i + 3 < s.length) out[o++] = n & 255;
  }
  return out;
}
