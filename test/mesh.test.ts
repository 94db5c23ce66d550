import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createDhtNode, type DhtNode } from '@mesh/dht';
import { embeddedNode } from '@mesh/embedded';
import { createLogger, launch, solveProof, type Launched } from '@mesh/shared';
import { createBep44Signer, freePort, waitFor } from '@mesh/shared/testing';

// Issue "services/dht", must show: three embedded mesh nodes that know only a
// private DHT swarm on loopback find each other, and BEP44 items put through
// one node are read through another.

const silent = createLogger({ level: 'silent', service: 'test' });

async function startSwarm(size: number): Promise<{ nodes: DhtNode[]; bootstrap: string[] }> {
  const nodes: DhtNode[] = [];
  const bootstrap: string[] = [];
  for (let i = 0; i < size; i++) {
    const node = createDhtNode({ bootstrap: [...bootstrap], log: silent });
    nodes.push(node);
    bootstrap.push(`127.0.0.1:${(await node.listen(0, '127.0.0.1')).port}`);
  }
  await Promise.all(nodes.map((n) => n.whenBootstrapped(5000)));
  return { nodes, bootstrap };
}

async function startNode(network: string, bootstrap: string[]): Promise<Launched & { url: string }> {
  const port = await freePort();
  const env = {
    PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`,
    METRICS_PORT: String(await freePort()), DHT_PORT: String(await freePort()), DHT_HOST: '127.0.0.1',
    DHT_BOOTSTRAP: bootstrap.join(','), MESH_NETWORK: network, MESH_ALLOW_INSECURE: 'true',
    // Every node is on loopback, which only the allow list lets a node probe.
    MESH_ALLOWED_PEERS: '127.0.0.0/8',
    TURN_BACKEND: 'none', LOG_LEVEL: 'silent', POW_BASE_WORK: '16',
  };
  const node = await launch(embeddedNode, env);
  return Object.assign(node, { url: env.PUBLIC_URL });
}

/** POSTs or GETs with a proof at the price the node asks in its 402 (a refusal before PoW comes back as is). */
async function paid(url: string, init: { method: 'GET' | 'POST'; body?: string }): Promise<Response> {
  const u = new URL(url);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const refused = await fetch(url, { ...init, headers });
  if (refused.status !== 402) return refused;
  const { token, work } = (await refused.json()) as { token: string; work: number };
  const body = Buffer.from(init.body ?? '', 'utf8');
  const { header } = solveProof({ token, work, method: init.method, path: u.pathname, body });
  return fetch(url, { ...init, headers: { ...headers, 'x-pow': header } });
}

describe('a mesh of three embedded nodes over a private DHT swarm', () => {
  const network = `mesh-test-${randomBytes(4).toString('hex')}`;
  let swarm: { nodes: DhtNode[]; bootstrap: string[] };
  const nodes: (Launched & { url: string })[] = [];

  beforeAll(async () => {
    swarm = await startSwarm(3);
    for (let i = 0; i < 3; i++) nodes.push(await startNode(network, swarm.bootstrap));
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all((swarm?.nodes ?? []).map((n) => n.destroy()));
  });

  test('every node\'s /nodes lists all three, none told about another', async () => {
    const urls = nodes.map((n) => n.url).sort();
    await waitFor(async () => {
      const lists = await Promise.all(nodes.map(async (n) => (await fetch(`${n.url}/nodes?n=100`, { headers: { accept: "application/json" } })).json() as Promise<string[]>));
      return lists.every((l) => JSON.stringify([...l].sort()) === JSON.stringify(urls));
    }, { timeoutMs: 30_000, intervalMs: 250, message: 'each /nodes lists the three nodes' });
  });

  test('/dht-put through one node, /dht-get through another; a newer seq replaces; a bad signature is refused', async () => {
    const [a, b] = nodes as [Launched & { url: string }, Launched & { url: string }];
    const signer = createBep44Signer();
    const key = signer.key;
    const salt = 'profile';
    const item = (seq: number, text: string) => signer.item({ seq, v: text, salt });

    const put1 = await paid(`${a.url}/dht-put`, { method: 'POST', body: JSON.stringify(item(1, 'hello mesh')) });
    expect(put1.status).toBe(200);
    expect(await put1.json()).toMatchObject({ target: expect.stringMatching(/^[0-9a-f]{40}$/) });

    const get1 = await paid(`${b.url}/dht-get?key=${key}&salt=${salt}`, { method: 'GET' });
    expect(get1.status).toBe(200);
    const got1 = (await get1.json()) as { seq: number; v: string };
    expect(got1.seq).toBe(1);
    expect(Buffer.from(got1.v, 'base64').toString('utf8')).toBe('hello mesh');

    const put2 = await paid(`${b.url}/dht-put`, { method: 'POST', body: JSON.stringify(item(2, 'newer')) });
    expect(put2.status).toBe(200);
    // Read through the third node: no cache there can hold the old value.
    const get2 = await paid(`${nodes[2]!.url}/dht-get?key=${key}&salt=${salt}`, { method: 'GET' });
    expect(get2.status).toBe(200);
    const got2 = (await get2.json()) as { seq: number; v: string };
    expect(got2.seq).toBe(2);
    expect(Buffer.from(got2.v, 'base64').toString('utf8')).toBe('newer');

    const stale = await paid(`${a.url}/dht-put`, { method: 'POST', body: JSON.stringify(item(1, 'stale')) });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ error: 'seq_conflict' });

    const forged = { ...item(3, 'forged'), v: Buffer.from('tampered').toString('base64') };
    const bad = await paid(`${a.url}/dht-put`, { method: 'POST', body: JSON.stringify(forged) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'bad_signature' });
  });
});
