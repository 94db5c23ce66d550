/**
 * The compose topology of one mesh node as processes on this machine: a
 * private NATS and Redis on spare ports that require credentials, as compose
 * runs them (NATS user and password, Redis requirepass and noeviction), the built `api`, `dht`, `turn` and two `rooms`
 * entries (`services/<name>/dist/main.js`), and Caddy running
 * infra/caddy/Caddyfile with its addresses set by environment only, as
 * docker-compose.yml sets them (static rooms upstreams instead of DNS).
 *
 * Every process of one topology shares STORE_PREFIX and BUS_PREFIX, like the
 * containers of one compose project; the prefix is unique to the run.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { freePort, spawnChild, uniquePrefix, waitFor, type ChildHandle } from '@mesh/shared/testing';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CADDYFILE = join(REPO_ROOT, 'infra', 'caddy', 'Caddyfile');
const CADDY_BIN = '/usr/bin/caddy';
const TURNSERVER_BIN = '/usr/bin/turnserver';
const REDIS_BIN = '/usr/bin/redis-server';
const NATS_BIN = '/usr/sbin/nats-server';
const READY_TIMEOUT_MS = 20_000;

export type NodeServiceName = 'api' | 'rooms' | 'dht' | 'turn';

/** One node process: its child, public port (api, rooms) and ops port. */
export interface NodeProcess {
  readonly name: string;
  readonly service: NodeServiceName;
  readonly child: ChildHandle;
  readonly port: number;
  readonly opsPort: number;
}

export interface Topology {
  /** The proxy's origin, `http://127.0.0.1:<port>`: the node's PUBLIC_URL. */
  readonly proxyUrl: string;
  readonly api: NodeProcess;
  readonly dht: NodeProcess;
  readonly turn: NodeProcess;
  readonly rooms: readonly [NodeProcess, NodeProcess];
  readonly caddy: ChildHandle;
  /** The private NATS and Redis: their ports and the credentials the services were given. */
  readonly nats: { readonly port: number; readonly user: string; readonly password: string };
  readonly redis: { readonly port: number; readonly password: string };
  /** The shared STORE_PREFIX (with its trailing `:`). */
  readonly storePrefix: string;
  /** The output tail of every process, for a failure message. */
  diagnostics(): string;
  /** Stops every process (SIGTERM, then SIGKILL), deletes the run's Redis keys and Caddy's temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface TopologyOptions {
  /** Extra settings for every node process (e.g. ROOM_RETRY_MS). */
  env?: Record<string, string>;
}

function entry(service: NodeServiceName): string {
  const path = join(REPO_ROOT, 'services', service, 'dist', 'main.js');
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build first (npx tsc -b tsconfig.build.json; make test does)`);
  }
  return path;
}

async function isReady(opsPort: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${opsPort}/readyz`, { signal: AbortSignal.timeout(2000) });
  await res.body?.cancel();
  return res.status === 200;
}

/** Rejects with the process's output tail once it exits: a crashed start fails at once, not at a timeout. */
function exitedEarly(child: ChildHandle): Promise<never> {
  return child.exited.then((info) => {
    throw new Error(`${child.name} exited during start (${JSON.stringify(info)}):\n${child.output().slice(-2000)}`);
  });
}

/** Waits for `cond` while the child runs; the error carries the child's output. */
async function awaitChild(child: ChildHandle, cond: () => Promise<boolean>, what: string): Promise<void> {
  const early = exitedEarly(child);
  // The loser of the race must not become an unhandled rejection.
  early.catch(() => undefined);
  try {
    await Promise.race([waitFor(cond, { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, message: what }), early]);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(child.isRunning() ? `${reason}\n${child.output().slice(-2000)}` : reason, { cause: err });
  }
}

/** Waits for /readyz = 200. */
function awaitReady(p: NodeProcess): Promise<void> {
  return awaitChild(p.child, () => isReady(p.opsPort), `${p.name} /readyz on ${p.opsPort}`);
}

/** Caddy logs every request at info: keep its warnings and errors only. */
function tailOf(c: ChildHandle): string {
  const out = c.name === 'caddy' ? c.output().split('\n').filter((l) => !l.includes('"level":"info"')).join('\n') : c.output();
  return out.slice(-4000);
}

/** Resolves once something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const prefix = uniquePrefix('topology');
  const natsAuth = { port: await freePort(), user: `mesh-${randomBytes(4).toString('hex')}`, password: randomBytes(24).toString('hex') };
  const redisAuth = { port: await freePort(), password: randomBytes(24).toString('hex') };
  const storePrefix = `${prefix}:`;
  const proxyPort = await freePort();
  const proxyUrl = `http://127.0.0.1:${proxyPort}`;
  const caddyHome = await mkdtemp(join(tmpdir(), 'mesh-topology-caddy-'));
  const started: ChildHandle[] = [];
  /** The private NATS and Redis: stopped after the services that use them. */
  const backends: ChildHandle[] = [];
  const nodes: NodeProcess[] = [];

  // What docker-compose.yml's x-mesh-settings fixes, with loopback for the compose network.
  const common: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOST: '127.0.0.1',
    METRICS_HOST: '127.0.0.1',
    PUBLIC_URL: proxyUrl,
    NATS_URL: `nats://${natsAuth.user}:${natsAuth.password}@127.0.0.1:${natsAuth.port}`,
    REDIS_URL: `redis://default:${redisAuth.password}@127.0.0.1:${redisAuth.port}`,
    STORE_PREFIX: storePrefix,
    BUS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    // Posts solve in microseconds; the price rules stay as configured in production.
    POW_BASE_WORK: '16',
    // Only Caddy, on loopback, sits in front of api and rooms.
    TRUST_PROXY: '127.0.0.1/32',
    DHT_HOST: '127.0.0.1',
    DHT_BOOTSTRAP: 'none',
    MESH_ALLOW_INSECURE: 'true',
    TURN_LISTEN_HOST: '127.0.0.1',
    ...opts.env,
  };

  const launchNode = async (service: NodeServiceName, name: string, extra: Record<string, string> = {}): Promise<NodeProcess> => {
    const port = await freePort();
    const opsPort = await freePort();
    const child = spawnChild({
      name,
      command: process.execPath,
      args: [entry(service)],
      cwd: REPO_ROOT,
      env: { ...common, PORT: String(port), METRICS_PORT: String(opsPort), ...extra },
    });
    started.push(child);
    const p: NodeProcess = { name, service, child, port, opsPort };
    nodes.push(p);
    return p;
  };

  let caddy: ChildHandle | undefined;
  const stopAll = async (): Promise<void> => {
    // Proxy first, like compose's dependency order in reverse.
    await caddy?.stop();
    await Promise.all(started.map((c) => c.stop()));
    await Promise.all(backends.map((c) => c.stop()));
    await rm(caddyHome, { recursive: true, force: true });
  };
  const diagnostics = (): string => [...nodes.map((n) => n.child), ...(caddy ? [caddy] : [])]
    .map((c) => `--- ${c.name} (pid ${c.pid}, ${c.isRunning() ? 'running' : 'exited'}) ---\n${tailOf(c)}`)
    .join('\n');

  try {
    // Like compose: credentials required, and Redis refuses writes rather than evicting keys.
    const redisChild = spawnChild({
      name: 'redis', command: REDIS_BIN, cwd: caddyHome, env: { PATH: common['PATH'] ?? '' },
      args: ['--port', String(redisAuth.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--maxmemory', '256mb', '--maxmemory-policy', 'noeviction', '--requirepass', redisAuth.password],
    });
    backends.push(redisChild);
    const natsChild = spawnChild({
      name: 'nats', command: NATS_BIN, cwd: caddyHome, env: { PATH: common['PATH'] ?? '' },
      args: ['-a', '127.0.0.1', '-p', String(natsAuth.port), '--user', natsAuth.user, '--pass', natsAuth.password],
    });
    backends.push(natsChild);
    await awaitChild(redisChild, () => listening(redisAuth.port), `redis on ${redisAuth.port}`);
    await awaitChild(natsChild, () => listening(natsAuth.port), `nats on ${natsAuth.port}`);
    const turnPort = await freePort();
    const relayMin = await freePort();
    // compose order: dht, turn and the rooms workers need only NATS and Redis; api waits for dht.
    const dht = await launchNode('dht', 'dht', { DHT_PORT: String(await freePort()) });
    const turn = await launchNode('turn', 'turn', {
      TURN_PORT: String(turnPort),
      TURN_BACKEND: existsSync(TURNSERVER_BIN) ? 'coturn' : 'node-turn',
      TURN_RELAY_MIN_PORT: String(relayMin),
      TURN_RELAY_MAX_PORT: String(Math.min(relayMin + 15, 65535)),
      TURN_PROM_PORT: String(await freePort()),
    });
    const roomsA = await launchNode('rooms', 'rooms-1');
    const roomsB = await launchNode('rooms', 'rooms-2');
    await Promise.all([dht, turn, roomsA, roomsB].map(awaitReady));
    const api = await launchNode('api', 'api');
    await awaitReady(api);

    caddy = spawnChild({
      name: 'caddy',
      command: CADDY_BIN,
      args: ['run', '--config', CADDYFILE, '--adapter', 'caddyfile'],
      cwd: REPO_ROOT,
      env: {
        PATH: common['PATH'] ?? '',
        HOME: caddyHome,
        XDG_DATA_HOME: caddyHome,
        XDG_CONFIG_HOME: caddyHome,
        PROXY_SITE: proxyUrl,
        API_UPSTREAM: `127.0.0.1:${api.port}`,
        ROOMS_DISCOVERY: 'static',
        ROOMS_UPSTREAMS: `127.0.0.1:${roomsA.port} 127.0.0.1:${roomsB.port}`,
        // Other Caddys on this machine may hold the default admin port.
        CADDY_ADMIN: 'off',
      },
    });
    const proxy = caddy;
    await awaitChild(proxy, async () => {
      const res = await fetch(`${proxyUrl}/`, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      return res.status === 200;
    }, `caddy on ${proxyUrl}`);

    return {
      proxyUrl,
      api,
      dht,
      turn,
      rooms: [roomsA, roomsB],
      caddy: proxy,
      nats: natsAuth,
      redis: redisAuth,
      storePrefix,
      diagnostics,
      stop: (() => {
        let stopping: Promise<void> | undefined;
        return () => (stopping ??= stopAll());
      })(),
    };
  } catch (err) {
    const diag = diagnostics();
    await stopAll();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${diag}`, { cause: err });
  }
}
