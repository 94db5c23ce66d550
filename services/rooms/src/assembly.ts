import { createNodeRuntime, type Assembly, type LaunchSpec, type Service, type ServiceDeps } from '@mesh/shared';
import { createRoomsService } from './service.js';

/** A rooms worker: the shared runtime (identity, load, PoW gate) and the rooms service on the public port. */
export const roomsNode: LaunchSpec = {
  service: 'rooms',
  async build(deps: ServiceDeps): Promise<Assembly> {
    const runtime = await createNodeRuntime(deps);
    const runtimeService: Service = {
      start: async () => runtime.start(),
      stop: async () => runtime.stop(),
    };
    const rooms = createRoomsService({ ...deps, runtime });
    return { services: [runtimeService, rooms], routes: [rooms.routes], upgrades: [rooms.upgrade], price: () => runtime.quote() };
  },
};
