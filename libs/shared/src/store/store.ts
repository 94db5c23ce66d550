/**
 * The store: shared state of one node's instances.
 *
 * Two implementations: `redis.ts` (ioredis, for compose) and `memory.ts`
 * (in-process, for the embedded node). Both pass `test/store.contract.ts`.
 *
 * Keys are plain strings chosen by the caller (built from constants and
 * validated hex); an implementation prepends its configured prefix
 * (`STORE_PREFIX`) transparently. Every method rejects with `StoreError`
 * while the backing server is unreachable; callers decide the fallback.
 * Memory is bounded: every key a service writes has a TTL, a maximum length
 * or both.
 */
export interface Store {
  // --- key/value ---------------------------------------------------------
  get(key: string): Promise<string | null>;
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Sets, with an optional TTL. */
  set(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<void>;
  /** Atomic: sets only when absent; true when this call set it. */
  setIfAbsent(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<boolean>;
  del(key: string): Promise<void>;

  // --- sliding-window counters ------------------------------------------
  /**
   * Records one event now and returns the number of events of `key` in the
   * past `windowMs` (default 60 000), this one included.
   */
  hit(key: string, opts?: { windowMs?: number }): Promise<number>;
  /** Events of `key` in the past `windowMs` (default 60 000), without recording one. */
  count(key: string, opts?: { windowMs?: number }): Promise<number>;

  // --- per-room append-only history --------------------------------------
  /**
   * Appends `data` and returns its id `<ms>-<seq>`, strictly greater than
   * every earlier id of that log, across all instances, and `prev`, the id
   * of the entry it was appended after (null for the first of the log),
   * read in the same atomic step: consecutive entries chain, so a reader of
   * live copies can tell one went missing. Keeps at most `maxLen` entries
   * and drops entries older than `maxAgeMs`; the log key itself expires
   * after `maxAgeMs` without appends.
   */
  append(log: string, data: string, opts: { maxLen: number; maxAgeMs: number }): Promise<AppendResult>;
  /**
   * A paid append in one round trip: claims `claim.key` (as setIfAbsent,
   * value "1", its ttl) and, only when the claim was free, counts a hit of
   * `counter.key` (as hit) and appends `data` to `log.key` (as append), all in
   * one atomic step. `{first: false}` and nothing written when it was taken.
   */
  appendOnce(o: AppendOnceRequest): Promise<AppendOnceResult>;
  /** The id of the newest held entry, or null. */
  lastId(log: string): Promise<string | null>;
  /**
   * Entries with id strictly greater than `afterId` (all held entries when
   * `afterId` is null), oldest first, at most `limit`.
   */
  readAfter(log: string, afterId: string | null, limit: number): Promise<LogEntry[]>;

  // --- "last seen" sorted sets -------------------------------------------
  /** Records `member` as seen at `atMs` (replaces its earlier time). */
  touch(set: string, member: string, atMs: number): Promise<void>;
  /** Members seen at or after `sinceMs`, most recent first, at most `limit`. */
  seenSince(set: string, sinceMs: number, limit: number): Promise<SeenMember[]>;
  /** Removes members last seen before `beforeMs`; returns how many. */
  forgetBefore(set: string, beforeMs: number): Promise<number>;
  /** Removes one member. */
  forget(set: string, member: string): Promise<void>;
  /** Number of members. */
  size(set: string): Promise<number>;

  // --- lifecycle -----------------------------------------------------------
  /** True while connected (for /readyz). */
  isReady(): boolean;
  /** Round trip to the server; false instead of throwing. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface AppendOnceRequest {
  claim: { key: string; ttlSeconds: number };
  counter: { key: string; windowMs: number };
  log: { key: string; maxLen: number; maxAgeMs: number };
  data: string;
}

export type AppendOnceResult = { first: false } | ({ first: true; count: number } & AppendResult);

export interface AppendResult {
  id: string;
  prev: string | null;
}

export interface LogEntry {
  id: string;
  data: string;
}

export interface SeenMember {
  member: string;
  atMs: number;
}

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Compares two history ids `<ms>-<seq>` numerically; negative when a < b. */
export function compareLogIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/** `<ms>-<seq>` with both parts decimal integers. */
export const LOG_ID = /^\d{1,15}-\d{1,15}$/;
