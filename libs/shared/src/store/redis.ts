import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LOG_ID, StoreError, type LogEntry, type SeenMember, type Store } from './store.js';
import { backoffMs } from '../backoff.js';
import { settleWithin } from '../timeout.js';

export interface RedisStoreOptions {
  url: string;
  /** Prepended to every key. */
  prefix: string;
  log: Logger;
  /** Calls made this soon after creation wait for the first connection instead of failing. Default 2000 ms. */
  firstConnectWaitMs?: number;
  /** A command without a reply after this long rejects. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** Ceiling of the reconnect backoff. Default 2000 ms. */
  maxReconnectDelayMs?: number;
}

const DEFAULT_WINDOW_MS = 60_000;

/** The Redis server clock in ms, so instances with skewed clocks agree on windows and ages. */
const SERVER_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

interface Lua { src: string; sha: string }
function lua(src: string): Lua {
  return { src, sha: createHash('sha1').update(src).digest('hex') };
}

/** KEYS[1] counter; ARGV window ms, unique member. Returns the count, this hit included. */
const HIT = lua(`${SERVER_NOW}
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])`);

/** KEYS[1] counter; ARGV window ms. Read-only. */
const COUNT = lua(`${SERVER_NOW}
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - tonumber(ARGV[1])), '+inf')`);

/** KEYS[1] stream; ARGV maxLen, maxAgeMs, data. Returns {new id, previous id} ({new id} for the first). */
const APPEND = lua(`local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[3])
${SERVER_NOW}
redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if last[1] then return {id, last[1][1]} end
return {id}`);

/**
 * KEYS[1] claim, KEYS[2] counter, KEYS[3] stream; ARGV claim ttl ms, window ms,
 * unique member, maxLen, maxAgeMs, data. HIT and APPEND behind a SET NX, in
 * one step: false when the claim was taken, else {count, new id[, previous id]}.
 */
const APPEND_ONCE = lua(`if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return false end
${SERVER_NOW}
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now - window))
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('PEXPIRE', KEYS[2], window)
local count = redis.call('ZCARD', KEYS[2])
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local id = redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[4], '*', 'd', ARGV[6])
redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d', now - tonumber(ARGV[5])))
redis.call('PEXPIRE', KEYS[3], ARGV[5])
if last[1] then return {count, id, last[1][1]} end
return {count, id}`);

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function ttlMs(ttlSeconds: number): number {
  return Math.max(1, Math.round(ttlSeconds * 1000));
}

/**
 * Store on Redis (ioredis). No offline queue: while Redis is unreachable,
 * every call rejects at once with StoreError and the caller decides the
 * fallback; the client reconnects in the background with capped backoff.
 * Commands in flight when the connection drops are not resent (a hit or an
 * append must not count twice).
 */
export function createRedisStore(opts: RedisStoreOptions): Store {
  const { prefix, log } = opts;
  const capMs = opts.maxReconnectDelayMs ?? 2000;
  const startWaitUntil = Date.now() + (opts.firstConnectWaitMs ?? 2000);
  // Unique per client: with a counter, hit members never collide across instances.
  const memberBase = randomBytes(6).toString('hex');
  let memberSeq = 0;
  let closed = false;
  let wasReady = false;

  const client = new Redis(opts.url, {
    protocol: 2,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    commandTimeout: opts.commandTimeoutMs ?? 2000,
    connectTimeout: 5000,
    // A never-connected client otherwise holds the process ~2 s after close().
    disconnectTimeout: 200,
    // `times` is 1 on the first reconnect: 100 ms, doubling to the cap, plus up to 20 % jitter.
    retryStrategy: (times: number) => backoffMs(times, { baseMs: 100, maxMs: capMs, jitter: 0.2 }),
  });
  // `up` makes one warning per outage, not one per failed reconnect attempt.
  let up = false;
  client.on('ready', () => {
    wasReady = true;
    up = true;
    log.info({ prefix }, 'store connected');
  });
  client.on('close', () => {
    if (up && !closed) log.warn('store connection lost, reconnecting');
    up = false;
  });
  // Without a listener ioredis would throw the error at the process.
  client.on('error', (err: unknown) => log.debug({ err: messageOf(err) }, 'store connection error'));

  // One shared wait for the first connection, however many calls arrive meanwhile.
  let firstReady: Promise<void> | undefined;
  function waitFirstReady(): Promise<void> {
    firstReady ??= new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, startWaitUntil - Date.now()));
      client.on('ready', done);
    });
    return firstReady;
  }

  async function run<T>(what: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    if (closed) throw new StoreError('store is closed');
    if (client.status !== 'ready' && !wasReady && Date.now() < startWaitUntil) {
      await waitFirstReady();
    }
    if (client.status !== 'ready') throw new StoreError(`store unavailable (${client.status})`);
    try {
      return await fn(client);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`store ${what} failed: ${messageOf(err)}`, { cause: err });
    }
  }

  async function script(r: Redis, s: Lua, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await r.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!messageOf(err).includes('NOSCRIPT')) throw err;
      return r.eval(s.src, keys.length, ...keys, ...args);
    }
  }

  const k = (key: string): string => prefix + key;

  return {
    get: (key) => run('get', (r) => r.get(k(key))),

    getMany: (keys) => (keys.length === 0 ? run('mget', async () => []) : run('mget', (r) => r.mget(keys.map(k)))),

    set: (key, value, o) => run('set', async (r) => {
      if (o?.ttlSeconds !== undefined) await r.set(k(key), value, 'PX', ttlMs(o.ttlSeconds));
      else await r.set(k(key), value);
    }),

    setIfAbsent: (key, value, o) => run('setIfAbsent', async (r) => {
      const res = o?.ttlSeconds !== undefined
        ? await r.set(k(key), value, 'PX', ttlMs(o.ttlSeconds), 'NX')
        : await r.set(k(key), value, 'NX');
      return res === 'OK';
    }),

    del: (key) => run('del', async (r) => {
      await r.del(k(key));
    }),

    hit: (key, o) => run('hit', async (r) => {
      const member = `${memberBase}:${(memberSeq = (memberSeq + 1) % Number.MAX_SAFE_INTEGER)}`;
      return Number(await script(r, HIT, [k(key)], [o?.windowMs ?? DEFAULT_WINDOW_MS, member]));
    }),

    count: (key, o) => run('count', async (r) => Number(await script(r, COUNT, [k(key)], [o?.windowMs ?? DEFAULT_WINDOW_MS]))),

    append: (log, data, { maxLen, maxAgeMs }) => run('append', async (r) => {
      const reply = await script(r, APPEND, [k(log)], [Math.max(1, Math.floor(maxLen)), Math.max(1, Math.floor(maxAgeMs)), data]);
      const [id, prev] = Array.isArray(reply) ? reply : [];
      if (typeof id !== 'string') throw new Error('XADD returned no id');
      return { id, prev: typeof prev === 'string' ? prev : null };
    }),

    appendOnce: ({ claim, counter, log, data }) => run('appendOnce', async (r) => {
      const member = `${memberBase}:${(memberSeq = (memberSeq + 1) % Number.MAX_SAFE_INTEGER)}`;
      const reply = await script(r, APPEND_ONCE, [k(claim.key), k(counter.key), k(log.key)], [
        ttlMs(claim.ttlSeconds), counter.windowMs, member,
        Math.max(1, Math.floor(log.maxLen)), Math.max(1, Math.floor(log.maxAgeMs)), data,
      ]);
      if (reply === null) return { first: false };
      const [count, id, prev] = Array.isArray(reply) ? reply : [];
      if (typeof id !== 'string') throw new Error('XADD returned no id');
      return { first: true, count: Number(count), id, prev: typeof prev === 'string' ? prev : null };
    }),

    lastId: (log) => run('lastId', async (r) => {
      const rows = await r.xrevrange(k(log), '+', '-', 'COUNT', 1);
      return rows[0]?.[0] ?? null;
    }),

    readAfter: (log, afterId, limit) => run('readAfter', async (r) => {
      if (afterId !== null && !LOG_ID.test(afterId)) throw new StoreError(`invalid log id: ${afterId.slice(0, 40)}`);
      if (limit <= 0) return [];
      const rows = await r.xrange(k(log), afterId === null ? '-' : `(${afterId}`, '+', 'COUNT', Math.floor(limit));
      return rows.map(([id, fields]): LogEntry => ({ id, data: fields[1] ?? '' }));
    }),

    touch: (set, member, atMs) => run('touch', async (r) => {
      await r.zadd(k(set), atMs, member);
    }),

    seenSince: (set, sinceMs, limit) => run('seenSince', async (r) => {
      if (limit <= 0) return [];
      const flat = await r.zrevrangebyscore(k(set), '+inf', sinceMs, 'WITHSCORES', 'LIMIT', 0, Math.floor(limit));
      const out: SeenMember[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i] ?? '', atMs: Number(flat[i + 1]) });
      return out;
    }),

    forgetBefore: (set, beforeMs) => run('forgetBefore', (r) => r.zremrangebyscore(k(set), '-inf', `(${beforeMs}`)),

    forget: (set, member) => run('forget', async (r) => {
      await r.zrem(k(set), member);
    }),

    size: (set) => run('size', (r) => r.zcard(k(set))),

    isReady: () => !closed && client.status === 'ready',

    async ping(timeoutMs = 2000) {
      if (closed || client.status !== 'ready') return false;
      return settleWithin(client.ping().then((p) => p === 'PONG'), timeoutMs, false);
    },

    async close() {
      if (closed) return;
      closed = true;
      if (client.status === 'ready') {
        try {
          await client.quit();
          return;
        } catch (err) {
          log.debug({ err: messageOf(err) }, 'store quit failed');
        }
      }
      // Not connected: stop the reconnect loop at once.
      client.disconnect();
    },
  };
}
