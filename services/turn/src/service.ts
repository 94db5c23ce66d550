import { randomBytes } from 'node:crypto';
import { createLoadMonitor, loadSecret, resolveTurnBackend, type LoadMonitor, type Service, type ServiceDeps } from '@mesh/shared';
import type { TurnBackend, TurnBackendDeps } from './backend.js';
import { createCoturnBackend } from './coturn/backend.js';
import { createTurnMetrics } from './metrics.js';
import { createNodeTurnBackend } from './node-turn/backend.js';
import { stunBinding } from './stun-probe.js';

/**
 * The turn service: STUN/TURN on TURN_PORT with TURN REST credentials, from
 * the backend TURN_BACKEND names. The secret comes from the store (generated
 * once) unless TURN_SECRET is set, so `/token` on any instance signs what
 * this server checks.
 */
export function createTurnService(
  deps: ServiceDeps & { createBackend?: (d: TurnBackendDeps, name: 'coturn' | 'node-turn') => TurnBackend },
): Service & { backend(): TurnBackend | undefined } {
  const { config, log } = deps;
  const metrics = createTurnMetrics(deps.metrics);
  let backend: TurnBackend | undefined;
  let occupancyLoad: LoadMonitor | undefined;

  return {
    async start() {
      if (backend) return;
      const name = resolveTurnBackend(config.turn.backend);
      if (name === 'none') {
        log.info('TURN disabled (TURN_BACKEND=none)');
        return;
      }
      const secret = await loadSecret(deps.store, 'turn', config.turnSecret);
      const d: TurnBackendDeps = { config: config.turn, secret, log: log.child({ backend: name }), metrics };
      const b = deps.createBackend?.(d, name) ?? (name === 'coturn' ? createCoturnBackend(d) : createNodeTurnBackend(d));
      await b.start();
      backend = b;
      // Allocation occupancy is load: shared through the store like every instance's cpu and mem, it
      // raises the node price (and so /token's) as TURN fills. This process's own cpu is not sampled
      // (the embedded node's runtime samples it already; coturn's is a child's).
      occupancyLoad = createLoadMonitor({
        store: deps.store, instanceId: `turn-${randomBytes(6).toString('hex')}`, intervalMs: config.loadSampleMs, log,
        sampler: { sample: () => ({ cpu: 0, mem: 0 }), close: () => {} },
        occupancy: () => {
          const share = b.stats().allocations / config.turn.totalQuota;
          metrics.occupancy(share);
          return share;
        },
      });
      occupancyLoad.start();
    },
    async stop() {
      occupancyLoad?.stop();
      occupancyLoad = undefined;
      const b = backend;
      backend = undefined;
      await b?.stop();
    },
    async ready() {
      if (config.turn.backend === 'none') return true;
      if (!backend?.stats().running) return false;
      const host = config.turn.listenHost === '0.0.0.0' ? '127.0.0.1' : config.turn.listenHost === '::' ? '::1' : config.turn.listenHost;
      return stunBinding(host, config.turn.port, 500).then(() => true, () => false);
    },
    backend: () => backend,
  };
}
