// TEMPORARY bridge: the BEP44 helpers live in libs/shared/src/bep44.ts, but
// libs/shared/src/index.ts (not ours to edit) does not export them yet. Once
// it has `export * from './bep44.js';`, this file becomes
// `export * from '@mesh/shared';`-style imports at the call sites and goes.
export * from '../../../libs/shared/src/bep44.js';
