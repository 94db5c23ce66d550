import type { Metrics } from '@mesh/shared';

/** The turn service's metrics (docs/METRICS.md), typed for the backends. */
export interface TurnMetrics {
  authFailure(reason: TurnAuthFailure): void;
  relayed(direction: 'to_peer' | 'to_client', bytes: number): void;
  restarted(): void;
  backendUp(backend: string, up: boolean): void;
  /** Called by a backend whenever its count of live allocations changes. */
  allocations(n: number): void;
  /** Live allocations / TURN_TOTAL_QUOTA, as the service shares it as load. */
  occupancy(share: number): void;
}

export type TurnAuthFailure =
  | 'missing' | 'malformed' | 'expired' | 'bad_integrity' | 'stale_nonce' | 'wrong_user' | 'quota' | 'forbidden_peer';

export function createTurnMetrics(metrics: Metrics): TurnMetrics {
  const failures = metrics.counter('turn_auth_failures_total', 'refused TURN requests', ['reason']);
  const bytes = metrics.counter('turn_relayed_bytes_total', 'bytes relayed between clients and peers (coturn: from its usage reports, at refresh and close)', ['direction']);
  const restarts = metrics.counter('turn_backend_restarts_total', 'coturn restarts by the supervisor');
  const up = metrics.gauge('turn_backend_up', '1 while the TURN backend runs', ['backend']);
  const allocs = metrics.gauge('turn_allocations', 'live TURN allocations');
  const occupancy = metrics.gauge('turn_occupancy', 'live TURN allocations / TURN_TOTAL_QUOTA, shared as load (0..1)');
  return {
    authFailure: (reason) => failures.inc({ reason }),
    relayed: (direction, n) => bytes.inc({ direction }, n),
    restarted: () => restarts.inc(),
    backendUp: (backend, isUp) => up.set({ backend }, isUp ? 1 : 0),
    allocations: (n) => allocs.set(n),
    occupancy: (share) => occupancy.set(share),
  };
}
