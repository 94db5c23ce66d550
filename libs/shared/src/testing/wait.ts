export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Pause between polls (default 20 ms). */
  intervalMs?: number;
  /** Put into the timeout error, to say what was awaited. */
  message?: string;
}

/**
 * Polls `cond` until it returns true; rejects after `timeoutMs`. A `cond`
 * that throws counts as false (the last error is the timeout's cause), so a
 * condition may call a server that is still coming up.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, opts: WaitForOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`waitFor timed out after ${timeoutMs} ms${opts.message ? `: ${opts.message}` : ''}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
