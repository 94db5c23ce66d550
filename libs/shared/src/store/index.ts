export * from './store.js';
export { createMemoryStore, createMemoryBackend, type MemoryBackend } from './memory.js';
