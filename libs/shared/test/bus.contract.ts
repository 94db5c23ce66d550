/**
 * The Bus contract: one suite, run against every implementation
 * (bus.local.test.ts, bus.nats.test.ts). `makeBus(prefix)` returns a new
 * client; two clients made with one prefix talk to each other, as two NATS
 * connections with one BUS_PREFIX do. The suite closes every bus it made.
 *
 * Across clients, `await bus.ping()` after subscribing is the barrier that
 * makes a subscription known to the broker before another client publishes.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { BusError, type Bus } from '../src/bus/index.js';
import { uniquePrefix, waitFor } from '../src/testing/index.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

async function busErrorOf(p: Promise<unknown>): Promise<BusError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BusError) return err;
    throw err;
  }
  throw new Error('expected a BusError, got a reply');
}

export function busContract(name: string, makeBus: (prefix: string) => Bus | Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    const made: Bus[] = [];
    const prefix = uniquePrefix(`bus_${name}`);
    async function bus(p: string = prefix): Promise<Bus> {
      const b = await makeBus(p);
      made.push(b);
      return b;
    }

    afterAll(async () => {
      await Promise.all(made.map((b) => b.close()));
    });

    test('is ready and answers ping while open', async () => {
      const a = await bus();
      await waitFor(() => a.isReady(), { message: 'bus ready' });
      expect(await a.ping(2000)).toBe(true);
    });

    test('delivers to subscribers of other clients, asynchronously, with the un-prefixed subject', async () => {
      const a = await bus();
      const b = await bus();
      const got: [string, string][] = [];
      b.subscribe('pub.one', (data, subject) => got.push([dec(data), subject]));
      await b.ping();
      a.publish('pub.one', enc('hello'));
      a.publish('pub.other', enc('not for you'));
      await waitFor(() => got.length >= 1, { message: 'message delivered' });
      expect(got).toEqual([['hello', 'pub.one']]);
    });

    test('never runs a subscriber inside publish (no re-entrancy)', async () => {
      const a = await bus();
      let inPublish = false;
      let sawInPublish = false;
      let n = 0;
      a.subscribe('reent', () => {
        sawInPublish ||= inPublish;
        n++;
      });
      await a.ping();
      inPublish = true;
      a.publish('reent', enc('x'));
      inPublish = false;
      await waitFor(() => n === 1);
      expect(sawInPublish).toBe(false);
    });

    test('keeps the order of one publisher', async () => {
      const a = await bus();
      const b = await bus();
      const got: number[] = [];
      b.subscribe('order', (data) => got.push(Number(dec(data))));
      await b.ping();
      for (let i = 0; i < 200; i++) a.publish('order', enc(String(i)));
      await waitFor(() => got.length === 200, { message: '200 messages' });
      expect(got).toEqual([...Array(200).keys()]);
    });

    test('unsubscribe stops delivery and is idempotent', async () => {
      const a = await bus();
      const b = await bus();
      let gone = 0;
      let kept = 0;
      const sub = b.subscribe('unsub', () => gone++);
      b.subscribe('unsub', () => kept++);
      await b.ping();
      a.publish('unsub', enc('1'));
      await waitFor(() => gone === 1 && kept === 1);
      sub.unsubscribe();
      sub.unsubscribe();
      await b.ping();
      a.publish('unsub', enc('2'));
      a.publish('unsub', enc('3'));
      await waitFor(() => kept === 3);
      await a.ping();
      await b.ping();
      expect(gone).toBe(1);
    });

    test('a queue group gets each message once, plain subscribers get all', async () => {
      const members = [await bus(), await bus(), await bus()];
      const counts = [0, 0, 0];
      let plain = 0;
      members.forEach((m, i) => m.subscribe('work', () => { counts[i] = (counts[i] ?? 0) + 1; }, { queue: 'workers' }));
      members[0]?.subscribe('work', () => plain++);
      await Promise.all(members.map((m) => m.ping()));
      const pub = await bus();
      for (let i = 0; i < 60; i++) pub.publish('work', enc(String(i)));
      const total = (): number => counts.reduce((s, c) => s + c, 0);
      await waitFor(() => total() >= 60 && plain >= 60, { message: 'all work delivered' });
      await Promise.all([pub, ...members].map((m) => m.ping()));
      expect(total()).toBe(60);
      expect(plain).toBe(60);
      // Spread over more than one member (round robin locally, random on NATS).
      expect(counts.filter((c) => c > 0).length).toBeGreaterThan(1);
    });

    test('a throwing handler breaks neither other handlers nor later messages', async () => {
      const a = await bus();
      let thrower = 0;
      let other = 0;
      a.subscribe('throws', () => {
        thrower++;
        throw new Error('handler failure (expected in this test)');
      });
      a.subscribe('throws', () => other++);
      await a.ping();
      a.publish('throws', enc('1'));
      a.publish('throws', enc('2'));
      await waitFor(() => thrower === 2 && other === 2);
    });

    test('prefixes isolate: two prefixes never see each other', async () => {
      const p2 = uniquePrefix(`bus_${name}_other`);
      const a = await bus(prefix);
      const b = await bus(p2);
      let crossed = 0;
      let own = 0;
      b.subscribe('iso', () => crossed++);
      b.respond('iso.rpc', () => enc('wrong node'));
      a.subscribe('iso', () => own++);
      await Promise.all([a.ping(), b.ping()]);
      a.publish('iso', enc('x'));
      await waitFor(() => own === 1);
      const err = await busErrorOf(a.request('iso.rpc', enc('?'), { timeoutMs: 2000 }));
      expect(err.code).toBe('no_responders');
      await b.ping();
      expect(crossed).toBe(0);
    });

    test('request gets the reply; the responder sees the un-prefixed subject', async () => {
      const a = await bus();
      const b = await bus();
      const seen: string[] = [];
      b.respond('rpc.echo', async (data, subject) => {
        seen.push(subject);
        return enc(`echo:${dec(data)}`);
      });
      await b.ping();
      const reply = await a.request('rpc.echo', enc('hi'), { timeoutMs: 2000 });
      expect(dec(reply)).toBe('echo:hi');
      expect(seen).toEqual(['rpc.echo']);
    });

    test('responders form a queue group: each request is served once', async () => {
      const servers = [await bus(), await bus()];
      const served = [0, 0];
      servers.forEach((s, i) => s.respond('rpc.once', () => {
        served[i] = (served[i] ?? 0) + 1;
        return enc(String(i));
      }));
      await Promise.all(servers.map((s) => s.ping()));
      const client = await bus();
      const replies = await Promise.all(
        Array.from({ length: 40 }, () => client.request('rpc.once', enc('q'), { timeoutMs: 3000 })),
      );
      expect(replies).toHaveLength(40);
      await Promise.all(servers.map((s) => s.ping()));
      expect((served[0] ?? 0) + (served[1] ?? 0)).toBe(40);
    });

    test('request rejects no_responders at once when nobody serves', async () => {
      const a = await bus();
      const started = Date.now();
      const err = await busErrorOf(a.request('rpc.nobody', enc('?'), { timeoutMs: 10_000 }));
      expect(err.code).toBe('no_responders');
      // Far below the 10 s timeout: the broker said so, nobody waited.
      expect(Date.now() - started).toBeLessThan(5000);
    });

    test('request rejects timeout when the responder never answers', async () => {
      const a = await bus();
      const b = await bus();
      b.respond('rpc.slow', () => new Promise<Uint8Array>(() => {}));
      await b.ping();
      const err = await busErrorOf(a.request('rpc.slow', enc('?'), { timeoutMs: 150 }));
      expect(err.code).toBe('timeout');
    });

    test('a responder error becomes remote at the requester, message kept', async () => {
      const a = await bus();
      const b = await bus();
      b.respond('rpc.fail', () => {
        throw new Error('no such thing');
      });
      b.respond('rpc.reject', async () => {
        throw new Error('async failure');
      });
      await b.ping();
      const err = await busErrorOf(a.request('rpc.fail', enc('?'), { timeoutMs: 2000 }));
      expect(err.code).toBe('remote');
      expect(err.message).toContain('no such thing');
      const err2 = await busErrorOf(a.request('rpc.reject', enc('?'), { timeoutMs: 2000 }));
      expect(err2.code).toBe('remote');
      expect(err2.message).toContain('async failure');
      // The responder still serves after failing.
      b.respond('rpc.ok', () => enc('fine'));
      await b.ping();
      expect(dec(await a.request('rpc.ok', enc(''), { timeoutMs: 2000 }))).toBe('fine');
    });

    test('an empty payload travels both ways', async () => {
      const a = await bus();
      a.respond('rpc.empty', (data) => enc(String(data.length)));
      await a.ping();
      expect(dec(await a.request('rpc.empty', new Uint8Array(0), { timeoutMs: 2000 }))).toBe('0');
    });

    test('after close: not ready, publish is a no-op, request rejects closed, close is idempotent', async () => {
      const a = await bus();
      const b = await bus();
      b.respond('rpc.after', () => enc('late'));
      await b.ping();
      await a.close();
      expect(a.isReady()).toBe(false);
      expect(await a.ping(500)).toBe(false);
      expect(() => a.publish('after', enc('x'))).not.toThrow();
      const err = await busErrorOf(a.request('rpc.after', enc('?'), { timeoutMs: 1000 }));
      expect(err.code).toBe('closed');
      await expect(a.close()).resolves.toBeUndefined();
    });

    test('close rejects requests in flight with closed', async () => {
      const a = await bus();
      const b = await bus();
      b.respond('rpc.hang', () => new Promise<Uint8Array>(() => {}));
      await b.ping();
      const pending = busErrorOf(a.request('rpc.hang', enc('?'), { timeoutMs: 10_000 }));
      await a.ping();
      await a.close();
      expect((await pending).code).toBe('closed');
    });
  });
}
