/** Where discovery remembers good nodes between visits. */

export interface StorageAdapter {
  get(key: string): string | null | Promise<string | null>;
  set(key: string, value: string): void | Promise<void>;
}

export function memoryStorage(): StorageAdapter {
  const map = new Map<string, string>();
  return { get: (k) => map.get(k) ?? null, set: (k, v) => { map.set(k, v); } };
}

interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** `localStorage` (or any Web Storage); quota and privacy-mode errors are swallowed. */
export function webStorage(storage: WebStorageLike): StorageAdapter {
  return {
    get: (k) => { try { return storage.getItem(k); } catch { return null; } },
    set: (k, v) => { try { storage.setItem(k, v); } catch { /* full or forbidden: keep working from memory */ } },
  };
}

/** `localStorage` where it exists and works, else an in-memory store. */
export function defaultStorage(): StorageAdapter {
  try {
    const ls = (globalThis as { localStorage?: WebStorageLike }).localStorage;
    if (ls) return webStorage(ls);
  } catch {
    // Accessing localStorage throws in some sandboxed iframes.
  }
  return memoryStorage();
}
