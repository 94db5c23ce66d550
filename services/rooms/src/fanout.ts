import { LOG_ID, type Bus, type Logger, type Subscription } from '@mesh/shared';
import { roomSubject } from './hash.js';

/**
 * What travels on `rooms.<hash>`: the history id, the body, the accept time
 * (ms) and the room's node-wide message count in the window with this one
 * (`m`), so every worker prices the room without asking the store.
 */
export interface WireMessage {
  id: string;
  data: string;
  at: number;
  m?: number;
}

export function encodeWireMessage(msg: WireMessage): Uint8Array {
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** Parses a bus payload; undefined for anything not shaped like a WireMessage. */
export function decodeWireMessage(bytes: Uint8Array, maxDataLength: number): WireMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { id, data, at, m } = v as Record<string, unknown>;
  if (typeof id !== 'string' || !LOG_ID.test(id)) return undefined;
  if (typeof data !== 'string' || data.length > maxDataLength) return undefined;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (m === undefined) return { id, data, at };
  if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0) return undefined;
  return { id, data, at, m };
}

interface Entry {
  refs: number;
  sub: Subscription;
  /** Resolves once the broker has the subscription (a round trip after SUB). */
  ready: Promise<void>;
}

export interface Fanout {
  /**
   * Counts one more local subscriber of `hash`, subscribing to `rooms.<hash>`
   * for the first. Resolves once the broker routes that subject to us: a
   * resume reads history only after this, so nothing slips between.
   */
  retain(hash: string): Promise<void>;
  /** One local subscriber fewer; the last one unsubscribes. */
  release(hash: string): void;
  /** Unsubscribes everything (stop). */
  clear(): void;
  readonly subscriptions: number;
}

/**
 * Bus subscriptions per room hash with a reference count: a worker listens to
 * a room exactly while it has local subscribers of it.
 */
export function createFanout(opts: {
  bus: Bus;
  log: Logger;
  maxDataLength: number;
  onMessage(hash: string, msg: WireMessage): void;
}): Fanout {
  const entries = new Map<string, Entry>();

  return {
    retain(hash) {
      const existing = entries.get(hash);
      if (existing !== undefined) {
        existing.refs++;
        return existing.ready;
      }
      const sub = opts.bus.subscribe(roomSubject(hash), (bytes) => {
        const msg = decodeWireMessage(bytes, opts.maxDataLength);
        if (msg === undefined) {
          opts.log.warn({ hash }, 'malformed room message on the bus; ignored');
          return;
        }
        opts.onMessage(hash, msg);
      });
      const ready = opts.bus.ping(2000).then((ok) => {
        if (!ok) opts.log.warn({ hash }, 'bus did not confirm the room subscription; live messages may be late');
      });
      entries.set(hash, { refs: 1, sub, ready });
      return ready;
    },

    release(hash) {
      const e = entries.get(hash);
      if (e === undefined) return;
      if (--e.refs > 0) return;
      e.sub.unsubscribe();
      entries.delete(hash);
    },

    clear() {
      for (const e of entries.values()) e.sub.unsubscribe();
      entries.clear();
    },

    get subscriptions() {
      return entries.size;
    },
  };
}
