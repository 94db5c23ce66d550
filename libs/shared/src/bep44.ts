import { createHash } from 'node:crypto';
import { verifyEd25519 } from './identity.js';

/**
 * BEP44 mutable items, shared by the API (`/dht-get`, `/dht-put`) and the dht
 * service (the `dht.get` / `dht.put` bus handlers): field validators, the
 * signature buffer, the DHT target, and the bus messages between the two.
 *
 * Every side validates again what it receives: the API validates the HTTP
 * body, the dht service validates the bus message (never trust the bus).
 */

/** PROTOCOL.md: `v` is at most 1000 bytes once base64-decoded. */
export const BEP44_MAX_VALUE_BYTES = 1000;
/** BEP44: the salt is at most 64 bytes. */
export const BEP44_MAX_SALT_BYTES = 64;

// --- bus protocol (subjects are constants; payloads are UTF-8 JSON) ---------

/** Request `Bep44GetRequest` -> reply `DhtGetReply`. */
export const DHT_GET_SUBJECT = 'dht.get';
/** Request `Bep44PutRequest` -> reply `DhtPutReply`. */
export const DHT_PUT_SUBJECT = 'dht.put';

export interface Bep44GetRequest {
  /** 64 lower-case hex: the ed25519 public key. */
  key: string;
  /** UTF-8, at most 64 bytes; absent or '' for none. */
  salt?: string;
}

export interface Bep44PutRequest {
  key: string;
  salt?: string;
  /** Integer >= 0 (a JS safe integer). */
  seq: number;
  /** Base64 of the value bytes (at most 1000 decoded). */
  v: string;
  /** 128 lower-case hex: ed25519 signature over `bep44SignBuffer`. */
  sig: string;
  /** Compare-and-swap: the put applies only where the stored seq equals it. */
  cas?: number;
}

/** A verified mutable item, as `/dht-get` returns it. `salt` is '' for none. */
export interface Bep44Item {
  key: string;
  salt: string;
  seq: number;
  v: string;
  sig: string;
}

export type DhtGetError = 'not_found' | 'dht_timeout' | 'bad_request' | 'unavailable';
export type DhtPutError = 'seq_conflict' | 'bad_signature' | 'dht_timeout' | 'bad_request' | 'unavailable';

export type DhtGetReply =
  | { ok: true; item: Bep44Item }
  | { ok: false; error: DhtGetError; message?: string };

export type DhtPutReply =
  | { ok: true; target: string; stored: number }
  | { ok: false; error: DhtPutError; message?: string };

// --- validators ------------------------------------------------------------

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: 'bad_request'; message: string };

const HEX64 = /^[0-9a-fA-F]{64}$/;
const HEX128 = /^[0-9a-fA-F]{128}$/;
/** A lone surrogate has no UTF-8 form: its bytes would not be the bytes the client signed. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isBep44Key(s: unknown): s is string {
  return typeof s === 'string' && HEX64.test(s);
}

export function isBep44Sig(s: unknown): s is string {
  return typeof s === 'string' && HEX128.test(s);
}

/** A string of at most 64 UTF-8 bytes ('' means no salt). */
export function isBep44Salt(s: unknown): s is string {
  return typeof s === 'string' && Buffer.byteLength(s, 'utf8') <= BEP44_MAX_SALT_BYTES && !LONE_SURROGATE.test(s);
}

export function isBep44Seq(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Strict base64 (padded, no whitespace) to bytes; null when malformed or over 1000 bytes. */
export function decodeBep44Value(b64: unknown): Buffer | null {
  if (typeof b64 !== 'string' || b64.length > Math.ceil(BEP44_MAX_VALUE_BYTES / 3) * 4 || !BASE64.test(b64)) {
    return null;
  }
  const bytes = Buffer.from(b64, 'base64');
  return bytes.length <= BEP44_MAX_VALUE_BYTES ? bytes : null;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function bad(message: string): { ok: false; error: 'bad_request'; message: string } {
  return { ok: false, error: 'bad_request', message };
}

/** Validates a get request (bus message or the API's query); normalises hex to lower case. */
export function parseBep44GetRequest(input: unknown): Parsed<Bep44GetRequest> {
  if (!isRecord(input)) return bad('expected an object');
  if (!isBep44Key(input.key)) return bad('key must be 64 hex characters');
  if (input.salt !== undefined && !isBep44Salt(input.salt)) return bad('salt must be UTF-8 of at most 64 bytes');
  const value: Bep44GetRequest = { key: input.key.toLowerCase() };
  if (typeof input.salt === 'string' && input.salt !== '') value.salt = input.salt;
  return { ok: true, value };
}

/** Validates a put request's fields (not its signature: see `verifyBep44`). */
export function parseBep44PutRequest(input: unknown): Parsed<Bep44PutRequest> {
  if (!isRecord(input)) return bad('expected an object');
  if (!isBep44Key(input.key)) return bad('key must be 64 hex characters');
  if (input.salt !== undefined && !isBep44Salt(input.salt)) return bad('salt must be UTF-8 of at most 64 bytes');
  if (!isBep44Seq(input.seq)) return bad('seq must be an integer >= 0');
  if (decodeBep44Value(input.v) === null) return bad('v must be base64 of at most 1000 bytes');
  if (!isBep44Sig(input.sig)) return bad('sig must be 128 hex characters');
  if (input.cas !== undefined && !isBep44Seq(input.cas)) return bad('cas must be an integer >= 0');
  const value: Bep44PutRequest = {
    key: input.key.toLowerCase(),
    seq: input.seq,
    v: input.v as string,
    sig: input.sig.toLowerCase(),
  };
  if (typeof input.salt === 'string' && input.salt !== '') value.salt = input.salt;
  if (input.cas !== undefined) value.cas = input.cas;
  return { ok: true, value };
}

// --- signature and target ----------------------------------------------------

/**
 * The bytes BEP44 signs: `[4:salt<len>:<salt>]3:seqi<seq>e1:v<len>:<bytes>`
 * (the bencoded dict `{salt, seq, v}` without its `d`/`e`; salt part only
 * when a non-empty salt is given). Lengths are byte lengths.
 */
export function bep44SignBuffer(item: { salt?: string | Uint8Array; seq: number; v: Uint8Array }): Buffer {
  const parts: Buffer[] = [];
  const salt = typeof item.salt === 'string' ? Buffer.from(item.salt, 'utf8') : item.salt;
  if (salt !== undefined && salt.length > 0) {
    parts.push(Buffer.from(`4:salt${salt.length}:`, 'ascii'), Buffer.from(salt));
  }
  parts.push(Buffer.from(`3:seqi${item.seq}e1:v${item.v.length}:`, 'ascii'), Buffer.from(item.v));
  return Buffer.concat(parts);
}

/** True when `sig` is the key's ed25519 signature of the item. Never throws. */
export function verifyBep44(item: { key: string; salt?: string; seq: number; v: string; sig: string }): boolean {
  const v = decodeBep44Value(item.v);
  if (v === null || !isBep44Key(item.key) || !isBep44Sig(item.sig) || !isBep44Seq(item.seq)) return false;
  const msg = bep44SignBuffer({ ...(item.salt !== undefined ? { salt: item.salt } : {}), seq: item.seq, v });
  return verifyEd25519(Buffer.from(item.key, 'hex'), msg, Buffer.from(item.sig, 'hex'));
}

/** The DHT target of a mutable item: SHA-1 of the key bytes followed by the salt bytes, 40 hex. */
export function bep44Target(keyHex: string, salt?: string): string {
  const h = createHash('sha1').update(Buffer.from(keyHex, 'hex'));
  if (salt !== undefined && salt !== '') h.update(Buffer.from(salt, 'utf8'));
  return h.digest('hex');
}
