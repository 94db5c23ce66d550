import { afterEach, expect, test } from '@jest/globals';
import { createMeshBed, exchange, usedNodes, type BedNode, type MeshBed } from '../support/bed/mesh-bed.js';

// `make bench-mesh` (not part of `make test`: it waits for expiry): on the
// many-host bed with production defaults, time to converge (median of 3
// runs), time for two sigmesh clients to exchange again after the nodes
// they used die, and time for the dead to leave every list (last run).

const RUNS = 3;
const MESH_NODES = 10;
const PLAIN_DHT_NODES = 30;

let bed: MeshBed | undefined;
afterEach(async () => {
  await bed?.destroy();
  bed = undefined;
}, 30_000);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

test('mesh on the bed: converge, route around the dead, expire', async () => {
  const converge: number[] = [];
  const reroute: number[] = [];
  let expire = 0;
  for (let run = 1; run <= RUNS; run++) {
    bed = await createMeshBed({
      meshNodes: MESH_NODES, plainDhtNodes: PLAIN_DHT_NODES,
      extraHosts: [{ name: 'ca', octets: [3] }, { name: 'cb', octets: [4] }],
    });
    const nodes: BedNode[] = [];
    for (let i = 0; i < MESH_NODES; i++) nodes.push(await bed.startNode(i));
    const lastStart = Date.now();
    await bed.waitListed(nodes, 300_000);
    converge.push(Date.now() - lastStart);

    const a = await bed.startClient('ca', (nodes[1] as BedNode).url, 'bench', `room-${run}`);
    const b = await bed.startClient('cb', (nodes[6] as BedNode).url, 'bench', `room-${run}`);
    await exchange(a, b, 'before', 30_000);
    const killed = await usedNodes(nodes, [a, b], [nodes[1] as BedNode, nodes[6] as BedNode], 3);
    await Promise.all(killed.map((n) => n.kill()));
    const killedAt = Date.now();
    await exchange(a, b, 'after', 60_000);
    reroute.push(Date.now() - killedAt);
    if (run === RUNS) {
      await bed.waitForgotten(nodes.filter((n) => !killed.includes(n)), killed, 600_000);
      expire = Date.now() - killedAt;
    }
    await bed.destroy();
    bed = undefined;
  }
  const result = {
    bench: 'mesh', nodes: MESH_NODES, plainDhtNodes: PLAIN_DHT_NODES, runs: RUNS,
    convergeMs: converge, convergeMedianMs: median(converge),
    rerouteMs: reroute, rerouteMedianMs: median(reroute),
    expireMs: expire,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  expect(converge).toHaveLength(RUNS);
}, 30 * 60_000);
