/**
 * Checks of the deployment files (docker-compose.yml, infra/**), shared by
 * test/infra.test.ts and by later tests that hold a live node: call
 * `checkDashboardMetrics(dashboard, metricNamesFromExposition(await
 * (await fetch(metricsUrl)).text()))` to check the dashboard against what a
 * running node really exports.
 */
import { execFileSync } from 'node:child_process';

/** Python with PyYAML: Debian's docker-compose depends on both. */
const PYTHON = '/usr/bin/python3';
const YAML_TO_JSON = 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)';

/** Parses YAML text by handing it to PyYAML (no YAML parser among our npm deps). */
export function parseYaml(text: string): unknown {
  const out = execFileSync(PYTHON, ['-c', YAML_TO_JSON], { input: text, encoding: 'utf8' });
  return JSON.parse(out) as unknown;
}

// ---- compose ------------------------------------------------------------------

export interface ComposeHealthcheck {
  test?: string[] | string;
  disable?: boolean;
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  container_name?: string;
  environment?: Record<string, string | number | null>;
  healthcheck?: ComposeHealthcheck;
  depends_on?: Record<string, { condition?: string }> | string[];
  network_mode?: string;
  networks?: Record<string, unknown> | string[];
  ports?: Array<string | ComposePortLong>;
  stop_grace_period?: string;
}

export interface ComposePortLong {
  target: number;
  published?: number | string;
  protocol?: string;
  host_ip?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string; gateway?: string }> } }>;
  volumes?: Record<string, unknown>;
}

/**
 * The compose file as docker-compose resolves it (anchors merged, variables
 * interpolated from `envFile`), via `docker-compose config`.
 */
export function loadCompose(root: string, envFile: string): ComposeFile {
  const yaml = execFileSync(
    'docker-compose',
    ['--project-directory', root, '--env-file', envFile, '-f', `${root}/docker-compose.yml`, 'config'],
    { encoding: 'utf8' },
  );
  return parseYaml(yaml) as ComposeFile;
}

export interface PublishedPort {
  hostIp: string | undefined;
  published: string;
  protocol: string;
}

/** Host-published ports of a service, from either port syntax docker-compose prints. */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  const result: PublishedPort[] = [];
  for (const p of service.ports ?? []) {
    if (typeof p === 'string') {
      // [ip:]host:container[/proto]; a bare container port publishes nothing fixed.
      const [spec, protocol = 'tcp'] = p.split('/');
      const parts = (spec ?? '').split(':');
      if (parts.length < 2) continue;
      const hostIp = parts.length >= 3 ? parts.slice(0, -2).join(':') : undefined;
      result.push({ hostIp, published: parts[parts.length - 2] ?? '', protocol });
    } else if (p.published !== undefined) {
      result.push({ hostIp: p.host_ip, published: String(p.published), protocol: p.protocol ?? 'tcp' });
    }
  }
  return result;
}

/** Duration like "45s", "1m30s" in seconds. */
export function durationSeconds(d: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (const m of d.matchAll(re)) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3600 : unit === 'm' ? n * 60 : unit === 's' ? n : n / 1000;
    matched += m[0];
  }
  if (matched !== d) throw new Error(`not a duration: "${d}"`);
  return total;
}

// ---- config --------------------------------------------------------------------

/** Environment variable names that libs/shared/src/config.ts reads. */
export function envVarsReadByConfig(configSource: string): Set<string> {
  const re = /\br\.(?:string|optional|int|port|number|bool|oneOf|list|url|raw)\(\s*'([A-Z][A-Z0-9_]*)'/g;
  return new Set([...configSource.matchAll(re)].map((m) => m[1] ?? ''));
}

// ---- metrics -------------------------------------------------------------------

/** Metric names of the table in docs/METRICS.md (first column, back-quoted). */
export function metricNamesFromMetricsMd(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|/.exec(line);
    if (m?.[1] !== undefined) names.add(m[1]);
  }
  return names;
}

/** Metric names in a Prometheus text exposition (a live /metrics body). */
export function metricNamesFromExposition(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s/.exec(line);
    if (type?.[1] !== undefined) {
      names.add(type[1]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[\s{]/.exec(line);
    if (sample?.[1] !== undefined) names.add(sample[1]);
  }
  return names;
}

const PROMQL_KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset',
  'and', 'or', 'unless', 'inf', 'nan', 'Inf', 'NaN',
]);

/** Metric names a PromQL expression selects (functions, labels, keywords left out). */
export function promqlMetricNames(expr: string): Set<string> {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[0-9a-zA-Z$_]+/g, ' ')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ');
  const names = new Set<string>();
  // Numbers first so "1e3" is not read as the identifier "e3".
  const token = /(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|([A-Za-z_:][A-Za-z0-9_:]*)/g;
  for (const m of s.matchAll(token)) {
    const ident = m[2];
    if (ident === undefined || PROMQL_KEYWORDS.has(ident)) continue;
    const rest = s.slice((m.index ?? 0) + ident.length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    names.add(ident);
  }
  return names;
}

/** Every PromQL `expr` of a Grafana dashboard, rows' nested panels included. */
export function dashboardQueries(dashboard: unknown): string[] {
  const exprs: string[] = [];
  const visit = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const p of panels as Array<Record<string, unknown>>) {
      for (const t of (Array.isArray(p.targets) ? p.targets : []) as Array<Record<string, unknown>>) {
        if (typeof t.expr === 'string' && t.expr.trim() !== '') exprs.push(t.expr);
      }
      visit(p.panels);
    }
  };
  visit((dashboard as { panels?: unknown } | null)?.panels);
  return exprs;
}

/** Metric names not exported by our services that a dashboard may still query. */
export function isExternalMetric(name: string): boolean {
  // Prometheus' per-target `up`. (coturn's own turn_* names are not: Debian's
  // coturn has no exporter, so panels use our mesh_turn_* from its log.)
  return name === 'up';
}

const SERIES_SUFFIXES = ['_bucket', '_sum', '_count'];

/**
 * Metric names the dashboard queries that are neither in `exportedNames` (a
 * live /metrics or docs/METRICS.md) nor external (`isExternal`). A histogram's
 * `_bucket`/`_sum`/`_count` series count as its family name. Empty = all good.
 * Throws when the JSON does not parse or holds no query at all.
 */
export function checkDashboardMetrics(
  dashboardJson: string | object,
  exportedNames: Set<string>,
  isExternal: (name: string) => boolean = isExternalMetric,
): string[] {
  const dashboard: unknown = typeof dashboardJson === 'string' ? JSON.parse(dashboardJson) : dashboardJson;
  const exprs = dashboardQueries(dashboard);
  if (exprs.length === 0) throw new Error('dashboard has no PromQL queries');
  const unknown = new Set<string>();
  for (const expr of exprs) {
    for (const name of promqlMetricNames(expr)) {
      if (exportedNames.has(name) || isExternal(name)) continue;
      const suffix = SERIES_SUFFIXES.find((s) => name.endsWith(s));
      if (suffix !== undefined && exportedNames.has(name.slice(0, -suffix.length))) continue;
      unknown.add(name);
    }
  }
  return [...unknown].sort();
}

/** Every metric name the dashboard queries. */
export function dashboardMetricNames(dashboardJson: string | object): Set<string> {
  const dashboard: unknown = typeof dashboardJson === 'string' ? JSON.parse(dashboardJson) : dashboardJson;
  const names = new Set<string>();
  for (const expr of dashboardQueries(dashboard)) for (const n of promqlMetricNames(expr)) names.add(n);
  return names;
}
