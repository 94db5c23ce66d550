/** Messages between the solver (main thread) and its workers. */

export interface SolveJob {
  type: 'solve';
  id: number;
  prefix: string;
  work: string;
  /** Random NONCE_ALPHABET letters, distinct per worker so workers search disjoint nonces. */
  salt: string;
  /** Attempts between progress reports (and cancellation checks). */
  batch: number;
}

export interface CancelJob {
  type: 'cancel';
  id: number;
}

export type ToWorker = SolveJob | CancelJob;

export type FromWorker =
  /** Sent once by a worker whose script loaded and listens; jobs carry ids, this does not. */
  | { type: 'ready' }
  | { type: 'progress'; id: number; tried: number }
  | { type: 'found'; id: number; nonce: string; tried: number }
  | { type: 'error'; id: number; message: string };
