import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { waitFor } from '@mesh/shared/testing';
import { createDhtNode, type DhtNode } from '../src/index.js';
import {
  getJson, json, metricValue, silentLog, startHttp, startMeshNode, startSwarm, otherNetworkInfohash,
  type HttpTestServer, type MeshNode, type Swarm,
} from './support.js';

// A private swarm on loopback, three mesh nodes that know only the swarm,
// and impostors announced under the same infohash.
describe('mesh discovery over a private DHT swarm', () => {
  const network = `test-mesh-${randomBytes(4).toString('hex')}`;
  let swarm: Swarm;
  const mesh: MeshNode[] = [];
  const impostors: HttpTestServer[] = [];
  let announcer: DhtNode | undefined;

  beforeAll(async () => {
    swarm = await startSwarm(4);
  });

  afterAll(async () => {
    await Promise.all(mesh.map((m) => m.stop()));
    await announcer?.destroy();
    await Promise.all(impostors.map((s) => s.close()));
    await swarm?.destroy();
  });

  test('every node lists all three nodes, none told about another', async () => {
    for (let i = 0; i < 3; i++) mesh.push(await startMeshNode({ network, bootstrap: swarm.bootstrap }));
    const urls = mesh.map((m) => m.url).sort();
    await waitFor(async () => {
      const lists = await Promise.all(mesh.map((m) => getJson(`${m.url}/nodes`)));
      return lists.every((l) => Array.isArray(l) && JSON.stringify([...(l as string[])].sort()) === JSON.stringify(urls));
    }, { timeoutMs: 20_000, intervalMs: 100, message: 'each /nodes lists the three nodes' });

    for (const m of mesh) {
      expect(await metricValue(m.metrics, 'mesh_mesh_probes_total', { outcome: 'verified' })).toBeGreaterThanOrEqual(2);
      expect(m.dht.info().routingNodes).toBeGreaterThan(0);
      expect(await metricValue(m.metrics, 'mesh_dht_lookups_total')).toBeGreaterThan(0);
    }
    await waitFor(async () => {
      const gauges = await Promise.all(mesh.map((m) => metricValue(m.metrics, 'mesh_mesh_nodes')));
      return gauges.every((g) => g === 3);
    }, { timeoutMs: 5000, message: 'mesh_mesh_nodes gauge reaches 3' });
  });

  test('impostors announced under the infohash are refused and never listed', async () => {
    const genuine = mesh[0] as MeshNode;
    const infohash = genuine.config.dht.infohash;
    const victim = mesh[1] as MeshNode;
    const notNode = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>hello</html>');
    });
    const otherNet = await startHttp((_req, res) => json(res, {
      id: randomBytes(32).toString('hex'), url: `http://127.0.0.1:${otherNet.port}`, network: otherNetworkInfohash('elsewhere'),
    }));
    // Claims to be at the victim's URL with its own id: the victim's URL serves another id.
    const liar = await startHttp((_req, res) => json(res, {
      id: randomBytes(32).toString('hex'), url: victim.url, network: infohash,
    }));
    const silent = await startHttp(() => { /* never answers */ });
    const flood = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) { /* until backpressure */ }
        if (!res.destroyed) res.once('drain', pump);
      };
      res.write('{"id":"');
      pump();
    });
    impostors.push(notNode, otherNet, liar, silent, flood);

    announcer = createDhtNode({ bootstrap: swarm.bootstrap, log: silentLog });
    await announcer.listen(0, '127.0.0.1');
    await announcer.whenBootstrapped(5000);
    for (const s of impostors) await announcer.announce(infohash, s.port);

    const refused = async (reason: string): Promise<number> => metricValue(genuine.metrics, 'mesh_mesh_probes_total', { outcome: reason });
    await waitFor(async () =>
      (await refused('not_json')) >= 1 && (await refused('other_network')) >= 1 && (await refused('url_mismatch')) >= 1
      && (await refused('timeout')) >= 1 && (await refused('too_large')) >= 1,
    { timeoutMs: 20_000, intervalMs: 100, message: 'all five impostors probed and refused' });

    const urls = mesh.map((m) => m.url).sort();
    for (const m of mesh) {
      const list = (await getJson(`${m.url}/nodes`)) as string[];
      expect([...list].sort()).toEqual(urls);
    }
  });
});
