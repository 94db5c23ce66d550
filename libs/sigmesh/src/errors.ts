/** Errors sigmesh raises, with stable codes callers can branch on. */

export type SigmeshErrorCode =
  | 'network'        // the node could not be reached / the request timed out
  | 'http'           // the node answered with an unexpected status
  | 'bad_response'   // the node's answer did not parse or had the wrong shape
  | 'pow_exhausted'  // refused with 402 after every retry
  | 'too_large'      // a message does not fit the room's limits
  | 'no_nodes'       // no usable node is known
  | 'closed';        // the object was closed

export class SigmeshError extends Error {
  override readonly name = 'SigmeshError';
  constructor(
    readonly code: SigmeshErrorCode,
    message: string,
    /** HTTP status, and the node's JSON `error` code when it sent one. */
    readonly status?: number,
    readonly remoteCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
