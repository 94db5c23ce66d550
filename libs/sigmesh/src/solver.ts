/**
 * Proof-of-work solver API. The search runs in worker threads (Web Workers in
 * browsers, worker_threads in Node), never on the calling thread. A solver keeps a
 * small pool of workers alive between solves; jobs run one at a time, each split
 * over every worker of the pool.
 */
import { MAX_SALT_LEN, NONCE_ALPHABET, powHeader, powPrefix, workString, type PowChallenge } from './pow.js';
import type { FromWorker, ToWorker } from './solver-protocol.js';

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
}

export interface Solver {
  /** Resolves to the `X-PoW` header value `<token>:<work>:<nonce>`. */
  solve(challenge: PowChallenge, opts?: SolveOptions): Promise<string>;
  /** Terminates the workers; later solves start new ones. */
  close(): void;
}

/** What the pool needs from a Web Worker or a worker_threads Worker. */
interface WorkerHandle {
  post(msg: ToWorker): void;
  /** Keeps a Node process alive only while a job runs (no-op in browsers). */
  setActive(active: boolean): void;
  terminate(): void;
}

interface WorkerEvents {
  message(msg: FromWorker): void;
  error(err: Error): void;
}

interface WebWorkerLike {
  postMessage(msg: unknown): void;
  addEventListener(type: string, fn: (ev: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: string | URL, opts: { type: 'module'; name?: string }) => WebWorkerLike;

async function spawnWorker(url: string | URL, events: WorkerEvents): Promise<WorkerHandle> {
  const WebWorker = (globalThis as { Worker?: WebWorkerCtor }).Worker;
  if (typeof WebWorker === 'function') {
    const w = new WebWorker(url, { type: 'module', name: 'sigmesh-solver' });
    w.addEventListener('message', (ev) => events.message(ev.data as FromWorker));
    w.addEventListener('error', (ev) => events.error(new Error(ev.message ?? 'solver worker failed')));
    return { post: (m) => w.postMessage(m), setActive: () => undefined, terminate: () => w.terminate() };
  }
  // Node: imported only here, so browser bundles never load it.
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(typeof url === 'string' ? new URL(url) : url);
  w.on('message', (m: FromWorker) => events.message(m));
  w.on('error', (err: Error) => events.error(err));
  w.on('exit', (code: number) => { if (code !== 0) events.error(new Error(`solver worker exited with ${code}`)); });
  w.unref();
  return {
    post: (m) => w.postMessage(m),
    setActive: (active) => (active ? w.ref() : w.unref()),
    terminate: () => void w.terminate(),
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
  let onMessage: ((index: number, msg: FromWorker) => void) | null = null;
  let onFailure: ((err: Error) => void) | null = null;

  function getPool(): Promise<WorkerHandle[]> {
    if (!pool) {
      const created = Promise.all(
        Array.from({ length: size }, (_, i) =>
          spawnWorker(url, {
            message: (m) => onMessage?.(i, m),
            error: (err) => {
              // A broken worker poisons the pool: drop it so the next solve starts fresh.
              if (pool === created) { pool = null; void created.then((ws) => ws.forEach((w) => w.terminate())); }
              onFailure?.(err);
            },
          }),
        ),
      );
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
    close() {
      const p = pool;
      pool = null;
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
