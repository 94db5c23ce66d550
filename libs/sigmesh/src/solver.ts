/**
 * Proof-of-work solver API. The search runs in worker threads (Web Workers in
 * browsers, worker_threads in Node); only when no worker can start does it run on the
 * calling thread, in batches that yield (see getPool). A solver keeps a
 * small pool of workers alive between solves; jobs run one at a time, each split
 * over every worker of the pool.
 */
import { MAX_SALT_LEN, NONCE_ALPHABET, powHeader, powPrefix, workString, type PowChallenge } from './pow.js';
import { createJobRunner } from './solver-job.js';
import type { FromWorker, ToWorker } from './solver-protocol.js';

/** A computed specifier: bundlers for browsers leave it alone (it is imported only in Node). */
const NODE_WORKER_THREADS = 'node:worker_threads';

export interface SolveProgress {
  /** Hashes tried so far over all workers. */
  tried: number;
  /** Expected hashes for this work (the mean). */
  work: number;
}

export interface SolveOptions {
  signal?: AbortSignal;
  onProgress?: (p: SolveProgress) => void;
}

export interface SolverOptions {
  /** Worker count; default: hardware threads - 1, between 1 and 4 (2 where unknown). */
  workers?: number;
  /** URL of the built solver-worker.js; default: next to this module. */
  workerUrl?: string | URL;
  /** Attempts per batch between progress reports and cancellation checks; default 32768. */
  batch?: number;
  /** Search on the calling thread, never in workers (what happens anyway when no worker starts). */
  sameThread?: boolean;
}

/** Where solves run: `idle` until the first solve (or after `close`). */
export type SolverMode = 'idle' | 'workers' | 'same-thread';

export interface Solver {
  /** Resolves to the `X-PoW` header value `<token>:<work>:<nonce>`. */
  solve(challenge: PowChallenge, opts?: SolveOptions): Promise<string>;
  /** Where solves run now. */
  mode(): SolverMode;
  /** Terminates the workers; later solves start new ones. */
  close(): void;
}

/** A worker's messages after its `ready`. */
type WorkerReport = Exclude<FromWorker, { type: 'ready' }>;

/** What the pool needs from a Web Worker, a worker_threads Worker or the same-thread fallback. */
interface WorkerHandle {
  post(msg: ToWorker): void;
  /** Keeps a Node process alive only while a job runs (no-op in browsers). */
  setActive(active: boolean): void;
  terminate(): void;
  /** Resolves on the worker's `ready`; rejects when its script failed to load or run. */
  ready: Promise<void>;
}

interface WorkerEvents {
  message(msg: WorkerReport): void;
  /** A failure after `ready` (one before it rejects `ready` instead). */
  error(err: Error): void;
}

interface WebWorkerLike {
  postMessage(msg: unknown): void;
  addEventListener(type: string, fn: (ev: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: string | URL, opts: { type: 'module'; name?: string }) => WebWorkerLike;

/** A worker whose script neither loads nor fails within this long is given up (then: same thread). */
const READY_TIMEOUT_MS = 10_000;

/** Routes a worker's messages: the first `ready` settles `ready`, the rest go to `events`. */
function readiness(events: WorkerEvents): { ready: Promise<void>; message(m: FromWorker): void; error(err: Error): void } {
  let started = false;
  let settle!: (err?: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error('solver worker did not start')), READY_TIMEOUT_MS);
    (timer as { unref?: () => void }).unref?.();
    settle = (err) => { clearTimeout(timer); if (err) reject(err); else resolve(); };
  });
  return {
    ready,
    message(m) {
      if (m.type === 'ready') { if (!started) { started = true; settle(); } return; }
      events.message(m);
    },
    error(err) {
      if (started) events.error(err);
      else { started = true; settle(err); }
    },
  };
}

/**
 * A module worker for `url`. A script of another origin cannot be a worker (browsers
 * throw SecurityError): that is the case of a bundle imported from a node's `/demo/`
 * into another site. Then a blob worker, of the page's own origin, imports the script
 * (a CORS fetch, which nodes allow).
 */
function constructWebWorker(WebWorker: WebWorkerCtor, url: string | URL): { worker: WebWorkerLike; revoke(): void } {
  const opts = { type: 'module', name: 'sigmesh-solver' } as const;
  const g = globalThis as { location?: { origin?: string; href?: string } };
  const href = new URL(url, g.location?.href).href;
  const crossOrigin = g.location?.origin !== undefined && new URL(href).origin !== g.location.origin;
  if (!crossOrigin) return { worker: new WebWorker(href, opts), revoke: () => undefined };
  const blobUrl = URL.createObjectURL(new Blob([`import ${JSON.stringify(href)};\n`], { type: 'text/javascript' }));
  return { worker: new WebWorker(blobUrl, opts), revoke: () => URL.revokeObjectURL(blobUrl) };
}

async function spawnWorker(url: string | URL, events: WorkerEvents): Promise<WorkerHandle> {
  const r = readiness(events);
  const WebWorker = (globalThis as { Worker?: WebWorkerCtor }).Worker;
  if (typeof WebWorker === 'function') {
    const { worker: w, revoke } = constructWebWorker(WebWorker, url);
    void r.ready.finally(revoke).catch(() => undefined);
    w.addEventListener('message', (ev) => r.message(ev.data as FromWorker));
    w.addEventListener('error', (ev) => r.error(new Error(ev.message ?? 'solver worker failed')));
    return { post: (m) => w.postMessage(m), setActive: () => undefined, terminate: () => w.terminate(), ready: r.ready };
  }
  // Node: imported only here, so browser bundles never load it.
  const { Worker } = (await import(NODE_WORKER_THREADS)) as typeof import('node:worker_threads');
  const w = new Worker(typeof url === 'string' ? new URL(url) : url);
  w.on('message', (m: FromWorker) => r.message(m));
  w.on('error', (err: Error) => r.error(err));
  w.on('exit', (code: number) => { if (code !== 0) r.error(new Error(`solver worker exited with ${code}`)); });
  // Referenced until it says ready: a solve awaiting it is all that keeps a plain script's
  // event loop alive (unreferenced at once, the process ended mid-solve, exit 13). Idle after.
  void r.ready.then(() => w.unref(), () => undefined);
  return {
    post: (m) => w.postMessage(m),
    setActive: (active) => (active ? w.ref() : w.unref()),
    terminate: () => void w.terminate(),
    ready: r.ready,
  };
}

/**
 * The search on the calling thread, in batches that yield between them: for when no
 * worker starts (a bundler that did not copy solver-worker.js, a CSP without blob:).
 * Slower (one thread) but it pays.
 */
function sameThreadWorker(events: WorkerEvents): WorkerHandle {
  let stopped = false;
  const run = createJobRunner((m) => { if (!stopped && m.type !== 'ready') events.message(m); });
  return {
    // Asynchronous like a worker: the caller has set up its handlers before results come.
    post: (m) => void Promise.resolve().then(() => { if (!stopped) run(m); }),
    setActive: () => undefined,
    terminate: () => { stopped = true; },
    ready: Promise.resolve(),
  };
}

function defaultWorkerCount(): number {
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof hc === 'number' && hc > 0 ? Math.max(1, Math.min(4, hc - 1)) : 2;
}

export function randomLetters(n: number): string {
  const bytes = new Uint8Array(n);
  globalThis.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += NONCE_ALPHABET[b % NONCE_ALPHABET.length];
  return s;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

export function createSolver(opts: SolverOptions = {}): Solver {
  const size = Math.max(1, Math.floor(opts.workers ?? defaultWorkerCount()));
  const url = opts.workerUrl ?? new URL('./solver-worker.js', import.meta.url);
  const batch = opts.batch ?? 1 << 15;
  let pool: Promise<WorkerHandle[]> | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let nextId = 1;
  // The running job's handlers; workers report into whichever job is current.
  let onMessage: ((index: number, msg: WorkerReport) => void) | null = null;
  let onFailure: ((err: Error) => void) | null = null;
  let mode: SolverMode = 'idle';

  /**
   * Workers, once every one said `ready`; when any fails to start (missing or refused
   * script), the same-thread fallback instead, for this pool's life.
   */
  function getPool(): Promise<WorkerHandle[]> {
    if (!pool) {
      const handlers = (i: number): WorkerEvents => ({
        message: (m) => onMessage?.(i, m),
        error: (err) => {
          // A broken worker poisons the pool: drop it so the next solve starts fresh.
          if (pool === created) { pool = null; void created.then((ws) => ws.forEach((w) => w.terminate())); }
          onFailure?.(err);
        },
      });
      const created: Promise<WorkerHandle[]> = (async () => {
        if (!opts.sameThread) {
          const spawned = Array.from({ length: size }, (_, i) => spawnWorker(url, handlers(i)));
          try {
            const ws = await Promise.all(spawned);
            await Promise.all(ws.map((w) => w.ready));
            mode = 'workers';
            return ws;
          } catch {
            for (const p of spawned) void p.then((w) => w.terminate(), () => undefined);
          }
        }
        mode = 'same-thread';
        return [sameThreadWorker(handlers(0))];
      })();
      pool = created;
      created.catch(() => { if (pool === created) pool = null; });
    }
    return pool;
  }

  async function runOne(challenge: PowChallenge, so: SolveOptions): Promise<string> {
    const { signal, onProgress } = so;
    if (signal?.aborted) throw abortError(signal);
    const work = workString(challenge.work);
    const prefix = powPrefix(challenge);
    const workers = await getPool();
    const id = nextId++;
    const tried = new Array<number>(workers.length).fill(0);
    return new Promise<string>((resolve, reject) => {
      let done = false;
      const finish = (): void => {
        done = true;
        onMessage = null;
        onFailure = null;
        signal?.removeEventListener('abort', onAbort);
        for (const w of workers) { w.post({ type: 'cancel', id }); w.setActive(false); }
      };
      const onAbort = (): void => { if (!done) { finish(); reject(abortError(signal!)); } };
      onFailure = (err) => { if (!done) { finish(); reject(err); } };
      onMessage = (i, m) => {
        if (done || m.id !== id) return;
        if (m.type === 'error') { finish(); reject(new Error(m.message)); return; }
        tried[i] = m.tried;
        if (m.type === 'found') { finish(); resolve(powHeader(challenge.token, work, m.nonce)); return; }
        onProgress?.({ tried: tried.reduce((a, b) => a + b, 0), work: Number(work) });
      };
      signal?.addEventListener('abort', onAbort);
      for (const w of workers) {
        w.setActive(true);
        w.post({ type: 'solve', id, prefix, work, salt: randomLetters(MAX_SALT_LEN), batch });
      }
    });
  }

  return {
    solve(challenge, so = {}) {
      const run = queue.then(() => runOne(challenge, so));
      queue = run.catch(() => undefined);
      return run;
    },
    mode: () => mode,
    close() {
      const p = pool;
      pool = null;
      mode = 'idle';
      void p?.then((ws) => ws.forEach((w) => w.terminate()), () => undefined);
    },
  };
}

let shared: Solver | null = null;

/** Solves with a process-wide default solver (created on first use). */
export function solve(challenge: PowChallenge, opts?: SolveOptions): Promise<string> {
  shared ??= createSolver();
  return shared.solve(challenge, opts);
}
