import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createDhtNode, type DhtNode } from '@mesh/dht';
import { createLogger } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import type { DemoPage } from './support/browser.js';
import { total, type MeshNodeProcess, type TurnBackendName } from './support/node.js';
import { e2eSession } from './support/session.js';

// Issue "libs/sigmesh", must show: the /demo page of nodes started as the README says
// (`node apps/embedded/dist/main.js`), in real headless Chromium: two pages chat over a
// data channel; the same forced through our TURN (coturn and node-turn); two nodes,
// each page seeded with a different one, still meet; a chosen node SIGKILLed
// mid-session and a new pair still connects. Needs `make build` (dist + browser bundle).

const session = e2eSession();

const roomName = (label: string): string => `${label}-${randomBytes(4).toString('hex')}`;

const open = (name: string, url: string): Promise<DemoPage> => session.open(name, url);

const node = (name: string, turnBackend: TurnBackendName, extra: { dhtBootstrap?: string[]; network?: string } = {}): Promise<MeshNodeProcess> =>
  session.node({ name, turnBackend, ...extra });

/** Both pages join `room`, see each other's data channel open, and chat both ways. */
async function meet(a: DemoPage, b: DemoPage, room: string, relay = false): Promise<{ idA: string; idB: string }> {
  await a.join(room, { relay });
  await b.join(room, { relay });
  const idA = await a.selfId();
  const idB = await b.selfId();
  expect(await a.waitConnected(1)).toEqual([idB]);
  expect(await b.waitConnected(1)).toEqual([idA]);
  await chat(a, b, `from ${a.name} ${randomBytes(3).toString('hex')}`);
  await chat(b, a, `from ${b.name} ${randomBytes(3).toString('hex')}`);
  return { idA, idB };
}

async function chat(from: DemoPage, to: DemoPage, text: string): Promise<void> {
  await from.chat(text);
  await to.waitReceived(text);
}

describe('one node', () => {
  let solo: MeshNodeProcess;
  beforeAll(async () => {
    solo = await node('solo', 'coturn');
  }, 40_000);

  test('two pages on /demo join a room, the data channel opens, messages go both ways', async () => {
    const a = await open('a', `${solo.url}/demo`);
    const b = await open('b', `${solo.url}/demo`);
    const { idB } = await meet(a, b, roomName('direct'));
    const chosen = await a.nodes();
    expect(chosen.map((n) => n.url)).toEqual([solo.url]);
    expect(chosen[0]!.difficulty).toBeGreaterThan(0);
    await waitFor(async () => (await a.kinds())[idB] === 'direct', { timeoutMs: 5000, message: 'the page shows the connection as direct' });
  }, 60_000);

  // The relayed candidates' ports are from the node's own relay range (the browser's
  // view); node-turn also counts the relayed bytes itself (Debian's coturn has no
  // Prometheus exporter to ask).
  test.each(['coturn', 'node-turn'] as const)('relay only: the bytes cross our TURN service (%s)', async (backend) => {
    const n = backend === 'coturn' ? solo : await node('relay-node-turn', 'node-turn');
    const a = await open(`ra-${backend}`, `${n.url}/demo`);
    const b = await open(`rb-${backend}`, `${n.url}/demo`);
    const bytesBefore = total(await n.metric('mesh_turn_relayed_bytes_total'));
    const { idB } = await meet(a, b, roomName('relay'), true);

    const pair = await a.selectedPair(idB);
    expect(pair).toMatchObject({ local: 'relay', remote: 'relay' });
    expect(pair!.bytesSent).toBeGreaterThan(0);
    // Both relayed addresses are allocations of this node's TURN service: ports from its own relay range.
    const [min, max] = n.relayPorts;
    for (const p of [pair!.localPort, pair!.remotePort]) {
      expect(p).toBeGreaterThanOrEqual(min);
      expect(p).toBeLessThanOrEqual(max);
    }
    await waitFor(async () => (await a.kinds())[idB] === 'relayed', { timeoutMs: 5000, message: 'the page shows the connection as relayed' });

    if (backend === 'node-turn') {
      // Relayed DTLS/SCTP, including the chat just exchanged.
      expect(total(await n.metric('mesh_turn_relayed_bytes_total')) - bytesBefore).toBeGreaterThan(1000);
    }
  }, 60_000);
});

describe('two nodes over a private DHT swarm', () => {
  let dht: DhtNode;
  let nodeA: MeshNodeProcess;
  let nodeB: MeshNodeProcess;

  beforeAll(async () => {
    const log = createLogger({ level: 'silent', service: 'e2e' });
    dht = createDhtNode({ bootstrap: [], log });
    const { port } = await dht.listen(0, '127.0.0.1');
    const network = `e2e-${randomBytes(4).toString('hex')}`;
    [nodeA, nodeB] = await Promise.all([
      node('A', 'coturn', { dhtBootstrap: [`127.0.0.1:${port}`], network }),
      node('B', 'node-turn', { dhtBootstrap: [`127.0.0.1:${port}`], network }),
    ]);
    const lists = async (n: MeshNodeProcess): Promise<string[]> =>
      (await fetch(`${n.url}/nodes?n=100`, { headers: { accept: 'application/json' } })).json() as Promise<string[]>;
    await waitFor(async () => (await lists(nodeA)).includes(nodeB.url) && (await lists(nodeB)).includes(nodeA.url),
      { timeoutMs: 30_000, intervalMs: 200, message: 'each node\'s /nodes lists the other' });
  }, 60_000);

  afterAll(async () => {
    await dht?.destroy();
  });

  test('pages seeded with different nodes meet on the node rendezvous hashing picks (k=1)', async () => {
    const a = await open('seedA', `${nodeA.url}/demo?k=1`);
    const b = await open('seedB', `${nodeB.url}/demo?k=1`);
    const room = roomName('rendezvous');
    await meet(a, b, room);
    const [onA, onB] = [await a.nodes(), await b.nodes()];
    expect(onA).toHaveLength(1);
    expect(onB.map((n) => n.url)).toEqual(onA.map((n) => n.url));
    // So one of the two pages uses a node it only learnt of from its seed's /nodes.
    expect(onA[0]!.url !== nodeA.url || onB[0]!.url !== nodeB.url).toBe(true);
  }, 60_000);

  test('a chosen node is SIGKILLed mid-session: the pair keeps chatting, a newcomer still meets them, a new pair still connects', async () => {
    const a = await open('killA', `${nodeA.url}/demo`);
    const b = await open('killB', `${nodeA.url}/demo`);
    const room = roomName('failover');
    const { idA, idB } = await meet(a, b, room);
    expect((await a.nodes()).map((n) => n.url).sort()).toEqual([nodeA.url, nodeB.url].sort());

    await nodeB.kill();
    // The room gives the dead node up and goes on over the one left.
    for (const p of [a, b]) {
      await waitFor(async () => (await p.nodes()).map((n) => n.url).join() === nodeA.url,
        { timeoutMs: 20_000, intervalMs: 100, message: `page ${p.name} drops the killed node` });
    }
    // The data channel is peer to peer: the node's death does not touch it.
    await chat(a, b, 'still here after the kill');
    // Signaling in the same room still works: a newcomer meets both through the surviving node.
    const e = await open('afterE', `${nodeA.url}/demo`);
    await e.join(room);
    expect((await e.waitConnected(2)).sort()).toEqual([idA, idB].sort());
    await chat(e, a, 'newcomer after the kill');

    const c = await open('afterC', `${nodeA.url}/demo`);
    const d = await open('afterD', `${nodeA.url}/demo`);
    await meet(c, d, roomName('after-kill'));
    expect((await c.nodes()).map((n) => n.url)).toEqual([nodeA.url]);
  }, 90_000);
});
