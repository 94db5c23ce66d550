// TEMPORARY bridge (same as services/dht/src/bep44.ts): the BEP44 helpers live
// in libs/shared/src/bep44.ts, but libs/shared/src/index.ts does not export
// them yet. Once it has `export * from './bep44.js';`, import them from
// '@mesh/shared' at the call sites and delete this file.
export * from '../../../libs/shared/src/bep44.js';
