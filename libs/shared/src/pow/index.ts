export * from './token.js';
export * from './proof.js';
export * from './solver.js';
export * from './replay.js';
export * from './gate.js';
