import { afterAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { encodeHint, MESH_HINT_SUBJECT, MESH_PROBER_HEADER } from '@mesh/shared';
import { probePeer, type ProbeFn } from '../src/index.js';
import { json, otherNetworkInfohash, startHttp, startMeshNode, type HttpTestServer, type MeshNode } from './support.js';

// PROTOCOL.md "Finding and keeping peers": a probe names its prober, and a
// node told of a prober (through its API, over the bus) verifies it in turn.

const network = otherNetworkInfohash('prober-hint');

describe('a probe names its prober', () => {
  const servers: HttpTestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  test('x-mesh-node carries the prober URL on the first GET only, not on the confirmation', async () => {
    const seen: (string | undefined)[] = [];
    const id = randomBytes(32).toString('hex');
    const peer = await startHttp((req, res) => {
      const h = req.headers[MESH_PROBER_HEADER];
      seen.push(typeof h === 'string' ? h : undefined);
      json(res, { id, url: peer.url, network });
    });
    servers.push(peer);
    const r = await probePeer({ host: '127.0.0.1', port: peer.port }, {
      network, allowInsecure: true, allowedPeers: ['127.0.0.0/8'], timeoutMs: 3000, proberUrl: 'https://prober.example',
    });
    expect(r).toEqual({ ok: true, id, url: peer.url });
    expect(seen).toEqual(['https://prober.example', undefined]);
  });
});

describe('a hint on the bus is verified like a DHT peer', () => {
  let node: MeshNode | undefined;
  afterAll(async () => {
    await node?.stop();
  });

  test('the hinted address is probed, and only well-formed hints count', async () => {
    const probed: { host: string; port: number }[] = [];
    let hinted: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => {
      hinted = resolve;
    });
    const probe: ProbeFn = async (peer) => {
      probed.push(peer);
      if (peer.port === 4433) hinted();
      return { ok: false, reason: 'refused' };
    };
    // DHT_BOOTSTRAP=none: an isolated DHT node (an empty value would mean the public routers).
    node = await startMeshNode({ network: 'prober-hint', bootstrap: ['none'], service: { probe } });
    node.bus.publish(MESH_HINT_SUBJECT, Buffer.from('{"host":"not an ip","port":1}'));
    node.bus.publish(MESH_HINT_SUBJECT, Buffer.from('garbage'));
    node.bus.publish(MESH_HINT_SUBJECT, encodeHint({ host: '198.51.100.7', port: 4433 }));
    await arrived;
    expect(probed).toEqual([{ host: '198.51.100.7', port: 4433 }]);
  });
});
