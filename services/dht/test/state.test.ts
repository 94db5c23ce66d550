import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { API_LISTENING_SUBJECT, createLocalBus, createMemoryStore, createMetrics, createRedisStore, type Store } from '@mesh/shared';
import { MACHINE_REDIS_URL, uniquePrefix, waitFor } from '@mesh/shared/testing';
import { createDhtService, DHT_STATE_KEY, type DhtNodeFactory, type DhtNodeOptions } from '../src/index.js';
import { createDhtNode } from '../src/dht-node.js';
import { parseDhtState, saveDhtState } from '../src/state.js';
import { silentLog, startSwarm, testConfig, type Swarm } from './support.js';

describe('persisted DHT state', () => {
  let swarm: Swarm;
  let store: Store;

  beforeAll(async () => {
    swarm = await startSwarm(3);
    store = createRedisStore({ url: MACHINE_REDIS_URL, prefix: `${uniquePrefix('dht_state')}:`, log: silentLog });
  });

  afterAll(async () => {
    await store?.close();
    await swarm?.destroy();
  });

  test('a restart keeps the node id and refills the routing table from the saved contacts', async () => {
    const config = testConfig({ MESH_NETWORK: `state-${randomBytes(4).toString('hex')}`, DHT_BOOTSTRAP: swarm.bootstrap.join(',') });
    const deps = () => ({ config, bus: createLocalBus(), store, log: silentLog, metrics: createMetrics({ service: 'dht', defaultMetrics: false }) });

    const first = createDhtService(deps());
    await first.start();
    await waitFor(() => first.info().routingNodes >= 3, { timeoutMs: 5000 });
    const firstId = first.info().nodeId;
    await first.stop();

    const saved = parseDhtState((await store.get(DHT_STATE_KEY)) ?? '');
    expect(saved?.id).toBe(firstId);
    expect(saved?.nodes.length).toBeGreaterThanOrEqual(3);

    // Restart with the routers unreachable: only the saved contacts can refill the table.
    let seen: DhtNodeOptions | undefined;
    const spying: DhtNodeFactory = (opts) => {
      seen = opts;
      return createDhtNode(opts);
    };
    const deadRouter = testConfig({ MESH_NETWORK: config.dht.network, DHT_BOOTSTRAP: '127.0.0.1:9' });
    const second = createDhtService({ ...deps(), config: deadRouter, dhtFactory: spying });
    try {
      await second.start();
      expect(second.info().nodeId).toBe(firstId);
      expect(seen?.nodeId).toBe(firstId);
      await waitFor(() => second.info().routingNodes >= 3, { timeoutMs: 5000, message: 'routing table refilled' });
    } finally {
      await second.stop();
    }
  });

  test('a node whose routing table is empty (an outage) keeps the saved contacts instead of overwriting them', async () => {
    const memory = createMemoryStore();
    const id = randomBytes(20).toString('hex');
    const contacts = [{ host: '127.0.0.1', port: 9 }];
    await saveDhtState(memory, { id, nodes: contacts });
    const config = testConfig({ MESH_NETWORK: 'outage', DHT_BOOTSTRAP: '127.0.0.1:9' });
    const bus = createLocalBus();
    const svc = createDhtService({ config, bus, store: memory, log: silentLog, metrics: createMetrics({ service: 'dht', defaultMetrics: false }) });
    try {
      await svc.start();
      expect(svc.info().nodeId).toBe(id);
      expect(svc.info().routingNodes).toBe(0);
    } finally {
      await svc.stop();
      await bus.close();
    }
    expect(parseDhtState((await memory.get(DHT_STATE_KEY)) ?? '')?.nodes).toEqual(contacts);
    await memory.close();
  });

  test('an isolated node answers, stays alone and is ready', async () => {
    const config = testConfig({ MESH_NETWORK: 'isolated', DHT_BOOTSTRAP: 'none' });
    const memory = createMemoryStore();
    const bus = createLocalBus();
    const svc = createDhtService({ config, bus, store: memory, log: silentLog, metrics: createMetrics({ service: 'dht', defaultMetrics: false }) });
    try {
      await svc.start();
      bus.respond(API_LISTENING_SUBJECT, () => Uint8Array.of(1));
      svc.onListening();
      expect(await svc.ready()).toBe(true);
      expect(svc.info().address?.port).toBeGreaterThan(0);
      expect(svc.info().routingNodes).toBe(0);
      // The node lists itself, found or not.
      await waitFor(async () => (await memory.seenSince('nodes', 0, 10)).some((m) => m.member === config.publicUrl), { timeoutMs: 5000 });
    } finally {
      await svc.stop();
      await bus.close();
      await memory.close();
    }
    expect(await svc.ready()).toBe(false);
  });

  test('malformed saved state is ignored', () => {
    expect(parseDhtState('not json')).toBeNull();
    expect(parseDhtState(JSON.stringify({ id: 'zz', nodes: [] }))).toBeNull();
    expect(parseDhtState(JSON.stringify({ id: 'a'.repeat(40), nodes: [{ host: 'evil.example', port: 1 }, { host: '10.0.0.1', port: 70000 }, { host: '10.0.0.2', port: 6881 }] })))
      .toEqual({ id: 'a'.repeat(40), nodes: [{ host: '10.0.0.2', port: 6881 }] });
  });
});
