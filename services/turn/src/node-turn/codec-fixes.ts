import { createHmac, timingSafeEqual } from 'node:crypto';
import { Attribute, CONSTANTS, Message, type NtAttribute, type NtMessage, type NtServer } from './modules.js';

/** A server that can derive the long-term key of a username itself (our REST auth). */
export interface IntegrityKeySource {
  /** MD5(username:realm:credential) for a valid unexpired REST username, else undefined. */
  integrityKey(username: string): Buffer | undefined;
}

const KNOWN_TYPES = new Set(Object.values(CONSTANTS.ATTR));
let applied = false;

/** Applies the codec fixes to node-turn's shared prototypes, once per process. */
export function applyCodecFixes(): void {
  if (applied) return;
  applied = true;
  readEvenPortAndUnknownAttributes();
  verifyIntegrityPerRequest();
}

/**
 * Defects fixed: EVEN-PORT threw `data.readBit is not a function` (a Buffer
 * slice loses node-turn's Data prototype on Node 20), dropping the request;
 * any attribute type node-turn does not know (browsers' and coturn's client
 * send some) threw too. EVEN-PORT now reads its R bit, unknown attributes are
 * kept raw and ignored.
 */
function readEvenPortAndUnknownAttributes(): void {
  const proto = Attribute.prototype as NtAttribute;
  const original = proto.read;
  proto.read = function read(this: NtAttribute, data: Buffer): void {
    const type = data.readUInt16BE(0);
    const length = data.readUInt16BE(2);
    if (4 + length > data.length) throw new RangeError('attribute longer than message');
    // RESERVATION-TOKEN (8 bytes) made readUIntBE throw: kept raw as well.
    if (type === CONSTANTS.ATTR.EVEN_PORT || type === CONSTANTS.ATTR.RESERVATION_TOKEN || !KNOWN_TYPES.has(type)) {
      this.type = type;
      this.length = length;
      this.padding = length % 4 ? 4 - (length % 4) : 0;
      this.name = type === CONSTANTS.ATTR.EVEN_PORT ? 'even-port' : type === CONSTANTS.ATTR.RESERVATION_TOKEN ? 'reservation-token' : 'unknown';
      this.value = type === CONSTANTS.ATTR.EVEN_PORT ? ((data[4] ?? 0) & 0x80) !== 0 : data.subarray(4, 4 + length);
      return;
    }
    original.call(this, data);
  };
}

/**
 * Defects fixed: MESSAGE-INTEGRITY was checked against a plain-object user
 * table (username `constructor` authenticated with `String(Object)`), with a
 * non-constant-time string comparison. Now the key is recomputed from the
 * TURN REST username on every request (no table) and compared in constant
 * time; malformed attributes drop the message instead of throwing.
 */
function verifyIntegrityPerRequest(): void {
  (Message.prototype as NtMessage).read = function read(this: NtMessage, buf: Buffer): boolean {
    if (buf.length < 20 || (buf[0] ?? 0) & 0xc0) return false;
    const type = buf.readUInt16BE(0);
    this.class = ((type >> 7) & 0x2) | ((type >> 4) & 0x1);
    this.method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
    const declared = buf.readUInt16BE(2);
    if (declared % 4 !== 0 || 20 + declared > buf.length) return false;
    this.magicCookie = buf.readUInt32BE(4);
    if (this.magicCookie !== CONSTANTS.MAGIC_COOKIE) return false;
    this.transactionID = buf.toString('hex', 8, 20);
    const end = 20 + declared;
    let off = 20;
    let afterIntegrity = false;
    while (off + 4 <= end) {
      const attr = new Attribute(this);
      try {
        attr.read(buf.subarray(off, end));
      } catch {
        return false;
      }
      const size = 4 + attr.length + attr.padding;
      if (attr.type === CONSTANTS.ATTR.MESSAGE_INTEGRITY) {
        attr.value = integrityMatches(this, buf, off, attr.value);
        afterIntegrity = true;
      } else if (attr.type === CONSTANTS.ATTR.FINGERPRINT) {
        this.useFingerprint = true;
      } else if (afterIntegrity) {
        // RFC 5389 §15.4: attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are ignored.
        off += size;
        continue;
      }
      this.attributes.push(attr);
      this.length += size;
      off += size;
    }
    return true;
  };
}

/** The HMAC over the message up to the MESSAGE-INTEGRITY attribute, length field adjusted to end after it. */
function integrityMatches(msg: NtMessage, buf: Buffer, miOffset: number, given: unknown): boolean {
  const username = msg.getAttribute('username');
  if (typeof username !== 'string' || typeof given !== 'string' || given.length !== 40) return false;
  const source = msg.server as NtServer & Partial<IntegrityKeySource>;
  const key = source.integrityKey?.(username);
  if (!key) return false;
  const input = Buffer.from(buf.subarray(0, miOffset));
  input.writeUInt16BE(miOffset - 20 + 24, 2);
  const expected = createHmac('sha1', key).update(input).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}
