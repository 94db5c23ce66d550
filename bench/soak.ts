/**
 * `make soak`: mixed load for a long while on the embedded node and on a
 * cluster (two rooms workers, api and turn over a private NATS and Redis),
 * both at once, printing every minute each server process's RSS and open
 * file descriptors. The goal (issue 13): RSS flat within 5 % after warm-up.
 *
 * The load, per target, paced (never flooding): streams opened and closed
 * (about 200 open, 20 replaced a second), 20 posts a second to 10 rooms, 5
 * resumes a second (a stream reopened with Last-Event-ID), 1 TURN credential
 * bought a second (the per-address cap refuses most: that path is load
 * too). Loopback only; bounded by `--minutes` (default 30); stops by itself.
 * Prices are flat (POW_BASE_WORK=1) and the per-address limits lifted: the
 * soak measures memory, not abuse resistance.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { solveProof } from '@mesh/shared';
import { startNatsServer, startRedisServer, type TestServer } from '@mesh/shared/testing';
import { rssBytes } from './lib/proc.js';
import { openStream } from './lib/sse.js';
import { round2, sleep } from './lib/stats.js';
import type { ServerProcess } from './lib/spawn.js';
import { meshProcess } from './lib/targets.js';

const MINUTES = Number(process.argv[process.argv.indexOf('--minutes') + 1]) || 30;
const WARMUP_MINUTES = Math.min(5, Math.max(1, Math.floor(MINUTES / 6)));
const ROOMS = Array.from({ length: 10 }, () => randomBytes(20).toString('hex'));
const OPEN_STREAMS = 200;

/** Lifted for the soak: every client is 127.0.0.1. */
const SOAK_ENV = {
  TURN_BACKEND: 'node-turn', DHT_BOOTSTRAP: 'none', DHT_HOST: '127.0.0.1', DHT_PORT: '0', TURN_LISTEN_HOST: '127.0.0.1',
  TURN_PORT: '0', RATE_LIMIT_PER_SECOND: '0',
};

interface SoakTarget {
  name: string;
  roomPorts: number[];
  apiPort: number;
  pids: { name: string; pid: number }[];
  stop(): Promise<void>;
}

async function embedded(): Promise<SoakTarget> {
  const p = await meshProcess('apps/embedded/dist/main.js', { ...SOAK_ENV, TURN_PORT: String(await freeUdpTcp()) });
  return { name: 'embedded', roomPorts: [p.info.port], apiPort: p.info.port, pids: [{ name: 'embedded', pid: p.pid }], stop: p.stop };
}

async function cluster(): Promise<SoakTarget> {
  const stops: (() => Promise<void>)[] = [];
  const nats: TestServer = await startNatsServer();
  stops.push(() => nats.stop());
  const redis: TestServer = await startRedisServer();
  stops.push(() => redis.stop());
  const env = { ...SOAK_ENV, NATS_URL: nats.url, REDIS_URL: redis.url, BUS_PREFIX: 'soak', STORE_PREFIX: 'soak:' };
  const procs: { name: string; p: ServerProcess<{ port: number; opsPort: number }> }[] = [];
  for (const [name, entry, extra] of [
    ['turn', 'services/turn/dist/main.js', { TURN_PORT: String(await freeUdpTcp()) }],
    ['rooms-a', 'services/rooms/dist/main.js', {}],
    ['rooms-b', 'services/rooms/dist/main.js', {}],
    ['api', 'services/api/dist/main.js', {}],
  ] as const) {
    // The turn service has no public port: its `started` line is enough.
    const p = name === 'turn'
      ? await meshProcess(entry, { ...env, ...extra }, (line) => (line.includes('"msg":"started"') ? { port: 0, opsPort: 0 } : undefined))
      : await meshProcess(entry, { ...env, ...extra });
    stops.push(p.stop);
    procs.push({ name, p });
  }
  const port = (n: string): number => procs.find((x) => x.name === n)?.p.info.port as number;
  return {
    name: 'cluster', roomPorts: [port('rooms-a'), port('rooms-b')], apiPort: port('api'),
    pids: procs.map((x) => ({ name: x.name, pid: x.p.pid })),
    stop: async () => { for (const s of stops.reverse()) await s(); },
  };
}

/** A port free for TCP and UDP (TURN listens on both). */
async function freeUdpTcp(): Promise<number> {
  const { freePort } = await import('@mesh/shared/testing');
  return freePort();
}

const openFds = (pid: number): number => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
};

async function paidPost(port: number, room: string, body: string): Promise<string | null> {
  const url = `http://127.0.0.1:${port}/room/${room}`;
  const quote = (await (await fetch(url, { headers: { accept: 'application/json' } })).json()) as { token: string; work: number };
  const { header } = solveProof({ token: quote.token, work: quote.work, method: 'POST', path: `/room/${room}`, body: Buffer.from(body) });
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain', 'x-pow': header } });
  if (res.status !== 202) return null;
  return ((await res.json()) as { id: string }).id;
}

async function buyToken(port: number): Promise<number> {
  const url = `http://127.0.0.1:${port}/token`;
  const quote = await fetch(url, { method: 'POST', headers: { accept: 'application/json' } });
  if (quote.status !== 402) return quote.status;
  const { token, work } = (await quote.json()) as { token: string; work: number };
  const { header } = solveProof({ token, work, method: 'POST', path: '/token', body: Buffer.alloc(0) });
  return (await fetch(url, { method: 'POST', headers: { 'x-pow': header, accept: 'application/json' } })).status;
}

/** One target's load until `untilMs`; counts what it did. */
async function drive(t: SoakTarget, untilMs: number, counts: Record<string, number>): Promise<void> {
  const streams: Socket[] = [];
  const lastIds = new Map<string, string>();
  // Each list cycled on its own, so that streams and posts spread over every worker and room.
  const cycle = <T>(xs: readonly T[]): (() => T) => {
    let j = 0;
    return () => xs[j++ % xs.length] as T;
  };
  const port = cycle(t.roomPorts);
  const room = cycle(ROOMS);
  const tick = async (): Promise<void> => {
    // Replace 20 streams (open new first, then close the oldest beyond the target count).
    for (let k = 0; k < 20; k++) {
      streams.push(await openStream(port(), `/room/${room()}`));
      counts['streamsOpened'] = (counts['streamsOpened'] ?? 0) + 1;
    }
    while (streams.length > OPEN_STREAMS) streams.shift()?.destroy();
    for (let k = 0; k < 20; k++) {
      const r = room();
      const id = await paidPost(port(), r, `soak ${k} ${'x'.repeat(200)}`);
      if (id !== null) lastIds.set(r, id);
      counts[id !== null ? 'posts' : 'postsRefused'] = (counts[id !== null ? 'posts' : 'postsRefused'] ?? 0) + 1;
    }
    for (let k = 0; k < 5; k++) {
      const r = room();
      const last = lastIds.get(r);
      const s = await openStream(port(), `/room/${r}${last ? `?lastEventId=${last}` : ''}`);
      s.destroy();
      counts['resumes'] = (counts['resumes'] ?? 0) + 1;
    }
    const status = await buyToken(t.apiPort);
    counts[`token${status}`] = (counts[`token${status}`] ?? 0) + 1;
  };
  while (Date.now() < untilMs) {
    const t0 = Date.now();
    try {
      await tick();
    } catch (err) {
      counts['errors'] = (counts['errors'] ?? 0) + 1;
      if ((counts['errors'] ?? 0) < 5) process.stderr.write(`soak ${t.name}: ${String(err)}\n`);
    }
    await sleep(Math.max(0, 1000 - (Date.now() - t0)));
  }
  for (const s of streams) s.destroy();
}

async function main(): Promise<void> {
  const targets = [await embedded(), await cluster()];
  const samples = new Map<string, { minute: number; rssMb: number; fds: number }[]>();
  const counts = new Map(targets.map((t) => [t.name, {} as Record<string, number>]));
  const untilMs = Date.now() + MINUTES * 60_000;
  try {
    const loads = targets.map((t) => drive(t, untilMs, counts.get(t.name) as Record<string, number>));
    for (let minute = 1; minute <= MINUTES; minute++) {
      await sleep(Math.max(0, untilMs - (MINUTES - minute) * 60_000 - Date.now()));
      for (const t of targets) {
        for (const { name, pid } of t.pids) {
          const key = `${t.name}/${name}`;
          const s = { minute, rssMb: round2(rssBytes(pid) / 2 ** 20), fds: openFds(pid) };
          samples.set(key, [...(samples.get(key) ?? []), s]);
          process.stdout.write(`soak minute ${minute} ${key}: rss ${s.rssMb} MB, open fds ${s.fds}\n`);
        }
      }
    }
    await Promise.all(loads);
  } finally {
    for (const t of targets) await t.stop();
  }
  const result: Record<string, unknown> = { bench: 'soak', minutes: MINUTES, warmupMinutes: WARMUP_MINUTES, counts: Object.fromEntries(counts) };
  for (const [key, xs] of samples) {
    const after = xs.filter((s) => s.minute > WARMUP_MINUTES).map((s) => s.rssMb);
    const lo = Math.min(...after);
    const hi = Math.max(...after);
    result[key] = { rssMbAfterWarmup: { min: lo, max: hi, spreadPercent: round2(((hi - lo) / lo) * 100) }, fdsLast: xs[xs.length - 1]?.fds };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
