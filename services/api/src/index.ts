export { createApiService, type ApiService, type ApiServiceDeps, type ApiServiceOptions } from './service.js';
export { apiNode, apiNodeSpec } from './assembly.js';
