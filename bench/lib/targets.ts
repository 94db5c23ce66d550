/**
 * The signaling servers under comparison, each started fresh as real
 * processes on loopback:
 * - `mesh-cluster`: two rooms workers (services/rooms/dist/main.js) on a
 *   private nats-server and redis-server, so their CPU can be counted too;
 * - `mesh-embedded`: the whole node in one process (apps/embedded/dist/main.js),
 *   in-process bus and store;
 * - `y-webrtc`: y-webrtc's bundled bin/server.js (WebSocket topic pub/sub);
 * - `bt-tracker`: bittorrent-tracker's WebSocket tracker (bench/peers/tracker-server.js).
 * PoW is priced at 1 hash (POW_BASE_WORK=1, no load or room surcharge): the
 * comparison measures signaling, not PoW, which the peers do not have.
 */
import { join } from 'node:path';
import { startNatsServer, startRedisServer, type TestServer } from '@mesh/shared/testing';
import { PEERS_DIR, ROOT } from './paths.js';
import { startServerProcess, startedLine, type ServerProcess } from './spawn.js';

/**
 * How our clients post: `mesh` over the post channel without receipts (as the peers' publish),
 * `mesh-ack` over the channel with a receipt per post (as sigmesh), `mesh-post` one HTTP POST each.
 */
export type TargetKind = 'mesh' | 'mesh-ack' | 'mesh-post' | 'ywebrtc' | 'tracker';
type Posts = 'quiet' | 'ack' | 'post';
export type TargetName =
  | 'mesh-cluster' | 'mesh-embedded' | 'mesh-cluster-ack' | 'mesh-embedded-ack' | 'mesh-cluster-post' | 'mesh-embedded-post'
  | 'y-webrtc' | 'bt-tracker';
export const TARGET_NAMES: readonly TargetName[] = [
  'mesh-cluster', 'mesh-embedded', 'mesh-cluster-ack', 'mesh-embedded-ack', 'mesh-cluster-post', 'mesh-embedded-post',
  'y-webrtc', 'bt-tracker',
];
const KIND: Record<Posts, TargetKind> = { quiet: 'mesh', ack: 'mesh-ack', post: 'mesh-post' };
const SUFFIX: Record<Posts, string> = { quiet: '', ack: '-ack', post: '-post' };

export interface Target {
  name: TargetName;
  kind: TargetKind;
  /** Public ports; clients spread over them (two for the cluster). */
  ports: number[];
  /** The signaling server processes themselves (one per port). */
  serverPids: number[];
  /** Brokers the servers need (nats-server, redis-server); empty for the others. */
  brokerPids: number[];
  stop(): Promise<void>;
}

const NODE_SECRET = 'bench-secret-0123456789abcdef';

/** Environment shared by our entry points; loopback, flat price 1, caps above the bench's load. */
function meshEnv(extra: Record<string, string>): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    NODE_SECRET,
    POW_BASE_WORK: '1',
    POW_LOAD_FACTOR: '0',
    POW_ROOM_FREE: '1000000000',
    ROOM_MAX_PER_IP: '100000',
    // Every simulated client is 127.0.0.1: the per-address rate limit is off (0) for the bench.
    RATE_LIMIT_PER_SECOND: '0',
    ROOM_MAX_STREAMS: '100000',
    // The fan-out with 16 publishers x 4 in flight leaves up to 64 KB unread per subscriber by
    // construction, 1000 subscribers: the default 64 MiB worker budget would shed readers (as it
    // should); the bench measures delivery, so one process gets room for all of them.
    ROOM_MAX_BUFFERED_TOTAL_BYTES: String(256 * 1024 * 1024),
    LOG_LEVEL: 'info', // `started` is an info line; nothing is logged per request
    ...extra,
  };
}

export function meshProcess(
  entry: string, env: Record<string, string>, ready: (line: string) => { port: number; opsPort: number } | undefined = startedLine,
  nodeArgs: string[] = [],
): Promise<ServerProcess<{ port: number; opsPort: number }>> {
  return startServerProcess({ command: process.execPath, args: [...nodeArgs, join(ROOT, entry)], env: meshEnv(env), ready });
}

async function meshCluster(prefix: string, nodeArgs: string[], posts: Posts = 'quiet'): Promise<Target> {
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const nats: TestServer = await startNatsServer();
    started.push(nats);
    const redis: TestServer = await startRedisServer();
    started.push(redis);
    const env = { NATS_URL: nats.url, REDIS_URL: redis.url, BUS_PREFIX: prefix, STORE_PREFIX: `${prefix}:` };
    const a = await meshProcess('services/rooms/dist/main.js', env, startedLine, nodeArgs);
    started.push(a);
    const b = await meshProcess('services/rooms/dist/main.js', env, startedLine, nodeArgs);
    started.push(b);
    return {
      name: `mesh-cluster${SUFFIX[posts]}` as TargetName, kind: KIND[posts],
      ports: [a.info.port, b.info.port], serverPids: [a.pid, b.pid],
      brokerPids: [await pidOnPort(nats.port), await pidOnPort(redis.port)].filter((p) => p > 0),
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** The pid listening on a loopback TCP port, from /proc/net/tcp and the fds of our children. */
async function pidOnPort(port: number): Promise<number> {
  const { readFileSync, readdirSync, readlinkSync } = await import('node:fs');
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A' && f[9] !== undefined) inodes.add(f[9]);
    }
  }
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // not ours to read, or gone
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined && inodes.has(m[1])) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return 0;
}

async function meshEmbedded(dhtPort: number, nodeArgs: string[], posts: Posts = 'quiet'): Promise<Target> {
  const p = await meshProcess('apps/embedded/dist/main.js', {
    DHT_BOOTSTRAP: 'none', TURN_BACKEND: 'none', DHT_PORT: String(dhtPort), DHT_HOST: '127.0.0.1',
  }, startedLine, nodeArgs);
  return {
    name: `mesh-embedded${SUFFIX[posts]}` as TargetName, kind: KIND[posts],
    ports: [p.info.port], serverPids: [p.pid], brokerPids: [], stop: p.stop,
  };
}

async function yWebrtc(port: number): Promise<Target> {
  const p = await startServerProcess({
    command: process.execPath,
    args: [join(PEERS_DIR, 'node_modules', 'y-webrtc', 'bin', 'server.js')],
    env: { PORT: String(port) },
    ready: (line) => (line.startsWith('Signaling server running') ? true : undefined),
  });
  return { name: 'y-webrtc', kind: 'ywebrtc', ports: [port], serverPids: [p.pid], brokerPids: [], stop: p.stop };
}

async function btTracker(): Promise<Target> {
  const p = await startServerProcess({
    command: process.execPath,
    args: [join(PEERS_DIR, 'tracker-server.js'), '0'],
    env: {},
    cwd: PEERS_DIR,
    ready: (line) => {
      try {
        const j = JSON.parse(line) as { port?: unknown };
        return typeof j.port === 'number' ? j.port : undefined;
      } catch {
        return undefined;
      }
    },
  });
  return { name: 'bt-tracker', kind: 'tracker', ports: [p.info], serverPids: [p.pid], brokerPids: [], stop: p.stop };
}

export interface TargetOptions {
  prefix: string;
  /** A free TCP port for y-webrtc (its server takes the port from PORT only). */
  freeTcpPort(): Promise<number>;
  /** Extra node flags for our own server processes (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
}

export async function startTarget(name: TargetName, o: TargetOptions): Promise<Target> {
  switch (name) {
    case 'mesh-cluster': return meshCluster(o.prefix, o.nodeArgs ?? []);
    case 'mesh-embedded': return meshEmbedded(await o.freeTcpPort(), o.nodeArgs ?? []);
    case 'mesh-cluster-ack': return meshCluster(o.prefix, o.nodeArgs ?? [], 'ack');
    case 'mesh-embedded-ack': return meshEmbedded(await o.freeTcpPort(), o.nodeArgs ?? [], 'ack');
    case 'mesh-cluster-post': return meshCluster(o.prefix, o.nodeArgs ?? [], 'post');
    case 'mesh-embedded-post': return meshEmbedded(await o.freeTcpPort(), o.nodeArgs ?? [], 'post');
    case 'y-webrtc': return yWebrtc(await o.freeTcpPort());
    case 'bt-tracker': return btTracker();
  }
}
