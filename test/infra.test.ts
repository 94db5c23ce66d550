import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  checkDashboardMetrics,
  dashboardMetricNames,
  durationSeconds,
  envVarsReadByConfig,
  loadCompose,
  metricNamesFromExposition,
  metricNamesFromMetricsMd,
  parseYaml,
  promqlMetricNames,
  publishedPorts,
  type ComposeFile,
} from './support/infra-checks.js';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const at = (p: string): string => join(ROOT, p);
const NODE_SERVICES = ['api', 'rooms', 'dht', 'turn'] as const;

interface ScrapeConfig {
  job_name: string;
  dns_sd_configs?: Array<{ names: string[]; type?: string; port?: number }>;
  static_configs?: Array<{ targets: string[] }>;
}

async function runValidator(root?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = root === undefined ? [] : [root];
  try {
    const { stdout, stderr } = await execFileP(at('scripts/validate-infra.sh'), args, {
      env: { ...process.env, VALIDATE_INFRA_STRICT: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('validate-infra.sh (docker-compose config, promtool, caddy validate)', () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'infra-test-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('passes on the repository files, every tool run', async () => {
    const r = await runValidator();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ok = r.stdout.split('\n').filter((l) => l.startsWith('ok: '));
    expect(ok).toEqual([
      'ok: docker-compose config refuses a .env without credentials',
      'ok: docker-compose config',
      'ok: redis requires a password',
      'ok: redis password from .env',
      'ok: redis never evicts (replay guard)',
      'ok: redis protected mode stays on',
      'ok: no evicting policy',
      'ok: nats requires a user and password',
      'ok: nats credentials from .env',
      'ok: services connect to NATS with credentials',
      'ok: services connect to Redis with the password',
      'ok: turn connects to NATS with credentials',
      'ok: turn connects to Redis with the password',
      'ok: no NATS_URL without credentials',
      'ok: no REDIS_URL without a password',
      'ok: promtool check config',
      'ok: caddy validate (compose: DNS discovery)',
      'ok: caddy validate (static upstreams, TLS site)',
    ]);
  });

  test('fails, naming each check, on broken copies of the files', async () => {
    for (const p of ['docker-compose.yml', '.env.example', 'infra']) {
      await cp(at(p), join(scratch, p), { recursive: true });
    }
    const compose = join(scratch, 'docker-compose.yml');
    await writeFile(compose, (await readFile(compose, 'utf8')).replace('stop_grace_period: 45s', 'stop_grace_period: [45s]'));
    const prom = join(scratch, 'infra/prometheus/prometheus.yml');
    await writeFile(prom, (await readFile(prom, 'utf8')).replace('type: A', 'type: NOPE'));
    const caddy = join(scratch, 'infra/caddy/Caddyfile');
    await writeFile(caddy, (await readFile(caddy, 'utf8')).replace('flush_interval -1', 'flush_interval soon'));

    const r = await runValidator(scratch);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FAIL: docker-compose config');
    expect(r.stderr).toContain('FAIL: promtool check config');
    expect(r.stderr).toContain('FAIL: caddy validate (compose: DNS discovery)');
  });
});

describe('Grafana dashboard', () => {
  let dashboardText: string;
  let documented: Set<string>;

  beforeAll(async () => {
    dashboardText = await readFile(at('infra/grafana/dashboards/mesh-node.json'), 'utf8');
    documented = metricNamesFromMetricsMd(await readFile(at('docs/METRICS.md'), 'utf8'));
  });

  test('parses and queries only metrics of docs/METRICS.md (or coturn turn_*, Prometheus up)', () => {
    expect(documented.size).toBeGreaterThan(20);
    expect(checkDashboardMetrics(dashboardText, documented)).toEqual([]);
  });

  test('shows load and price, SSE streams, messages/s, fan-out, PoW, TURN, DHT and mesh nodes', () => {
    const queried = dashboardMetricNames(dashboardText);
    for (const name of [
      'mesh_load', 'mesh_price_work', 'mesh_sse_streams_open', 'mesh_room_messages_accepted_total',
      'mesh_room_fanout_seconds_bucket', 'mesh_pow_outcomes_total', 'mesh_turn_allocations',
      'mesh_turn_relayed_bytes_total', 'mesh_dht_routing_nodes', 'mesh_mesh_nodes',
    ]) {
      expect(queried).toContain(name);
    }
  });

  test('uses the provisioned data source', async () => {
    const provisioned = parseYaml(await readFile(at('infra/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: Array<{ uid: string; url: string }>;
    };
    const uids = new Set(provisioned.datasources.map((d) => d.uid));
    expect(provisioned.datasources[0]?.url).toBe('http://prometheus:9090');
    const used = new Set<string>();
    const dashboard = JSON.parse(dashboardText) as { panels: Array<{ datasource?: { uid: string } }> };
    for (const p of dashboard.panels) if (p.datasource !== undefined) used.add(p.datasource.uid);
    expect(used.size).toBeGreaterThan(0);
    for (const uid of used) expect(uids).toContain(uid);
  });

  test('checkDashboardMetrics reports names a node does not export', () => {
    const exported = metricNamesFromExposition([
      '# HELP mesh_load node load',
      '# TYPE mesh_load gauge',
      'mesh_load{service="api"} 0.1',
      '# TYPE mesh_room_fanout_seconds histogram',
      'mesh_room_fanout_seconds_bucket{le="0.1"} 3',
    ].join('\n'));
    const dashboard = {
      panels: [
        { type: 'row', panels: [{ targets: [{ expr: 'rate(mesh_not_exported_total{x="mesh_in_label"}[5m])' }] }] },
        { targets: [{ expr: 'max(mesh_load) * 1e3' }, { expr: 'histogram_quantile(0.99, sum by (le) (rate(mesh_room_fanout_seconds_bucket[$__rate_interval])))' }] },
        { targets: [{ expr: 'sum(rate(mesh_room_fanout_seconds_sum[1m])) / sum(turn_total_allocations) and on (job) up' }] },
      ],
    };
    expect(checkDashboardMetrics(dashboard, exported)).toEqual(['mesh_not_exported_total', 'turn_total_allocations']);
    expect(() => checkDashboardMetrics({ panels: [] }, exported)).toThrow('no PromQL');
  });

  test('promqlMetricNames leaves out functions, labels, ranges and keywords', () => {
    expect([...promqlMetricNames(
      'sum by (endpoint, outcome) (increase(mesh_pow_outcomes_total{outcome!="accepted"}[1h] offset 5m)) / ignoring(outcome) group_left max(mesh_price_work)',
    )].sort()).toEqual(['mesh_pow_outcomes_total', 'mesh_price_work']);
  });
});

describe('docker-compose.yml', () => {
  let compose: ComposeFile;
  let envFile: string;
  let scrape: ScrapeConfig[];

  beforeAll(async () => {
    // .env.example completed by scripts/gen-secrets.sh, as README.md has an operator do.
    const envDir = await mkdtemp(join(tmpdir(), 'infra-env-'));
    envFile = join(envDir, 'env');
    execFileSync(at('scripts/gen-secrets.sh'), [envFile], { encoding: 'utf8' });
    compose = loadCompose(ROOT, envFile);
    scrape = (parseYaml(await readFile(at('infra/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: ScrapeConfig[] }).scrape_configs;
  });

  const service = (name: string) => {
    const s = compose.services[name];
    if (s === undefined) throw new Error(`no compose service ${name}`);
    return s;
  };

  test('runs every part of a node', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'dht', 'grafana', 'nats', 'prometheus', 'proxy', 'redis', 'rooms', 'turn'],
    );
    for (const name of NODE_SERVICES) {
      expect(service(name).command).toEqual(['node', `services/${name}/dist/main.js`]);
    }
  });

  test('rooms can be scaled: no host port, no fixed container name anywhere', () => {
    expect(publishedPorts(service('rooms'))).toEqual([]);
    expect(service('rooms').network_mode).toBeUndefined();
    for (const s of Object.values(compose.services)) expect(s.container_name).toBeUndefined();
  });

  test('only the proxy publishes public HTTP ports; the rest is UDP or loopback', () => {
    const proxyTcp = publishedPorts(service('proxy')).filter((p) => p.protocol === 'tcp').map((p) => p.published);
    expect(proxyTcp.sort()).toEqual(['443', '80']);
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'proxy') continue;
      for (const p of publishedPorts(s)) {
        expect(`${name} ${p.protocol} ${p.protocol === 'udp' ? 'public' : p.hostIp}`).toMatch(/ (udp public|tcp 127\.0\.0\.1)$/);
      }
    }
    expect(publishedPorts(service('dht'))).toEqual([{ hostIp: undefined, published: '6881', protocol: 'udp' }]);
    expect(service('turn').network_mode).toBe('host');
  });

  test('every service has a health check, and starts after what it depends on is healthy', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect([name, s.healthcheck?.disable ?? false]).toEqual([name, false]);
      expect(Array.isArray(s.healthcheck?.test) && s.healthcheck.test.length > 1).toBe(true);
      const deps = s.depends_on ?? {};
      expect(Array.isArray(deps)).toBe(false);
      for (const [dep, cond] of Object.entries(deps as Record<string, { condition?: string }>)) {
        expect(`${name} -> ${dep}: ${cond.condition}`).toBe(`${name} -> ${dep}: service_healthy`);
      }
    }
    for (const name of NODE_SERVICES) {
      expect(Object.keys(service(name).depends_on ?? {})).toEqual(expect.arrayContaining(['nats', 'redis']));
    }
    expect(Object.keys(service('proxy').depends_on ?? {}).sort()).toEqual(['api', 'rooms']);
  });

  test('NATS and Redis require the credentials of .env, every node service has them, Redis never evicts', async () => {
    const env = Object.fromEntries((await readFile(envFile, 'utf8')).split('\n')
      .filter((l) => /^(NATS_USER|NATS_PASSWORD|REDIS_PASSWORD)=./.test(l)).map((l) => l.split('=', 2) as [string, string]));
    expect(Object.keys(env).sort()).toEqual(['NATS_PASSWORD', 'NATS_USER', 'REDIS_PASSWORD']);
    expect(String(service('redis').command)).toContain('--requirepass "$$REDISCLI_AUTH"');
    expect(String(service('redis').command)).toContain('--maxmemory-policy noeviction');
    expect(String(service('redis').command)).not.toContain('protected-mode');
    expect(service('redis').environment?.['REDISCLI_AUTH']).toBe(env['REDIS_PASSWORD']);
    expect(String(service('nats').command)).toContain('--user "$$NATS_USER" --pass "$$NATS_PASSWORD"');
    expect(service('nats').environment?.['NATS_PASSWORD']).toBe(env['NATS_PASSWORD']);
    for (const name of NODE_SERVICES) {
      const e = service(name).environment ?? {};
      expect(new URL(String(e['NATS_URL'])).password).toBe(env['NATS_PASSWORD']);
      expect(new URL(String(e['REDIS_URL'])).password).toBe(env['REDIS_PASSWORD']);
    }
  });

  test('rooms get time to drain on stop', () => {
    expect(durationSeconds(service('rooms').stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(30);
  });

  test('NATS runs JetStream and NATS, Redis, Caddy, Prometheus, Grafana keep data in volumes', () => {
    expect(String(service('nats').command)).toContain('--jetstream');
    expect(String(service('redis').command)).toContain('--appendonly yes');
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(
      ['caddy-config', 'caddy-data', 'grafana-data', 'nats-data', 'prometheus-data', 'redis-data'],
    );
  });

  test('Prometheus scrapes every replica of every node service on its metrics port', () => {
    const jobs = new Map(scrape.map((j) => [j.job_name, j]));
    const ipam = compose.networks?.mesh?.ipam?.config?.[0];
    for (const name of ['api', 'rooms', 'dht'] as const) {
      const port = Number(service(name).environment?.METRICS_PORT);
      expect(jobs.get(name)?.dns_sd_configs).toEqual([expect.objectContaining({ names: [name], type: 'A', port })]);
      expect(service(name).environment?.METRICS_HOST).toBe('0.0.0.0');
      expect(service(name).healthcheck?.test).toContain(`http://127.0.0.1:${port}/readyz`);
    }
    const turnEnv = service('turn').environment ?? {};
    expect(turnEnv.METRICS_HOST).toBe(ipam?.gateway);
    expect(jobs.get('turn')?.static_configs).toEqual([{ targets: [`${ipam?.gateway}:${turnEnv.METRICS_PORT}`] }]);
    expect(jobs.get('coturn')?.static_configs).toEqual([{ targets: [`${ipam?.gateway}:${turnEnv.TURN_PROM_PORT}`] }]);
    expect(service('turn').healthcheck?.test).toContain(`http://${ipam?.gateway}:${turnEnv.METRICS_PORT}/readyz`);
  });

  test('api and rooms trust X-Forwarded-For from the compose network only', () => {
    const subnet = compose.networks?.mesh?.ipam?.config?.[0]?.subnet;
    expect(subnet).toBe('172.28.0.0/16');
    for (const name of ['api', 'rooms']) {
      expect(String(service(name).environment?.TRUST_PROXY).split(',')).toEqual([subnet]);
    }
  });

  test('.env.example documents every setting and compose passes each to the node services', async () => {
    const vars = envVarsReadByConfig(await readFile(at('libs/shared/src/config.ts'), 'utf8'));
    expect(vars.size).toBeGreaterThan(40);
    const example = await readFile(at('.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect([...vars].filter((v) => !documented.has(v))).toEqual([]);
    for (const name of NODE_SERVICES) {
      const env = service(name).environment ?? {};
      expect([name, [...vars].filter((v) => !(v in env))]).toEqual([name, []]);
    }
  });
});

describe('Dockerfile', () => {
  let stages: string[];
  let dockerignore: string;

  beforeAll(async () => {
    const text = (await readFile(at('Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
    stages = text.split(/^FROM /m).slice(1);
    dockerignore = await readFile(at('.dockerignore'), 'utf8');
  });

  test('builds with dev dependencies, runs with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]).toMatch(/RUN npm ci\b(?![^\n]*--omit=dev)/);
    expect(stages[0]).toMatch(/npx tsc -b tsconfig\.build\.json/);
    const prodInstall = stages.find((s) => /npm ci --omit=dev/.test(s));
    expect(prodInstall).toBeDefined();
  });

  test('runtime: non-root, tini as PID 1, coturn installed, a HEALTHCHECK, embedded by default', () => {
    const runtime = stages[stages.length - 1] ?? '';
    const user = /^USER\s+(\S+)/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/m);
    expect(runtime).toMatch(/apt-get install[^\n]* tini coturn/);
    expect(runtime).toMatch(/^HEALTHCHECK /m);
    expect(runtime).toMatch(/^CMD \["node", "apps\/embedded\/dist\/main\.js"\]/m);
    expect(runtime).not.toMatch(/npm (ci|install)/);
  });

  test('the runtime stage holds the manifest and dist of every workspace', async () => {
    const runtime = stages[stages.length - 1] ?? '';
    const { workspaces } = JSON.parse(await readFile(at('package.json'), 'utf8')) as { workspaces: string[] };
    for (const ws of workspaces) {
      expect(runtime).toContain(`${ws}/package.json ${ws}/`);
      expect(runtime).toContain(`${ws}/dist ${ws}/dist`);
    }
  });

  test('no workspace source imports another package by relative path (the image ships only each dist)', async () => {
    const { workspaces } = JSON.parse(await readFile(at('package.json'), 'utf8')) as { workspaces: string[] };
    const escapes: string[] = [];
    for (const ws of workspaces) {
      const src = at(`${ws}/src`);
      const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
      for (const f of files) {
        const text = await readFile(join(src, f), 'utf8');
        for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']*)'/g)) {
          const target = resolve(dirname(join(src, f)), m[1] ?? '');
          if (relative(src, target).startsWith('..')) escapes.push(`${ws}/src/${f} -> ${m[1]}`);
        }
      }
    }
    expect(escapes).toEqual([]);
  });

  test('.dockerignore keeps secrets and local builds out of the context', () => {
    const lines = new Set(dockerignore.split('\n').map((l) => l.trim()));
    for (const l of ['.env', '**/node_modules', '**/dist', '.git']) expect(lines).toContain(l);
  });
});
