/**
 * The nonce search loop of one solver worker, independent of where it runs: inside a
 * Web Worker or a worker_threads Worker (solver-worker.ts), or on the calling thread
 * when no worker can be started (solver.ts's fallback, e.g. a bundle whose worker file
 * is not next to it).
 */
import { PowSearch } from './pow.js';
import type { FromWorker, ToWorker } from './solver-protocol.js';

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
  // Node: the channel alone must not keep the process (or worker) alive.
  channel.port1.unref?.();
  channel.port2.unref?.();
  return () => new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

/** Returns the handler of messages to a worker; it reports through `post`. */
export function createJobRunner(post: (msg: FromWorker) => void): (msg: ToWorker) => void {
  const yieldToEvents = createYield();
  const cancelled = new Set<number>();
  let current = -1;

  async function runJob(job: Extract<ToWorker, { type: 'solve' }>): Promise<void> {
    current = job.id;
    try {
      const search = new PowSearch(job.prefix, job.work, job.salt);
      const batch = Math.max(1, Math.min(job.batch, 1 << 22));
      for (;;) {
        const nonce = search.run(batch);
        if (nonce !== null) {
          post({ type: 'found', id: job.id, nonce, tried: search.tried });
          return;
        }
        post({ type: 'progress', id: job.id, tried: search.tried });
        await yieldToEvents();
        if (cancelled.has(job.id)) return;
      }
    } catch (err) {
      post({ type: 'error', id: job.id, message: err instanceof Error ? err.message : String(err) });
    } finally {
      cancelled.delete(job.id);
      if (current === job.id) current = -1;
    }
  }

  return (msg) => {
    if (msg.type === 'cancel') {
      if (msg.id === current) cancelled.add(msg.id);
      return;
    }
    void runJob(msg);
  };
}
