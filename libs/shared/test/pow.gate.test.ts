import { describe, test, expect, afterAll } from '@jest/globals';
import { parseConfig, type PowConfig } from '../src/config.js';
import { ProtocolError } from '../src/errors.js';
import { createMetrics } from '../src/metrics.js';
import { createPowGate, type PowVerifyRequest } from '../src/pow/gate.js';
import { bodyHash, meetsWork, proofHash } from '../src/pow/proof.js';
import { solveProof } from '../src/pow/solver.js';
import { FUTURE_SKEW_SECONDS, issueToken } from '../src/pow/token.js';
import { createMemoryStore } from '../src/store/memory.js';
import { createRedisStore } from '../src/store/redis.js';
import { createLogger } from '../src/log.js';
import { freePort } from '@mesh/shared/testing';
import { storeKinds, type StorePair } from './pow.stores.js';

const SECRET = 'gate-test-secret-0123456789';
const pow: PowConfig = { ...parseConfig({}).pow, baseWork: 64 };
const PRICE = 64;
const PATH = '/room/' + 'cd'.repeat(20);
const BODY = new TextEncoder().encode('hi there');

/** A clock the tests move by hand (ms). */
function clock(startMs = 1_764_000_100_000): { now: () => number; advance: (s: number) => void } {
  let t = startMs;
  return { now: () => t, advance: (s) => { t += s * 1000; } };
}

function req(header: string | undefined, over: Partial<PowVerifyRequest> = {}): PowVerifyRequest {
  return { header, method: 'POST', path: PATH, body: BODY, price: PRICE, endpoint: 'room', ...over };
}

function solve(token: string, work: number, over: { path?: string; body?: Uint8Array } = {}): string {
  return solveProof({ token, work, method: 'POST', path: over.path ?? PATH, body: over.body ?? BODY }).header;
}

/** A header with a good token whose hash does NOT meet its work. */
function failingHeader(token: string, work: number): string {
  for (let i = 0; ; i++) {
    const nonce = `bad${i}`;
    const h = proofHash({ token, work, method: 'POST', path: PATH, bodyHash: bodyHash(BODY), nonce });
    if (!meetsWork(h, BigInt(work))) return `${token}:${work}:${nonce}`;
  }
}

async function refusal(p: Promise<void>): Promise<ProtocolError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  throw new Error('expected a refusal, got acceptance');
}

const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe('pow gate (memory store)', () => {
  function setup() {
    const c = clock();
    const store = createMemoryStore({ prefix: 'gate:', now: c.now });
    closers.push(() => store.close());
    const metrics = createMetrics({ service: 'test', defaultMetrics: false });
    const gate = createPowGate({ secret: SECRET, store, pow, metrics, now: c.now });
    return { c, store, metrics, gate };
  }

  test('current() hands out this period\'s token and its expiry', () => {
    const { gate } = setup();
    const { token, ts } = issueToken(SECRET, 1_764_000_100, 60);
    expect(gate.current()).toEqual({ token, expires: ts + 300 });
  });

  test('a solved proof is accepted once, then refused as replayed', async () => {
    const { gate, metrics } = setup();
    const header = solve(gate.current().token, PRICE);
    await expect(gate.verify(req(header))).resolves.toBeUndefined();
    const e = await refusal(gate.verify(req(header)));
    expect(e.code).toBe('pow_replayed');
    const text = await metrics.text();
    expect(text).toContain('mesh_pow_outcomes_total{endpoint="room",outcome="accepted",service="test"} 1');
    expect(text).toContain('mesh_pow_outcomes_total{endpoint="room",outcome="pow_replayed",service="test"} 1');
  });

  test('a proof on a token from an instance whose clock is ahead stays refused as replayed for as long as the token is accepted', async () => {
    const { gate, c } = setup();
    // Another instance, its clock FUTURE_SKEW_SECONDS ahead, issued this token.
    const { token } = issueToken(SECRET, Math.floor(c.now() / 1000) + FUTURE_SKEW_SECONDS, 1);
    const header = solve(token, PRICE);
    await expect(gate.verify(req(header))).resolves.toBeUndefined();
    c.advance(300 + FUTURE_SKEW_SECONDS); // the token's last accepted second here
    expect((await refusal(gate.verify(req(header)))).code).toBe('pow_replayed');
  });

  test('every refusal is a 402 with a fresh token, the price and its difficulty', async () => {
    const { gate, c } = setup();
    const old = gate.current().token;
    const goodOld = solve(old, PRICE);
    c.advance(301 + 60); // past the TTL of `old`
    const fresh = gate.current().token;
    expect(fresh).not.toBe(old);

    const forged = fresh.slice(0, -2) + (fresh.endsWith('AA') ? 'BB' : 'AA');
    const cases: [string, string | undefined][] = [
      ['pow_required', undefined],
      ['pow_malformed', 'not a proof'],
      ['pow_malformed', `v1.0${fresh.slice(3)}:64:abc`], // leading-zero ts: token syntax
      ['pow_expired', goodOld],
      ['pow_expired', solve(forged, PRICE)],
      ['pow_insufficient', solve(fresh, 47)], // 64 * 0.75 = 48 is the least accepted
      ['pow_invalid', failingHeader(fresh, PRICE)],
    ];
    for (const [code, header] of cases) {
      const e = await refusal(gate.verify(req(header)));
      expect({ code: e.code, header }).toEqual({ code, header });
      expect(e.status).toBe(402);
      expect(e.toJSON()).toEqual({ error: code, message: expect.any(String), token: fresh, work: PRICE, difficulty: 6 });
    }
  });

  test('refusal order: token before price, price before hash', async () => {
    const { gate, c } = setup();
    const old = gate.current().token;
    const expiredAndCheap = solve(old, 8);
    c.advance(400);
    expect((await refusal(gate.verify(req(expiredAndCheap)))).code).toBe('pow_expired');
    const cheapAndWrong = failingHeader(gate.current().token, 8);
    expect((await refusal(gate.verify(req(cheapAndWrong)))).code).toBe('pow_insufficient');
  });

  test('the proof binds method, path and body', async () => {
    const { gate } = setup();
    const token = gate.current().token;
    const header = solve(token, 1 << 14);
    // Each false acceptance has odds 2^-14: these refusals are not luck.
    expect((await refusal(gate.verify(req(header, { path: '/room/' + 'ef'.repeat(20) })))).code).toBe('pow_invalid');
    expect((await refusal(gate.verify(req(header, { body: new Uint8Array(0) })))).code).toBe('pow_invalid');
    expect((await refusal(gate.verify(req(header, { method: 'GET' })))).code).toBe('pow_invalid');
    await expect(gate.verify(req(header))).resolves.toBeUndefined();
  });

  test('slack: accepted when the price rose 25% (even 33%) while solving, refused beyond', async () => {
    const { gate } = setup();
    const token = gate.current().token;
    await expect(gate.verify(req(solve(token, 800), { price: 1000 }))).resolves.toBeUndefined(); // +25%
    await expect(gate.verify(req(solve(token, 750), { price: 1000 }))).resolves.toBeUndefined(); // boundary
    expect((await refusal(gate.verify(req(solve(token, 749), { price: 1000 })))).code).toBe('pow_insufficient');
    const e = await refusal(gate.verify(req(solve(token, 700), { price: 1000 })));
    expect(e.extra).toEqual({ token, work: 1000, difficulty: 9.97 });
  });

  test('a refused proof does not burn its hash in the replay guard', async () => {
    const { gate } = setup();
    const header = solve(gate.current().token, 100);
    expect((await refusal(gate.verify(req(header, { price: 1000 })))).code).toBe('pow_insufficient');
    await expect(gate.verify(req(header, { price: 100 }))).resolves.toBeUndefined();
  });

  test('store down: fails closed with 503 unavailable', async () => {
    const { gate, store, metrics } = setup();
    const header = solve(gate.current().token, PRICE);
    await store.close();
    const e = await refusal(gate.verify(req(header)));
    expect(e.code).toBe('unavailable');
    expect(e.status).toBe(503);
    expect(await metrics.text()).toContain('outcome="unavailable"');
  });

  test('redis unreachable: fails closed with 503 unavailable', async () => {
    const c = clock();
    const log = createLogger({ level: 'silent', service: 'test' });
    const store = createRedisStore({ url: `redis://127.0.0.1:${await freePort()}`, prefix: 'x:', log, firstConnectWaitMs: 0 });
    closers.push(() => store.close());
    const gate = createPowGate({ secret: SECRET, store, pow, now: c.now });
    const e = await refusal(gate.verify(req(solve(gate.current().token, PRICE))));
    expect(e.code).toBe('unavailable');
  });
});

describe.each(storeKinds())('replay guard on two clients (%s)', (_kind, makePair) => {
  let pair: StorePair | undefined;
  const ready = async (): Promise<StorePair> => (pair ??= await makePair());

  afterAll(async () => {
    await pair?.close();
  });

  test('accepted on one instance, refused as replayed on the other', async () => {
    const { a, b } = await ready();
    const gateA = createPowGate({ secret: SECRET, store: a, pow });
    const gateB = createPowGate({ secret: SECRET, store: b, pow });
    const header = solve(gateA.current().token, PRICE);
    await expect(gateA.verify(req(header))).resolves.toBeUndefined();
    expect((await refusal(gateB.verify(req(header)))).code).toBe('pow_replayed');
    expect((await refusal(gateA.verify(req(header)))).code).toBe('pow_replayed');
  });

  test('the same proof verified concurrently on two instances is accepted exactly once', async () => {
    const p = await ready();
    const gateA = createPowGate({ secret: SECRET, store: p.a, pow });
    const gateB = createPowGate({ secret: SECRET, store: p.b, pow });
    for (let round = 0; round < 5; round++) {
      const header = solve(gateA.current().token, PRICE);
      const results = await Promise.allSettled([
        gateA.verify(req(header)), gateB.verify(req(header)), gateA.verify(req(header)), gateB.verify(req(header)),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as ProtocolError).code).toBe('pow_replayed');
      }
    }
  });
});

describe('pow gate: check, with the claim made by the caller', () => {
  test('check refuses like verify; accepted counts, replayed is pow_replayed, fail is unavailable; the claim is the key verify uses', async () => {
    const store = createMemoryStore();
    const metrics = createMetrics({ service: 'api', defaultMetrics: false });
    const gate = createPowGate({ secret: SECRET, store, pow, metrics });
    const token = gate.current().token;
    expect(() => gate.check(req(undefined))).toThrow(expect.objectContaining({ code: 'pow_required' }));
    expect(() => gate.check(req(failingHeader(token, PRICE)))).toThrow(expect.objectContaining({ code: 'pow_invalid' }));
    const header = solve(token, PRICE);
    const ticket = gate.check(req(header));
    expect(ticket.claim.key).toMatch(/^pow:seen:[0-9a-f]{64}$/);
    expect(ticket.claim.ttlSeconds).toBe(pow.tokenTtlSeconds + FUTURE_SKEW_SECONDS + 1);
    // The caller claims the key itself (here as verify would); a later verify of the same proof is a replay.
    expect(await store.setIfAbsent(ticket.claim.key, '1', { ttlSeconds: ticket.claim.ttlSeconds })).toBe(true);
    ticket.accepted();
    expect((await refusal(gate.verify(req(header)))).code).toBe('pow_replayed');
    expect(() => gate.check(req(header)).replayed()).toThrow(expect.objectContaining({ code: 'pow_replayed', status: 402 }));
    expect(() => gate.check(req(solve(token, PRICE, { body: new TextEncoder().encode('other') }), { body: new TextEncoder().encode('other') })).fail(new Error('store down')))
      .toThrow(expect.objectContaining({ code: 'unavailable', status: 503 }));
    const text = await metrics.text();
    expect(text).toContain('mesh_pow_outcomes_total{endpoint="room",outcome="accepted",service="api"} 1');
    expect(text).toContain('mesh_pow_outcomes_total{endpoint="room",outcome="pow_replayed",service="api"} 2');
    await store.close();
  });
});
