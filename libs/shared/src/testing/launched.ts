import { launch, type Launched, type LaunchSpec } from '../launch.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Bus } from '../bus/bus.js';
import type { Store } from '../store/store.js';

/** A process's launch inside a test: on the test's own bus and store clients (closed by `stop` after the launch). */
export interface LaunchedInTest {
  url: string;
  opsUrl: string;
  launched: Launched;
  stop(): Promise<void>;
}

/**
 * `launch(spec, env)` as main.ts does it, on loopback with port 0 for the
 * public and ops servers, with the given clients instead of ones made from
 * env. `stop` is idempotent: the launch, then the bus and the store.
 */
export async function launchInTest(
  spec: LaunchSpec, env: Readonly<Record<string, string | undefined>>,
  deps: { bus: Bus; store: Store; metrics: Metrics; log: Logger },
): Promise<LaunchedInTest> {
  const launched = await launch(spec, { HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0', ...env }, { override: deps });
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${launched.port ?? 0}`,
    opsUrl: `http://127.0.0.1:${launched.opsPort}`,
    launched,
    stop() {
      stopped ??= (async () => {
        await launched.stop();
        await deps.bus.close();
        await deps.store.close();
      })();
      return stopped;
    },
  };
}
