import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBed, PATH_ENV, waitFor, type Bed, type ChildHandle, type HostSpec } from '@mesh/shared/testing';
import {
  bedScript, REPO_ROOT, startAgent, unixRequest, waitForLine, type AgentFetch,
} from './agent.js';

export type { AgentAnswer } from './agent.js';

/**
 * The many-host bed of the mesh tests: mesh nodes started as the README
 * says (`node apps/embedded/dist/main.js`), one per host, on production
 * defaults (PORT 8080, DHT_PORT 6881, default intervals and policies);
 * a host of plain bittorrent-dht nodes, so that, as on the public DHT, most
 * nodes near the infohash are not mesh nodes; and an observer host whose
 * agent fetches for the test.
 *
 * A node's only settings are what an operator must give on any host: its
 * public URL, where to bootstrap the DHT, and `MESH_ALLOW_INSECURE` because
 * the bed has no TLS.
 */

const ENTRY = 'apps/embedded/dist/main.js';
export const NODE_PORT = 8080;

export interface BedNode {
  name: string;
  ip: string;
  url: string;
  child: ChildHandle;
  /** SIGKILL, no goodbye: what a crashed machine looks like to the mesh. */
  kill(): Promise<void>;
}


export interface MeshBedOptions {
  meshNodes: number;
  plainDhtNodes: number;
  /** Extra empty hosts (for clients): name -> last octet. */
  extraHosts?: HostSpec[];
}

export interface MeshBed {
  bed: Bed;
  nodes: BedNode[];
  /** `ip:6881` of the plain DHT nodes. */
  plainDht: string[];
  /** Fetches from the observer host. */
  fetch: AgentFetch;
  /** The node list a node answers, or null when it does not answer. */
  nodesOf(node: BedNode): Promise<string[] | null>;
  startNode(index: number): Promise<BedNode>;
  /** Resolves once every one of `nodes` lists exactly `nodes`; rejects with the last lists after `timeoutMs`. */
  waitListed(nodes: BedNode[], timeoutMs: number): Promise<void>;
  /** Resolves once no one of `survivors` lists a node of `dead` (and each answers). */
  waitForgotten(survivors: BedNode[], dead: BedNode[], timeoutMs: number): Promise<void>;
  /** A sigmesh client (rooms only) on `host`, seeded with `seed`, joined to `room`. */
  startClient(host: string, seed: string, appId: string, room: string): Promise<BedClient>;
  destroy(): Promise<void>;
}

export interface BedClient {
  child: ChildHandle;
  send(data: unknown): Promise<{ ok: true; error?: undefined } | { error: string }>;
  state(): Promise<{ received: unknown[]; nodes: { url: string; connected: boolean }[]; peers: string[] }>;
}

const MESH_OCTET = 10;
const DHT_OCTET = 100;

export async function createMeshBed(opts: MeshBedOptions): Promise<MeshBed> {
  const specs: HostSpec[] = [
    { name: 'obs', octets: [2] },
    { name: 'dht', octets: Array.from({ length: opts.plainDhtNodes }, (_, i) => DHT_OCTET + 1 + i) },
    ...Array.from({ length: opts.meshNodes }, (_, i) => ({ name: `n${i}`, octets: [MESH_OCTET + i] })),
    ...(opts.extraHosts ?? []),
  ];
  const bed = createBed(specs);
  const dir = mkdtempSync(join(tmpdir(), 'meshbed-'));
  const nodes: BedNode[] = [];
  let agentFetch: AgentFetch;
  try {
    agentFetch = await startAgent(bed, 'obs', dir);
    const dhtHost = bed.host('dht');
    const plain = bed.spawn('dht', {
      name: 'plain-dht', command: process.execPath, args: [bedScript('plain-dht.mjs'), ...dhtHost.ips], env: { PATH: PATH_ENV }, cwd: REPO_ROOT,
    });
    await waitForLine(plain, 'ready', 20_000);
  } catch (err) {
    await bed.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const plainDht = bed.host('dht').ips.map((a) => `${a}:6881`);

  const nodesOf = async (node: BedNode): Promise<string[] | null> => {
    const r = await agentFetch(`${node.url}/nodes?n=100`);
    if (r.error !== undefined || r.status !== 200 || !Array.isArray(r.body)) return null;
    return (r.body as unknown[]).filter((u): u is string => typeof u === 'string');
  };

  const startNode = async (index: number): Promise<BedNode> => {
    const host = bed.host(`n${index}`);
    const url = `http://${host.ip}:${NODE_PORT}`;
    // Two plain DHT nodes to bootstrap from, different ones per node.
    const boot = [plainDht[index % plainDht.length], plainDht[(index + 7) % plainDht.length]] as string[];
    const child = bed.spawn(host.name, {
      name: `node-${index}`,
      command: process.execPath,
      args: [ENTRY],
      cwd: REPO_ROOT,
      env: { PATH: PATH_ENV, PUBLIC_URL: url, DHT_BOOTSTRAP: boot.join(','), MESH_ALLOW_INSECURE: 'true' },
    });
    const node: BedNode = {
      name: `n${index}`, ip: host.ip, url, child,
      async kill() {
        child.signal('SIGKILL');
        await child.exited;
      },
    };
    try {
      await waitFor(async () => {
        if (!child.isRunning()) throw new Error('exited');
        const r = await agentFetch(`${url}/`, { timeoutMs: 1000 });
        return r.error === undefined && r.status === 200;
      }, { timeoutMs: 30_000, intervalMs: 100, message: `node ${index} answers at ${url}` });
    } catch (err) {
      throw new Error(`node ${index} did not start; its output:\n${child.output().slice(-4000)}`, { cause: err });
    }
    nodes[index] = node;
    return node;
  };

  return {
    bed,
    nodes,
    plainDht,
    fetch: agentFetch,
    nodesOf,
    startNode,
    async waitListed(of, timeoutMs) {
      const all = JSON.stringify(of.map((n) => n.url).sort());
      let last: (string[] | null)[] = [];
      try {
        await waitFor(async () => {
          last = await Promise.all(of.map((n) => nodesOf(n)));
          return last.every((l) => l !== null && JSON.stringify([...l].sort()) === all);
        }, { timeoutMs, intervalMs: 500, message: 'every /nodes lists every node' });
      } catch (err) {
        throw new Error(`lists: ${JSON.stringify(last)}\n${of[0]?.name} output:\n${of[0]?.child.output().slice(-3000)}`, { cause: err });
      }
    },
    async waitForgotten(survivors, dead, timeoutMs) {
      const gone = new Set(dead.map((n) => n.url));
      let last: (string[] | null)[] = [];
      try {
        await waitFor(async () => {
          last = await Promise.all(survivors.map((n) => nodesOf(n)));
          return last.every((l) => l !== null && l.every((u) => !gone.has(u)));
        }, { timeoutMs, intervalMs: 2000, message: 'no survivor lists a dead node' });
      } catch (err) {
        const silent = survivors.filter((_, i) => last[i] === null)
          .map((n) => `${n.name} (running: ${n.child.isRunning()}):\n${n.child.output().slice(-2000)}`);
        throw new Error(`lists: ${JSON.stringify(last)}\nsurvivors not answering: ${silent.join('\n') || 'none'}`, { cause: err });
      }
    },
    async startClient(host, seed, appId, room) {
      const sock = join(dir, `client-${host}.sock`);
      const child = bed.spawn(host, {
        name: `client-${host}`, command: process.execPath, args: [bedScript('sigmesh-client.mjs'), sock, seed, appId, room],
        env: { PATH: PATH_ENV }, cwd: REPO_ROOT,
      });
      await waitForLine(child, 'ready', 30_000);
      return {
        child,
        send: (data) => unixRequest(sock, 'POST', '/send', JSON.stringify({ data })),
        state: () => unixRequest(sock, 'GET', '/state'),
      };
    },
    async destroy() {
      await bed.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Posts until a node takes it (bounded: a send that finds no node is tried again, at most `tries` times). */
async function sendUntilPosted(c: BedClient, data: string, tries = 20): Promise<void> {
  const errors: string[] = [];
  for (let i = 0; i < tries; i++) {
    const r = await c.send(data);
    if (r.error === undefined) return;
    errors.push(r.error);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`could not post ${data}: ${errors.join('; ')}`);
}

/** A message each way between two clients of one room, each awaited at the other end. */
export async function exchange(a: BedClient, b: BedClient, tag: string, timeoutMs: number): Promise<void> {
  for (const [from, to, text] of [[a, b, `${tag}: a to b`], [b, a, `${tag}: b to a`]] as const) {
    await sendUntilPosted(from, text);
    await waitFor(async () => (await to.state()).received.includes(text), { timeoutMs, intervalMs: 100, message: `${text} delivered` });
  }
}

/** Up to three nodes the clients use (their room nodes, then their seeds), topped up with others. */
export async function usedNodes(nodes: BedNode[], clients: BedClient[], seeds: BedNode[], count: number): Promise<BedNode[]> {
  const used = new Set<string>();
  for (const c of clients) for (const n of (await c.state()).nodes) used.add(n.url);
  for (const s of seeds) used.add(s.url);
  const out = nodes.filter((n) => used.has(n.url)).slice(0, count);
  for (const n of nodes) if (out.length < count && !out.includes(n)) out.push(n);
  return out;
}
