/**
 * The Store contract: one suite, run against every implementation
 * (store.memory.test.ts, store.redis.test.ts). `makeStore(prefix)` returns a
 * new client; two clients made with one prefix share data, as two Redis
 * clients with one STORE_PREFIX do. The suite closes every store it made and
 * then calls `cleanup(prefix)` for each prefix it used.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { LOG_ID, StoreError, compareLogIds, type Store } from '../src/store/index.js';
import { uniquePrefix, waitFor } from '../src/testing/index.js';

export interface StoreContractOptions {
  /** Removes whatever the suite left under `prefix` (Redis keys). */
  cleanup?: (prefix: string) => Promise<void>;
}

export function storeContract(
  name: string,
  makeStore: (prefix: string) => Store | Promise<Store>,
  opts: StoreContractOptions = {},
): void {
  describe(`Store contract: ${name}`, () => {
    const made: Store[] = [];
    const prefixes = new Set<string>();
    const prefix = `${uniquePrefix(`store_${name}`)}:`;
    async function store(p: string = prefix): Promise<Store> {
      prefixes.add(p);
      const s = await makeStore(p);
      made.push(s);
      return s;
    }
    // One shared client for the single-client tests.
    let s: Store;
    async function one(): Promise<Store> {
      s ??= await store();
      return s;
    }

    afterAll(async () => {
      await Promise.all(made.map((m) => m.close()));
      for (const p of prefixes) await opts.cleanup?.(p);
    });

    test('is ready and answers ping', async () => {
      const st = await one();
      await waitFor(() => st.isReady(), { message: 'store ready' });
      expect(await st.ping(2000)).toBe(true);
    });

    test('get, set, getMany, del', async () => {
      const st = await one();
      expect(await st.get('kv.a')).toBeNull();
      await st.set('kv.a', 'one');
      await st.set('kv.b', 'two');
      expect(await st.get('kv.a')).toBe('one');
      expect(await st.getMany(['kv.a', 'kv.missing', 'kv.b'])).toEqual(['one', null, 'two']);
      expect(await st.getMany([])).toEqual([]);
      await st.set('kv.a', 'uno');
      expect(await st.get('kv.a')).toBe('uno');
      await st.del('kv.a');
      await st.del('kv.never');
      expect(await st.get('kv.a')).toBeNull();
    });

    test('a TTL expires the key; a later set without TTL keeps it', async () => {
      const st = await one();
      await st.set('ttl.a', 'v', { ttlSeconds: 1 });
      await st.set('ttl.b', 'v', { ttlSeconds: 1 });
      await st.set('ttl.b', 'kept');
      expect(await st.get('ttl.a')).toBe('v');
      await waitFor(async () => (await st.get('ttl.a')) === null, { timeoutMs: 4000, intervalMs: 50, message: 'ttl.a expired' });
      expect(await st.get('ttl.b')).toBe('kept');
    });

    test('setIfAbsent: exactly one of many concurrent calls wins, on one client and across two', async () => {
      const a = await one();
      const b = await store();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => a.setIfAbsent('once.one', `v${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await a.get('once.one')).toBe(`v${results.indexOf(true)}`);

      const both = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).setIfAbsent('once.two', `w${i}`, { ttlSeconds: 30 })),
      );
      expect(both.filter(Boolean)).toHaveLength(1);
      expect(await b.get('once.two')).toBe(`w${both.indexOf(true)}`);
      expect(await a.setIfAbsent('once.two', 'again')).toBe(false);
    });

    test('setIfAbsent with a TTL can win again once the key expired', async () => {
      const st = await one();
      expect(await st.setIfAbsent('once.ttl', 'first', { ttlSeconds: 1 })).toBe(true);
      expect(await st.setIfAbsent('once.ttl', 'second', { ttlSeconds: 1 })).toBe(false);
      await waitFor(async () => st.setIfAbsent('once.ttl', 'third', { ttlSeconds: 1 }), { timeoutMs: 4000, intervalMs: 50 });
      expect(await st.get('once.ttl')).toBe('third');
    });

    test('hit counts events in the window; count reads without recording', async () => {
      const a = await one();
      const b = await store();
      expect(await a.count('hits.a')).toBe(0);
      expect(await a.hit('hits.a')).toBe(1);
      expect(await a.hit('hits.a')).toBe(2);
      expect(await b.hit('hits.a')).toBe(3);
      expect(await a.count('hits.a')).toBe(3);
      expect(await a.count('hits.a')).toBe(3);
      expect(await a.hit('hits.other')).toBe(1);
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).hit('hits.many')));
      expect([...many].sort((x, y) => x - y)).toEqual([...Array(20).keys()].map((i) => i + 1));
    });

    test('hits leave the window when it passes', async () => {
      const st = await one();
      expect(await st.hit('hits.win', { windowMs: 300 })).toBe(1);
      expect(await st.hit('hits.win', { windowMs: 300 })).toBe(2);
      expect(await st.count('hits.win', { windowMs: 300 })).toBe(2);
      await waitFor(async () => (await st.count('hits.win', { windowMs: 300 })) === 0, { timeoutMs: 3000, message: 'window passed' });
      expect(await st.hit('hits.win', { windowMs: 300 })).toBe(1);
    });

    const hist = { maxLen: 1000, maxAgeMs: 60_000 };

    test('append returns strictly increasing <ms>-<seq> ids chained by prev; readAfter is exclusive, limited, oldest first', async () => {
      const st = await one();
      expect(await st.lastId('log.a')).toBeNull();
      const ids: string[] = [];
      const prevs: (string | null)[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await st.append('log.a', `m${i}`, hist);
        ids.push(r.id);
        prevs.push(r.prev);
      }
      expect(prevs).toEqual([null, ...ids.slice(0, -1)]);
      expect(await st.lastId('log.a')).toBe(ids[9]);
      for (const id of ids) expect(id).toMatch(LOG_ID);
      for (let i = 1; i < ids.length; i++) expect(compareLogIds(ids[i - 1] ?? '', ids[i] ?? '')).toBeLessThan(0);

      const all = await st.readAfter('log.a', null, 100);
      expect(all.map((e) => e.data)).toEqual([...Array(10).keys()].map((i) => `m${i}`));
      expect(all.map((e) => e.id)).toEqual(ids);
      const after3 = await st.readAfter('log.a', ids[3] ?? '', 100);
      expect(after3.map((e) => e.data)).toEqual(['m4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      expect((await st.readAfter('log.a', ids[3] ?? '', 2)).map((e) => e.data)).toEqual(['m4', 'm5']);
      expect((await st.readAfter('log.a', null, 3)).map((e) => e.data)).toEqual(['m0', 'm1', 'm2']);
      expect(await st.readAfter('log.a', ids[9] ?? '', 100)).toEqual([]);
      expect(await st.readAfter('log.a', '0-0', 1)).toEqual([all[0]]);
      expect(await st.readAfter('log.none', null, 100)).toEqual([]);
      expect(await st.readAfter('log.none', '1-0', 100)).toEqual([]);
    });

    test('readAfter rejects a malformed id with StoreError', async () => {
      const st = await one();
      await st.append('log.bad', 'x', hist);
      await expect(st.readAfter('log.bad', 'nope', 10)).rejects.toBeInstanceOf(StoreError);
    });

    test('ids stay strictly increasing, and each prev names the entry before, across two clients appending concurrently', async () => {
      const a = await one();
      const b = await store();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).append('log.two', `c${i}`, hist)),
      );
      const ids = results.map((r) => r.id);
      expect(new Set(ids).size).toBe(100);
      // The append order is the id order, and prev always names the entry just before.
      const byId = [...results].sort((x, y) => compareLogIds(x.id, y.id));
      expect(byId.map((r) => r.prev)).toEqual([null, ...byId.slice(0, -1).map((r) => r.id)]);
      const entries = await a.readAfter('log.two', null, 1000);
      expect(entries).toHaveLength(100);
      for (let i = 1; i < entries.length; i++) {
        expect(compareLogIds(entries[i - 1]?.id ?? '', entries[i]?.id ?? '')).toBeLessThan(0);
      }
      expect(new Set(entries.map((e) => e.id))).toEqual(new Set(ids));
    });

    test('appendOnce: the first claim counts and appends in one step; a taken claim writes nothing; concurrent claims across clients win once', async () => {
      const a = await one();
      const b = await store();
      const req = (claim: string, data: string) => ({
        claim: { key: claim, ttlSeconds: 30 }, counter: { key: 'once.count', windowMs: 60_000 },
        log: { key: 'once.log', ...hist }, data,
      });
      const first = await a.appendOnce(req('once.c1', 'one'));
      expect(first).toEqual({ first: true, count: 1, id: expect.stringMatching(/^\d+-\d+$/), prev: null });
      expect(await a.get('once.c1')).toBe('1');
      expect(await b.appendOnce(req('once.c1', 'one again'))).toEqual({ first: false });
      const second = await b.appendOnce(req('once.c2', 'two'));
      expect(second).toMatchObject({ first: true, count: 2, prev: first.first ? first.id : 'x' });
      expect(await a.count('once.count')).toBe(2);
      expect((await a.readAfter('once.log', null, 10)).map((e) => e.data)).toEqual(['one', 'two']);
      // Interleaved with plain appends and hits, it is the same log and the same counter.
      await a.append('once.log', 'plain', hist);
      const third = await a.appendOnce(req('once.c3', 'three'));
      expect(third).toMatchObject({ first: true, count: 3 });
      const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).appendOnce(req('once.race', `r${i}`))));
      expect(racing.filter((r) => r.first)).toHaveLength(1);
      expect(await a.count('once.count')).toBe(4);
      expect((await a.readAfter('once.log', null, 100)).map((e) => e.data)).toHaveLength(5);
    });

    test('append keeps at most maxLen entries, the newest', async () => {
      const st = await one();
      for (let i = 0; i < 10; i++) await st.append('log.len', `e${i}`, { maxLen: 3, maxAgeMs: 60_000 });
      expect((await st.readAfter('log.len', null, 100)).map((e) => e.data)).toEqual(['e7', 'e8', 'e9']);
    });

    test('append drops entries older than maxAgeMs', async () => {
      const st = await one();
      const opt = { maxLen: 1000, maxAgeMs: 250 };
      await st.append('log.age', 'old', opt);
      await waitFor(async () => {
        await st.append('log.age', 'new', opt);
        const data = (await st.readAfter('log.age', null, 1000)).map((e) => e.data);
        return !data.includes('old') && data.includes('new');
      }, { timeoutMs: 3000, intervalMs: 50, message: 'old entry trimmed' });
    });

    test('a log expires after maxAgeMs without appends; ids still increase when it comes back', async () => {
      const st = await one();
      const { id: first } = await st.append('log.exp', 'x', { maxLen: 10, maxAgeMs: 200 });
      await waitFor(async () => (await st.readAfter('log.exp', null, 10)).length === 0, { timeoutMs: 3000, message: 'log expired' });
      expect(await st.lastId('log.exp')).toBeNull();
      const next = await st.append('log.exp', 'y', { maxLen: 10, maxAgeMs: 200 });
      expect(compareLogIds(first, next.id)).toBeLessThan(0);
      expect(next.prev).toBeNull();
    });

    test('touch, seenSince (most recent first, limited), size, forget, forgetBefore', async () => {
      const st = await one();
      await st.touch('seen', 'a', 100);
      await st.touch('seen', 'b', 200);
      await st.touch('seen', 'c', 300);
      expect(await st.size('seen')).toBe(3);
      expect(await st.seenSince('seen', 150, 10)).toEqual([{ member: 'c', atMs: 300 }, { member: 'b', atMs: 200 }]);
      expect(await st.seenSince('seen', 200, 10)).toEqual([{ member: 'c', atMs: 300 }, { member: 'b', atMs: 200 }]);
      expect(await st.seenSince('seen', 0, 1)).toEqual([{ member: 'c', atMs: 300 }]);
      await st.touch('seen', 'a', 400);
      expect(await st.size('seen')).toBe(3);
      expect((await st.seenSince('seen', 0, 10)).map((m) => m.member)).toEqual(['a', 'c', 'b']);
      expect(await st.forgetBefore('seen', 350)).toBe(2);
      expect(await st.seenSince('seen', 0, 10)).toEqual([{ member: 'a', atMs: 400 }]);
      await st.forget('seen', 'a');
      await st.forget('seen', 'never');
      expect(await st.size('seen')).toBe(0);
      expect(await st.seenSince('seen', 0, 10)).toEqual([]);
      expect(await st.forgetBefore('seen.none', 1e15)).toBe(0);
    });

    test('seenSince keeps large millisecond times exact', async () => {
      const st = await one();
      const t = 1_760_000_000_123;
      await st.touch('seen.big', 'm', t);
      expect(await st.seenSince('seen.big', t, 1)).toEqual([{ member: 'm', atMs: t }]);
      expect(await st.seenSince('seen.big', t + 1, 1)).toEqual([]);
    });

    test('prefixes isolate: two prefixes never see each other', async () => {
      const a = await one();
      const b = await store(`${uniquePrefix(`store_${name}_other`)}:`);
      await a.set('iso.k', 'a');
      expect(await b.get('iso.k')).toBeNull();
      expect(await b.setIfAbsent('iso.k', 'b')).toBe(true);
      expect(await a.get('iso.k')).toBe('a');
      await a.hit('iso.h');
      expect(await b.count('iso.h')).toBe(0);
      await a.append('iso.log', 'a', hist);
      expect(await b.readAfter('iso.log', null, 10)).toEqual([]);
      await a.touch('iso.set', 'm', 1);
      expect(await b.size('iso.set')).toBe(0);
    });

    test('after close: not ready, ping false, calls reject with StoreError', async () => {
      const st = await store();
      await st.set('closed.k', 'v');
      await st.close();
      expect(st.isReady()).toBe(false);
      expect(await st.ping(500)).toBe(false);
      await expect(st.get('closed.k')).rejects.toBeInstanceOf(StoreError);
      await expect(st.close()).resolves.toBeUndefined();
    });
  });
}
