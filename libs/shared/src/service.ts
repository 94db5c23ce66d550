import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Bus } from './bus/bus.js';
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import type { Store } from './store/store.js';

/**
 * What a service factory is handed. `main.ts` wires real ones; the embedded
 * launcher wires the in-process bus and in-memory store; tests hand in either.
 */
export interface ServiceDeps {
  config: Config;
  bus: Bus;
  store: Store;
  log: Logger;
  metrics: Metrics;
}

/**
 * A running part of a node. `start` begins background work (subscriptions,
 * timers, sockets); `stop` ends it and releases everything, idempotently.
 * A service that answers HTTP exposes `routes`, mounted by whoever owns the
 * HTTP server (its own `main.ts`, or the embedded launcher with both api and
 * rooms on one port).
 */
export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
  routes?: Middleware;
  /** True when the service can serve (its dependencies answer). */
  ready?(): Promise<boolean>;
  /**
   * Called once the process's public HTTP server listens (in a process
   * without one, once every service started): work that sends strangers to
   * the public port, such as announcing the node, waits for it.
   */
  onListening?(): void;
}
