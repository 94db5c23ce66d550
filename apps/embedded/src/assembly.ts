import { createApiService } from '@mesh/api';
import { createDhtService } from '@mesh/dht';
import { createRoomsService } from '@mesh/rooms';
import { createNodeRuntime, type Assembly, type LaunchSpec, type Service, type ServiceDeps } from '@mesh/shared';
import { createTurnService } from '@mesh/turn';

/**
 * All four services in one process, on one bus and one store (in-process
 * ones unless NATS_URL / REDIS_URL are set), api and rooms on one public
 * port. The runtime (identity, load, PoW gate) is built once and shared.
 */
export const embeddedNode: LaunchSpec = {
  service: 'embedded',
  async build(deps: ServiceDeps): Promise<Assembly> {
    const runtime = await createNodeRuntime(deps, { instanceId: 'embedded' });
    const runtimeService: Service = {
      start: async () => runtime.start(),
      stop: async () => runtime.stop(),
    };
    const turn = createTurnService(deps);
    const dht = createDhtService(deps);
    const rooms = createRoomsService({ ...deps, runtime });
    const api = createApiService({ ...deps, runtime });
    return {
      // api before dht: onListening runs in this order, and the dht announces the node
      // only once the api says it listens (asked before, it logged a wait after "started").
      services: [runtimeService, turn, rooms, api, dht],
      routes: [rooms.routes, api.routes].filter((r) => r !== undefined),
      upgrades: [rooms.upgrade],
      price: () => runtime.quote(),
      // What `make run` users look for in its last start-up line.
      links: (url) => ({ demo: `${url}/demo/`, status: `${url}/` }),
    };
  },
};
