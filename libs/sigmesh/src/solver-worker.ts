/**
 * Worker entry of the PoW solver: a Web Worker in browsers, a worker_threads Worker in
 * Node. Says `ready` once it listens (so the solver knows the script loaded), then runs
 * the nonce search in batches (solver-job.ts).
 */
import { createJobRunner } from './solver-job.js';
import type { FromWorker, ToWorker } from './solver-protocol.js';

/** A computed specifier: bundlers for browsers leave it alone (it is imported only in Node). */
const NODE_WORKER_THREADS = 'node:worker_threads';

interface Port {
  post(msg: FromWorker): void;
  listen(fn: (msg: ToWorker) => void): void;
}

interface WebWorkerScope {
  postMessage(msg: unknown): void;
  addEventListener(type: 'message', fn: (ev: { data: unknown }) => void): void;
}

async function openPort(): Promise<Port> {
  const g = globalThis as unknown as { WorkerGlobalScope?: unknown } & Partial<WebWorkerScope>;
  if (g.WorkerGlobalScope !== undefined && g.postMessage && g.addEventListener) {
    const scope = g as WebWorkerScope;
    return {
      post: (msg) => scope.postMessage(msg),
      listen: (fn) => scope.addEventListener('message', (ev) => fn(ev.data as ToWorker)),
    };
  }
  const { parentPort } = (await import(NODE_WORKER_THREADS)) as typeof import('node:worker_threads');
  if (!parentPort) throw new Error('solver-worker must run inside a worker');
  const port = parentPort;
  return {
    post: (msg) => port.postMessage(msg),
    listen: (fn) => port.on('message', (msg: ToWorker) => fn(msg)),
  };
}

async function main(): Promise<void> {
  const port = await openPort();
  port.listen(createJobRunner((msg) => port.post(msg)));
  port.post({ type: 'ready' });
}

void main();
