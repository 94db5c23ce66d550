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

/** What the sequencer reads of a room's history. */
export interface SequencerHistory {
  /** The newest held id, or null for an empty room. */
  lastId(hash: string): Promise<string | null>;
  /** Every held entry after `afterId` (all when null), oldest first. */
  after(hash: string, afterId: string | null): Promise<LogEntry[]>;
}

/** Shared by every room's sequencer of a worker: one object, not closures per room (memory follows rooms). */
export interface SequencerDeps {
  history: SequencerHistory;
  deliver(hash: string, msg: SequencedMessage): void;
  /** A read of history failed, or arrivals were dropped: worth a warning, not an error. */
  warn(hash: string, what: string, err?: unknown): void;
  /** Most arrivals queued while history is read (beyond: dropped, then read back). Default 1000. */
  maxQueue?: number;
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
export class Sequencer {
  /**
   * The last id delivered, starting at the anchor: nothing older is owed.
   * Null while no anchor is known (not yet read, or the store failed): then
   * gaps cannot be seen and messages are delivered as they come.
   */
  private lastId: string | null = null;
  /** True while the anchor or a gap is being read: arrivals queue meanwhile. */
  private busy = true;
  /** Allocated on the first arrival that has to wait (most rooms never queue). */
  private queue: WireMessage[] | null = null;
  /** Arrivals were dropped (a full queue, a bus outage): read history to its end once the queue is empty. */
  private resyncDue = false;
  /** Ids a failed gap fill skipped over (after < id < before): delivered late when their copies come. */
  private owed: { after: string; before: string } | null = null;
  private closed = false;

  constructor(private readonly hash: string, private readonly d: SequencerDeps) {}

  /** The last id delivered (the anchor before any), null while no anchor is known. */
  get last(): string | null {
    return this.lastId;
  }

  /** Reads the anchor (the room's newest id when this worker started listening); arrivals wait until then. */
  async anchor(): Promise<void> {
    // Entries up to the anchor were appended before this worker listened:
    // owed to no live stream here (a resume reads them from history).
    this.lastId = await this.d.history.lastId(this.hash).then((id) => id ?? EMPTY_ROOM, (err: unknown) => {
      this.d.warn(this.hash, 'room history unavailable; sequencing without an anchor', err);
      return null;
    });
    this.busy = false;
    if (!this.closed && ((this.queue?.length ?? 0) > 0 || this.resyncDue)) void this.drain();
  }

  /** A message from the bus, in whatever order the bus brought it. */
  arrive(msg: WireMessage): void {
    if (this.closed) return;
    const queue = (this.queue ??= []);
    if (queue.length >= (this.d.maxQueue ?? MAX_QUEUE)) {
      // Delivering it now would move `last` past everything queued (then
      // dropped as old): history holds it, read once the queue is through.
      if (!this.resyncDue) this.d.warn(this.hash, 'room sequencing queue full; reading the overflow back from history');
      this.resyncDue = true;
      return;
    }
    queue.push(msg);
    if (!this.busy) void this.drain();
  }

  /** Arrivals may have been missed (a bus outage): history past the last delivered id is read. */
  resync(): void {
    if (this.closed || this.lastId === null) return;
    this.resyncDue = true;
    if (!this.busy) void this.drain();
  }

  /** Nothing is delivered after this. */
  close(): void {
    this.closed = true;
    this.queue = null;
  }

  private deliver(msg: WireMessage): void {
    this.lastId = msg.id;
    this.d.deliver(this.hash, msg);
  }

  private hasGap(msg: WireMessage): boolean {
    const last = this.lastId;
    if (last === null || msg.prev === undefined || msg.prev === null) return false;
    return msg.prev !== last && compareLogIds(msg.prev, last) > 0;
  }

  private isOwed(id: string): boolean {
    const o = this.owed;
    return o !== null && compareLogIds(id, o.after) > 0 && compareLogIds(id, o.before) < 0;
  }

  /** Delivers what history holds past `last` (below `beforeId` when given); false when it could not be read. */
  private async fromHistory(at: number, beforeId?: string): Promise<boolean> {
    const from = this.lastId;
    let entries: LogEntry[];
    try {
      entries = await this.d.history.after(this.hash, from);
    } catch (err) {
      this.d.warn(this.hash, 'room history unavailable', err);
      return false;
    }
    for (const e of entries) {
      if (this.closed) return true;
      if (from !== null && compareLogIds(e.id, from) <= 0) continue;
      if (beforeId !== undefined && compareLogIds(e.id, beforeId) >= 0) break;
      this.deliver({ id: e.id, data: e.data, at });
    }
    return true;
  }

  /** A gap before `msg`: the missing entries from history, then `msg`. */
  private async fill(msg: WireMessage): Promise<void> {
    const from = this.lastId;
    // Unread, the overtaken messages are still delivered when their copies come.
    if (!(await this.fromHistory(msg.at, msg.id)) && from !== null) this.owed = { after: from, before: msg.id };
    if (this.closed) return;
    if (this.lastId === null || compareLogIds(msg.id, this.lastId) > 0) this.deliver(msg);
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (!this.closed) {
        const msg = this.queue?.shift();
        if (msg === undefined) {
          if (!this.resyncDue) break;
          this.resyncDue = false;
          // Without an anchor history cannot tell what is owed.
          if (this.lastId !== null) await this.fromHistory(Date.now());
        } else if (this.lastId !== null && compareLogIds(msg.id, this.lastId) <= 0) {
          // An overtaken copy, already delivered from history; or owed after a failed fill.
          if (this.isOwed(msg.id)) this.d.deliver(this.hash, { ...msg, late: true });
        } else if (this.hasGap(msg)) await this.fill(msg);
        else this.deliver(msg);
      }
    } finally {
      this.busy = false;
      // A drained queue gives its backing store back (a burst must not pin it for the room's life).
      if (this.queue?.length === 0) this.queue = null;
    }
  }
}
