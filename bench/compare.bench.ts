/**
 * Side-by-side signaling comparison, one run, one machine: our rooms (two
 * workers on NATS + Redis, and the embedded one-process node) against the
 * servers users pick today for the same job, y-webrtc's bundled signaling
 * server and bittorrent-tracker's WebSocket tracker.
 *
 * Every target gets the same load generator (bench/loadgen, a separate
 * process over IPC) and three workloads:
 * - idle: 10 000 subscribers, two per room; server RSS growth per connection;
 * - fan-out: N subscribers of one room, M publishers, 1 KB messages;
 * - pairs: many rooms of two, each member sending 1 KB to the other.
 * Figures: delivered messages/s, latency p50/p99/max (send to receive, one
 * clock), server CPU seconds per 1000 deliveries (from /proc; the cluster's
 * NATS and Redis are private to the bench and counted separately), and each
 * figure as a ratio to y-webrtc (and to the tracker where its workload fits).
 *
 * `--quick` shrinks every step (CI smoke). Prints tables and one JSON line.
 * Profiling: `--only=mesh-embedded,y-webrtc` picks targets, `--workloads=pairs`
 * picks workloads (idle, fanout, pairs), `--cpu-prof` writes a V8 CPU profile of
 * each of our server processes to bench/dist/results/prof-<target>-<time>/ and
 * prints where their time went (bench/lib/cpu-profile.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, uniquePrefix } from '@mesh/shared/testing';
import { summariseProfiles } from './lib/cpu-profile.js';
import { BENCH_DIST } from './lib/dist.js';
import { rssBytes, totalCpuSeconds } from './lib/proc.js';
import { ratio, round2, sleep } from './lib/stats.js';
import { TARGET_NAMES, startTarget, type Target, type TargetName } from './lib/targets.js';
import type { ChildMessage, IdleResult, Scenario, TrafficResult } from './loadgen/protocol.js';

const quick = process.argv.includes('--quick');
const cpuProf = process.argv.includes('--cpu-prof');
const listArg = (name: string): string[] | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3).split(',').filter((x) => x !== '');
const onlyTargets = listArg('only');
const workloads = new Set(listArg('workloads') ?? ['idle', 'fanout', 'pairs']);
const SIZE = quick
  ? { idle: 300, subscribers: 20, publishers: [2], fanWindow: 2, pairs: 20, pairWindow: 2, warmup: 0.1, seconds: 0.5 }
  : { idle: 10_000, subscribers: 1000, publishers: [1, 4, 16], fanWindow: 4, pairs: 1000, pairWindow: 2, warmup: 1, seconds: 8 };
const STEP_TIMEOUT_MS = 120_000;
/** Settling pauses around the idle memory reading (allocation after start-up, after the last connect). */
const SETTLE_MS = quick ? { start: 200, connected: 300 } : { start: 500, connected: 1000 };

interface TrafficRow extends TrafficResult {
  target: TargetName;
  workload: 'fanout' | 'pairs';
  /** Fan-out only: how many publishers send to the room. */
  publishers?: number;
  deliveredPerSecond: number;
  /** Signaling server processes only. */
  serverCpuPer1000: number;
  /** NATS + Redis (cluster only). */
  brokerCpuPer1000: number;
}

interface IdleRow extends IdleResult { target: TargetName; rssPerConnBytes: number }

/** One load generator process for one scenario; hooks run at its `measuring` and `result` events. */
async function drive(
  scenario: Scenario, hooks: { ready?: () => Promise<void> | void; measuring?: () => void; result?: () => void },
): Promise<ChildMessage & { ev: 'result' }> {
  const child: ChildProcess = fork(join(BENCH_DIST, 'loadgen', 'main.js'), [], { env: {}, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${scenario.type}: load generator step timed out`)), STEP_TIMEOUT_MS);
      child.once('exit', (code) => reject(new Error(`${scenario.type}: load generator exited (${code})`)));
      child.on('message', (raw: unknown) => {
        const m = raw as ChildMessage;
        if (m.ev === 'ready') {
          void Promise.resolve(hooks.ready?.()).then(() => child.send({ cmd: 'run' }));
        } else if (m.ev === 'measuring') hooks.measuring?.();
        else if (m.ev === 'result') {
          hooks.result?.();
          clearTimeout(timer);
          resolve(m);
        } else {
          clearTimeout(timer);
          reject(new Error(`${scenario.type}: ${m.message}`));
        }
      });
      child.send({ cmd: 'start', scenario });
    });
  } finally {
    if (child.connected) child.send({ cmd: 'close' });
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(force);
  }
}

async function idle(t: Target): Promise<IdleRow> {
  // One server process holds them all (the cluster's first worker), as with the single-process peers.
  const pid = t.serverPids[0] ?? 0;
  await sleep(SETTLE_MS.start); // start-up allocation settles before the baseline
  const rss0 = rssBytes(pid);
  let rss1 = NaN;
  const r = await drive({ type: 'idle', target: { kind: t.kind, ports: [t.ports[0] ?? 0] }, connections: SIZE.idle }, {
    ready: async () => {
      await sleep(SETTLE_MS.connected); // let the server finish allocating for the last connections
      rss1 = rssBytes(pid);
    },
  });
  const res = r.idle ?? { connections: 0, openSeconds: NaN };
  return { target: t.name, ...res, rssPerConnBytes: Math.round((rss1 - rss0) / SIZE.idle) };
}

async function traffic(t: Target, workload: 'fanout' | 'pairs', publishers = 0): Promise<TrafficRow> {
  const target = { kind: t.kind, ports: t.ports };
  const scenario: Scenario = workload === 'fanout'
    ? { type: 'fanout', target, subscribers: SIZE.subscribers, publishers, window: SIZE.fanWindow, warmupSeconds: SIZE.warmup, seconds: SIZE.seconds }
    : { type: 'pairs', target, pairs: SIZE.pairs, window: SIZE.pairWindow, warmupSeconds: SIZE.warmup, seconds: SIZE.seconds };
  let s0 = 0;
  let b0 = 0;
  let s1 = 0;
  let b1 = 0;
  const r = await drive(scenario, {
    measuring: () => { s0 = totalCpuSeconds(t.serverPids); b0 = totalCpuSeconds(t.brokerPids); },
    result: () => { s1 = totalCpuSeconds(t.serverPids); b1 = totalCpuSeconds(t.brokerPids); },
  });
  const tr = r.traffic;
  if (tr === undefined) throw new Error('no traffic result');
  const per1000 = (cpu: number): number => (tr.delivered > 0 ? Number(((cpu * 1000) / tr.delivered).toPrecision(3)) : NaN);
  return {
    target: t.name, workload, ...(workload === 'fanout' ? { publishers } : {}), ...tr,
    deliveredPerSecond: Math.round(tr.delivered / tr.seconds),
    serverCpuPer1000: per1000(s1 - s0),
    brokerCpuPer1000: t.brokerPids.length > 0 ? per1000(b1 - b0) : 0,
  };
}

/** The gist of a failure: its first `Error:` line, else its start. */
function gist(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return (/\w*Error[^\n]*/.exec(text)?.[0] ?? text).slice(0, 200);
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

function printTraffic(rows: TrafficRow[], workload: 'fanout' | 'pairs', peers: TargetName[], publishers?: number): void {
  const mine = (r: TrafficRow): boolean => r.workload === workload && r.publishers === publishers;
  const of = (name: TargetName): TrafficRow | undefined => rows.find((r) => r.target === name && mine(r));
  const head = workload === 'fanout'
    ? `fan-out: ${SIZE.subscribers} subscribers of one room, ${publishers} publishers x ${SIZE.fanWindow} in flight, ${SIZE.seconds} s`
    : `pairs: ${SIZE.pairs} rooms of 2, every member sends to the other, ${SIZE.pairWindow} in flight each, ${SIZE.seconds} s`;
  console.log(`\n${head} (1 KB messages)`);
  console.log(`${'target'.padEnd(14)}${pad('deliv/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}${pad('cpu s/1k', 10)}${pad('+broker', 9)}${pad('lost', 6)}${pad('err', 5)}  ratios (deliv/s, p50, p99, cpu) vs ${peers.join(', ')}`);
  for (const r of rows.filter(mine)) {
    const ratios = peers.map((p) => {
      const b = of(p);
      return `${p}: ${ratio(r.deliveredPerSecond, b?.deliveredPerSecond)} / ${ratio(r.p50ms, b?.p50ms)} / ${ratio(r.p99ms, b?.p99ms)} / ${ratio(r.serverCpuPer1000 + r.brokerCpuPer1000, b?.serverCpuPer1000)}`;
    }).join('; ');
    console.log(`${r.target.padEnd(14)}${pad(r.deliveredPerSecond, 9)}${pad(r.p50ms, 9)}${pad(r.p99ms, 9)}${pad(r.maxms, 9)}${pad(r.serverCpuPer1000, 10)}${pad(r.brokerCpuPer1000, 9)}${pad(r.lost, 6)}${pad(r.errors, 5)}  ${ratios}`);
  }
}

async function main(): Promise<void> {
  const prefix = uniquePrefix('cmpbench');
  const idleRows: IdleRow[] = [];
  const trafficRows: TrafficRow[] = [];
  const unavailable: Record<string, string> = {};
  for (const name of TARGET_NAMES.filter((n) => onlyTargets === undefined || onlyTargets.includes(n))) {
    let t: Target;
    const t0 = performance.now();
    const profDir = cpuProf && name.startsWith('mesh') ? join(BENCH_DIST, 'results', `prof-${name}-${Date.now()}`) : undefined;
    try {
      t = await startTarget(name, {
        prefix, freeTcpPort: freePort,
        nodeArgs: profDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      });
    } catch (e) {
      unavailable[name] = gist(e);
      console.error(`${name}: not started: ${unavailable[name]}`);
      continue;
    }
    try {
      // The -ack and -post twins differ in how clients post, not in idle streams or fan-out
      // (a fan-out's few publishers post a few messages each; delivery is what costs).
      const twin = t.kind === 'mesh-ack' || t.kind === 'mesh-post';
      if (workloads.has('idle') && !twin) idleRows.push(await idle(t));
      // The tracker has no broadcast.
      if (t.kind !== 'tracker' && !twin && workloads.has('fanout')) {
        for (const p of SIZE.publishers) trafficRows.push(await traffic(t, 'fanout', p));
      }
      if (workloads.has('pairs')) trafficRows.push(await traffic(t, 'pairs'));
    } catch (e) {
      unavailable[name] = gist(e);
      console.error(`${name}: ${unavailable[name]}`);
    } finally {
      await t.stop();
      console.error(`compare: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (profDir !== undefined) console.log(`\n${name} CPU profile (${profDir}):\n${summariseProfiles(profDir)}`);
    }
  }

  console.log(`signaling comparison${quick ? ' [quick]' : ''}: same load generator, same machine, same run; lower is better except deliv/s`);
  for (const p of SIZE.publishers) printTraffic(trafficRows, 'fanout', ['y-webrtc'], p);
  printTraffic(trafficRows, 'pairs', ['y-webrtc', 'bt-tracker']);
  console.log(`\nidle: ${SIZE.idle} connections, 2 per room, on one server process`);
  const idleOf = (n: TargetName): number | undefined => idleRows.find((r) => r.target === n)?.rssPerConnBytes;
  for (const r of idleRows) {
    console.log(`${r.target.padEnd(14)}${pad(r.rssPerConnBytes, 8)} B RSS/conn  opened in ${r.openSeconds} s  x y-webrtc ${ratio(r.rssPerConnBytes, idleOf('y-webrtc'))}  x bt-tracker ${ratio(r.rssPerConnBytes, idleOf('bt-tracker'))}`);
  }
  for (const [n, why] of Object.entries(unavailable)) console.log(`${n}: unavailable (${why})`);
  console.log(JSON.stringify({ bench: 'compare', quick, size: SIZE, traffic: trafficRows, idle: idleRows, unavailable }));
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
