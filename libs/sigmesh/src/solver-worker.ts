/**
 * Worker entry of the PoW solver: a Web Worker in browsers, a worker_threads Worker in
 * Node. Runs the nonce search in batches, reporting progress after each and yielding
 * to the event loop so a `cancel` can arrive.
 */
import { PowSearch } from './pow.js';
import type { FromWorker, ToWorker } from './solver-protocol.js';

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
  const { parentPort } = await import('node:worker_threads');
  if (!parentPort) throw new Error('solver-worker must run inside a worker');
  const port = parentPort;
  return {
    post: (msg) => port.postMessage(msg),
    listen: (fn) => port.on('message', (msg: ToWorker) => fn(msg)),
  };
}

/**
 * Yields through a MessageChannel task, which runs after messages already
 * queued (a `cancel`): setTimeout(0) is clamped to ~4 ms in Chromium workers,
 * a third of the solving time at the default batch.
 */
function createYield(): () => Promise<void> {
  // The part both the DOM's and Node's MessagePort have.
  type ChannelPort = { addEventListener(type: 'message', fn: () => void): void; start(): void; postMessage(m: null): void; unref?: () => void };
  const channel = new MessageChannel() as unknown as { port1: ChannelPort; port2: ChannelPort };
  const waiting: (() => void)[] = [];
  channel.port1.addEventListener('message', () => waiting.shift()?.());
  channel.port1.start();
  // Node: the channel alone must not keep the worker alive.
  channel.port1.unref?.();
  channel.port2.unref?.();
  return () => new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

const yieldToEvents = createYield();

async function main(): Promise<void> {
  const port = await openPort();
  const cancelled = new Set<number>();
  let current = -1;
  port.listen((msg) => {
    if (msg.type === 'cancel') {
      if (msg.id === current) cancelled.add(msg.id);
      return;
    }
    void runJob(msg);
  });

  async function runJob(job: Extract<ToWorker, { type: 'solve' }>): Promise<void> {
    current = job.id;
    try {
      const search = new PowSearch(job.prefix, job.work, job.salt);
      const batch = Math.max(1, Math.min(job.batch, 1 << 22));
      for (;;) {
        const nonce = search.run(batch);
        if (nonce !== null) {
          port.post({ type: 'found', id: job.id, nonce, tried: search.tried });
          return;
        }
        port.post({ type: 'progress', id: job.id, tried: search.tried });
        await yieldToEvents();
        if (cancelled.has(job.id)) return;
      }
    } catch (err) {
      port.post({ type: 'error', id: job.id, message: err instanceof Error ? err.message : String(err) });
    } finally {
      cancelled.delete(job.id);
      if (current === job.id) current = -1;
    }
  }
}

void main();
