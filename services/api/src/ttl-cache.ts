/**
 * A bounded cache whose entries expire `ttlMs` after they were set. At
 * `maxEntries` the oldest entry goes first (Map keeps insertion order and a
 * set re-inserts), so memory is bounded whatever keys clients ask for.
 */
export interface TtlCache<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  readonly size: number;
}

export function createTtlCache<V>(opts: { maxEntries: number; ttlMs: number; now?: () => number }): TtlCache<V> {
  const now = opts.now ?? Date.now;
  const entries = new Map<string, { value: V; expiresAtMs: number }>();
  return {
    get(key) {
      const e = entries.get(key);
      if (e === undefined) return undefined;
      if (now() >= e.expiresAtMs) {
        entries.delete(key);
        return undefined;
      }
      return e.value;
    },
    set(key, value) {
      if (opts.maxEntries <= 0 || opts.ttlMs <= 0) return;
      entries.delete(key);
      while (entries.size >= opts.maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
      }
      entries.set(key, { value, expiresAtMs: now() + opts.ttlMs });
    },
    delete(key) {
      entries.delete(key);
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
