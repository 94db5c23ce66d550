import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A service's Prometheus registry. Names get the `mesh_` prefix. Asking twice
 * for one name returns the same metric, so services sharing one registry in
 * the embedded node (api and rooms both count PoW outcomes) do not collide.
 */
export interface Metrics {
  readonly registry: Registry;
  counter<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string = never>(
    name: string, help: string, labelNames?: readonly L[], buckets?: number[],
  ): Histogram<L>;
  /**
   * A gauge whose values `collect` sets at each scrape, so it is never stale
   * (a value set only when something happens shows the past). The first
   * registration of a name wins.
   */
  gaugeAtScrape<L extends string = never>(
    name: string, help: string, labelNames: readonly L[], collect: (gauge: Gauge<L>) => void,
  ): Gauge<L>;
  /** Prometheus text exposition. */
  text(): Promise<string>;
}

export const METRIC_PREFIX = 'mesh_';

export function createMetrics(opts: { service: string; defaultMetrics?: boolean }): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service });
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  function existing<T>(full: string): T | undefined {
    return registry.getSingleMetric(full) as T | undefined;
  }

  return {
    registry,
    counter(name, help, labelNames = []) {
      const full = METRIC_PREFIX + name;
      return existing(full) ?? new Counter({ name: full, help, labelNames, registers: [registry] });
    },
    gauge(name, help, labelNames = []) {
      const full = METRIC_PREFIX + name;
      return existing(full) ?? new Gauge({ name: full, help, labelNames, registers: [registry] });
    },
    gaugeAtScrape(name, help, labelNames, collect) {
      const full = METRIC_PREFIX + name;
      return existing(full) ?? new Gauge({
        name: full, help, labelNames, registers: [registry],
        collect() {
          collect(this);
        },
      });
    },
    histogram(name, help, labelNames = [], buckets) {
      const full = METRIC_PREFIX + name;
      return existing(full) ?? new Histogram({
        name: full, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}),
      });
    },
    text: () => registry.metrics(),
  };
}
