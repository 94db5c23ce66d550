import type { Middleware } from 'koa';
import { createBus } from './bus/index.js';
import { ConfigError, parseConfig, type Config, type ServiceName } from './config.js';
import { createHttpServer, createPublicApp } from './http/index.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { createOpsServer } from './ops.js';
import type { Service, ServiceDeps } from './service.js';
import type { UpgradeHandler } from './http/server.js';
import { createStore } from './store/index.js';

/** What a process entry builds from the shared dependencies. */
export interface Assembly {
  /** Started in order, stopped in reverse order. */
  services: Service[];
  /** Public HTTP routes; when given, a public server listens on PORT. */
  routes?: Middleware[];
  /** WebSocket upgrades of the public server, asked in order; one that is not taken is answered 404. */
  upgrades?: UpgradeHandler[];
  /** Price headers of every public response. */
  price?: () => { token: string; work: number };
  /** Where a person opens the node (e.g. `{ demo, status }` URLs): fields of the last start-up line, "started". */
  links?: (publicUrl: string) => Record<string, string>;
}

/** A stop that takes longer than this (a service that hangs) ends the process anyway, with status 1. */
const STOP_DEADLINE_MS = 15_000;

export interface LaunchSpec {
  service: ServiceName;
  build(deps: ServiceDeps): Promise<Assembly>;
}

export interface Launched {
  config: Config;
  log: Logger;
  deps: ServiceDeps;
  /** Bound public port (when routes were given) and ops port. */
  port: number | undefined;
  opsPort: number;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** Stop on SIGTERM/SIGINT and exit (entries); tests leave it off. */
  handleSignals?: boolean;
  /** Replace parts of the dependencies (tests share one bus/store between nodes). */
  override?: Partial<Omit<ServiceDeps, 'config'>>;
}

/**
 * Starts one process of a node: parses the config (a bad setting ends the
 * process with a message naming it), connects bus and store, builds the
 * services, serves public HTTP and the ops endpoints, and stops everything
 * in reverse order. Every main.ts and the embedded node go through here.
 */
export async function launch(
  spec: LaunchSpec, env: Readonly<Record<string, string | undefined>>, opts: LaunchOptions = {},
): Promise<Launched> {
  const config = parseConfig(env, spec.service);
  const log = opts.override?.log ?? createLogger({ level: config.logLevel, service: spec.service });
  const metrics = opts.override?.metrics ?? createMetrics({ service: spec.service });
  const bus = opts.override?.bus ?? await createBus(config, log);
  const store = opts.override?.store ?? createStore(config, log);
  const deps: ServiceDeps = { config, bus, store, log, metrics };

  const busUp = metrics.gauge('bus_connected', '1 while the bus is connected');
  const storeUp = metrics.gauge('store_connected', '1 while the store is connected');
  // Set once every service has started: until then /readyz says 503.
  let services: Service[] | undefined;
  // The ops port comes first: building waits for the store (identity,
  // secrets), and meanwhile /healthz must answer and /readyz say 503.
  const ops = createOpsServer({
    host: config.metricsHost,
    port: config.metricsPort,
    metrics,
    log,
    ready: async () => {
      const [b, s] = await Promise.all([bus.ping(1000), store.ping(1000)]);
      busUp.set(b ? 1 : 0);
      storeUp.set(s ? 1 : 0);
      if (!b || !s || services === undefined) return false;
      const ready = await Promise.all(services.map((x) => (x.ready ? x.ready() : true)));
      return ready.every(Boolean);
    },
  });
  const closeClients = async (): Promise<void> => {
    if (!opts.override?.bus) await bus.close();
    if (!opts.override?.store) await store.close();
  };
  let opsPort = 0;
  let assembly: Assembly;
  try {
    opsPort = (await ops.start()).port;
    assembly = await spec.build(deps);
  } catch (err) {
    log.error({ err }, 'start failed');
    await ops.stop();
    await closeClients();
    throw err;
  }

  const publicServer = assembly.routes && createHttpServer({
    host: config.host,
    port: config.port,
    log,
    connectionCap: {
      perClient: config.maxConnectionsPerClient, ipv6Prefix: config.clientIpv6Prefix, trustProxy: config.trustProxy,
    },
    upgrades: assembly.upgrades ?? [],
    handler: createPublicApp({
      log, metrics, trustProxy: config.trustProxy, rateLimit: { ...config.rateLimit, ipv6Prefix: config.clientIpv6Prefix },
      price: assembly.price ?? (() => ({ token: '', work: 0 })),
    }, assembly.routes).callback(),
  });
  const started: Service[] = [];
  let port: number | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping');
      // Services first: rooms closes its streams so clients reconnect elsewhere.
      for (const s of [...started].reverse()) {
        await s.stop().catch((err: unknown) => log.error({ err }, 'service stop failed'));
      }
      await publicServer?.stop();
      await ops.stop();
      await closeClients();
      log.info('stopped');
    })();
    return stopping;
  };

  try {
    for (const s of assembly.services) {
      await s.start();
      started.push(s);
    }
    if (publicServer) port = (await publicServer.start()).port;
    services = assembly.services;
    for (const s of started) s.onListening?.();
  } catch (err) {
    log.error({ err }, 'start failed');
    await stop();
    throw err;
  }
  if (opts.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      // Ctrl-C under make delivers SIGINT and then make's SIGTERM: a second signal
      // must not cut the stop short (coturn's work folder would stay behind).
      if (stopping) {
        log.info({ signal }, 'signal received while stopping: still stopping');
        return;
      }
      log.info({ signal }, 'signal received');
      setTimeout(() => {
        log.error({ deadlineMs: STOP_DEADLINE_MS }, 'stop did not finish in time: exiting');
        process.exit(1);
      }, STOP_DEADLINE_MS).unref();
      void stop().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  log.info({ port, opsPort, publicUrl: config.publicUrl, ...assembly.links?.(config.publicUrl) }, 'started');
  return { config, log, deps, port, opsPort, stop };
}

/**
 * The whole of a main.ts: launch with the process environment, report a bad
 * setting as one readable line, keep unexpected rejections from killing the
 * process.
 */
export async function runMain(spec: LaunchSpec): Promise<void> {
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`${JSON.stringify({ level: 50, msg: 'unhandled rejection', err: String(reason) })}\n`);
  });
  try {
    await launch(spec, process.env, { handleSignals: true });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
    } else {
      process.stderr.write(`start failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    process.exit(1);
  }
}
