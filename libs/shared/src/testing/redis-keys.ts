import { Redis } from 'ioredis';

/**
 * Deletes every key starting with `prefix` on the Redis at `url` (SCAN, not
 * KEYS, so a shared server is not blocked). For afterAll of tests on the
 * machine Redis. Refuses an empty prefix.
 */
export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('deleteRedisKeys: refusing an empty prefix');
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // The glob must match the prefix literally.
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let n = 0;
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) n += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}
