import type { Logger } from '@mesh/shared';
import type { BufferBudget } from './budget.js';
import type { StreamRegistry } from './registry.js';
import { readSendQueues } from './send-queue.js';

/**
 * The periodic look at every stream's unwritten bytes. Partial drains emit
 * no event and the kernel's send queues are seen only here: the budget is
 * re-counted, then a reader whose bytes stayed undrained for `slowReaderMs`
 * is dropped, then the budget is enforced.
 */
export function createReaderSweep(o: {
  registry: StreamRegistry; budget: BufferBudget; slowReaderMs: number; log: Logger;
}): { start(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let sweeping = false;

  async function sweep(): Promise<void> {
    if (sweeping) return;
    sweeping = true;
    try {
      const streams = [...o.registry.streams()];
      const ports = new Set<number>();
      for (const s of streams) {
        s.resample();
        const p = s.peer;
        if (p !== undefined) ports.add(p.localPort);
      }
      for (const port of ports) {
        const queues = await readSendQueues(port);
        if (queues === undefined) break;
        const now = Date.now();
        for (const s of streams) {
          const p = s.peer;
          if (p !== undefined && p.localPort === port) s.noteKernelQueue(queues.get(p.key) ?? 0, now);
        }
      }
      o.budget.dropStalledSince(Date.now() - o.slowReaderMs);
      o.budget.enforce();
    } catch (err) {
      o.log.warn({ err }, 'room stream sweep failed');
    } finally {
      sweeping = false;
    }
  }

  return {
    start() {
      clearInterval(timer);
      // Often enough to judge slowReaderMs to a tenth, never busier than 20 a second.
      timer = setInterval(() => void sweep(), Math.min(1000, Math.max(50, Math.floor(o.slowReaderMs / 10))));
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
