import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Store } from './store/store.js';

/**
 * Load (PROTOCOL.md "Price"): each instance samples its own cpu and memory,
 * smooths them, adds what it holds of a capacity (TURN allocations), writes
 * the sample to the store with a TTL; the node load is the max over the
 * fresh samples of all instances.
 */

/** Raw utilisation of this process, each 0..1. */
export interface LoadSample {
  cpu: number;
  mem: number;
}

/** Source of raw samples; each call measures the time since the previous call. */
export interface LoadSampler {
  sample(): LoadSample;
  close(): void;
}

export interface CgroupLimits {
  /** Usable cores from the cpu quota, when one is set. */
  cpus?: number;
  /** Memory limit in bytes, when one is set. */
  memBytes?: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function positive(n: number): number | undefined {
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** This process's cgroup v2 path (`0::/path`), '' when unknown. */
function ownCgroupPath(): string {
  const text = readText('/proc/self/cgroup') ?? '';
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  const p = line?.slice(3) ?? '';
  return p === '/' ? '' : p;
}

/**
 * Limits of this process's cgroup: v2 `cpu.max` / `memory.max` (own cgroup
 * first, then the mount root as seen inside a container), else v1
 * `cpu.cfs_quota_us` / `memory.limit_in_bytes`. Missing or "max" means unset.
 */
export function readCgroupLimits(root = '/sys/fs/cgroup'): CgroupLimits {
  const own = ownCgroupPath();
  const dirs = own === '' ? [root] : [root + own, root];
  const limits: CgroupLimits = {};
  for (const dir of dirs) {
    const cpuMax = readText(`${dir}/cpu.max`);
    const memMax = readText(`${dir}/memory.max`);
    if (cpuMax === undefined && memMax === undefined) continue;
    const [quota, period] = (cpuMax ?? 'max').split(/\s+/);
    if (quota !== undefined && quota !== 'max') {
      const cpus = positive(Number(quota) / Number(period ?? '100000'));
      if (cpus !== undefined) limits.cpus = cpus;
    }
    if (memMax !== undefined && memMax !== 'max') {
      const mem = positive(Number(memMax));
      if (mem !== undefined) limits.memBytes = mem;
    }
    return limits;
  }
  const quota = Number(readText(`${root}/cpu/cpu.cfs_quota_us`) ?? '-1');
  const period = Number(readText(`${root}/cpu/cpu.cfs_period_us`) ?? '100000');
  const cpus = quota > 0 ? positive(quota / period) : undefined;
  if (cpus !== undefined) limits.cpus = cpus;
  const mem = positive(Number(readText(`${root}/memory/memory.limit_in_bytes`) ?? 'NaN'));
  if (mem !== undefined) limits.memBytes = mem;
  return limits;
}

export function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

export interface LoadSamplerOptions {
  /** cgroup filesystem mount; `/sys/fs/cgroup` by default. */
  cgroupRoot?: string;
  /** Event-loop p99 delay that counts as a fully busy cpu; 1000 ms by default. */
  loopBudgetMs?: number;
  /**
   * Event-loop p99 delay that is not load; 100 ms by default. On a host
   * shared with other busy processes, timers run tens of ms late while this
   * process is idle: that is the scheduler, not clients (measured here: an
   * idle node's p99 at 30-140 ms under a load average of 6 on 2 cores, which
   * priced it at 10-30x the base). A loop blocked longer hurts clients.
   */
  loopGraceMs?: number;
}

const LOOP_RESOLUTION_MS = 20;

/** Samples this process: cpu time over wall time and cores, rss over the memory limit, event-loop delay. */
export function createLoadSampler(opts: LoadSamplerOptions = {}): LoadSampler {
  const limits = readCgroupLimits(opts.cgroupRoot);
  const cores = Math.max(0.01, Math.min(limits.cpus ?? Infinity, availableParallelism()));
  // A cgroup v1 "unlimited" is a huge number: the machine's memory bounds it.
  const memLimit = Math.min(limits.memBytes ?? Infinity, totalmem());
  const budgetNs = (opts.loopBudgetMs ?? 1000) * 1e6;
  const graceNs = (opts.loopGraceMs ?? 100) * 1e6;
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  let lastCpu = process.cpuUsage();
  let lastWall = process.hrtime.bigint();

  return {
    sample() {
      const cpuNow = process.cpuUsage();
      const wallNow = process.hrtime.bigint();
      const usedMicros = cpuNow.user - lastCpu.user + (cpuNow.system - lastCpu.system);
      const wallMicros = Number(wallNow - lastWall) / 1000;
      lastCpu = cpuNow;
      lastWall = wallNow;
      const cpuTime = wallMicros > 0 ? usedMicros / (wallMicros * cores) : 0;
      // A blocked event loop is overload even when the cpu quota is not spent.
      // The histogram records whole sampling intervals (an idle loop reads the
      // resolution itself, ~20 ms): only the excess is delay.
      const loopDelay = loop.count > 0
        ? Math.max(0, loop.percentile(99) - LOOP_RESOLUTION_MS * 1e6 - graceNs) / budgetNs
        : 0;
      loop.reset();
      return {
        cpu: clamp01(Math.max(cpuTime, loopDelay)),
        mem: clamp01(process.memoryUsage.rss() / memLimit),
      };
    },
    close() {
      loop.disable();
    },
  };
}

export interface SmoothingOptions {
  /** Weight of a rising sample; 0.5 by default. */
  alphaUp?: number;
  /** Weight of a falling sample; 0.1 by default (prices relax slowly). */
  alphaDown?: number;
}

/** Exponential average, quicker up than down; result clamped to 0..1. */
export function smoothLoad(prev: number, next: number, opts: SmoothingOptions = {}): number {
  const a = next > prev ? (opts.alphaUp ?? 0.5) : (opts.alphaDown ?? 0.1);
  return clamp01(prev + a * (clamp01(next) - prev));
}

export interface LoadMonitorDeps {
  store: Store;
  /** Unique per instance: `[A-Za-z0-9_.-]`, 1..64 chars. */
  instanceId: string;
  intervalMs: number;
  log: Logger;
  metrics?: Metrics;
  sampler?: LoadSampler;
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number;
  smoothing?: SmoothingOptions;
  /**
   * A share of a capacity this instance holds, 0..1 (the turn service: live
   * allocations / TURN_TOTAL_QUOTA). Load like cpu and mem, but an exact
   * count rather than a noisy measurement: taken as is, not smoothed.
   */
  occupancy?: () => number;
  /**
   * A cpu or mem share up to this is an idle process's own noise (timers,
   * GC, a busy machine delaying the event loop) and reads 0; above it the
   * share is rescaled to 0..1. 0 by default; the runtime passes
   * LOAD_NOISE_FLOOR (0.02): with POW_LOAD_FACTOR 255, 1 % of noise alone
   * would price an idle node at 3.5x the base.
   */
  noiseFloor?: number;
}

/** `x` above `floor`, rescaled so that 1 stays 1. */
export function aboveFloor(x: number, floor: number): number {
  const f = Math.min(0.99, Math.max(0, floor));
  return clamp01((clamp01(x) - f) / (1 - f));
}

export interface LoadMonitor {
  start(): void;
  stop(): void;
  /** Node load: max over the fresh samples of all instances (this one's alone while the store is down). */
  nodeLoad(): number;
  /** This instance's load: max(smoothed cpu, smoothed mem, occupancy). */
  localLoad(): number;
  /** One sampling round (what the timer runs); exposed for tests and for a first sample at start. */
  tick(): Promise<void>;
}

export const LOAD_KEY_PREFIX = 'load:';
export const LOADS_SET = 'loads';
const INSTANCE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Bound on instances read per round. */
const MAX_INSTANCES = 1000;

interface StoredSample {
  load: number;
  atMs: number;
}

function parseStored(text: string | null): StoredSample | undefined {
  if (text === null || text.length > 256) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const { load, atMs } = v as Record<string, unknown>;
    if (typeof load !== 'number' || typeof atMs !== 'number') return undefined;
    return { load: clamp01(load), atMs };
  } catch {
    return undefined;
  }
}

export function createLoadMonitor(deps: LoadMonitorDeps): LoadMonitor {
  if (!INSTANCE_ID.test(deps.instanceId)) throw new RangeError(`bad instanceId "${deps.instanceId}"`);
  if (!(deps.intervalMs > 0)) throw new RangeError('intervalMs must be > 0');
  const now = deps.now ?? Date.now;
  const ownSampler = deps.sampler === undefined;
  const sampler = deps.sampler ?? createLoadSampler();
  const floor = deps.noiseFloor ?? 0;
  const staleMs = 3 * deps.intervalMs;
  const ttlSeconds = Math.max(1, Math.ceil(staleMs / 1000));
  const key = LOAD_KEY_PREFIX + deps.instanceId;
  const log = deps.log.child({ component: 'load', instanceId: deps.instanceId });
  const gNode = deps.metrics?.gauge('load', 'Node load (max over fresh instance samples), 0..1');
  const gLocal = deps.metrics?.gauge('load_local', "This instance's smoothed load, 0..1", ['kind'] as const);

  let cpu = 0;
  let mem = 0;
  let node = 0;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let storeDown = false;

  const occupancy = (): number => clamp01(deps.occupancy?.() ?? 0);
  const local = (): number => Math.max(cpu, mem, occupancy());

  async function share(atMs: number): Promise<number> {
    const mine = local();
    await deps.store.set(key, JSON.stringify({ load: mine, cpu, mem, occupancy: occupancy(), atMs }), { ttlSeconds });
    await deps.store.touch(LOADS_SET, deps.instanceId, atMs);
    // Keeps the set bounded: instances that stopped sampling drop out.
    await deps.store.forgetBefore(LOADS_SET, atMs - staleMs);
    const members = await deps.store.seenSince(LOADS_SET, atMs - staleMs, MAX_INSTANCES);
    const values = await deps.store.getMany(members.map((m) => LOAD_KEY_PREFIX + m.member));
    let max = mine;
    for (const text of values) {
      const s = parseStored(text);
      if (s !== undefined && s.atMs >= atMs - staleMs && s.atMs <= atMs + staleMs) max = Math.max(max, s.load);
    }
    return max;
  }

  /** One round; `measure: false` shares and reads without sampling (the round at start). */
  async function round(measure: boolean): Promise<void> {
    if (running) return; // a slow store must not pile up rounds
    running = true;
    try {
      if (measure) {
        const raw = sampler.sample();
        cpu = smoothLoad(cpu, aboveFloor(raw.cpu, floor), deps.smoothing);
        mem = smoothLoad(mem, aboveFloor(raw.mem, floor), deps.smoothing);
      }
      try {
        node = await share(now());
        if (storeDown) log.info('store reachable again: node load shared');
        storeDown = false;
      } catch (err) {
        node = local();
        if (!storeDown) log.warn({ err }, 'store unreachable: node load falls back to this instance');
        storeDown = true;
      }
      gLocal?.set({ kind: 'cpu' }, cpu);
      gLocal?.set({ kind: 'mem' }, mem);
      gLocal?.set({ kind: 'max' }, local());
      gNode?.set(node);
    } finally {
      running = false;
    }
  }

  const tick = (): Promise<void> => round(true);

  return {
    start() {
      if (timer !== undefined) return;
      // The first interval starts now. Before, the first round measured from
      // the sampler's creation: a few ms of start-up at full cpu read as a
      // load of ~1/cores, which priced a fresh node at ~50x the base and took
      // 30 s to decay. The round at start still shares and reads the other
      // instances' loads, so a fresh instance quotes the node's load at once.
      sampler.sample();
      timer = setInterval(() => void tick(), deps.intervalMs);
      timer.unref();
      void round(false);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (ownSampler) sampler.close();
    },
    nodeLoad: () => node,
    localLoad: local,
    tick,
  };
}
