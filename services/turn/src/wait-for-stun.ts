import { setTimeout as delay } from 'node:timers/promises';
import { stunBinding } from './stun-probe.js';

/** Polls a STUN binding on `host:port` until it answers; rejects after `timeoutMs`. */
export async function waitForStun(host: string, port: number, timeoutMs: number): Promise<void> {
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await stunBinding(target, port, 300);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await delay(100);
    }
  }
}
