import { afterEach, describe, expect, test } from '@jest/globals';
import { API_LISTENING_SUBJECT, createLocalBus, createMemoryStore, createMetrics, type Bus, type Store } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createDhtNode, createDhtService, type DhtNodeFactory, type DhtService } from '../src/index.js';
import { silentLog, startSwarm, testConfig, type Swarm } from './support.js';

// PROTOCOL.md "Finding and keeping peers": a node announces once its public
// server listens, and an announce that failed for want of contacts is tried
// again as soon as the first contact comes, not a lookup interval later.

describe('announcing', () => {
  let svc: DhtService | undefined;
  let swarm: Swarm | undefined;
  let bus: Bus | undefined;
  let store: Store | undefined;
  afterEach(async () => {
    await svc?.stop();
    await swarm?.destroy();
    await bus?.close();
    await store?.close();
  });

  /** The real DHT node, with each announce's outcome recorded. */
  function recording(outcomes: ('ok' | 'failed')[], onOk: () => void): DhtNodeFactory {
    return (opts) => {
      const node = createDhtNode(opts);
      const announce = node.announce.bind(node);
      node.announce = async (infohash, port) => {
        try {
          await announce(infohash, port);
          outcomes.push('ok');
          onOk();
        } catch (err) {
          outcomes.push('failed');
          throw err;
        }
      };
      return node;
    };
  }

  test('nothing is announced before the API says its public server listens', async () => {
    swarm = await startSwarm(3);
    bus = createLocalBus();
    store = createMemoryStore();
    const outcomes: ('ok' | 'failed')[] = [];
    let announced: () => void = () => undefined;
    const done = new Promise<void>((r) => { announced = r; });
    let asked: () => void = () => undefined;
    const wasAsked = new Promise<void>((r) => { asked = r; });
    let answer: () => void = () => undefined;
    const answered = new Promise<void>((r) => { answer = r; });
    bus.respond(API_LISTENING_SUBJECT, async () => {
      asked();
      await answered;
      return Uint8Array.of(1);
    });
    // Production lookup interval: only the join itself looks up in this test.
    const config = testConfig({ MESH_NETWORK: 'announce-wait', DHT_BOOTSTRAP: swarm.bootstrap.join(','), DHT_LOOKUP_INTERVAL_MS: '300000' });
    svc = createDhtService({ config, bus, store, log: silentLog, metrics: createMetrics({ service: 'dht', defaultMetrics: false }), dhtFactory: recording(outcomes, () => announced()) });
    await svc.start();
    svc.onListening();
    await wasAsked;
    expect(outcomes).toEqual([]);
    answer();
    await done;
    expect(outcomes).toEqual(['ok']);
  });

  test('an announce that found no contact is retried when the first contact comes', async () => {
    bus = createLocalBus();
    store = createMemoryStore();
    bus.respond(API_LISTENING_SUBJECT, () => Uint8Array.of(1));
    const outcomes: ('ok' | 'failed')[] = [];
    let announced: () => void = () => undefined;
    const done = new Promise<void>((r) => { announced = r; });
    // A bootstrap address where nothing answers: the routing table stays empty, the first announce fails.
    const config = testConfig({
      MESH_NETWORK: 'announce-retry', DHT_BOOTSTRAP: '127.0.0.1:9', DHT_LOOKUP_INTERVAL_MS: '300000', DHT_REQUEST_TIMEOUT_MS: '1000',
    });
    svc = createDhtService({ config, bus, store, log: silentLog, metrics: createMetrics({ service: 'dht', defaultMetrics: false }), dhtFactory: recording(outcomes, () => announced()) });
    await svc.start();
    svc.onListening();
    await waitFor(() => outcomes.includes('failed'), { timeoutMs: 5000, message: 'the first announce failed' });
    // Someone contacts us: its query puts it in our routing table.
    swarm = await startSwarm(2);
    const port = svc.info().address?.port as number;
    for (const n of swarm.nodes) n.addContact({ host: '127.0.0.1', port });
    // The next scheduled lookup is 15 s after the join: the test's 12 s limit fails without the retry on contact.
    await done;
    expect(outcomes[outcomes.length - 1]).toBe('ok');
  }, 12_000);
});
