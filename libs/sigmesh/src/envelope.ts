/**
 * What clients post into a room. Node message ids differ per node, so a message that
 * reaches us through k nodes is recognised by the random `mid` the sender put in its
 * envelope. Bodies are at most 1024 bytes (PROTOCOL), so longer payloads travel as
 * fragments `f1.<fid>.<index>.<count>.<chunk>`; payloads are kept ASCII so a chunk's
 * length in characters is its length in bytes.
 */

/** `beat`: "still here", posted after a quiet while (presence). */
export type EnvelopeType = 'msg' | 'hello' | 'beat' | 'bye' | 'signal';

export interface Envelope {
  v: 1;
  /** Random message id, the dedupe key across nodes. */
  mid: string;
  /** Sender's peer id. */
  from: string;
  /** Recipient's peer id; absent: everyone. */
  to?: string;
  t: EnvelopeType;
  data?: unknown;
}

export const MAX_BODY_BYTES = 1024;
export const MAX_PARTS = 16;
const ID = /^[0-9A-Za-z]{8,32}$/;
const PEER = /^[0-9a-f]{32}$/;
const TYPES: ReadonlySet<string> = new Set<EnvelopeType>(['msg', 'hello', 'beat', 'bye', 'signal']);
const FRAGMENT = /^f1\.([0-9A-Za-z]{8,32})\.([0-9]{1,2})\.([0-9]{1,2})\.([\s\S]*)$/;

export function isPeerId(s: unknown): s is string {
  return typeof s === 'string' && PEER.test(s);
}

export function randomId(bytes = 16): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** JSON with every non-ASCII character escaped (`\uXXXX`), so bytes == characters. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export function parseEnvelope(text: string): Envelope | null {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return null; }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const e = v as Record<string, unknown>;
  if (e.v !== 1 || typeof e.mid !== 'string' || !ID.test(e.mid) || !isPeerId(e.from)) return null;
  if (typeof e.t !== 'string' || !TYPES.has(e.t)) return null;
  if (e.to !== undefined && !isPeerId(e.to)) return null;
  const env: Envelope = { v: 1, mid: e.mid, from: e.from, t: e.t as EnvelopeType };
  if (e.to !== undefined) env.to = e.to as string;
  if (e.data !== undefined) env.data = e.data;
  return env;
}

/** Splits an ASCII payload into bodies of at most `maxBytes`; one body when it fits. */
export function fragment(payload: string, fid: string, maxBytes = MAX_BODY_BYTES): string[] {
  if (/[^\x00-\x7f]/.test(payload)) throw new RangeError('payload must be ASCII');
  if (payload.length <= maxBytes && !payload.startsWith('f1.')) return [payload];
  const room = maxBytes - `f1.${fid}.99.99.`.length;
  const count = Math.ceil(payload.length / room);
  if (count > MAX_PARTS) throw new RangeError(`message needs ${count} parts, at most ${MAX_PARTS}`);
  return Array.from({ length: count }, (_, i) => `f1.${fid}.${i}.${count}.${payload.slice(i * room, (i + 1) * room)}`);
}

/** Remembers the last `capacity` ids (insertion order); `add` says whether it was new. */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity = 4096) {}

  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}

interface Pending {
  parts: (string | undefined)[];
  have: number;
  atMs: number;
}

/** Puts fragments back together; bounded in messages pending and in age. */
export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  private readonly done = new RecentIds(1024);

  constructor(private readonly maxPending = 64, private readonly maxAgeMs = 60_000) {}

  /** A whole payload: the body itself, or the last missing fragment's message; else null. */
  push(body: string, nowMs = Date.now()): string | null {
    if (!body.startsWith('f1.')) return body;
    const m = FRAGMENT.exec(body);
    if (!m) return null;
    const fid = m[1]!;
    const index = Number(m[2]);
    const count = Number(m[3]);
    if (count < 2 || count > MAX_PARTS || index >= count || this.done.has(fid)) return null;
    this.evict(nowMs);
    let p = this.pending.get(fid);
    if (!p) {
      if (this.pending.size >= this.maxPending) this.pending.delete(this.pending.keys().next().value!);
      p = { parts: new Array<string | undefined>(count), have: 0, atMs: nowMs };
      this.pending.set(fid, p);
    }
    if (p.parts.length !== count) return null;
    if (p.parts[index] === undefined) { p.parts[index] = m[4]!; p.have++; }
    if (p.have < count) return null;
    this.pending.delete(fid);
    this.done.add(fid);
    return p.parts.join('');
  }

  private evict(nowMs: number): void {
    for (const [fid, p] of this.pending) {
      if (nowMs - p.atMs <= this.maxAgeMs) break; // insertion order = age order
      this.pending.delete(fid);
    }
  }
}
