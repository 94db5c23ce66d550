import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createMeshBed, exchange, usedNodes, type BedClient, type BedNode, type MeshBed } from '../support/bed/mesh-bed.js';

// Issue 16, must show: on the many-host bed, 10 mesh nodes among 30 plain
// DHT nodes, production defaults only (no interval or policy set away from
// its default), form one mesh and forget the dead.

const MESH_NODES = 10;
const PLAIN_DHT_NODES = 30;
/** The goals: listed by all within 60 s of the last start; dead nodes gone within 360 s. */
const CONVERGE_MS = 60_000;
const EXPIRE_MS = 360_000;

describe('the mesh on a bed of hosts, production defaults', () => {
  let bed: MeshBed;
  const nodes: BedNode[] = [];
  let killed: BedNode[] = [];
  let killedAt = 0;
  let clientA: BedClient;
  let clientB: BedClient;

  beforeAll(async () => {
    bed = await createMeshBed({
      meshNodes: MESH_NODES,
      plainDhtNodes: PLAIN_DHT_NODES,
      extraHosts: [{ name: 'ca', octets: [3] }, { name: 'cb', octets: [4] }],
    });
  }, 60_000);

  afterAll(async () => {
    await bed?.destroy();
  }, 30_000);

  test('every node lists all ten within 60 s of the last start', async () => {
    for (let i = 0; i < MESH_NODES; i++) nodes.push(await bed.startNode(i));
    const lastStart = Date.now();
    await bed.waitListed(nodes, CONVERGE_MS);
    process.stdout.write(`mesh bed: converged ${Date.now() - lastStart} ms after the last start\n`);
  }, 10 * 30_000 + CONVERGE_MS);

  test('two sigmesh clients seeded with different nodes meet in one room', async () => {
    clientA = await bed.startClient('ca', (nodes[1] as BedNode).url, 'bed-test', 'lobby');
    clientB = await bed.startClient('cb', (nodes[6] as BedNode).url, 'bed-test', 'lobby');
    await exchange(clientA, clientB, 'before', 20_000);
  }, 90_000);

  test('after three nodes they used are killed, the clients exchange messages again', async () => {
    killed = await usedNodes(nodes, [clientA, clientB], [nodes[1] as BedNode, nodes[6] as BedNode], 3);
    await Promise.all(killed.map((n) => n.kill()));
    killedAt = Date.now();
    await exchange(clientA, clientB, 'after', 30_000);
    process.stdout.write(`mesh bed: clients exchanged again ${Date.now() - killedAt} ms after the kill (goal: 10 s)\n`);
  }, 120_000);

  test('after three are killed, no survivor lists a dead one within 360 s', async () => {
    const survivors = nodes.filter((n) => !killed.includes(n));
    await bed.waitForgotten(survivors, killed, EXPIRE_MS - (Date.now() - killedAt));
    process.stdout.write(`mesh bed: dead nodes gone ${Date.now() - killedAt} ms after the kill\n`);
    // The survivors still list each other.
    await bed.waitListed(survivors, 10_000);
  }, EXPIRE_MS + 30_000);
});
