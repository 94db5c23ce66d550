// The public surface of @mesh/shared. Each folder has its own barrel.
export * from './config.js';
export * from './errors.js';
export * from './log.js';
export * from './metrics.js';
export * from './service.js';
export * from './bus/index.js';
export * from './store/index.js';
export * from './pow/index.js';
export * from './price.js';
export * from './load.js';
export * from './identity.js';
export * from './ops.js';
export * from './http/index.js';
export * from './net/cidr.js';
export * from './turn-credentials.js';
export * from './runtime.js';
export * from './launch.js';
