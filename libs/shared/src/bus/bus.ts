/**
 * The bus: live messages between the instances of one node.
 *
 * Two implementations: `nats.ts` (real NATS, for compose) and `local.ts`
 * (in-process, for the embedded node). Services never know which one they got.
 *
 * Subjects are dot-separated tokens (`rooms.<hash>`, `dht.get`). Callers build
 * them only from validated hex or constants. An implementation prepends its
 * configured prefix (`BUS_PREFIX`) transparently, so a subscriber sees the
 * subject it subscribed to, without prefix.
 */
export interface Bus {
  /**
   * Fire and forget. Never throws for a lost connection: NATS buffers while
   * reconnecting; a message published while the bus is closed is dropped.
   */
  publish(subject: string, data: Uint8Array): void;

  /**
   * Receives every message on `subject` (no wildcards needed by the services).
   * With `queue`, one member of the queue group receives each message.
   * The subscription survives reconnects.
   */
  subscribe(subject: string, handler: MessageHandler, opts?: { queue?: string }): Subscription;

  /**
   * Request/reply. Rejects with `BusError` code `no_responders` at once when
   * nobody serves the subject, `timeout` after `timeoutMs`, `closed` when the
   * bus is closed, `remote` when the responder's handler threw (its message
   * is kept).
   */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number }): Promise<Uint8Array>;

  /**
   * Serves requests on `subject`. The handler's resolved value is the reply;
   * a thrown error becomes a `remote` BusError at the requester (message only,
   * no stack). Responders of one subject form a queue group: each request is
   * served once.
   */
  respond(subject: string, handler: RequestHandler): Subscription;

  /** True while connected (for /readyz). */
  isReady(): boolean;

  /**
   * Calls `fn` each time the connection comes back after an outage (not at
   * the first connect): messages published meanwhile were not delivered to
   * this instance, so state kept elsewhere must be re-read. Returns the
   * unsubscribe function. An in-process bus never loses its connection.
   */
  onReconnect(fn: () => void): () => void;

  /** Round trip to the broker; false instead of throwing. */
  ping(timeoutMs?: number): Promise<boolean>;

  /** Drains and closes; later calls are no-ops. */
  close(): Promise<void>;
}

export type MessageHandler = (data: Uint8Array, subject: string) => void;
export type RequestHandler = (data: Uint8Array, subject: string) => Promise<Uint8Array> | Uint8Array;

export interface Subscription {
  /** Stops delivery; idempotent. */
  unsubscribe(): void;
}

export type BusErrorCode = 'no_responders' | 'timeout' | 'closed' | 'remote';

export class BusError extends Error {
  constructor(readonly code: BusErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusError';
  }
}
