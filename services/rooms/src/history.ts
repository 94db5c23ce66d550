import type { LogEntry, RoomConfig, Store } from '@mesh/shared';
import { roomHistoryKey } from './room-hash.js';

export interface RoomHistory {
  /** The room's log as the store names it, with its limits (for Store.appendOnce). */
  log(hash: string): { key: string; maxLen: number; maxAgeMs: number };
  /** The newest held id, or null. */
  lastId(hash: string): Promise<string | null>;
  /** Every held message after `afterId` (all held when null), oldest first. */
  after(hash: string, afterId: string | null): Promise<LogEntry[]>;
}

/** Reads beyond one page are rare (the log holds at most historyMax); this caps a runaway loop. */
const MAX_PAGES = 20;

/**
 * A room's short history in the store log `room:<hash>`: at most
 * `historyMax` entries, none older than `historySeconds`.
 */
export function createRoomHistory(store: Store, room: Pick<RoomConfig, 'historyMax' | 'historySeconds'>): RoomHistory {
  const limits = { maxLen: room.historyMax, maxAgeMs: room.historySeconds * 1000 };
  return {
    log: (hash) => ({ key: roomHistoryKey(hash), ...limits }),
    lastId: (hash) => store.lastId(roomHistoryKey(hash)),

    async after(hash, afterId) {
      const out: LogEntry[] = [];
      let cursor = afterId;
      for (let page = 0; page < MAX_PAGES; page++) {
        const entries = await store.readAfter(roomHistoryKey(hash), cursor, room.historyMax);
        out.push(...entries);
        const last = entries[entries.length - 1];
        if (last === undefined || entries.length < room.historyMax) break;
        cursor = last.id;
      }
      return out;
    },
  };
}
