import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createLocalBus, createNatsBus, type Bus } from '@mesh/shared';
import { MACHINE_NATS_URL, uniquePrefix } from '@mesh/shared/testing';
import { createDhtNode, DHT_GET_SUBJECT, DHT_PUT_SUBJECT, type DhtGetReply, type DhtNodeFactory, type DhtPutReply } from '../src/index.js';
import { createBep44Signer } from '@mesh/shared/testing';
import { metricValue, silentLog, startMeshNode, startSwarm, type MeshNode, type Swarm } from './support.js';

async function ask<T>(bus: Bus, subject: string, body: unknown): Promise<T> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const reply = await bus.request(subject, Buffer.from(raw, 'utf8'), { timeoutMs: 10_000 });
  return JSON.parse(Buffer.from(reply).toString('utf8')) as T;
}
const put = (bus: Bus, body: unknown): Promise<DhtPutReply> => ask<DhtPutReply>(bus, DHT_PUT_SUBJECT, body);
const get = (bus: Bus, body: unknown): Promise<DhtGetReply> => ask<DhtGetReply>(bus, DHT_GET_SUBJECT, body);

const busKinds: [string, () => Promise<Bus>][] = [
  ['local bus', async () => createLocalBus()],
  ['NATS', () => createNatsBus({ url: MACHINE_NATS_URL, prefix: uniquePrefix('dht_bep44'), log: silentLog })],
];

describe.each(busKinds)('BEP44 over the %s through two mesh nodes', (_kind, makeBus) => {
  let swarm: Swarm;
  let a: MeshNode;
  let b: MeshNode;
  let busA: Bus;
  let busB: Bus;
  /** Puts node A handed to its DHT node. */
  let dhtPutsA = 0;

  beforeAll(async () => {
    swarm = await startSwarm(4);
    const network = `bep44-${randomBytes(4).toString('hex')}`;
    const countingFactory: DhtNodeFactory = (opts) => {
      const node = createDhtNode(opts);
      const inner = node.putMutable.bind(node);
      node.putMutable = (item) => {
        dhtPutsA++;
        return inner(item);
      };
      return node;
    };
    busA = await makeBus();
    busB = await makeBus();
    a = await startMeshNode({ network, bootstrap: swarm.bootstrap, bus: busA, service: { dhtFactory: countingFactory } });
    b = await startMeshNode({ network, bootstrap: swarm.bootstrap, bus: busB });
    await Promise.all([a, b].map((m) => m.dht.ready()));
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await busA?.close();
    await busB?.close();
    await swarm?.destroy();
  });

  test('a put through one node is read through the other; a newer seq replaces it', async () => {
    const signer = createBep44Signer();
    const first = await put(busA, signer.item({ seq: 1, v: 'hello mesh' }));
    expect(first).toMatchObject({ ok: true });
    if (!first.ok) throw new Error('put failed');
    expect(first.target).toMatch(/^[0-9a-f]{40}$/);
    expect(first.stored).toBeGreaterThan(0);

    const got = await get(busB, { key: signer.key });
    expect(got).toEqual({
      ok: true,
      item: { key: signer.key, salt: '', seq: 1, v: Buffer.from('hello mesh').toString('base64'), sig: signer.item({ seq: 1, v: 'hello mesh' }).sig },
    });

    expect(await put(busA, signer.item({ seq: 2, v: 'second' }))).toMatchObject({ ok: true });
    const newer = await get(busB, { key: signer.key });
    expect(newer).toMatchObject({ ok: true, item: { seq: 2, v: Buffer.from('second').toString('base64') } });
    expect(await metricValue(a.metrics, 'mesh_dht_bep44_total', { op: 'put', outcome: 'stored' })).toBe(2);
    expect(await metricValue(b.metrics, 'mesh_dht_bep44_total', { op: 'get', outcome: 'found' })).toBe(2);
  });

  test('an older seq or a wrong cas is a seq_conflict', async () => {
    const signer = createBep44Signer();
    expect(await put(busA, signer.item({ seq: 5, v: 'five' }))).toMatchObject({ ok: true });
    expect(await put(busB, signer.item({ seq: 4, v: 'four' }))).toEqual({ ok: false, error: 'seq_conflict' });
    expect(await put(busB, signer.item({ seq: 5, v: 'five again' }))).toEqual({ ok: false, error: 'seq_conflict' });
    expect(await put(busB, signer.item({ seq: 6, v: 'six', cas: 3 }))).toEqual({ ok: false, error: 'seq_conflict' });
    expect(await put(busB, signer.item({ seq: 6, v: 'six', cas: 5 }))).toMatchObject({ ok: true });
    expect(await get(busA, { key: signer.key })).toMatchObject({ ok: true, item: { seq: 6 } });
  });

  test('salted items live apart from unsalted ones; a 1000-byte value fits', async () => {
    const signer = createBep44Signer();
    const big = randomBytes(1000);
    expect(await put(busA, signer.item({ seq: 0, v: big, salt: 'profile' }))).toMatchObject({ ok: true });
    expect(await get(busB, { key: signer.key, salt: 'profile' })).toMatchObject({
      ok: true, item: { salt: 'profile', seq: 0, v: big.toString('base64') },
    });
    expect(await get(busB, { key: signer.key })).toEqual({ ok: false, error: 'not_found' });
    expect(await get(busB, { key: signer.key, salt: 'other' })).toEqual({ ok: false, error: 'not_found' });
  });

  test('a bad signature never reaches the DHT', async () => {
    const signer = createBep44Signer();
    const before = dhtPutsA;
    const good = signer.item({ seq: 1, v: 'genuine' });
    const forged = { ...good, v: Buffer.from('forged').toString('base64') };
    expect(await put(busA, forged)).toEqual({ ok: false, error: 'bad_signature' });
    const otherKey = { ...good, key: createBep44Signer().key };
    expect(await put(busA, otherKey)).toEqual({ ok: false, error: 'bad_signature' });
    expect(await put(busA, { ...good, seq: 2 })).toEqual({ ok: false, error: 'bad_signature' });
    expect(dhtPutsA).toBe(before);
    expect(await get(busB, { key: signer.key })).toEqual({ ok: false, error: 'not_found' });
    expect(await metricValue(a.metrics, 'mesh_dht_bep44_total', { op: 'put', outcome: 'bad_signature' })).toBe(3);
  });

  test('malformed requests are bad_request, checked again on the dht side', async () => {
    const signer = createBep44Signer();
    const good = signer.item({ seq: 1, v: 'x' });
    const before = dhtPutsA;
    const cases: unknown[] = [
      'not json', '[]', { ...good, key: 'abc' }, { ...good, seq: -1 }, { ...good, seq: 1.5 }, { ...good, seq: '1' },
      { ...good, v: 'not base64!' }, { ...good, v: randomBytes(1001).toString('base64') }, { ...good, sig: 'zz' },
      { ...good, salt: 'x'.repeat(65) }, { ...good, cas: -2 },
    ];
    for (const c of cases) {
      expect(await put(busA, c)).toMatchObject({ ok: false, error: 'bad_request' });
    }
    for (const c of ['{', { key: 'XYZ' }, { key: signer.key, salt: 7 }, { key: signer.key, salt: 'é'.repeat(33) }]) {
      expect(await get(busB, c)).toMatchObject({ ok: false, error: 'bad_request' });
    }
    expect(dhtPutsA).toBe(before);
  });
});
