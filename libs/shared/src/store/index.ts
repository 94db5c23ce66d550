export * from './store.js';
export { createMemoryStore, createMemoryBackend, type MemoryBackend } from './memory.js';
export { createRedisStore, type RedisStoreOptions } from './redis.js';
export { createStore } from './create.js';
