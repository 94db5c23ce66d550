import {
  LOG_ID, StoreError, compareLogIds, type AppendOnceResult, type AppendResult, type LogEntry, type SeenMember, type Store,
} from './store.js';

/**
 * In-memory store for the embedded node and for tests, with the semantics of
 * the Redis one. Memory stays bounded the same way: TTLs are honoured (checked
 * on read, and swept periodically), logs are trimmed on append and expire
 * after `maxAgeMs` without appends, counters keep only their window.
 *
 * Several stores may share one `MemoryBackend`, like several clients of one
 * Redis; each store applies its own key prefix.
 */
export interface MemoryBackend {
  /** Number of live keys of every kind (for tests and leak checks). */
  readonly keyCount: number;
  /** Stops the periodic sweep. */
  close(): void;
}

const DEFAULT_WINDOW_MS = 60_000;
const DEFAULT_SWEEP_MS = 10_000;

interface Value { value: string; expiresAt: number }
interface Counter { times: number[]; expiresAt: number }
interface Log { entries: LogEntry[]; lastMs: number; lastSeq: number; expiresAt: number }

class Backend implements MemoryBackend {
  readonly values = new Map<string, Value>();
  readonly counters = new Map<string, Counter>();
  readonly logs = new Map<string, Log>();
  readonly sets = new Map<string, Map<string, number>>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly now: () => number, sweepMs: number) {
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
  }

  get keyCount(): number {
    return this.values.size + this.counters.size + this.logs.size + this.sets.size;
  }

  /** Drops whatever has expired; reads check expiry too, so this only bounds memory. */
  sweep(): void {
    const now = this.now();
    for (const map of [this.values, this.counters, this.logs] as Map<string, { expiresAt: number }>[]) {
      for (const [k, v] of map) if (v.expiresAt <= now) map.delete(k);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** A backend to share between several memory stores (one "server"). */
export function createMemoryBackend(opts: { now?: () => number; sweepMs?: number } = {}): MemoryBackend {
  return new Backend(opts.now ?? Date.now, opts.sweepMs ?? DEFAULT_SWEEP_MS);
}

/** Live entry of `map` at `key`, dropping it when expired. */
function live<T extends { expiresAt: number }>(map: Map<string, T>, key: string, now: number): T | undefined {
  const v = map.get(key);
  if (v === undefined) return undefined;
  if (v.expiresAt <= now) {
    map.delete(key);
    return undefined;
  }
  return v;
}

/** Index of the first time strictly greater than `t` in an ascending array. */
function firstAfter(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] ?? 0) > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `now` is only for a private backend; with a shared `backend`, the backend's clock rules.
 */
export function createMemoryStore(opts: { prefix?: string; now?: () => number; backend?: MemoryBackend } = {}): Store {
  if (opts.backend !== undefined && opts.now !== undefined) {
    throw new TypeError('createMemoryStore: pass `now` to createMemoryBackend when sharing a backend');
  }
  const owned = opts.backend === undefined;
  const b = (opts.backend ?? createMemoryBackend(opts.now ? { now: opts.now } : {})) as Backend;
  const prefix = opts.prefix ?? '';
  let closed = false;

  // Every method goes through `op`: a closed store rejects like an unreachable Redis.
  function op<T>(fn: () => T): Promise<T> {
    if (closed) return Promise.reject(new StoreError('store is closed'));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof StoreError ? err : new StoreError('memory store failed', { cause: err }));
    }
  }

  const k = (key: string): string => prefix + key;
  const ttlAt = (ttlSeconds: number | undefined, now: number): number =>
    ttlSeconds === undefined ? Infinity : now + ttlSeconds * 1000;

  function windowed(key: string, windowMs: number, record: boolean): number {
    const now = b.now();
    const c = live(b.counters, k(key), now);
    const times = c?.times ?? [];
    // Drop what fell out of the window: the same boundary as Redis (score <= now - window goes).
    const keepFrom = firstAfter(times, now - windowMs);
    if (keepFrom > 0) times.splice(0, keepFrom);
    if (record) {
      // A clock that went back must not break the ascending order.
      times.push(Math.max(now, times[times.length - 1] ?? now));
      b.counters.set(k(key), { times, expiresAt: now + windowMs });
    } else if (c !== undefined && times.length === 0) {
      b.counters.delete(k(key));
    }
    return times.length;
  }

  function appendEntry(log: string, data: string, { maxLen, maxAgeMs }: { maxLen: number; maxAgeMs: number }): AppendResult {
    const now = b.now();
    let l = live(b.logs, k(log), now);
    if (l === undefined) {
      // Like a Redis stream recreated after expiry: ids start again from the clock.
      l = { entries: [], lastMs: 0, lastSeq: -1, expiresAt: 0 };
      b.logs.set(k(log), l);
    }
    // Ids strictly increase even when the clock stands still or goes back.
    if (now > l.lastMs) {
      l.lastMs = now;
      l.lastSeq = 0;
    } else {
      l.lastSeq++;
    }
    const id = `${l.lastMs}-${l.lastSeq}`;
    const prev = l.entries[l.entries.length - 1]?.id ?? null;
    l.entries.push({ id, data });
    const minMs = now - maxAgeMs;
    let drop = Math.max(0, l.entries.length - Math.max(0, maxLen));
    while (drop < l.entries.length && Number((l.entries[drop]?.id ?? '').split('-')[0]) < minMs) drop++;
    if (drop > 0) l.entries.splice(0, drop);
    l.expiresAt = now + maxAgeMs;
    return { id, prev };
  }

  return {
    get: (key) => op(() => live(b.values, k(key), b.now())?.value ?? null),

    getMany: (keys) => op(() => {
      const now = b.now();
      return keys.map((key) => live(b.values, k(key), now)?.value ?? null);
    }),

    set: (key, value, o) => op(() => {
      b.values.set(k(key), { value, expiresAt: ttlAt(o?.ttlSeconds, b.now()) });
    }),

    setIfAbsent: (key, value, o) => op(() => {
      const now = b.now();
      if (live(b.values, k(key), now) !== undefined) return false;
      b.values.set(k(key), { value, expiresAt: ttlAt(o?.ttlSeconds, now) });
      return true;
    }),

    del: (key) => op(() => {
      b.values.delete(k(key));
      b.counters.delete(k(key));
      b.logs.delete(k(key));
      b.sets.delete(k(key));
    }),

    hit: (key, o) => op(() => windowed(key, o?.windowMs ?? DEFAULT_WINDOW_MS, true)),

    count: (key, o) => op(() => windowed(key, o?.windowMs ?? DEFAULT_WINDOW_MS, false)),

    append: (log, data, o) => op(() => appendEntry(log, data, o)),

    appendOnce: ({ claim, counter, log, data }) => op((): AppendOnceResult => {
      const now = b.now();
      if (live(b.values, k(claim.key), now) !== undefined) return { first: false };
      b.values.set(k(claim.key), { value: '1', expiresAt: ttlAt(claim.ttlSeconds, now) });
      const count = windowed(counter.key, counter.windowMs, true);
      return { first: true, count, ...appendEntry(log.key, data, log) };
    }),

    lastId: (log) => op(() => live(b.logs, k(log), b.now())?.entries.at(-1)?.id ?? null),

    readAfter: (log, afterId, limit) => op(() => {
      if (afterId !== null && !LOG_ID.test(afterId)) throw new StoreError(`invalid log id: ${afterId.slice(0, 40)}`);
      const l = live(b.logs, k(log), b.now());
      if (l === undefined || limit <= 0) return [];
      const start = afterId === null ? 0 : l.entries.findIndex((e) => compareLogIds(e.id, afterId) > 0);
      if (start < 0) return [];
      return l.entries.slice(start, start + limit).map((e) => ({ ...e }));
    }),

    touch: (set, member, atMs) => op(() => {
      let s = b.sets.get(k(set));
      if (s === undefined) b.sets.set(k(set), (s = new Map()));
      s.set(member, atMs);
    }),

    seenSince: (set, sinceMs, limit) => op(() => {
      const s = b.sets.get(k(set));
      if (s === undefined || limit <= 0) return [];
      const out: SeenMember[] = [];
      for (const [member, atMs] of s) if (atMs >= sinceMs) out.push({ member, atMs });
      // Redis order for ZREVRANGEBYSCORE: score descending, then member descending.
      out.sort((x, y) => y.atMs - x.atMs || (x.member < y.member ? 1 : x.member > y.member ? -1 : 0));
      return out.slice(0, limit);
    }),

    forgetBefore: (set, beforeMs) => op(() => {
      const s = b.sets.get(k(set));
      if (s === undefined) return 0;
      let n = 0;
      for (const [member, atMs] of s) {
        if (atMs < beforeMs) {
          s.delete(member);
          n++;
        }
      }
      if (s.size === 0) b.sets.delete(k(set));
      return n;
    }),

    forget: (set, member) => op(() => {
      const s = b.sets.get(k(set));
      s?.delete(member);
      if (s?.size === 0) b.sets.delete(k(set));
    }),

    size: (set) => op(() => b.sets.get(k(set))?.size ?? 0),

    isReady: () => !closed,

    ping: () => Promise.resolve(!closed),

    close() {
      if (!closed) {
        closed = true;
        if (owned) b.close();
      }
      return Promise.resolve();
    },
  };
}
