import { createNodeRuntime, type Assembly, type LaunchSpec, type ServiceDeps } from '@mesh/shared';
import { createApiService, type ApiServiceOptions } from './service.js';

/** The api process of a compose node: its own runtime (identity, load sample, PoW gate) and the API routes. */
export function apiNodeSpec(options?: ApiServiceOptions): LaunchSpec {
  return {
    service: 'api',
    async build(deps: ServiceDeps): Promise<Assembly> {
      const runtime = await createNodeRuntime(deps);
      const api = createApiService({ ...deps, runtime, ...(options !== undefined ? { options } : {}) });
      return {
        services: [{ start: async () => runtime.start(), stop: async () => runtime.stop() }, api],
        routes: [api.routes],
        price: () => runtime.quote(),
      };
    },
  };
}

export const apiNode: LaunchSpec = apiNodeSpec();
