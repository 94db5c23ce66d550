import type { TurnConfig } from '@mesh/shared';
import type { Logger } from 'pino';
import type { TurnMetrics } from './metrics.js';

/** What every backend reports; both are read by the service's metrics. */
export interface TurnStats {
  /** Live allocations (coturn: counted from its session log lines). */
  allocations: number;
  /** True while the backend answers on its port. */
  running: boolean;
}

/**
 * One STUN/TURN server implementation behind the turn service. A backend
 * listens on `config.port` (UDP; coturn also TCP) for STUN binding and TURN,
 * accepts TURN REST credentials (`<expiry>:<id>` / base64 HMAC-SHA1 of the
 * secret) recomputed per request, refuses peers in special-purpose ranges
 * unless listed in `config.allowedPeers`, and enforces the quotas.
 *
 * `start` resolves once a STUN binding request on the port is answered;
 * `stop` releases every socket, timer and child process, idempotently.
 */
export interface TurnBackend {
  readonly name: 'coturn' | 'node-turn';
  /** Whether TURN over TCP is offered (only coturn). */
  readonly tcp: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): TurnStats;
}

/** What a backend factory is handed. */
export interface TurnBackendDeps {
  config: TurnConfig;
  /** The TURN REST secret (from `loadSecret(store, 'turn', ...)`). */
  secret: string;
  log: Logger;
  metrics: TurnMetrics;
}
