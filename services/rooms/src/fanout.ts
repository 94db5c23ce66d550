import { LOG_ID, compareLogIds, type Bus, type LogEntry, type Logger, type Subscription } from '@mesh/shared';
import { roomSubject } from './hash.js';

/**
 * What travels on `rooms.<hash>`: the history id, the id of the entry before
 * it in the room's history (`prev`, null for the first), the body, the accept
 * time (ms) and the room's node-wide message count in the window with this
 * one (`m`), so every worker prices the room without asking the store.
 */
export interface WireMessage {
  id: string;
  prev?: string | null;
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
  const { id, prev, data, at, m } = v as Record<string, unknown>;
  if (typeof id !== 'string' || !LOG_ID.test(id)) return undefined;
  if (typeof data !== 'string' || data.length > maxDataLength) return undefined;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (prev !== undefined && prev !== null && (typeof prev !== 'string' || !LOG_ID.test(prev))) return undefined;
  if (m !== undefined && (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)) return undefined;
  return {
    id, data, at,
    ...(prev !== undefined ? { prev } : {}),
    ...(m !== undefined ? { m } : {}),
  };
}

/** Where the worker stands in one room: the last id it delivered, and what waits behind a gap fill. */
interface Cursor {
  /**
   * The last id delivered here, starting at the anchor (EMPTY_ROOM when the
   * room had no history then): nothing older is owed to this worker's
   * streams. Null while no anchor is known (not yet read, or the store failed):
   * then gaps cannot be seen and messages are delivered as they come.
   */
  last: string | null;
  /** True while the anchor or a gap is being read from history: arrivals queue meanwhile. */
  busy: boolean;
  queue: WireMessage[];
  /** Arrivals were dropped (a full queue, a bus outage): read history up to its end once the queue is empty. */
  resync: boolean;
  /**
   * Ids a failed gap fill skipped over (after < id < before): their bus copies
   * are still delivered when they come, late, instead of being dropped as old.
   */
  owed: { after: string; before: string } | null;
}

interface Entry {
  refs: number;
  sub: Subscription;
  cursor: Cursor;
  /** Resolves once the broker routes the subject to us and the cursor is anchored. */
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
 * The anchor of a room with no history when this worker subscribed: below
 * every real id, so the room's first messages are sequenced like any other
 * (without it, a second post overtaking the first on the bus was delivered
 * and the first then dropped as an old copy).
 */
const EMPTY_ROOM = '0-0';

/** Most queued arrivals per room while a gap is read (beyond: dropped, then read back from history). */
const MAX_QUEUE = 1000;

/**
 * Bus subscriptions per room hash with a reference count (a worker listens to
 * a room exactly while it has local subscribers of it), delivering each
 * room's messages in history order. NATS orders messages per publisher only:
 * a post accepted by one worker can arrive after a later post accepted by
 * another. Each message names the entry before it (`prev`); when that is not
 * the last one delivered here, the missing entries are read from history and
 * delivered first, and the overtaken copy is dropped when it comes.
 */
export function createFanout(opts: {
  bus: Bus;
  log: Logger;
  maxDataLength: number;
  history: {
    lastId(hash: string): Promise<string | null>;
    after(hash: string, afterId: string | null): Promise<LogEntry[]>;
  };
  onMessage(hash: string, msg: WireMessage): void;
}): Fanout {
  const entries = new Map<string, Entry>();
  let offReconnect: (() => void) | undefined;

  /**
   * After a bus outage, messages published meanwhile never came: every room
   * reads history past its last delivered id (a room with later traffic would
   * see the gap anyway; a quiet one would not until its next message).
   */
  function resyncAll(): void {
    for (const [hash, e] of entries) {
      if (e.cursor.last === null) continue;
      e.cursor.resync = true;
      if (!e.cursor.busy) void drain(hash, e.cursor);
    }
  }

  function deliver(hash: string, c: Cursor, msg: WireMessage): void {
    c.last = msg.id;
    opts.onMessage(hash, msg);
  }

  /** Whether `msg` follows what was delivered, or the room's history must be read first. */
  function hasGap(c: Cursor, msg: WireMessage): boolean {
    if (c.last === null || msg.prev === undefined || msg.prev === null) return false;
    return msg.prev !== c.last && compareLogIds(msg.prev, c.last) > 0;
  }

  /**
   * Delivers what history holds past the last delivered id, below `beforeId`
   * when given; `at` stands in for the accept time. False when history
   * could not be read.
   */
  async function fromHistory(hash: string, c: Cursor, at: number, beforeId?: string): Promise<boolean> {
    const from = c.last;
    try {
      for (const e of await opts.history.after(hash, from)) {
        if (from !== null && compareLogIds(e.id, from) <= 0) continue;
        if (beforeId !== undefined && compareLogIds(e.id, beforeId) >= 0) break;
        deliver(hash, c, { id: e.id, data: e.data, at });
      }
      return true;
    } catch (err) {
      opts.log.warn({ err, hash }, 'room history unavailable');
      return false;
    }
  }

  /** A gap before `msg`: the missing entries from history, then `msg`. */
  async function fill(hash: string, c: Cursor, msg: WireMessage): Promise<void> {
    const from = c.last;
    // Unread, the overtaken messages are still delivered when their copies come.
    if (!(await fromHistory(hash, c, msg.at, msg.id)) && from !== null) c.owed = { after: from, before: msg.id };
    if (c.last === null || compareLogIds(msg.id, c.last) > 0) deliver(hash, c, msg);
  }

  /** After dropped arrivals or a bus outage: everything history holds past the last delivered id. */
  async function catchUp(hash: string, c: Cursor): Promise<void> {
    if (c.last === null) return; // no anchor: history cannot tell what is owed
    await fromHistory(hash, c, Date.now());
  }

  function isOwed(c: Cursor, id: string): boolean {
    return c.owed !== null && compareLogIds(id, c.owed.after) > 0 && compareLogIds(id, c.owed.before) < 0;
  }

  /** Handles arrivals in order, one history read at a time. */
  async function drain(hash: string, c: Cursor): Promise<void> {
    c.busy = true;
    try {
      while (entries.get(hash)?.cursor === c) {
        const msg = c.queue.shift();
        if (msg === undefined) {
          if (!c.resync) break;
          c.resync = false;
          await catchUp(hash, c);
        } else if (c.last !== null && compareLogIds(msg.id, c.last) <= 0) {
          // An overtaken copy, already delivered from history; or owed after a failed fill.
          if (isOwed(c, msg.id)) opts.onMessage(hash, msg);
        } else if (hasGap(c, msg)) await fill(hash, c, msg);
        else deliver(hash, c, msg);
      }
    } finally {
      c.busy = false;
    }
  }

  function arrive(hash: string, c: Cursor, msg: WireMessage): void {
    if (c.queue.length >= MAX_QUEUE) {
      // Delivering it now would move the cursor past everything queued (then
      // dropped as old): history holds it, read once the queue is through.
      if (!c.resync) opts.log.warn({ hash }, 'room sequencing queue full; reading the overflow back from history');
      c.resync = true;
      return;
    }
    c.queue.push(msg);
    if (!c.busy) void drain(hash, c);
  }

  return {
    retain(hash) {
      offReconnect ??= opts.bus.onReconnect(resyncAll);
      const existing = entries.get(hash);
      if (existing !== undefined) {
        existing.refs++;
        return existing.ready;
      }
      // Busy until anchored: what arrives before the anchor waits in the queue.
      const cursor: Cursor = { last: null, busy: true, queue: [], resync: false, owed: null };
      const sub = opts.bus.subscribe(roomSubject(hash), (bytes) => {
        const msg = decodeWireMessage(bytes, opts.maxDataLength);
        if (msg === undefined) {
          opts.log.warn({ hash }, 'malformed room message on the bus; ignored');
          return;
        }
        arrive(hash, cursor, msg);
      });
      const ready = (async () => {
        if (!(await opts.bus.ping(2000))) {
          opts.log.warn({ hash }, 'bus did not confirm the room subscription; live messages may be late');
        }
        // Entries up to the anchor were appended before this worker listened:
        // owed to no live stream here (a resume reads them from history).
        cursor.last = await opts.history.lastId(hash).then((id) => id ?? EMPTY_ROOM, () => null);
        cursor.busy = false;
        if (cursor.queue.length > 0 || cursor.resync) void drain(hash, cursor);
      })();
      entries.set(hash, { refs: 1, sub, cursor, ready });
      return ready;
    },

    release(hash) {
      const e = entries.get(hash);
      if (e === undefined) return;
      if (--e.refs > 0) return;
      e.sub.unsubscribe();
      e.cursor.queue = [];
      entries.delete(hash);
    },

    clear() {
      offReconnect?.();
      offReconnect = undefined;
      for (const e of entries.values()) {
        e.sub.unsubscribe();
        e.cursor.queue = [];
      }
      entries.clear();
    },

    get subscriptions() {
      return entries.size;
    },
  };
}
