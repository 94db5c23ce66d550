import { compareLogIds, type LogEntry } from '@mesh/shared';
import type { WireMessage } from '../wire.js';

/** A room message in history order, as the feed hands it on. */
export interface SequencedMessage extends WireMessage {
  /**
   * True for a message delivered after a higher id: one a failed gap fill
   * skipped over, arriving late on the bus. Streams send it without its `id:`
   * line, so a reader's Last-Event-ID never moves backwards.
   */
  late?: boolean;
}

/** What the sequencer reads of one room's history. */
export interface SequencerHistory {
  /** The newest held id, or null for an empty room. */
  lastId(): Promise<string | null>;
  /** Every held entry after `afterId` (all when null), oldest first. */
  after(afterId: string | null): Promise<LogEntry[]>;
}

export interface SequencerOptions {
  history: SequencerHistory;
  deliver(msg: SequencedMessage): void;
  /** A read of history failed, or arrivals were dropped: worth a warning, not an error. */
  warn(what: string, err?: unknown): void;
  /** Most arrivals queued while history is read (beyond: dropped, then read back). Default 1000. */
  maxQueue?: number;
}

export interface Sequencer {
  /** Reads the anchor (the room's newest id when this worker started listening); arrivals wait until then. */
  anchor(): Promise<void>;
  /** A message from the bus, in whatever order the bus brought it. */
  arrive(msg: WireMessage): void;
  /** Arrivals may have been missed (a bus outage): history past the last delivered id is read. */
  resync(): void;
  /** Nothing is delivered after this. */
  close(): void;
  /** The last id delivered (the anchor before any), null while no anchor is known. */
  readonly last: string | null;
}

/**
 * The anchor of a room with no history when the worker subscribed: below
 * every real id, so the room's first messages are sequenced like any other
 * (without it, a second post overtaking the first on the bus was delivered
 * and the first then dropped as an old copy).
 */
export const EMPTY_ROOM = '0-0';

const MAX_QUEUE = 1000;

/**
 * Puts one room's bus messages into history order. NATS orders messages per
 * publisher only: a post accepted by one worker can arrive after a later post
 * accepted by another. Each message names the entry before it (`prev`); when
 * that is not the last one delivered, the missing entries are read from
 * history and delivered first, and the overtaken copy is dropped when it
 * comes. One history read at a time; arrivals queue (bounded) meanwhile.
 * Pure: no bus, no clock but the accept times it is given.
 */
export function createSequencer(o: SequencerOptions): Sequencer {
  const maxQueue = o.maxQueue ?? MAX_QUEUE;
  /**
   * The last id delivered, starting at the anchor: nothing older is owed.
   * Null while no anchor is known (not yet read, or the store failed): then
   * gaps cannot be seen and messages are delivered as they come.
   */
  let last: string | null = null;
  /** True while the anchor or a gap is being read: arrivals queue meanwhile. */
  let busy = true;
  let queue: WireMessage[] = [];
  /** Arrivals were dropped (a full queue, a bus outage): read history to its end once the queue is empty. */
  let resyncDue = false;
  /** Ids a failed gap fill skipped over (after < id < before): delivered late when their copies come. */
  let owed: { after: string; before: string } | null = null;
  let closed = false;

  function deliver(msg: WireMessage): void {
    last = msg.id;
    o.deliver(msg);
  }

  function hasGap(msg: WireMessage): boolean {
    if (last === null || msg.prev === undefined || msg.prev === null) return false;
    return msg.prev !== last && compareLogIds(msg.prev, last) > 0;
  }

  function isOwed(id: string): boolean {
    return owed !== null && compareLogIds(id, owed.after) > 0 && compareLogIds(id, owed.before) < 0;
  }

  /** Delivers what history holds past `last` (below `beforeId` when given); false when it could not be read. */
  async function fromHistory(at: number, beforeId?: string): Promise<boolean> {
    const from = last;
    let entries: LogEntry[];
    try {
      entries = await o.history.after(from);
    } catch (err) {
      o.warn('room history unavailable', err);
      return false;
    }
    for (const e of entries) {
      if (closed) return true;
      if (from !== null && compareLogIds(e.id, from) <= 0) continue;
      if (beforeId !== undefined && compareLogIds(e.id, beforeId) >= 0) break;
      deliver({ id: e.id, data: e.data, at });
    }
    return true;
  }

  /** A gap before `msg`: the missing entries from history, then `msg`. */
  async function fill(msg: WireMessage): Promise<void> {
    const from = last;
    // Unread, the overtaken messages are still delivered when their copies come.
    if (!(await fromHistory(msg.at, msg.id)) && from !== null) owed = { after: from, before: msg.id };
    if (closed) return;
    if (last === null || compareLogIds(msg.id, last) > 0) deliver(msg);
  }

  async function drain(): Promise<void> {
    busy = true;
    try {
      while (!closed) {
        const msg = queue.shift();
        if (msg === undefined) {
          if (!resyncDue) break;
          resyncDue = false;
          // Without an anchor history cannot tell what is owed.
          if (last !== null) await fromHistory(Date.now());
        } else if (last !== null && compareLogIds(msg.id, last) <= 0) {
          // An overtaken copy, already delivered from history; or owed after a failed fill.
          if (isOwed(msg.id)) o.deliver({ ...msg, late: true });
        } else if (hasGap(msg)) await fill(msg);
        else deliver(msg);
      }
    } finally {
      busy = false;
    }
  }

  return {
    async anchor() {
      // Entries up to the anchor were appended before this worker listened:
      // owed to no live stream here (a resume reads them from history).
      last = await o.history.lastId().then((id) => id ?? EMPTY_ROOM, (err: unknown) => {
        o.warn('room history unavailable; sequencing without an anchor', err);
        return null;
      });
      busy = false;
      if (!closed && (queue.length > 0 || resyncDue)) void drain();
    },

    arrive(msg) {
      if (closed) return;
      if (queue.length >= maxQueue) {
        // Delivering it now would move `last` past everything queued (then
        // dropped as old): history holds it, read once the queue is through.
        if (!resyncDue) o.warn('room sequencing queue full; reading the overflow back from history');
        resyncDue = true;
        return;
      }
      queue.push(msg);
      if (!busy) void drain();
    },

    resync() {
      if (closed || last === null) return;
      resyncDue = true;
      if (!busy) void drain();
    },

    close() {
      closed = true;
      queue = [];
    },

    get last() {
      return last;
    },
  };
}
