import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, spawnChild, waitFor, type ChildHandle } from '@mesh/shared/testing';

/**
 * A whole node started as the README says (`make run` = `node apps/embedded/dist/main.js`),
 * as a child process on loopback ports, so a test can SIGKILL it.
 */

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = 'apps/embedded/dist/main.js';

export type TurnBackendName = 'coturn' | 'node-turn';

export interface NodeOptions {
  name: string;
  turnBackend: TurnBackendName;
  /** host:port of a loopback DHT node; none: no DHT neighbours. */
  dhtBootstrap?: string[];
  /** Shared by the nodes of one test mesh. */
  network?: string;
  /** Settings over the defaults below (e.g. a production POW_BASE_WORK). */
  env?: Record<string, string>;
}

export interface MeshNodeProcess {
  name: string;
  url: string;
  metricsUrl: string;
  /** TURN_RELAY_MIN_PORT..MAX_PORT of this node: a relayed candidate of ours has its port in here. */
  relayPorts: [number, number];
  child: ChildHandle;
  /** SIGKILL, no goodbye: what a crashed machine looks like to the mesh. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** `name value` of every sample of a metric at /metrics (labels kept in the name). */
  metric(name: string): Promise<Map<string, number>>;
}

/** A small relay port range somewhere in 20000-59999, a different one per node. */
function relayRange(): [number, number] {
  const min = 20000 + randomInt(0, 800) * 50;
  return [min, min + 49];
}

/**
 * Starts the node; a start that lost one of its free ports to a concurrent
 * test (EADDRINUSE: freePort only finds a port free at that moment) is
 * retried on fresh ports, twice at most.
 */
export async function startMeshNode(opts: NodeOptions): Promise<MeshNodeProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortTakenError)) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startOnce(opts: NodeOptions): Promise<MeshNodeProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const [relayMin, relayMax] = relayRange();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    // coturn (turnserver, stdbuf) is found on PATH; nothing else of the runner's environment leaks in.
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: url,
    METRICS_PORT: String(metricsPort),
    METRICS_HOST: '127.0.0.1',
    DHT_PORT: String(await freePort()),
    DHT_HOST: '127.0.0.1',
    DHT_BOOTSTRAP: opts.dhtBootstrap?.length ? opts.dhtBootstrap.join(',') : 'none',
    MESH_ALLOW_INSECURE: 'true',
    // Every node is on loopback, which only the allow list lets a node probe.
    MESH_ALLOWED_PEERS: '127.0.0.0/8',
    TURN_PORT: String(await freePort()),
    TURN_PROM_PORT: String(await freePort()),
    TURN_BACKEND: opts.turnBackend,
    TURN_LISTEN_HOST: '127.0.0.1',
    // Browsers' relayed candidates are on loopback: without this our TURN refuses them as peers.
    TURN_ALLOWED_PEERS: '127.0.0.0/8',
    TURN_RELAY_MIN_PORT: String(relayMin),
    TURN_RELAY_MAX_PORT: String(relayMax),
    POW_BASE_WORK: '256',
    LOG_LEVEL: 'warn',
    ...(opts.network ? { MESH_NETWORK: opts.network } : {}),
    ...opts.env,
  };
  const child = spawnChild({ name: opts.name, command: process.execPath, args: [ENTRY], cwd: REPO_ROOT, env });
  const node: MeshNodeProcess = {
    name: opts.name,
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    relayPorts: [relayMin, relayMax],
    child,
    async kill() {
      child.signal('SIGKILL');
      await child.exited;
    },
    async stop() {
      await child.stop(3000);
    },
    async metric(name) {
      const text = await (await fetch(`${node.metricsUrl}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line.startsWith('#')) continue;
        const sp = line.lastIndexOf(' ');
        const key = line.slice(0, sp);
        if (key === name || key.startsWith(`${name}{`)) out.set(key, Number(line.slice(sp + 1)));
      }
      return out;
    },
  };
  try {
    await waitFor(async () => {
      if (!child.isRunning()) return true; // judged below, without waiting out the timeout
      const res = await fetch(`${node.metricsUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      return res.status === 200;
    }, { timeoutMs: 30_000, intervalMs: 100, message: `${opts.name} ready at ${node.metricsUrl}/readyz` });
    if (!child.isRunning()) throw new Error('exited early');
  } catch (err) {
    await child.stop(1000);
    const output = child.output();
    const Failure = output.includes('EADDRINUSE') ? PortTakenError : Error;
    throw new Failure(`${opts.name} did not become ready; its output:\n${output.slice(-4000)}`, { cause: err });
  }
  return node;
}

/** Sum of every sample of a metric. */
export function total(samples: Map<string, number>): number {
  let n = 0;
  for (const v of samples.values()) n += v;
  return n;
}
