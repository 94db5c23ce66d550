/**
 * Rooms benchmark on the machine's NATS + Redis, with the real entry point:
 * two rooms workers run as child processes (services/rooms/dist/main.js,
 * built by `make bench`), this process is the clients.
 *
 * 1. Fan-out: 1, 100 and 1000 subscribers of one room, split over the two
 *    workers; posts alternate between the workers. Reports delivered
 *    messages/s, the post-to-receive latency seen by the clients (p50/p99),
 *    and the workers' own accept-to-write histogram
 *    (`mesh_room_fanout_seconds`, quantiles interpolated within buckets).
 * 2. Idle streams: opens 10 000 SSE streams on a fresh worker and reports
 *    its resident and heap memory per stream.
 *
 * `--quick` shrinks every step (CI smoke). Bounded: each wait has a deadline.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { solveProof } from '@mesh/shared';
import { MACHINE_NATS_URL, MACHINE_REDIS_URL, deleteRedisKeys, uniquePrefix } from '@mesh/shared/testing';
import { rssBytes } from './lib/proc.js';
import { startServerProcess, startedLine } from './lib/spawn.js';
import { openMany, openStream } from './lib/sse.js';
import { quantile, until } from './lib/stats.js';

const quick = process.argv.includes('--quick');
const SUBSCRIBERS = [1, 100, 1000];
const MESSAGES = quick ? 40 : 300;
const POST_CONCURRENCY = 8;
const IDLE_STREAMS = quick ? 1000 : 10_000;
const IDLE_ROOMS = 100;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = join(ROOT, 'services', 'rooms', 'dist', 'main.js');

const prefix = uniquePrefix('roomsbench');
const BASE_ENV: Record<string, string> = {
  HOST: '127.0.0.1',
  PORT: '0',
  METRICS_PORT: '0',
  NATS_URL: MACHINE_NATS_URL,
  REDIS_URL: MACHINE_REDIS_URL,
  BUS_PREFIX: prefix,
  STORE_PREFIX: `${prefix}:`,
  NODE_SECRET: 'bench-secret-0123456789abcdef',
  // Price 1 and flat: the bench measures fan-out, not PoW (pow.bench.ts does).
  POW_BASE_WORK: '1',
  POW_LOAD_FACTOR: '0',
  POW_ROOM_FREE: '1000000000',
  ROOM_MAX_PER_IP: '20000',
  // Every simulated client is 127.0.0.1: the per-address rate limit is off (0) for the bench.
  RATE_LIMIT_PER_SECOND: '0',
  ROOM_MAX_STREAMS: '20000',
  LOG_LEVEL: 'info',
};

interface Worker {
  pid: number;
  port: number;
  opsPort: number;
  stop(): Promise<void>;
}

/** Starts main.js and resolves with the ports from its `started` log line. */
async function startWorker(extraEnv: Record<string, string> = {}): Promise<Worker> {
  const p = await startServerProcess({
    command: process.execPath, args: [ENTRY], env: { ...BASE_ENV, ...extraEnv }, ready: startedLine,
  });
  return { pid: p.pid, port: p.info.port, opsPort: p.info.opsPort, stop: p.stop };
}

async function post(port: number, hash: string, token: string, body: string): Promise<void> {
  const bytes = Buffer.from(body);
  const { header } = solveProof({ token, work: 1, method: 'POST', path: `/room/${hash}`, body: bytes });
  const res = await fetch(`http://127.0.0.1:${port}/room/${hash}`, {
    method: 'POST', headers: { 'X-PoW': header, Accept: 'application/json' }, body: bytes,
  });
  if (res.status !== 202) throw new Error(`post refused: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

async function token(port: number, hash: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/room/${hash}`, { headers: { Accept: 'application/json' } });
  return ((await res.json()) as { token: string }).token;
}

/** `le` -> cumulative count of the fan-out histogram, from a worker's /metrics. */
async function fanoutBuckets(opsPort: number): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^mesh_room_fanout_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$/.exec(line);
    if (m?.[1] !== undefined) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  }
  return out;
}

async function metric(opsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? NaN : Number(m[1]);
}

/** Quantile from cumulative bucket deltas, linear within the bucket (as Prometheus' histogram_quantile). */
function bucketQuantile(deltas: [number, number][], q: number): number {
  const total = deltas[deltas.length - 1]?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of deltas) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

const wallMs = (): number => performance.timeOrigin + performance.now();

interface FanoutRow {
  subscribers: number;
  messages: number;
  deliveredPerSecond: number;
  clientP50ms: number;
  clientP99ms: number;
  serverP50ms: number;
  serverP99ms: number;
}

async function fanout(workers: Worker[], n: number): Promise<FanoutRow> {
  const hash = randomBytes(20).toString('hex');
  const latencies: number[] = [];
  let received = 0;
  let lastReceive = 0;
  // Posts are `<index> <sent at ms>`; other data lines (the price event) are not deliveries.
  const onData = (data: string): void => {
    const m = /^\d+ (\d+\.\d+)$/.exec(data);
    if (m?.[1] === undefined) return;
    const now = wallMs();
    latencies.push(now - Number(m[1]));
    received++;
    lastReceive = now;
  };
  const socks = await openMany(n, (i) => openStream(workers[i % workers.length]?.port ?? 0, `/room/${hash}`, onData));
  const before = await Promise.all(workers.map((w) => fanoutBuckets(w.opsPort)));
  const tok = await token(workers[0]?.port ?? 0, hash);

  const start = wallMs();
  let next = 0;
  const poster = async (): Promise<void> => {
    while (next < MESSAGES) {
      const i = next++;
      await post(workers[i % workers.length]?.port ?? 0, hash, tok, `${i} ${wallMs().toFixed(3)}`);
    }
  };
  await Promise.all(Array.from({ length: POST_CONCURRENCY }, poster));
  await until(() => received >= n * MESSAGES, 60_000, `${n * MESSAGES} deliveries (got ${received})`);
  const seconds = (lastReceive - start) / 1000;

  const after = await Promise.all(workers.map((w) => fanoutBuckets(w.opsPort)));
  const les = [...(after[0]?.keys() ?? [])].sort((x, y) => x - y);
  const deltas: [number, number][] = les.map((le) => [
    le, after.reduce((s, m, i) => s + (m.get(le) ?? 0) - (before[i]?.get(le) ?? 0), 0),
  ]);
  for (const s of socks) s.destroy();
  latencies.sort((x, y) => x - y);
  return {
    subscribers: n,
    messages: MESSAGES,
    deliveredPerSecond: Math.round(received / seconds),
    clientP50ms: round(quantile(latencies, 0.5)),
    clientP99ms: round(quantile(latencies, 0.99)),
    serverP50ms: round(bucketQuantile(deltas, 0.5) * 1000),
    serverP99ms: round(bucketQuantile(deltas, 0.99) * 1000),
  };
}

const round = (x: number): number => Math.round(x * 100) / 100;

async function idleMemory(): Promise<{ streams: number; rssPerStreamBytes: number; heapPerStreamBytes: number }> {
  const w = await startWorker();
  try {
    const rooms = Array.from({ length: IDLE_ROOMS }, (_, i) => (i.toString(16).padStart(4, '0') + 'ab'.repeat(18)).slice(0, 40));
    // Let start-up allocation settle before the baseline.
    await new Promise((r) => setTimeout(r, 500));
    const rss0 = rssBytes(w.pid);
    const heap0 = await metric(w.opsPort, 'nodejs_heap_size_used_bytes');
    const socks = await openMany(IDLE_STREAMS, (i) => openStream(w.port, `/room/${rooms[i % IDLE_ROOMS]}`));
    await until(async () => (await metric(w.opsPort, 'mesh_sse_streams_open')) === IDLE_STREAMS, 30_000, 'streams open');
    await new Promise((r) => setTimeout(r, 500));
    const rss1 = rssBytes(w.pid);
    const heap1 = await metric(w.opsPort, 'nodejs_heap_size_used_bytes');
    for (const s of socks) s.destroy();
    return {
      streams: IDLE_STREAMS,
      rssPerStreamBytes: Math.round((rss1 - rss0) / IDLE_STREAMS),
      heapPerStreamBytes: Math.round((heap1 - heap0) / IDLE_STREAMS),
    };
  } finally {
    await w.stop();
  }
}

async function main(): Promise<void> {
  const workers = [await startWorker(), await startWorker()];
  const rows: FanoutRow[] = [];
  try {
    for (const n of SUBSCRIBERS) rows.push(await fanout(workers, n));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  const idle = await idleMemory();
  await deleteRedisKeys(MACHINE_REDIS_URL, `${prefix}:`);

  console.log(`rooms fan-out over 2 workers (NATS + Redis), ${MESSAGES} posts per row${quick ? ' [quick]' : ''}`);
  console.log('subscribers  delivered/s  client p50/p99 ms  server accept->write p50/p99 ms');
  for (const r of rows) {
    console.log(`${String(r.subscribers).padStart(11)}  ${String(r.deliveredPerSecond).padStart(11)}  `
      + `${`${r.clientP50ms} / ${r.clientP99ms}`.padStart(17)}  ${`${r.serverP50ms} / ${r.serverP99ms}`.padStart(17)}`);
  }
  console.log(`idle SSE streams: ${idle.streams} on one worker: ${idle.rssPerStreamBytes} B RSS, ${idle.heapPerStreamBytes} B heap per stream`);
  console.log(JSON.stringify({ bench: 'rooms', quick, fanout: rows, idle }));
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
