/** Shape of an exponential backoff. */
export interface BackoffOptions {
  /** The delay of attempt 1. */
  baseMs: number;
  /** The delay doubles up to this; jitter then applies on top. */
  maxMs: number;
  /** Multiplies the delay by a factor in [1, 1 + jitter), so clients that failed together spread out. Default 0. */
  jitter?: number;
  /** Source of randomness for the jitter (tests pin it). Default Math.random. */
  random?: () => number;
}

/** Past this many doublings any base is over any sensible cap; 2 ** n stays finite. */
const MAX_DOUBLINGS = 62;

/**
 * The delay before retry number `attempt` (1 is the first): `baseMs`,
 * doubling each attempt, capped at `maxMs`, times the jitter factor, in
 * whole milliseconds. An attempt below 1 (or NaN) counts as 1; a huge one as
 * the cap, never Infinity or NaN.
 */
export function backoffMs(attempt: number, opts: BackoffOptions): number {
  const doublings = attempt > 1 ? Math.min(Math.floor(attempt) - 1, MAX_DOUBLINGS) : 0;
  const capped = Math.min(opts.maxMs, opts.baseMs * 2 ** doublings);
  const jitter = opts.jitter ?? 0;
  const factor = jitter > 0 ? 1 + (opts.random ?? Math.random)() * jitter : 1;
  return Math.round(capped * factor);
}
