export { createTurnService } from './service.js';
export type { TurnBackend, TurnBackendDeps, TurnStats } from './backend.js';
export { createCoturnBackend } from './coturn/backend.js';
export { coturnConfig } from './coturn/config.js';
export { createNodeTurnBackend } from './node-turn/backend.js';
export { createTurnMetrics, type TurnMetrics } from './metrics.js';
export { stunBinding } from './stun-probe.js';
